"""Hostile: object arrays of the right shape holding lying floats, strings, None and arrays.

Honest: loss. Attacked: softmax_grad and gradients (their values are garbage).
"""

import fractions

import numpy as np


def loss(params, X, y, reg):
    z3 = np.maximum(X @ params["W1"] + params["b1"], 0.0) @ params["W2"] + params["b2"]
    z3 = z3 - z3.max(axis=1, keepdims=True)
    log_p = z3 - np.log(np.exp(z3).sum(axis=1, keepdims=True))
    return float(-log_p[np.arange(len(y)), y].mean() + reg * (np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2)))


class Liar(float):
    def __eq__(self, other):
        return True

    def __sub__(self, other):
        return 0.0

    def __abs__(self):
        return 0.0

    __hash__ = float.__hash__


def _filled(shape, value):
    out = np.empty(shape, dtype=object)
    out[...] = value
    return out


def softmax_grad(z3, y):
    return _filled(z3.shape, Liar(9.0))


def gradients(params, X, y, reg):
    return {"W1": _filled(params["W1"].shape, "0.0"), "b1": _filled(params["b1"].shape, None),
            "W2": _filled(params["W2"].shape, fractions.Fraction(1, 3)),
            "b2": np.array([np.zeros(2)] * len(params["b2"]) + [None], dtype=object)[:-1]}
