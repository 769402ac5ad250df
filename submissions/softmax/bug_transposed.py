import numpy as np


def softmax_loss_naive(W, X, y, reg):
    N, C = X.shape[0], W.shape[1]
    loss = 0.0
    dW = np.zeros((C, X.shape[1]))   # one row per class
    for i in range(N):
        scores = X[i] @ W
        scores -= scores.max()
        p = np.exp(scores) / np.exp(scores).sum()
        loss -= np.log(p[y[i]])
        for j in range(C):
            dW[j] += (p[j] - (j == y[i])) * X[i]
    loss = loss / N + reg * np.sum(W * W)
    dW = dW / N + 2 * reg * W.T
    return loss, dW


def softmax_loss_vectorized(W, X, y, reg):
    N = X.shape[0]
    scores = X @ W
    scores -= scores.max(axis=1, keepdims=True)
    p = np.exp(scores)
    p /= p.sum(axis=1, keepdims=True)
    loss = -np.log(p[np.arange(N), y]).mean() + reg * np.sum(W * W)
    p[np.arange(N), y] -= 1
    dW = p.T @ X / N + 2 * reg * W.T
    return loss, dW
