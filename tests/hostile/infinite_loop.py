"""Hostile: never return: a bare busy loop, and one that swallows every exception the grader
could raise in it.

Honest: loss. Attacked: softmax_grad and gradients (they never return).
"""

import itertools

import numpy as np


def loss(params, X, y, reg):
    z3 = np.maximum(X @ params["W1"] + params["b1"], 0.0) @ params["W2"] + params["b2"]
    z3 = z3 - z3.max(axis=1, keepdims=True)
    log_p = z3 - np.log(np.exp(z3).sum(axis=1, keepdims=True))
    return float(-log_p[np.arange(len(y)), y].mean() + reg * (np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2)))


def softmax_grad(z3, y):
    while True:
        pass


def gradients(params, X, y, reg):
    while True:
        try:
            for _ in itertools.count():
                pass
        except BaseException:
            pass
