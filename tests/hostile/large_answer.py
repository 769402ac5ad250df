"""Hostile: answers just under the sandbox's size limits (the child's element limit and the
grader's 64 MiB per reply), for every case: cheap broadcast views in the child, real memory in
the grader unless it refuses them.

Honest: loss. Attacked: softmax_grad and gradients (their values are garbage).
"""

import numpy as np


def loss(params, X, y, reg):
    z3 = np.maximum(X @ params["W1"] + params["b1"], 0.0) @ params["W2"] + params["b2"]
    z3 = z3 - z3.max(axis=1, keepdims=True)
    log_p = z3 - np.log(np.exp(z3).sum(axis=1, keepdims=True))
    return float(-log_p[np.arange(len(y)), y].mean() + reg * (np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2)))


#: elements of float64 that fit one reply
ELEMENTS = (64 << 20) // 8 - 4096


def softmax_grad(z3, y):
    return np.broadcast_to(np.float64(0.25), (ELEMENTS,))


def gradients(params, X, y, reg):
    return {k: np.broadcast_to(np.float64(0.5), (ELEMENTS // 4,)) for k in params}
