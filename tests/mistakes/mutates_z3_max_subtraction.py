import numpy as np

#  Q2a  dJ/dz3 = (softmax(z3) - onehot(y)) / N
#  Q2b  dJ/dW2 = a2^T dz3 + 2 reg W2
#  Q2c  dJ/dW1 = X^T [(dz3 W2^T) * 1(z2 > 0)] + 2 reg W1, biases = column sums


def loss(params, X, y, reg):
    z2 = X @ params["W1"] + params["b1"]
    z3 = np.maximum(z2, 0) @ params["W2"] + params["b2"]
    z3 = z3 - z3.max(axis=1, keepdims=True)
    log_probs = z3 - np.log(np.exp(z3).sum(axis=1, keepdims=True))
    return -log_probs[np.arange(len(y)), y].mean() + reg * (np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2))


def softmax_grad(z3, y):
    N = z3.shape[0]
    z3 -= z3.max(axis=1, keepdims=True)     # numerical stability
    probs = np.exp(z3)
    probs /= probs.sum(axis=1, keepdims=True)
    probs[np.arange(N), y] -= 1
    return probs / N


def gradients(params, X, y, reg):
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    z2 = X @ W1 + b1
    a2 = np.maximum(z2, 0)
    z3 = a2 @ W2 + b2
    dz3 = softmax_grad(z3, y)
    dz2 = (dz3 @ W2.T) * (z2 > 0)
    grads = {}
    grads["W2"] = a2.T @ dz3 + 2 * reg * W2
    grads["b2"] = dz3.sum(axis=0)
    grads["W1"] = X.T @ dz2 + 2 * reg * W1
    grads["b1"] = dz2.sum(axis=0)
    return grads
