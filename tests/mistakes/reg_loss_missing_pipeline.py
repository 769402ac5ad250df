# Homework 3 -- two layer network.
# Each step of the forward pass is its own small function so I can test them separately.
import numpy as np


def affine(x, W, b):
    return x @ W + b


def relu(x):
    return np.maximum(x, 0.0)


def cross_entropy(scores, y):
    """Mean of -log softmax(scores)[i, y_i] (log-sum-exp trick for stability)."""
    shift = scores.max(axis=1, keepdims=True)
    lse = shift[:, 0] + np.log(np.exp(scores - shift).sum(axis=1))
    return np.mean(lse - scores[np.arange(scores.shape[0]), y])


def loss(params, X, y, reg):
    # reg only matters for the update step, the loss itself is just the data term
    scores = affine(relu(affine(X, params["W1"], params["b1"])), params["W2"], params["b2"])
    return float(cross_entropy(scores, y))


def softmax_grad(z3, y):
    shift = z3 - z3.max(axis=1, keepdims=True)
    p = np.exp(shift)
    p = p / p.sum(axis=1, keepdims=True)
    target = np.eye(z3.shape[1])[y]
    return (p - target) / z3.shape[0]


def gradients(params, X, y, reg):
    z2 = affine(X, params["W1"], params["b1"])
    a2 = relu(z2)
    z3 = affine(a2, params["W2"], params["b2"])
    dz3 = softmax_grad(z3, y)
    dz2 = dz3 @ params["W2"].T
    dz2 = np.where(z2 > 0, dz2, 0.0)
    return {
        "W1": X.T @ dz2 + 2 * reg * params["W1"],
        "b1": np.sum(dz2, axis=0),
        "W2": a2.T @ dz3 + 2 * reg * params["W2"],
        "b2": np.sum(dz3, axis=0),
    }
