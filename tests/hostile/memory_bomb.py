"""Hostile: allocate 50 GB: raise the memory limit first, then bytearrays in a loop, a 50 GB numpy
array, a 50 GB anonymous mapping, and a loop that catches MemoryError and keeps allocating.

Honest: loss. Attacked: softmax_grad and gradients (they run out of memory).
"""

import mmap
import resource

import numpy as np


def loss(params, X, y, reg):
    z3 = np.maximum(X @ params["W1"] + params["b1"], 0.0) @ params["W2"] + params["b2"]
    z3 = z3 - z3.max(axis=1, keepdims=True)
    log_p = z3 - np.log(np.exp(z3).sum(axis=1, keepdims=True))
    return float(-log_p[np.arange(len(y)), y].mean() + reg * (np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2)))


for limit in (resource.RLIMIT_AS, resource.RLIMIT_DATA, resource.RLIMIT_RSS):
    try:
        resource.setrlimit(limit, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    except (ValueError, OSError):
        pass


def softmax_grad(z3, y):
    hog = []
    while len(hog) < 50:
        hog.append(bytearray(1 << 30))
    return np.zeros_like(z3)


def gradients(params, X, y, reg):
    hog = []
    for make in (lambda: np.ones(50 << 27), lambda: mmap.mmap(-1, 50 << 30)):
        try:
            hog.append(make())
        except (MemoryError, OSError, ValueError):
            pass
    size = 1 << 30
    while size >= 1 << 20:
        try:
            hog.append(np.empty(size // 8))  # keep whatever fits, then ask again
        except MemoryError:
            size //= 2
    return {k: np.zeros_like(v) for k, v in params.items()}
