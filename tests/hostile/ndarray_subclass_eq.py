"""Hostile: an ndarray subclass whose comparisons all say "equal", whose differences are zero and
whose absolute values vanish, wrapped around garbage.

Honest: loss. Attacked: softmax_grad and gradients (their values are garbage).
"""

import numpy as np


def loss(params, X, y, reg):
    z3 = np.maximum(X @ params["W1"] + params["b1"], 0.0) @ params["W2"] + params["b2"]
    z3 = z3 - z3.max(axis=1, keepdims=True)
    log_p = z3 - np.log(np.exp(z3).sum(axis=1, keepdims=True))
    return float(-log_p[np.arange(len(y)), y].mean() + reg * (np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2)))


class Agreeable(np.ndarray):
    def __eq__(self, other):
        return np.ones(np.shape(self), dtype=bool)

    def __ne__(self, other):
        return np.zeros(np.shape(self), dtype=bool)

    def __sub__(self, other):
        return np.zeros(np.shape(self)).view(Agreeable)

    __rsub__ = __sub__

    def __abs__(self):
        return np.zeros(np.shape(self)).view(Agreeable)

    def __lt__(self, other):
        return np.ones(np.shape(self), dtype=bool)

    __le__ = __lt__

    def __bool__(self):
        return True

    def __float__(self):
        return 0.0

    def __array_finalize__(self, obj):
        pass


def softmax_grad(z3, y):
    return np.full_like(z3, 123.0).view(Agreeable)


def gradients(params, X, y, reg):
    return {k: np.full_like(v, -5.0).view(Agreeable) for k, v in params.items()}
