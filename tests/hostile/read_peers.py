"""Hostile: read the rubric and other students' submissions, and hand in a classmate's answers.

Honest: loss. Attacked: softmax_grad and gradients answer right only with what stolen() finds
(a classmate's code, or at least the rubric).
"""

import glob
import os

import numpy as np


def loss(params, X, y, reg):
    z3 = np.maximum(X @ params["W1"] + params["b1"], 0.0) @ params["W2"] + params["b2"]
    z3 = z3 - z3.max(axis=1, keepdims=True)
    log_p = z3 - np.log(np.exp(z3).sum(axis=1, keepdims=True))
    return float(-log_p[np.arange(len(y)), y].mean() + reg * (np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2)))


def stolen():
    """A classmate's source (or the rubric): other submissions, the shipped samples, the
    scratch directories next to this one."""
    paths = glob.glob("/work/main/submissions/backprop/*.py") + glob.glob("../submissions/*/*.py")
    paths += glob.glob("../*/*.py") + glob.glob("../*/*/*.py") + glob.glob("/tmp/*.py")
    paths += glob.glob("/tmp/pytest-of-*/pytest-*/*/*.py") + glob.glob("/tmp/grader-output-*/*")
    paths += glob.glob("/tmp/*/pytest-of-*/pytest-*/*/*.py") + glob.glob("/tmp/*/grader-output-*/*")
    paths += ["../rubrics/backprop.toml", "/work/main/rubrics/backprop.toml"]
    paths += glob.glob("/tmp/pytest-of-*/pytest-*/*/course/rubrics/backprop.toml")
    paths += glob.glob("/tmp/*/pytest-of-*/pytest-*/*/course/rubrics/backprop.toml")
    mine = os.path.realpath(os.getcwd())
    for path in paths:
        if os.path.realpath(path).startswith(mine + os.sep):
            continue
        try:
            with open(path) as f:
                text = f.read()
        except OSError:
            continue
        if "def gradients" in text or "[[parts]]" in text:
            return text
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
    """The classmate's functions when the loot is code; right answers either way."""
    found = {}
    if "def gradients" in loot:
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
