"""Hostile: ignore and block every catchable signal, then sleep (or spin) forever, swallowing
every exception.

Honest: loss. Attacked: softmax_grad and gradients (they never return).
"""

import os
import signal
import time

import numpy as np


def loss(params, X, y, reg):
    z3 = np.maximum(X @ params["W1"] + params["b1"], 0.0) @ params["W2"] + params["b2"]
    z3 = z3 - z3.max(axis=1, keepdims=True)
    log_p = z3 - np.log(np.exp(z3).sum(axis=1, keepdims=True))
    return float(-log_p[np.arange(len(y)), y].mean() + reg * (np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2)))


def _deaf():
    for signum in range(1, signal.NSIG):
        try:
            signal.signal(signum, signal.SIG_IGN)
        except (OSError, ValueError, RuntimeError):
            pass  # SIGKILL and SIGSTOP cannot be caught
    signal.pthread_sigmask(signal.SIG_BLOCK, range(1, signal.NSIG))
    try:
        os.setsid()  # leave the process group the grader kills
    except OSError:
        pass


def softmax_grad(z3, y):
    _deaf()
    while True:
        try:
            time.sleep(3600)
        except BaseException:
            pass


def gradients(params, X, y, reg):
    _deaf()
    while True:
        try:
            while True:
                pass
        except BaseException:
            pass
