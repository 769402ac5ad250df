import numpy as np


def softmax_loss_naive(W, X, y, reg):
    N = X.shape[0]
    C = W.shape[1]
    loss = 0.0
    dW = np.zeros_like(W)
    for i in range(N):
        scores = X[i].dot(W)
        scores -= np.max(scores)
        p = np.exp(scores) / np.sum(np.exp(scores))
        loss += -np.log(p[y[i]])
        for j in range(C):
            indicator = 1.0 if j == y[i] else 0.0
            dW[:, j] += (indicator - p[j]) * X[i]
    loss = loss / N + reg * np.sum(W * W)
    dW = dW / N + 2 * reg * W
    return loss, dW


def softmax_loss_vectorized(W, X, y, reg):
    N = X.shape[0]
    scores = X.dot(W)
    scores -= np.max(scores, axis=1, keepdims=True)
    probs = np.exp(scores) / np.sum(np.exp(scores), axis=1, keepdims=True)
    loss = -np.mean(np.log(probs[np.arange(N), y])) + reg * np.sum(W * W)
    onehot = np.zeros_like(probs)
    onehot[np.arange(N), y] = 1
    dW = X.T.dot(onehot - probs) / N + 2 * reg * W
    return loss, dW
