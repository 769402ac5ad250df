# Q2 backprop. In lecture every sample is a COLUMN (z = W x + b), so I transpose
# X once at the top and work with columns the whole way through: A1 is (D, N),
# Z2 and A2 are (H, N), Z3 and P are (C, N). Classes are rows here, so the
# softmax is over axis 0.
import numpy as np


def _softmax_columns(Z):
    Z = Z - Z.max(axis=0, keepdims=True)
    E = np.exp(Z)
    return E / E.sum(axis=0, keepdims=True)


def _onehot_columns(y, C):
    Y = np.zeros((C, y.shape[0]))
    Y[y, np.arange(y.shape[0])] = 1.0
    return Y


def _forward(params, X):
    A1 = X.T
    Z2 = params["W1"].T @ A1 + params["b1"][:, None]
    A2 = np.maximum(Z2, 0.0)
    Z3 = params["W2"].T @ A2 + params["b2"][:, None]
    return A1, Z2, A2, Z3


def loss(params, X, y, reg):
    _, _, _, Z3 = _forward(params, X)
    N = X.shape[0]
    Zs = Z3 - Z3.max(axis=0, keepdims=True)
    log_P = Zs - np.log(np.exp(Zs).sum(axis=0, keepdims=True))
    data = -log_P[y, np.arange(N)].sum() / N
    return float(data + reg * (np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2)))


def softmax_grad(z3, y):
    Z3 = z3.T
    N = Z3.shape[1]
    dZ3 = (_softmax_columns(Z3) - _onehot_columns(y, Z3.shape[0])) / N
    return dZ3.T


def gradients(params, X, y, reg):
    W1, W2 = params["W1"], params["W2"]
    A1, Z2, A2, Z3 = _forward(params, X)
    N = X.shape[0]
    dZ3 = (_softmax_columns(Z3) - _onehot_columns(y, Z3.shape[0])) / N   # (C, N)
    dW2 = (dZ3 @ A2.T).T + 2 * reg * W2                                   # back to (H, C)
    db2 = dZ3.sum(axis=1)
    dZ2 = (W2 @ dZ3) * (Z2 > 0)                                           # (H, N)
    dW1 = dZ2 @ A1.T + 2 * reg * W1.T
    db1 = dZ2.sum(axis=1)
    return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}
