# Backprop for the 2-layer network (Question 2).
#   z2 = X W1 + b1, a2 = phi(z2), z3 = a2 W2 + b2, a3 = psi(z3)
import numpy as np


def phi(z):
    """ReLU activation."""
    return np.maximum(0.0, z)


def dphi(z):
    """Derivative of ReLU."""
    return np.where(z > 0, 1.0, 0.0)


def psi(z):
    """Softmax over the classes, max-shifted."""
    z = z - np.max(z, axis=1, keepdims=True)
    e = np.exp(z)
    return e / np.sum(e, axis=1, keepdims=True)


def loss(params, X, y, reg):
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    z2 = X @ W1 + b1
    a2 = phi(z2)
    z3 = a2 @ W2 + b2
    N = X.shape[0]
    s = z3 - np.max(z3, axis=1, keepdims=True)
    log_probs = s - np.log(np.sum(np.exp(s), axis=1, keepdims=True))
    J = -np.mean(log_probs[np.arange(N), y])
    J += reg * (np.sum(W1 ** 2) + np.sum(W2 ** 2))
    return float(J)


def softmax_grad(z3, y):
    N = z3.shape[0]
    Delta = np.zeros_like(z3)
    Delta[np.arange(N), y] = 1
    return (psi(z3) - Delta) / N


def gradients(params, X, y, reg):
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    z2 = X @ W1 + b1
    a2 = phi(z2)
    z3 = a2 @ W2 + b2

    dz3 = softmax_grad(z3, y)          # dJ/dz3 = (1/N)(psi(z3) - Delta)
    back = dz3 @ W2.T                  # dJ/da2

    # dJ/dW1 = (1/N)(psi - Delta) W2 phi'(z2) . x + 2 lambda W1
    dW1 = X.T @ (back * dphi(z2)) + 2 * reg * W1
    # dJ/db1 = (1/N)(psi - Delta) W2 phi(z2)
    db1 = np.sum(back * phi(z2), axis=0)
    # dJ/dW2 = a2^T (1/N)(psi - Delta) + 2 lambda W2
    dW2 = a2.T @ dz3 + 2 * reg * W2
    # dJ/db2 = sum over the batch of (1/N)(psi - Delta)
    db2 = np.sum(dz3, axis=0)

    return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}
