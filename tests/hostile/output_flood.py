"""Hostile: flood stdout and stderr with hundreds of megabytes, through print, sys.stderr, the raw
file descriptors and /dev/stdout, then (in gradients) forever; the raw bytes are mostly invalid
UTF-8 and NUL, which a text column stores as 3 bytes each.

Honest: loss, softmax_grad (it answers right after its flood). Attacked: gradients.
"""

import os
import sys

import numpy as np


def loss(params, X, y, reg):
    z3 = np.maximum(X @ params["W1"] + params["b1"], 0.0) @ params["W2"] + params["b2"]
    z3 = z3 - z3.max(axis=1, keepdims=True)
    log_p = z3 - np.log(np.exp(z3).sum(axis=1, keepdims=True))
    return float(-log_p[np.arange(len(y)), y].mean() + reg * (np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2)))



def _right_dz3(z3, y):
    p = np.exp(z3 - z3.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(y)), y] -= 1.0
    return p / len(y)


def _right_gradients(params, X, y, reg):
    z2 = X @ params["W1"] + params["b1"]
    a2 = np.maximum(z2, 0.0)
    dz3 = _right_dz3(a2 @ params["W2"] + params["b2"], y)
    dz2 = (dz3 @ params["W2"].T) * (z2 > 0)
    return {"W1": X.T @ dz2 + 2 * reg * params["W1"], "b1": dz2.sum(axis=0),
            "W2": a2.T @ dz3 + 2 * reg * params["W2"], "b2": dz3.sum(axis=0)}


CHUNK = b"\xff\x00\xfe\x00" * (1 << 18)
print("hello from the flood\n" * 100)


def _flood(megabytes):
    for _ in range(megabytes):
        for fd in (1, 2):
            try:
                os.write(fd, CHUNK)
            except OSError:
                pass
    print("y" * (16 << 20))
    sys.stderr.write("z" * (16 << 20))
    try:
        with open("/dev/stdout", "wb") as f:
            f.write(CHUNK * 32)
    except OSError:
        pass


def softmax_grad(z3, y):
    _flood(150)
    return _right_dz3(z3, y)


def gradients(params, X, y, reg):
    while True:
        for fd in (1, 2):
            try:
                os.write(fd, CHUNK)
            except OSError:
                pass
