"""Transcription into numpy of my written answer to Question 2 (Backpropagation).

Notation from Question 1:
    z2 = X W1 + b1,   a2 = phi(z2)   (phi = ReLU)
    z3 = a2 W2 + b2,  a3 = psi(z3)   (psi = softmax)
    J  = (1/N) sum_i -log[ exp(z3_{y_i}) / sum_{j=1}^{N} exp(z3_j) ] + lambda(||W1||^2 + ||W2||^2)

(a) dJ/dz3 = (1/N)(psi(z3) - Delta),  Delta = 1 when y_i = j, 0 otherwise
(b) dJ/dW2 = (1/N)(psi(z3) - Delta) . a2 + 2 lambda W2
(c) dJ/db1 = (1/N)(psi(z3) - Delta) . W2 . phi(z2)
    dJ/db2 = (1/N)(psi(z3) - Delta)
    dJ/dW1 = (1/N)(psi(z3) - Delta) W2 phi'(z2) . a1 + 2 lambda W1     (a1 = X)
"""
import numpy as np


def phi(z):
    return np.maximum(z, 0)


def phi_prime(z):
    return (z > 0).astype(float)


def psi(z3):
    # softmax, shifted by the max so exp does not overflow
    e = np.exp(z3 - np.max(z3, axis=1, keepdims=True))
    return e / np.sum(e, axis=1, keepdims=True)


def loss(params, X, y, reg):
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    z2 = X @ W1 + b1
    a2 = phi(z2)
    z3 = a2 @ W2 + b2
    N = X.shape[0]
    # h_j = sum_{j=1}^{N} exp(z3_j)
    m = np.max(z3, axis=0)
    h = np.sum(np.exp(z3 - m), axis=0)
    log_a3 = (z3 - m) - np.log(h)
    J = -np.sum(log_a3[np.arange(N), y]) / N
    return float(J + reg * (np.sum(W1 ** 2) + np.sum(W2 ** 2)))


def softmax_grad(z3, y):
    # (a)
    N = z3.shape[0]
    Delta = np.zeros_like(z3)
    Delta[np.arange(N), y] = 1
    return (psi(z3) - Delta) / N


def gradients(params, X, y, reg):
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    z2 = X @ W1 + b1
    a2 = phi(z2)
    z3 = a2 @ W2 + b2

    dz3 = softmax_grad(z3, y)

    # (b)
    dW2 = dz3.T @ a2 + 2 * reg * W2.T
    # (c)
    db1 = np.sum((dz3 @ W2.T) * phi(z2), axis=0)
    db2 = dz3
    dW1 = X.T @ ((dz3 @ W2.T) * phi_prime(z2)) + 2 * reg * W1

    return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}
