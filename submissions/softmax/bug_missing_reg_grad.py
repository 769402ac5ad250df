import numpy as np


def softmax_loss_naive(W, X, y, reg):
    N, C = X.shape[0], W.shape[1]
    loss = 0.0
    dW = np.zeros_like(W)
    for i in range(N):
        s = X[i] @ W
        s -= s.max()
        e = np.exp(s)
        p = e / e.sum()
        loss += -np.log(p[y[i]])
        for j in range(C):
            dW[:, j] += (p[j] - (1.0 if j == y[i] else 0.0)) * X[i]
    loss = loss / N + reg * np.sum(W * W)
    dW = dW / N
    return loss, dW


def softmax_loss_vectorized(W, X, y, reg):
    N = X.shape[0]
    s = X @ W
    s -= s.max(axis=1, keepdims=True)
    p = np.exp(s)
    p /= p.sum(axis=1, keepdims=True)
    loss = np.mean(-np.log(p[np.arange(N), y])) + reg * np.sum(W * W)
    p[np.arange(N), y] -= 1
    dW = X.T @ p / N
    return loss, dW
