import numpy as np


def softmax_loss_naive(W, X, y, reg):
    """Softmax loss with loops. Returns (loss, dW)."""
    loss = 0.0
    dW = np.zeros_like(W)
    for i in range(X.shape[0]):
        f = X[i] @ W
        f -= np.max(f)
        p = np.exp(f) / np.sum(np.exp(f))
        loss -= np.log(p[y[i]])
        for c in range(W.shape[1]):
            dW[:, c] += X[i] * (p[c] - (c == y[i]))
    # total loss over the batch plus regularization
    loss += reg * np.sum(W ** 2)
    dW += 2 * reg * W
    return loss, dW


def softmax_loss_vectorized(W, X, y, reg):
    f = X @ W
    f -= f.max(axis=1, keepdims=True)
    p = np.exp(f) / np.exp(f).sum(axis=1, keepdims=True)
    idx = np.arange(len(y))
    loss = -np.log(p[idx, y]).sum() + reg * np.sum(W ** 2)
    p[idx, y] -= 1
    dW = X.T @ p + 2 * reg * W
    return loss, dW
