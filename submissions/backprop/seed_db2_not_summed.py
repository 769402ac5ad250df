import numpy as np


def relu(x):
    return np.maximum(x, 0)


def stable_softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    ez = np.exp(z)
    return ez / ez.sum(axis=1, keepdims=True)


def loss(params, X, y, reg):
    """Average cross entropy loss plus L2 regularization on the weights."""
    h = relu(X @ params["W1"] + params["b1"])
    scores = h @ params["W2"] + params["b2"]
    n = len(y)
    shifted = scores - scores.max(axis=1, keepdims=True)
    lse = np.log(np.exp(shifted).sum(axis=1))
    ce = np.mean(lse - shifted[np.arange(n), y])
    return float(ce + reg * (np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2)))


def softmax_grad(z3, y):
    """Gradient of the mean cross entropy w.r.t. the scores z3."""
    n = z3.shape[0]
    g = stable_softmax(z3)
    g[np.arange(n), y] -= 1
    return g / n


def gradients(params, X, y, reg):
    """Backpropagation: returns dJ/dW1, dJ/db1, dJ/dW2, dJ/db2."""
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    z2 = X @ W1 + b1
    a2 = relu(z2)
    z3 = a2 @ W2 + b2

    dz3 = softmax_grad(z3, y)

    grads = {}
    grads["W2"] = a2.T @ dz3 + 2 * reg * W2
    # dJ/db2 = dJ/dz3 * dz3/db2 and dz3/db2 = 1
    grads["b2"] = dz3

    dz2 = dz3 @ W2.T
    dz2[z2 <= 0] = 0
    grads["W1"] = X.T @ dz2 + 2 * reg * W1
    grads["b1"] = dz2.sum(axis=0)
    return grads
