# HW3 Q2 -- backprop through the two layer net.
# I keep the network as a little object (like in the PyTorch tutorial) and the three
# functions the autograder wants are thin wrappers around it.

import numpy as np


class TwoLayerNet:
    def __init__(self, params):
        self.W1 = params["W1"]
        self.b1 = params["b1"]
        self.W2 = params["W2"]
        self.b2 = params["b2"]
        self.cache = {}

    def forward(self, X):
        z2 = X @ self.W1 + self.b1
        a2 = np.maximum(0, z2)
        z3 = a2 @ self.W2 + self.b2
        self.cache = {"X": X, "z2": z2, "a2": a2, "z3": z3}
        return z3

    @staticmethod
    def log_probs(z3):
        shifted = z3 - np.max(z3, axis=1, keepdims=True)
        return shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))

    def data_loss(self, X, y):
        lp = self.log_probs(self.forward(X))
        return -np.mean(lp[np.arange(len(y)), y])

    def reg_loss(self, reg):
        return reg * (np.sum(self.W1 * self.W1) + np.sum(self.W2 * self.W2))

    def backward(self, y, reg):
        X, a2, z3 = self.cache["X"], self.cache["a2"], self.cache["z3"]
        dz3 = softmax_grad(z3, y)
        dW2 = a2.T @ dz3 + 2 * reg * self.W2
        db2 = dz3.sum(axis=0)
        da2 = dz3 @ self.W2.T
        dz2 = da2 * a2  # back through the relu
        dW1 = X.T @ dz2 + 2 * reg * self.W1
        db1 = dz2.sum(axis=0)
        return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}


def loss(params, X, y, reg):
    net = TwoLayerNet(params)
    return float(net.data_loss(X, y) + net.reg_loss(reg))


def softmax_grad(z3, y):
    N = z3.shape[0]
    probs = np.exp(TwoLayerNet.log_probs(z3))
    probs[np.arange(N), y] -= 1
    return probs / N


def gradients(params, X, y, reg):
    net = TwoLayerNet(params)
    net.forward(X)
    return net.backward(y, reg)


if __name__ == "__main__":
    rng = np.random.default_rng(0)
    p = {"W1": rng.normal(size=(4, 5)), "b1": np.zeros(5), "W2": rng.normal(size=(5, 3)), "b2": np.zeros(3)}
    Xs, ys = rng.normal(size=(6, 4)), rng.integers(0, 3, 6)
    print(loss(p, Xs, ys, 0.1), {k: v.shape for k, v in gradients(p, Xs, ys, 0.1).items()})
