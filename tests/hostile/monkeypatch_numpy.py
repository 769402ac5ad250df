"""Hostile: monkeypatch numpy, math and builtins before anything is compared, so that every
closeness test says "close" and every norm and absolute value is zero.

Honest: loss (it uses none of the patched functions). Attacked: softmax_grad and gradients
(their values are garbage).
"""

import builtins
import math

import numpy as np


def loss(params, X, y, reg):
    z3 = np.maximum(X @ params["W1"] + params["b1"], 0.0) @ params["W2"] + params["b2"]
    z3 = z3 - z3.max(axis=1, keepdims=True)
    log_p = z3 - np.log(np.exp(z3).sum(axis=1, keepdims=True))
    return float(-log_p[np.arange(len(y)), y].mean() + reg * (np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2)))


def _always(*args, **kwargs):
    return True


def _nothing(*args, **kwargs):
    return None


np.allclose = np.array_equal = np.array_equiv = _always
np.isclose = lambda a, b, *args, **kwargs: np.ones(np.broadcast(a, b).shape, dtype=bool)
np.isfinite = lambda x, *args, **kwargs: np.ones(np.shape(x), dtype=bool)
np.isnan = lambda x, *args, **kwargs: np.zeros(np.shape(x), dtype=bool)
np.abs = np.absolute = lambda x, *args, **kwargs: np.zeros(np.shape(x))
np.linalg.norm = lambda *args, **kwargs: 0.0
np.testing.assert_allclose = np.testing.assert_array_almost_equal = np.testing.assert_array_equal = _nothing
builtins.abs = lambda x: 0.0
builtins.max = lambda *args, **kwargs: 0.0
math.isclose = _always
math.isfinite = _always
math.fabs = lambda x: 0.0


def softmax_grad(z3, y):
    return np.ones_like(z3)


def gradients(params, X, y, reg):
    return {k: np.ones_like(v) * 17.0 for k, v in params.items()}
