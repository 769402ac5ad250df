"""Backprop (Q2) with layer functions that return a cache, like in the CS231n notes."""
import numpy as np


def affine_forward(x, w, b):
    out = x.dot(w) + b
    return out, (x, w)


def affine_backward(dout, cache):
    x, w = cache
    dx = dout.dot(w.T)
    dw = x.T.dot(dout)
    db = dout.sum(axis=0)
    return dx, dw, db


def relu_forward(x):
    return np.maximum(0, x), x


def relu_backward(dout, cache):
    return dout * (cache > 0)


def softmax_loss(z, y):
    """Returns the mean cross-entropy and dJ/dz."""
    N = z.shape[0]
    shifted = z - np.max(z, axis=1, keepdims=True)
    log_probs = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
    data = -np.sum(log_probs[np.arange(N), y]) / N
    dz = np.exp(log_probs)
    dz[np.arange(N), y] -= 1
    return data, dz / N


def _run(params, X, y):
    h, c1 = affine_forward(X, params["W1"], params["b1"])
    a, c2 = relu_forward(h)
    z3, c3 = affine_forward(a, params["W2"], params["b2"])
    data, dz3 = softmax_loss(z3, y)
    return data, dz3, (c1, c2, c3)


def loss(params, X, y, reg):
    data, _, _ = _run(params, X, y)
    return data + reg * (np.sum(params["W1"] * params["W1"]) + np.sum(params["W2"] * params["W2"]))


def softmax_grad(z3, y):
    return softmax_loss(z3, y)[1]


def gradients(params, X, y, reg):
    _, dz3, (c1, c2, c3) = _run(params, X, y)
    da, dW2, db2 = affine_backward(dz3, c3)
    dh = relu_backward(da, c2)
    _, dW1, db1 = affine_backward(dh, c1)
    dW2 += reg * params["W2"]
    dW1 += 2 * reg * params["W1"]
    return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}
