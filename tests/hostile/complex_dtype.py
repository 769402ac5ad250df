"""Hostile: complex answers of the right shape: a huge imaginary part on a garbage real part,
complex zeros, and a complex64 answer.

Honest: loss. Attacked: softmax_grad and gradients (their values are garbage).
"""

import numpy as np


def loss(params, X, y, reg):
    z3 = np.maximum(X @ params["W1"] + params["b1"], 0.0) @ params["W2"] + params["b2"]
    z3 = z3 - z3.max(axis=1, keepdims=True)
    log_p = z3 - np.log(np.exp(z3).sum(axis=1, keepdims=True))
    return float(-log_p[np.arange(len(y)), y].mean() + reg * (np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2)))


def softmax_grad(z3, y):
    return np.full(z3.shape, 1e-300 + 1e300j)


def gradients(params, X, y, reg):
    grads = {k: np.zeros(v.shape, dtype=np.complex128) for k, v in params.items()}
    grads["W2"] = np.full(params["W2"].shape, 1j, dtype=np.complex64)
    return grads
