"""Hostile: read a hidden case's inputs back through the report. gradients raises an exception
whose message carries every input (N, D, H, C, lambda, y, the first row of X), and softmax_grad
answers with an array of a telling shape (N + 1000, C), so that "must have shape (...)" would
show N and C.

Honest: loss. Attacked: softmax_grad and gradients (they never answer right). With a rubric that
hides their checks, no output may show anything of their inputs (tests/test_reports.py).
"""

import numpy as np


def loss(params, X, y, reg):
    z3 = np.maximum(X @ params["W1"] + params["b1"], 0.0) @ params["W2"] + params["b2"]
    z3 = z3 - z3.max(axis=1, keepdims=True)
    log_p = z3 - np.log(np.exp(z3).sum(axis=1, keepdims=True))
    return float(-log_p[np.arange(len(y)), y].mean() + reg * (np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2)))


def softmax_grad(z3, y):
    return np.zeros((z3.shape[0] + 1000, z3.shape[1]))


def gradients(params, X, y, reg):
    N, D = X.shape
    H, C = params["W2"].shape
    raise ValueError(f"LEAK N={N} D={D} H={H} C={C} reg={reg} y={y.tolist()} X0={X[0].tolist()}")
