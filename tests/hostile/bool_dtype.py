"""Hostile: boolean answers of the right shape (True == 1, False == 0) and numpy bool scalars.

Honest: loss. Attacked: softmax_grad and gradients (their values are garbage).
"""

import numpy as np


def loss(params, X, y, reg):
    z3 = np.maximum(X @ params["W1"] + params["b1"], 0.0) @ params["W2"] + params["b2"]
    z3 = z3 - z3.max(axis=1, keepdims=True)
    log_p = z3 - np.log(np.exp(z3).sum(axis=1, keepdims=True))
    return float(-log_p[np.arange(len(y)), y].mean() + reg * (np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2)))


def softmax_grad(z3, y):
    return np.ones(z3.shape, dtype=bool)


def gradients(params, X, y, reg):
    grads = {k: np.zeros(v.shape, dtype=bool) for k, v in params.items()}
    grads["b2"] = np.True_
    return grads
