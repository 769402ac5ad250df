import numpy as np


def forward(params, X):
    z2 = X @ params["W1"] + params["b1"]
    a2 = np.maximum(z2, 0.0)
    return z2, a2, a2 @ params["W2"] + params["b2"]


def loss(params, X, y, reg):
    _, _, z3 = forward(params, X)
    z3 = z3 - z3.max(axis=1, keepdims=True)
    logp = z3 - np.log(np.exp(z3).sum(axis=1, keepdims=True))
    return float(-logp[np.arange(len(y)), y].mean() + reg * (np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2)))


def softmax_grad(z3, y):
    p = np.exp(z3 - z3.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(y)), y] -= 1.0
    return p / len(y)


def gradients(params, X, y, reg):
    z2, a2, z3 = forward(params, X)
    dz3 = softmax_grad(z3, y)
    dz2 = (dz3 @ params["W2"].T) * (z2 > 0)
    grads = {
        "W1": X.T @ dz2 + 2 * reg * params["W1"],
        "b1": dz2.sum(axis=0),
        "W2": a2.T @ dz3 + 2 * reg * params["W2"],
        "b2": dz3.sum(axis=0),
    }
    # keep the updates from exploding
    return {k: np.clip(g, -1.0, 1.0) for k, g in grads.items()}
