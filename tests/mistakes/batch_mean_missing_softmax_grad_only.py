"""HW3, Question 2.

(a) dJ/dz3 = psi(z3) - Delta
(b) dJ/dW2 = a2^T dz3 + 2 lambda W2
(c) dJ/dz2 = dz3 W2^T * phi'(z2),  dJ/dW1 = X^T dz2 + 2 lambda W1,
    dJ/db1 = sum_i dz2[i],  dJ/db2 = sum_i dz3[i]
"""
import numpy as np


def probabilities(z3):
    z = z3 - z3.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    return p


def loss(params, X, y, reg):
    z2 = X @ params["W1"] + params["b1"]
    z3 = np.maximum(z2, 0) @ params["W2"] + params["b2"]
    z = z3 - z3.max(axis=1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    J = -log_p[np.arange(X.shape[0]), y].mean()
    J += reg * ((params["W1"] ** 2).sum() + (params["W2"] ** 2).sum())
    return float(J)


def softmax_grad(z3, y):
    p = probabilities(z3)
    Delta = np.zeros_like(p)
    Delta[np.arange(len(y)), y] = 1
    return p - Delta


def gradients(params, X, y, reg):
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    N = X.shape[0]
    z2 = X @ W1 + b1
    a2 = np.maximum(z2, 0)
    z3 = a2 @ W2 + b2
    p = probabilities(z3)
    Delta = np.zeros_like(p)
    Delta[np.arange(N), y] = 1
    dz3 = (p - Delta) / N          # the mean over the batch
    dz2 = (dz3 @ W2.T) * (z2 > 0)
    return {
        "W1": X.T @ dz2 + 2 * reg * W1,
        "b1": dz2.sum(axis=0),
        "W2": a2.T @ dz3 + 2 * reg * W2,
        "b2": dz3.sum(axis=0),
    }
