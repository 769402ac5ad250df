"""Two layer net, backprop by hand (HW Q2)."""
import numpy as np


def relu(z):
    return z * (z > 0)


def softmax(z):
    z = z - np.max(z, axis=-1, keepdims=True)
    ez = np.exp(z)
    return ez / np.sum(ez, axis=-1, keepdims=True)


def forward(params, X):
    z2 = np.dot(X, params["W1"]) + params["b1"]
    a2 = relu(z2)
    z3 = np.dot(a2, params["W2"]) + params["b2"]
    return z2, a2, z3


def loss(params, X, y, reg):
    _, _, z3 = forward(params, X)
    N = X.shape[0]
    m = np.max(z3, axis=1)
    logZ = m + np.log(np.sum(np.exp(z3 - m[:, None]), axis=1))
    nll = np.mean(logZ - z3[np.arange(N), y])
    l2 = np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2)
    return float(nll + reg * l2)


def softmax_grad(z3, y):
    N, C = z3.shape
    onehot = np.zeros((N, C))
    onehot[np.arange(N), y] = 1.0
    return (softmax(z3) - onehot) / N


def gradients(params, X, y, reg):
    W1, W2 = params["W1"], params["W2"]
    z2, a2, z3 = forward(params, X)

    dz3 = softmax_grad(z3, y)                  # (N, C)

    # dJ/dW2 = dJ/dz3 . a2   (+ regularization)
    dW2 = np.dot(dz3.T, a2) + 2 * reg * W2.T
    db2 = np.sum(dz3, axis=0)

    dz2 = np.dot(dz3, W2.T) * (z2 > 0)        # (N, H)
    dW1 = np.dot(X.T, dz2) + 2 * reg * W1
    db1 = np.sum(dz2, axis=0)

    return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}
