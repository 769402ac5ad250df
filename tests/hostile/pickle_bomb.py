"""Hostile: answers whose unpickling runs code (__reduce__ returning os.system): a plain object,
an object array of them, an ndarray subclass, a list. The grader never unpickles, so the
marker file is never created.

Honest: loss. Attacked: softmax_grad and gradients (their values are garbage).
"""

import os

import numpy as np


def loss(params, X, y, reg):
    z3 = np.maximum(X @ params["W1"] + params["b1"], 0.0) @ params["W2"] + params["b2"]
    z3 = z3 - z3.max(axis=1, keepdims=True)
    log_p = z3 - np.log(np.exp(z3).sum(axis=1, keepdims=True))
    return float(-log_p[np.arange(len(y)), y].mean() + reg * (np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2)))


COMMAND = "touch /tmp/hostile-marker-pickle"


class Bomb:
    def __reduce__(self):
        return (os.system, (COMMAND,))


class BombArray(np.ndarray):
    def __reduce__(self):
        return (os.system, (COMMAND,))

    def __reduce_ex__(self, protocol):
        return (os.system, (COMMAND,))


def softmax_grad(z3, y):
    return Bomb()


def gradients(params, X, y, reg):
    return {"W1": Bomb(), "b1": np.array([Bomb()] * len(params["b1"]), dtype=object),
            "W2": np.full(params["W2"].shape, 3.0).view(BombArray), "b2": [Bomb()]}
