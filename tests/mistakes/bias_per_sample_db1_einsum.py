"""Question 2, written with einsum so I can see every index.

Indices: n = sample, d = input feature, h = hidden unit, c = class.
"""
import numpy as np


def _forward(params, X):
    z2 = np.einsum("nd,dh->nh", X, params["W1"]) + params["b1"]
    a2 = np.clip(z2, 0.0, None)
    z3 = np.einsum("nh,hc->nc", a2, params["W2"]) + params["b2"]
    return z2, a2, z3


def _log_softmax(z3):
    m = z3.max(axis=1, keepdims=True)
    return z3 - m - np.log(np.einsum("nc->n", np.exp(z3 - m)))[:, None]


def loss(params, X, y, reg):
    _, _, z3 = _forward(params, X)
    n = len(y)
    ce = -_log_softmax(z3)[np.arange(n), y].sum() / n
    l2 = np.einsum("dh,dh->", params["W1"], params["W1"]) + np.einsum("hc,hc->", params["W2"], params["W2"])
    return float(ce + reg * l2)


def softmax_grad(z3, y):
    n, c = z3.shape
    delta = np.zeros((n, c))
    delta[np.arange(n), y] = 1.0
    return (np.exp(_log_softmax(z3)) - delta) / n


def gradients(params, X, y, reg):
    z2, a2, z3 = _forward(params, X)
    d3 = softmax_grad(z3, y)                                             # (n, c)
    d2 = np.einsum("nc,hc->nh", d3, params["W2"]) * (z2 > 0)             # (n, h)
    return {
        "W2": np.einsum("nh,nc->hc", a2, d3) + 2 * reg * params["W2"],
        "b2": np.einsum("nc->c", d3),
        "W1": np.einsum("nd,nh->dh", X, d2) + 2 * reg * params["W1"],
        # dz2/db1 = 1, so dJ/db1 = dJ/dz2
        "b1": d2,
    }
