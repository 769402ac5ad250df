"""Assignment: backpropagation through a two-layer ReLU network.

Forward pass:
    z2 = X W1 + b1,  a2 = relu(z2),  z3 = a2 W2 + b2
    J  = mean_i -log softmax(z3)[i, y_i] + reg * (||W1||^2 + ||W2||^2)

Everything is vectorized; the softmax is computed through a log-sum-exp
so that large logits do not overflow.
"""

import numpy as np


def _logsumexp(z):
    """log(sum_j exp(z[:, j])) for every row, computed stably. Returns shape (N, 1)."""
    m = np.max(z, axis=1, keepdims=True)
    return m + np.log(np.sum(np.exp(z - m), axis=1, keepdims=True))


def _one_hot(y, num_classes):
    """(N,) integer labels -> (N, C) one-hot matrix."""
    return np.eye(num_classes)[y]


def _forward(params, X):
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    z2 = X.dot(W1) + b1
    a2 = np.where(z2 > 0, z2, 0.0)
    z3 = a2.dot(W2) + b2
    return z2, a2, z3


def loss(params, X, y, reg):
    """Cross-entropy of the softmax outputs plus the L2 penalty."""
    _, _, z3 = _forward(params, X)
    Y = _one_hot(y, z3.shape[1])
    # -log softmax(z)_y = logsumexp(z) - z_y
    per_sample = _logsumexp(z3)[:, 0] - np.sum(Y * z3, axis=1)
    l2 = np.sum(params["W1"] * params["W1"]) + np.sum(params["W2"] * params["W2"])
    return float(np.mean(per_sample) + reg * l2)


def softmax_grad(z3, y):
    """dJ/dz3 of the data term: (softmax(z3) - Y) / N."""
    N, C = z3.shape
    probs = np.exp(z3 - _logsumexp(z3))
    return (probs - _one_hot(y, C)) / N


def gradients(params, X, y, reg):
    """Backprop. Returns a dict with the gradient of J for every parameter."""
    W1, W2 = params["W1"], params["W2"]
    z2, a2, z3 = _forward(params, X)

    delta3 = softmax_grad(z3, y)            # (N, C)
    dW2 = np.einsum("nh,nc->hc", a2, delta3) + 2 * reg * W2
    db2 = np.einsum("nc->c", delta3)

    delta2 = delta3.dot(W2.T)               # (N, H)
    delta2 = delta2 * (z2 > 0).astype(float)   # relu'(z2)
    dW1 = np.einsum("nd,nh->dh", X, delta2) + 2 * reg * W1
    db1 = np.einsum("nh->h", delta2)

    return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}
