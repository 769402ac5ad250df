"""Hostile: crash the interpreter: read address 0 through ctypes, write to it, overflow the C stack.

Honest: loss. Attacked: softmax_grad and gradients (they crash their process).
"""

import ctypes
import sys

import numpy as np


def loss(params, X, y, reg):
    z3 = np.maximum(X @ params["W1"] + params["b1"], 0.0) @ params["W2"] + params["b2"]
    z3 = z3 - z3.max(axis=1, keepdims=True)
    log_p = z3 - np.log(np.exp(z3).sum(axis=1, keepdims=True))
    return float(-log_p[np.arange(len(y)), y].mean() + reg * (np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2)))


def softmax_grad(z3, y):
    ctypes.string_at(0)
    return np.zeros_like(z3)


def _deeper(n):
    return _deeper(n + 1) + 1


def gradients(params, X, y, reg):
    ctypes.memset(0, 0, 64)
    sys.setrecursionlimit(10**9)
    _deeper(0)
    return {k: np.zeros_like(v) for k, v in params.items()}
