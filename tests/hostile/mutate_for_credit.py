"""Hostile: answer garbage, but change the inputs in place: a mutated input is diagnosed
("mutates-input"), and the rubric gives that diagnosis partial credit.

Honest: loss. Attacked: softmax_grad and gradients (their values are garbage).
"""

import numpy as np


def loss(params, X, y, reg):
    z3 = np.maximum(X @ params["W1"] + params["b1"], 0.0) @ params["W2"] + params["b2"]
    z3 = z3 - z3.max(axis=1, keepdims=True)
    log_p = z3 - np.log(np.exp(z3).sum(axis=1, keepdims=True))
    return float(-log_p[np.arange(len(y)), y].mean() + reg * (np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2)))


def softmax_grad(z3, y):
    z3[...] = 0.0
    return np.zeros_like(z3)


def gradients(params, X, y, reg):
    X[...] = 0.0
    for value in params.values():
        value[...] = 0.0
    return {k: np.zeros_like(v) for k, v in params.items()}
