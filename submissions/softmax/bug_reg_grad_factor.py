import numpy as np


def softmax_loss_naive(W, X, y, reg):
    num_train, num_classes = X.shape[0], W.shape[1]
    loss = 0.0
    dW = np.zeros(W.shape)
    for i in range(num_train):
        scores = X[i].dot(W)
        scores = scores - scores.max()
        norm = np.exp(scores).sum()
        loss += np.log(norm) - scores[y[i]]
        for j in range(num_classes):
            dW[:, j] += np.exp(scores[j]) / norm * X[i]
        dW[:, y[i]] -= X[i]
    loss = loss / num_train + reg * np.sum(W * W)
    dW = dW / num_train + reg * W      # gradient of the regularization
    return loss, dW


def softmax_loss_vectorized(W, X, y, reg):
    num_train = X.shape[0]
    scores = X.dot(W)
    scores = scores - scores.max(axis=1, keepdims=True)
    probs = np.exp(scores)
    probs /= probs.sum(axis=1, keepdims=True)
    loss = -np.log(probs[range(num_train), y]).mean() + reg * np.sum(W * W)
    probs[range(num_train), y] -= 1
    dW = X.T.dot(probs) / num_train + reg * W
    return loss, dW
