import numpy as np

# Q2(a): I derived the gradient of the log-likelihood log psi(z3)[i, y_i],
#        which is (Delta - psi(z3)) / N.
# Q2(b,c): written out in full below.


def log_softmax(z):
    z = z - np.amax(z, axis=1, keepdims=True)
    return z - np.log(np.sum(np.exp(z), axis=1, keepdims=True))


def loss(params, X, y, reg):
    a2 = np.maximum(X @ params["W1"] + params["b1"], 0)
    z3 = a2 @ params["W2"] + params["b2"]
    ll = log_softmax(z3)[np.arange(len(y)), y]
    return -ll.mean() + reg * (np.linalg.norm(params["W1"]) ** 2 + np.linalg.norm(params["W2"]) ** 2)


def softmax_grad(z3, y):
    N, C = z3.shape
    Delta = np.eye(C)[y]
    return (Delta - np.exp(log_softmax(z3))) / N


def gradients(params, X, y, reg):
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    N, C = X.shape[0], W2.shape[1]
    z2 = X @ W1 + b1
    a2 = np.maximum(z2, 0)
    z3 = a2 @ W2 + b2
    dz3 = (np.exp(log_softmax(z3)) - np.eye(C)[y]) / N
    dz2 = dz3 @ W2.T
    dz2[z2 < 0] = 0.0
    return {
        "W1": X.T @ dz2 + 2 * reg * W1,
        "b1": dz2.sum(0),
        "W2": a2.T @ dz3 + 2 * reg * W2,
        "b2": dz3.sum(0),
    }
