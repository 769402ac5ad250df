"""Hostile: broadcast views with absurd shapes (10^6 x 10^6, 10^12, (10^6,)*3): no memory in the
child, and they must cost nothing in the grader either; one also lies about its shape.

Honest: loss. Attacked: softmax_grad and gradients (their values are garbage).
"""

import numpy as np


def loss(params, X, y, reg):
    z3 = np.maximum(X @ params["W1"] + params["b1"], 0.0) @ params["W2"] + params["b2"]
    z3 = z3 - z3.max(axis=1, keepdims=True)
    log_p = z3 - np.log(np.exp(z3).sum(axis=1, keepdims=True))
    return float(-log_p[np.arange(len(y)), y].mean() + reg * (np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2)))


HUGE = (10**6, 10**6)


class Small(np.ndarray):
    """A 10^6 x 10^6 view that says it is 2 x 2."""

    @property
    def shape(self):
        return (2, 2)

    def __len__(self):
        return 2


def softmax_grad(z3, y):
    return np.broadcast_to(np.float64(0.0), HUGE).view(Small)


def gradients(params, X, y, reg):
    return {
        "W1": np.broadcast_to(np.float64(0.0), HUGE),
        "b1": np.broadcast_to(np.zeros(1), (10**12,)),
        "W2": np.lib.stride_tricks.as_strided(np.zeros(1), shape=(10**6,) * 3, strides=(0, 0, 0)),
        "b2": [np.broadcast_to(np.float64(1.0), HUGE)],
    }
