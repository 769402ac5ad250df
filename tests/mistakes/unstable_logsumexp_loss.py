import numpy as np

# Q1 via log-sum-exp:  -log psi(z3)[i, y_i] = log sum_c exp(z3[i, c]) - z3[i, y_i]


def loss(params, X, y, reg):
    hidden = np.maximum(0, X @ params["W1"] + params["b1"])
    z3 = hidden @ params["W2"] + params["b2"]
    lse = np.log(np.sum(np.exp(z3), axis=1))
    data = np.mean(lse - z3[np.arange(len(y)), y])
    return data + reg * (np.sum(np.square(params["W1"])) + np.sum(np.square(params["W2"])))


def softmax_grad(z3, y):
    shifted = z3 - np.max(z3, axis=1, keepdims=True)
    psi = np.exp(shifted) / np.sum(np.exp(shifted), axis=1, keepdims=True)
    psi[np.arange(len(y)), y] -= 1
    return psi / len(y)


def gradients(params, X, y, reg):
    z2 = X @ params["W1"] + params["b1"]
    hidden = np.maximum(0, z2)
    z3 = hidden @ params["W2"] + params["b2"]
    dz3 = softmax_grad(z3, y)
    dhidden = dz3 @ params["W2"].T
    dz2 = dhidden * (z2 > 0)
    return {"W1": X.T @ dz2 + 2 * reg * params["W1"], "b1": dz2.sum(0),
            "W2": hidden.T @ dz3 + 2 * reg * params["W2"], "b2": dz3.sum(0)}
