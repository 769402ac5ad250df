import numpy as np


def forward(params, X):
    z2 = X @ params["W1"] + params["b1"]
    a2 = np.maximum(z2, 0)
    z3 = a2 @ params["W2"] + params["b2"]
    return z2, a2, z3


def loss(params, X, y, reg):
    """Q1. Mean cross-entropy plus the weight penalty."""
    _, _, z3 = forward(params, X)
    z3 = z3 - z3.max(axis=1, keepdims=True)
    log_probs = z3 - np.log(np.exp(z3).sum(axis=1, keepdims=True))
    data_loss = -log_probs[np.arange(len(y)), y].mean()
    # penalize the first layer's weights
    reg_loss = reg * np.sum(params["W1"] * params["W1"])
    return float(data_loss + reg_loss)


def softmax_grad(z3, y):
    z = z3 - z3.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(y)), y] -= 1
    return p / len(y)


def gradients(params, X, y, reg):
    z2, a2, z3 = forward(params, X)
    d3 = softmax_grad(z3, y)
    d2 = d3 @ params["W2"].T
    d2[z2 <= 0] = 0
    return {
        "W1": X.T @ d2 + 2 * reg * params["W1"],
        "b1": d2.sum(axis=0),
        "W2": a2.T @ d3 + 2 * reg * params["W2"],
        "b2": d3.sum(axis=0),
    }
