# Question 2: backpropagation.
# I start each weight gradient from its regularization term and then add the data term.
import numpy as np


def relu(z):
    return np.maximum(z, 0)


def loss(params, X, y, reg):
    z3 = relu(X @ params["W1"] + params["b1"]) @ params["W2"] + params["b2"]
    m = np.max(z3, axis=1, keepdims=True)
    log_norm = m[:, 0] + np.log(np.sum(np.exp(z3 - m), axis=1))
    J = np.mean(log_norm - z3[np.arange(X.shape[0]), y])
    return J + reg * (np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2))


def softmax_grad(z3, y):
    N = z3.shape[0]
    p = np.exp(z3 - np.max(z3, axis=1, keepdims=True))
    p = p / np.sum(p, axis=1, keepdims=True)
    p[np.arange(N), y] = p[np.arange(N), y] - 1
    return p / N


def gradients(params, X, y, reg):
    z2 = X @ params["W1"] + params["b1"]
    a2 = relu(z2)
    z3 = a2 @ params["W2"] + params["b2"]
    dz3 = softmax_grad(z3, y)
    dz2 = (dz3 @ params["W2"].T) * (z2 > 0)

    grads = {}
    grads["W1"] = params["W1"]
    grads["W1"] *= 2 * reg
    grads["W1"] += X.T @ dz2
    grads["b1"] = np.sum(dz2, axis=0)
    grads["W2"] = 2 * reg * params["W2"] + a2.T @ dz3
    grads["b2"] = np.sum(dz3, axis=0)
    return grads
