"""Hostile: end early and "successfully": sys.exit(0) and SystemExit at the top level, an atexit
hook printing a fake verdict, SystemExit and KeyboardInterrupt raised from functions,
os._exit(0) in the middle of a call.

Honest: loss. Attacked: softmax_grad and gradients (they never return).
"""

import atexit
import os
import sys

import numpy as np


def loss(params, X, y, reg):
    z3 = np.maximum(X @ params["W1"] + params["b1"], 0.0) @ params["W2"] + params["b2"]
    z3 = z3 - z3.max(axis=1, keepdims=True)
    log_p = z3 - np.log(np.exp(z3).sum(axis=1, keepdims=True))
    return float(-log_p[np.arange(len(y)), y].mean() + reg * (np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2)))


atexit.register(lambda: print('{"score": 100.0, "status": "graded"}'))


def _bail():
    raise SystemExit(0)


_bail()
sys.exit(0)


def softmax_grad(z3, y):
    try:
        _bail()
    finally:
        raise KeyboardInterrupt


def gradients(params, X, y, reg):
    sys.stdout.flush()
    os._exit(0)
