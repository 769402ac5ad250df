"""Hostile: duck-typed arrays: objects with __array__, shape, dtype, __len__, __getitem__ and
__float__ that are not ndarrays, and a memoryview.

Honest: loss. Attacked: softmax_grad and gradients (their values are garbage).
"""

import numpy as np


def loss(params, X, y, reg):
    z3 = np.maximum(X @ params["W1"] + params["b1"], 0.0) @ params["W2"] + params["b2"]
    z3 = z3 - z3.max(axis=1, keepdims=True)
    log_p = z3 - np.log(np.exp(z3).sum(axis=1, keepdims=True))
    return float(-log_p[np.arange(len(y)), y].mean() + reg * (np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2)))


class Duck:
    def __init__(self, shape):
        self.shape, self.ndim, self.dtype = shape, len(shape), np.dtype(np.float64)
        self.size = int(np.prod(shape))

    def __array__(self, dtype=None, copy=None):
        return np.full(self.shape, 0.5)

    def __len__(self):
        return self.shape[0]

    def __getitem__(self, index):
        return 0.5

    def __float__(self):
        return 0.5

    def __eq__(self, other):
        return True

    def tolist(self):
        return np.full(self.shape, 0.5).tolist()


def softmax_grad(z3, y):
    return Duck(z3.shape)


def gradients(params, X, y, reg):
    grads = {k: Duck(v.shape) for k, v in params.items()}
    grads["b2"] = memoryview(np.full(params["b2"].shape, 0.5))
    return grads
