# HW3 - Question 2: backprop for a 2 layer net (relu hidden layer, softmax output)
# I wrote this one sample at a time because the matrix version kept giving me
# shape errors. Slow but it matches my derivation line by line.

import math
import numpy as np


def relu(v):
    return np.maximum(v, 0.0)


def softmax_row(z):
    # subtract the max first, otherwise exp(1000) = inf
    m = np.max(z)
    e = np.exp(z - m)
    return e / np.sum(e)


def forward_one(params, x):
    # x is a single sample, shape (D,)
    z2 = x @ params["W1"] + params["b1"]     # (H,)
    a2 = relu(z2)
    z3 = a2 @ params["W2"] + params["b2"]    # (C,)
    return z2, a2, z3


def loss(params, X, y, reg):
    N = X.shape[0]
    total = 0.0
    for i in range(N):
        _, _, z3 = forward_one(params, X[i])
        m = np.max(z3)
        log_denom = m + math.log(np.sum(np.exp(z3 - m)))
        total += log_denom - z3[y[i]]     # -log softmax(z3)[y_i]
    data_loss = total / N

    reg_loss = 0.0
    for W in (params["W1"], params["W2"]):
        reg_loss += np.sum(W ** 2)
    return float(data_loss + reg * reg_loss)


def softmax_grad(z3, y):
    N, C = z3.shape
    dz3 = np.zeros((N, C))
    for i in range(N):
        p = softmax_row(z3[i])
        for j in range(C):
            delta = 1.0 if j == y[i] else 0.0
            dz3[i, j] = (p[j] - delta) / N
    return dz3


def gradients(params, X, y, reg):
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    N = X.shape[0]

    dW1 = np.zeros_like(W1)
    db1 = np.zeros_like(b1)
    dW2 = np.zeros_like(W2)
    db2 = np.zeros_like(b2)

    for i in range(N):
        x = X[i]
        z2, a2, z3 = forward_one(params, x)

        # dJ/dz3 for this sample (already divided by N)
        p = softmax_row(z3)
        dz3 = p.copy()
        dz3[y[i]] -= 1.0
        dz3 /= N                          # (C,)

        dW2 += np.outer(a2, dz3)          # (H, C)
        db2 += dz3

        da2 = W2 @ dz3                    # (H,)
        dz2 = da2 * (z2 > 0)              # relu derivative
        dW1 += np.outer(x, dz2)           # (D, H)
        db1 += dz2

    # regularization: d/dW of reg*||W||^2 = 2*reg*W
    dW1 += 2 * reg * W1
    dW2 += 2 * reg * W2

    return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}
