"""Hostile: __array_ufunc__ and __array_function__ overrides that answer "equal" and "zero" to
every numpy operation: a duck type numpy defers to, and an ndarray subclass.

Honest: loss. Attacked: softmax_grad and gradients (their values are garbage).
"""

import numpy as np


def loss(params, X, y, reg):
    z3 = np.maximum(X @ params["W1"] + params["b1"], 0.0) @ params["W2"] + params["b2"]
    z3 = z3 - z3.max(axis=1, keepdims=True)
    log_p = z3 - np.log(np.exp(z3).sum(axis=1, keepdims=True))
    return float(-log_p[np.arange(len(y)), y].mean() + reg * (np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2)))


def _agree(shape, ufunc):
    if ufunc in (np.equal, np.less_equal, np.isclose, np.isfinite, np.greater_equal, np.less):
        return np.ones(shape, dtype=bool)
    return np.zeros(shape)


class Oracle:
    """Not an array, but numpy hands it every operation."""

    __array_priority__ = 1e9

    def __init__(self, shape):
        self.shape, self.ndim, self.dtype = shape, len(shape), np.dtype(np.float64)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return _agree(self.shape, ufunc)

    def __array_function__(self, func, types, args, kwargs):
        if func in (np.allclose, np.array_equal, np.array_equiv):
            return True
        return np.zeros(self.shape)

    def __array__(self, dtype=None, copy=None):
        return np.full(self.shape, 42.0)


class UfuncLiar(np.ndarray):
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return _agree(self.shape, ufunc)

    def __array_function__(self, func, types, args, kwargs):
        if func in (np.allclose, np.array_equal, np.array_equiv):
            return True
        return np.zeros(self.shape)


def softmax_grad(z3, y):
    return Oracle(z3.shape)


def gradients(params, X, y, reg):
    return {k: np.full(v.shape, 42.0).view(UfuncLiar) for k, v in params.items()}
