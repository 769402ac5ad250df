"""Softmax classifier in single precision (float32 is what the GPU version uses anyway)."""
import numpy as np

F = np.float32


def _softmax_loss(W, X, y, reg):
    W = np.asarray(W, dtype=F)
    X = np.asarray(X, dtype=F)
    reg = F(reg)
    N = X.shape[0]
    scores = X @ W
    scores = scores - scores.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(scores).sum(axis=1, keepdims=True))
    log_probs = scores - log_norm
    loss = -log_probs[np.arange(N), y].mean() + reg * np.sum(W * W)
    dscores = np.exp(log_probs)
    dscores[np.arange(N), y] -= F(1)
    dW = X.T @ dscores / F(N) + F(2) * reg * W
    return F(loss), dW.astype(F)


def softmax_loss_naive(W, X, y, reg):
    loss = F(0)
    dW = np.zeros(W.shape, dtype=F)
    Wf = W.astype(F)
    for i in range(X.shape[0]):
        x = X[i].astype(F)
        s = x @ Wf
        s -= s.max()
        p = np.exp(s)
        p /= p.sum()
        loss += -np.log(p[y[i]])
        p[y[i]] -= F(1)
        dW += np.outer(x, p)
    N = F(X.shape[0])
    loss = loss / N + F(reg) * np.sum(Wf * Wf)
    dW = dW / N + F(2 * reg) * Wf
    return loss, dW


def softmax_loss_vectorized(W, X, y, reg):
    return _softmax_loss(W, X, y, reg)
