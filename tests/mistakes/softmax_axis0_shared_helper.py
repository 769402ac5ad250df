import numpy as np

# ---------------------------------------------------------------- helpers

def softmax(scores):
    # subtract the max so exp can't blow up
    exps = np.exp(scores - np.max(scores))
    return exps / np.sum(exps, axis=0)


def one_hot(y, C):
    out = np.zeros((y.size, C))
    out[np.arange(y.size), y] = 1
    return out


def forward(params, X):
    z2 = np.dot(X, params["W1"]) + params["b1"]
    a2 = np.maximum(z2, 0)
    z3 = np.dot(a2, params["W2"]) + params["b2"]
    return z2, a2, z3

# ---------------------------------------------------------------- Q1

def loss(params, X, y, reg):
    z2, a2, z3 = forward(params, X)
    probs = softmax(z3)
    N = X.shape[0]
    data_loss = -np.mean(np.log(probs[np.arange(N), y]))
    reg_loss = reg * (np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2))
    return data_loss + reg_loss

# ---------------------------------------------------------------- Q2

def softmax_grad(z3, y):
    N, C = z3.shape
    return (softmax(z3) - one_hot(y, C)) / N


def gradients(params, X, y, reg):
    z2, a2, z3 = forward(params, X)
    dz3 = softmax_grad(z3, y)
    dW2 = np.dot(a2.T, dz3) + 2 * reg * params["W2"]
    db2 = np.sum(dz3, axis=0)
    dz2 = np.dot(dz3, params["W2"].T)
    dz2[z2 <= 0] = 0
    dW1 = np.dot(X.T, dz2) + 2 * reg * params["W1"]
    db1 = np.sum(dz2, axis=0)
    return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}
