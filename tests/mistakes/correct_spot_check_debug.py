# HW3 Q2. Backprop, vectorized. While debugging I added a quick gradient check inside
# gradients(): it compares a few random entries of dW1 with centered differences of my loss()
# and prints a warning if they disagree. I left it in (it's cheap: 5 entries, 10 loss calls).
import numpy as np

DEBUG_ENTRIES = 5


def loss(params, X, y, reg):
    z2 = X @ params["W1"] + params["b1"]
    a2 = np.maximum(z2, 0.0)
    z3 = a2 @ params["W2"] + params["b2"]
    z3 = z3 - z3.max(axis=1, keepdims=True)
    log_p = z3 - np.log(np.exp(z3).sum(axis=1, keepdims=True))
    data = -log_p[np.arange(X.shape[0]), y].mean()
    return float(data + reg * (np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2)))


def softmax_grad(z3, y):
    p = np.exp(z3 - z3.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(y)), y] -= 1.0
    return p / len(y)


def _spot_check(params, X, y, reg, dW1, h=1e-5):
    """Centered differences of loss() at a few entries of W1, against the analytic dW1."""
    rng = np.random.default_rng(0)
    W1 = params["W1"]
    for _ in range(DEBUG_ENTRIES):
        i, j = rng.integers(W1.shape[0]), rng.integers(W1.shape[1])
        moved = dict(params)
        moved["W1"] = W1.copy()
        moved["W1"][i, j] = W1[i, j] + h
        plus = loss(moved, X, y, reg)
        moved["W1"][i, j] = W1[i, j] - h
        minus = loss(moved, X, y, reg)
        numeric = (plus - minus) / (2 * h)
        if abs(numeric - dW1[i, j]) > 1e-4 * max(1.0, abs(numeric)):
            print(f"WARNING: dW1[{i}, {j}] = {dW1[i, j]:.6g} but finite differences say {numeric:.6g}")


def gradients(params, X, y, reg):
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    z2 = X @ W1 + b1
    a2 = np.maximum(z2, 0.0)
    z3 = a2 @ W2 + b2
    dz3 = softmax_grad(z3, y)
    dz2 = (dz3 @ W2.T) * (z2 > 0)
    grads = {
        "W1": X.T @ dz2 + 2 * reg * W1,
        "b1": dz2.sum(axis=0),
        "W2": a2.T @ dz3 + 2 * reg * W2,
        "b2": dz3.sum(axis=0),
    }
    _spot_check(params, X, y, reg, grads["W1"])
    return grads
