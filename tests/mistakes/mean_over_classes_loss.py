# HW3: two-layer net
import numpy as np


def _scores(params, X):
    h = np.maximum(0, X.dot(params["W1"]) + params["b1"])
    return h, h.dot(params["W2"]) + params["b2"]


def loss(params, X, y, reg):
    _, s = _scores(params, X)
    s = s - np.max(s, axis=1, keepdims=True)
    logp = s - np.log(np.sum(np.exp(s), axis=1, keepdims=True))
    onehot = np.zeros_like(logp)
    onehot[np.arange(X.shape[0]), y] = 1.0
    # average cross-entropy
    ce = -np.mean(onehot * logp)
    return float(ce + reg * (np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2)))


def softmax_grad(z3, y):
    s = z3 - np.max(z3, axis=1, keepdims=True)
    p = np.exp(s) / np.sum(np.exp(s), axis=1, keepdims=True)
    p[np.arange(z3.shape[0]), y] -= 1.0
    return p / z3.shape[0]


def gradients(params, X, y, reg):
    h, s = _scores(params, X)
    ds = softmax_grad(s, y)
    dh = ds.dot(params["W2"].T) * (h > 0)
    return {
        "W1": X.T.dot(dh) + 2 * reg * params["W1"],
        "b1": dh.sum(axis=0),
        "W2": h.T.dot(ds) + 2 * reg * params["W2"],
        "b2": ds.sum(axis=0),
    }
