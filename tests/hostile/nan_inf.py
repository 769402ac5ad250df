"""Hostile: NaN (which compares false with everything, so "error > tol" is false) and infinities
of every sign and width.

Honest: loss. Attacked: softmax_grad and gradients (their values are garbage).
"""

import numpy as np


def loss(params, X, y, reg):
    z3 = np.maximum(X @ params["W1"] + params["b1"], 0.0) @ params["W2"] + params["b2"]
    z3 = z3 - z3.max(axis=1, keepdims=True)
    log_p = z3 - np.log(np.exp(z3).sum(axis=1, keepdims=True))
    return float(-log_p[np.arange(len(y)), y].mean() + reg * (np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2)))


def softmax_grad(z3, y):
    return np.full(z3.shape, np.nan)


def gradients(params, X, y, reg):
    b2 = np.full(params["b2"].shape, np.nan)
    b2[0] = np.inf
    return {"W1": np.full(params["W1"].shape, np.inf), "b1": np.full(params["b1"].shape, -np.inf),
            "W2": np.full(params["W2"].shape, np.nan, dtype=np.float32), "b2": b2}
