"""Hostile: answers of zero size, (0, k), (k, 0) and (0,), which once stopped `grade report
--all -f html` (drawing them failed) so that no index was ever written.

Honest: loss. Attacked: softmax_grad and gradients (empty arrays).
"""

import numpy as np


def loss(params, X, y, reg):
    z3 = np.maximum(X @ params["W1"] + params["b1"], 0.0) @ params["W2"] + params["b2"]
    z3 = z3 - z3.max(axis=1, keepdims=True)
    log_p = z3 - np.log(np.exp(z3).sum(axis=1, keepdims=True))
    return float(-log_p[np.arange(len(y)), y].mean() + reg * (np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2)))


def softmax_grad(z3, y):
    return np.zeros((0, z3.shape[1]))


def gradients(params, X, y, reg):
    D, H = params["W1"].shape
    C = params["W2"].shape[1]
    return {"W1": np.zeros((0, H)), "b1": np.zeros((0,)), "W2": np.zeros((H, 0)), "b2": np.zeros((0, C))}
