"""Backprop for a 2-layer net, done in single precision.

I use float32 everywhere (GPU habit - it's half the memory and the
assignment only needs a few digits anyway).
"""
import numpy as np

DTYPE = np.float32


def _f32(a):
    return np.asarray(a, dtype=DTYPE)


def _softmax(z):
    z = z - np.max(z, axis=1, keepdims=True)
    ez = np.exp(z)
    return ez / np.sum(ez, axis=1, keepdims=True)


def _forward(params, X):
    W1, b1 = _f32(params["W1"]), _f32(params["b1"])
    W2, b2 = _f32(params["W2"]), _f32(params["b2"])
    X = _f32(X)
    z2 = X @ W1 + b1
    a2 = np.maximum(z2, DTYPE(0))
    z3 = a2 @ W2 + b2
    return X, z2, a2, z3


def loss(params, X, y, reg):
    _, _, _, z3 = _forward(params, X)
    N = z3.shape[0]
    shifted = z3 - np.max(z3, axis=1, keepdims=True)
    log_probs = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
    data = -np.mean(log_probs[np.arange(N), y])
    W1, W2 = _f32(params["W1"]), _f32(params["W2"])
    penalty = DTYPE(reg) * (np.sum(W1 * W1) + np.sum(W2 * W2))
    return DTYPE(data + penalty)


def softmax_grad(z3, y):
    z3 = _f32(z3)
    N = z3.shape[0]
    g = _softmax(z3)
    g[np.arange(N), y] -= DTYPE(1)
    return g / DTYPE(N)


def gradients(params, X, y, reg):
    X, z2, a2, z3 = _forward(params, X)
    W1, W2 = _f32(params["W1"]), _f32(params["W2"])
    r = DTYPE(reg)

    d3 = softmax_grad(z3, y)                 # (N, C)
    d2 = (d3 @ W2.T) * (z2 > 0).astype(DTYPE)  # (N, H)

    grads = {
        "W1": X.T @ d2 + DTYPE(2) * r * W1,
        "b1": d2.sum(axis=0),
        "W2": a2.T @ d3 + DTYPE(2) * r * W2,
        "b2": d3.sum(axis=0),
    }
    return grads
