"""Assignment: backpropagation through a two-layer ReLU network, with scipy's stable
log-sum-exp and softmax.

Forward pass:
    z2 = X W1 + b1,  a2 = relu(z2),  z3 = a2 W2 + b2
    J  = mean_i -log softmax(z3)[i, y_i] + reg * (||W1||^2 + ||W2||^2)
"""

import numpy as np
from scipy.special import logsumexp, softmax


def _forward(params, X):
    z2 = X @ params["W1"] + params["b1"]
    a2 = np.maximum(z2, 0.0)
    z3 = a2 @ params["W2"] + params["b2"]
    return z2, a2, z3


def loss(params, X, y, reg):
    """Cross-entropy of the softmax outputs plus the L2 penalty."""
    _, _, z3 = _forward(params, X)
    # -log softmax(z)_y = logsumexp(z) - z_y, finite however large the logits
    per_sample = logsumexp(z3, axis=1) - z3[np.arange(len(y)), y]
    l2 = np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2)
    return float(np.mean(per_sample) + reg * l2)


def softmax_grad(z3, y):
    """dJ/dz3 of the data term: (softmax(z3) - Y) / N."""
    N = z3.shape[0]
    delta = softmax(z3, axis=1)
    delta[np.arange(N), y] -= 1.0
    return delta / N


def gradients(params, X, y, reg):
    """Backprop. Returns a dict with the gradient of J for every parameter."""
    z2, a2, z3 = _forward(params, X)
    delta3 = softmax_grad(z3, y)
    delta2 = (delta3 @ params["W2"].T) * (z2 > 0)
    return {
        "W1": X.T @ delta2 + 2 * reg * params["W1"],
        "b1": delta2.sum(axis=0),
        "W2": a2.T @ delta3 + 2 * reg * params["W2"],
        "b2": delta3.sum(axis=0),
    }
