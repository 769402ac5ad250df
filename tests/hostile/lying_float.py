"""Hostile: float subclasses that lie: equal to everything, no distance from anything, close to
all, as scalars, inside arrays and inside an object array.

Honest: loss. Attacked: softmax_grad and gradients (their values are garbage).
"""

import numpy as np


def loss(params, X, y, reg):
    z3 = np.maximum(X @ params["W1"] + params["b1"], 0.0) @ params["W2"] + params["b2"]
    z3 = z3 - z3.max(axis=1, keepdims=True)
    log_p = z3 - np.log(np.exp(z3).sum(axis=1, keepdims=True))
    return float(-log_p[np.arange(len(y)), y].mean() + reg * (np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2)))


class Liar(float):
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    def __sub__(self, other):
        return Liar(0.0)

    __rsub__ = __sub__

    def __abs__(self):
        return Liar(0.0)

    def __lt__(self, other):
        return True

    __le__ = __lt__

    def __gt__(self, other):
        return False

    __ge__ = __gt__

    def __hash__(self):
        return 0


def softmax_grad(z3, y):
    return Liar(1e9)


def gradients(params, X, y, reg):
    W1, W2 = params["W1"], params["W2"]
    objects = np.empty(W1.shape, dtype=object)
    objects[...] = Liar(3.0)
    return {"W1": objects, "b1": Liar(-7.0), "W2": np.array([[Liar(5.0)] * W2.shape[1]] * W2.shape[0]),
            "b2": [Liar(2.0)] * len(params["b2"])}
