# Question 2 - backprop, done one training example at a time with np.outer.
# My plan: every gradient is a sum over examples of an outer product, so I
# accumulate them in a loop and divide by N at the end.
import numpy as np


def relu(v):
    return v * (v > 0)


def stable_softmax(v):
    v = v - v.max()
    e = np.exp(v)
    return e / e.sum()


def loss(params, X, y, reg):
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    N = len(X)
    total = 0.0
    for n in range(N):
        h = relu(W1.T @ X[n] + b1)
        s = W2.T @ h + b2
        s_max = s.max()
        total += -(s[y[n]] - s_max - np.log(np.exp(s - s_max).sum()))
    return total / N + reg * ((W1 ** 2).sum() + (W2 ** 2).sum())


def softmax_grad(z3, y):
    N, C = z3.shape
    out = np.empty((N, C))
    for n in range(N):
        p = stable_softmax(z3[n])
        p[y[n]] -= 1.0
        out[n] = p
    return out / N


def gradients(params, X, y, reg):
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    N = len(X)
    gW1 = np.zeros(W1.shape)
    gb1 = np.zeros(b1.shape)
    gW2 = np.zeros(W2.shape)
    gb2 = np.zeros(b2.shape)
    for n in range(N):
        z2 = W1.T @ X[n] + b1
        a2 = relu(z2)
        z3 = W2.T @ a2 + b2
        d3 = stable_softmax(z3)
        d3[y[n]] -= 1.0
        d2 = (W2 @ d3) * (z2 > 0)
        gW2 += np.outer(a2, d3)
        gb2 += d3
        gW1 += np.outer(X[n], d2)
        gb1 += d2
    gW2 = gW2 / N + 2 * reg * W2
    gW1 = gW1 / N
    return {"W1": gW1, "b1": gb1 / N, "W2": gW2, "b2": gb2 / N}
