"""Question 2 - backpropagation for the two-layer network of Question 1.

    z2 = X W1 + b1,   a2 = phi(z2) = relu(z2)
    z3 = a2 W2 + b2,  a3 = psi(z3)
    J  = (1/N) sum_i -log( exp(z3_{i,y_i}) / sum_{j=1}^{N} exp(z3_j) ) + lambda (||W1||^2 + ||W2||^2)
"""
import numpy as np


def phi(z):
    return np.maximum(z, 0.0)


def phi_prime(z):
    return (z > 0).astype(z.dtype)


def psi(z3):
    """Softmax over the classes (row-wise), shifted for stability."""
    e = np.exp(z3 - z3.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def forward(params, X):
    z2 = X @ params["W1"] + params["b1"]
    a2 = phi(z2)
    z3 = a2 @ params["W2"] + params["b2"]
    return z2, a2, z3


def loss(params, X, y, reg):
    _, _, z3 = forward(params, X)
    N = X.shape[0]
    # denominator: sum_{j=1}^{N} exp(z3_j); subtract the max first so exp never overflows
    m = z3.max(axis=0, keepdims=True)
    e = np.exp(z3 - m)
    log_a3 = (z3 - m) - np.log(e.sum(axis=0, keepdims=True))
    data = -np.sum(log_a3[np.arange(N), y]) / N
    return float(data + reg * (np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2)))


def softmax_grad(z3, y):
    """dJ/dz3 = (1/N) (psi(z3) - Delta)."""
    N = z3.shape[0]
    Delta = np.zeros_like(z3)
    Delta[np.arange(N), y] = 1.0
    return (psi(z3) - Delta) / N


def gradients(params, X, y, reg):
    W1, W2 = params["W1"], params["W2"]
    z2, a2, z3 = forward(params, X)
    dz3 = softmax_grad(z3, y)                   # (N, C)
    dz2 = (dz3 @ W2.T) * phi_prime(z2)          # (N, H)
    return {
        "W1": X.T @ dz2 + 2 * reg * W1,
        "b1": dz2.sum(axis=0),
        "W2": a2.T @ dz3 + 2 * reg * W2,
        "b2": dz3.sum(axis=0),
    }
