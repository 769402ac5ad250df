"""Hostile: stay just under every time limit, many times over: the top level sleeps just under
the load limit (3 s in the test course) and each call of the attacked functions just under the
call limit (1 s), then answers right. No single limit is ever passed: only the limit on the
whole submission stops it from holding its worker for the sum of them all (minutes under a
real rubric's limits).

Honest: loss. Attacked: softmax_grad and gradients (right, but only once the total time is up).
"""

import time

import numpy as np

DRIP = 0.9  # seconds per call, just under the test course's call_timeout


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


def softmax_grad(z3, y):
    time.sleep(DRIP)
    return _right_dz3(z3, y)


def gradients(params, X, y, reg):
    time.sleep(DRIP)
    z2 = X @ params["W1"] + params["b1"]
    a2 = np.maximum(z2, 0.0)
    dz3 = _right_dz3(a2 @ params["W2"] + params["b2"], y)
    dz2 = (dz3 @ params["W2"].T) * (z2 > 0)
    return {"W1": X.T @ dz2 + 2 * reg * params["W1"], "b1": dz2.sum(axis=0),
            "W2": a2.T @ dz3 + 2 * reg * params["W2"], "b2": dz3.sum(axis=0)}


time.sleep(2.5)  # the top level, just under the load limit
