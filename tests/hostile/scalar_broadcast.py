"""Hostile: answers that only fit by broadcasting: a scalar where an (N, C) array is due, and the
right values with extra unit axes ((1, D, H), (H, 1), ...), which a lenient comparison would
broadcast into a pass.

Honest: loss. Attacked: softmax_grad (a scalar for (N, C): fails, it has the wrong size) and
gradients (the right values with extra axes of length 1: accepted by the shape rule, which
compares them without the unit axes and says so, never by broadcasting one into another).
"""

import numpy as np


def loss(params, X, y, reg):
    z3 = np.maximum(X @ params["W1"] + params["b1"], 0.0) @ params["W2"] + params["b2"]
    z3 = z3 - z3.max(axis=1, keepdims=True)
    log_p = z3 - np.log(np.exp(z3).sum(axis=1, keepdims=True))
    return float(-log_p[np.arange(len(y)), y].mean() + reg * (np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2)))



def _right_dz3(z3, y):
    p = np.exp(z3 - z3.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(y)), y] -= 1.0
    return p / len(y)


def _right_gradients(params, X, y, reg):
    z2 = X @ params["W1"] + params["b1"]
    a2 = np.maximum(z2, 0.0)
    dz3 = _right_dz3(a2 @ params["W2"] + params["b2"], y)
    dz2 = (dz3 @ params["W2"].T) * (z2 > 0)
    return {"W1": X.T @ dz2 + 2 * reg * params["W1"], "b1": dz2.sum(axis=0),
            "W2": a2.T @ dz3 + 2 * reg * params["W2"], "b2": dz3.sum(axis=0)}


def softmax_grad(z3, y):
    return np.float64(0.0)


def gradients(params, X, y, reg):
    right = _right_gradients(params, X, y, reg)
    return {"W1": right["W1"][None], "b1": right["b1"][:, None], "W2": right["W2"][..., None],
            "b2": np.broadcast_to(right["b2"], (1, len(right["b2"])))}
