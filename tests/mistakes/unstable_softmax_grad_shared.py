import numpy as np


def softmax(z):
    """psi(z): row-wise softmax."""
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def logsumexp(z):
    # needed this for the loss because log(softmax) gave -inf on one of my tests
    m = z.max(axis=1, keepdims=True)
    return (m + np.log(np.exp(z - m).sum(axis=1, keepdims=True)))[:, 0]


def forward(params, X):
    z2 = X @ params["W1"] + params["b1"]
    a2 = np.maximum(z2, 0.0)
    z3 = a2 @ params["W2"] + params["b2"]
    return z2, a2, z3


def loss(params, X, y, reg):
    _, _, z3 = forward(params, X)
    nll = logsumexp(z3) - z3[np.arange(len(y)), y]
    return float(np.mean(nll) + reg * (np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2)))


def softmax_grad(z3, y):
    N = len(y)
    d = softmax(z3)
    d[np.arange(N), y] -= 1.0
    return d / N


def gradients(params, X, y, reg):
    z2, a2, z3 = forward(params, X)
    dz3 = softmax_grad(z3, y)
    dz2 = dz3 @ params["W2"].T * (z2 > 0)
    return {
        "W1": X.T @ dz2 + 2.0 * reg * params["W1"],
        "b1": dz2.sum(axis=0),
        "W2": a2.T @ dz3 + 2.0 * reg * params["W2"],
        "b2": dz3.sum(axis=0),
    }
