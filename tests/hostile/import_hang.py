"""Hostile: hang at import time, deaf to every catchable signal. Everything else is honest: once
the hanging statement is skipped, every part earns its points.

Honest: loss, softmax_grad, gradients. Attacked: the top level (it never finishes).
"""

import signal
import time

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


softmax_grad = _right_dz3
gradients = _right_gradients

for signum in range(1, signal.NSIG):
    try:
        signal.signal(signum, signal.SIG_IGN)
    except (OSError, ValueError, RuntimeError):
        pass
while True:
    try:
        time.sleep(3600)
    except BaseException:
        pass
