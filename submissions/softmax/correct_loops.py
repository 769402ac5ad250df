# CS231n-style assignment: softmax classifier
# Both versions use explicit loops (I'll vectorize later if I have time...)

import numpy as np


def softmax_loss_naive(W, X, y, reg):
    """Softmax loss function, naive implementation (with loops).

    Inputs:
    - W: A numpy array of shape (D, C) containing weights.
    - X: A numpy array of shape (N, D) containing a minibatch of data.
    - y: A numpy array of shape (N,) containing training labels; y[i] = c means
      that X[i] has label c, where 0 <= c < C.
    - reg: (float) regularization strength

    Returns a tuple of:
    - loss as single float
    - gradient with respect to weights W; an array of same shape as W
    """
    loss = 0.0
    dW = np.zeros_like(W)

    num_train = X.shape[0]
    num_classes = W.shape[1]
    for i in range(num_train):
        scores = X[i].dot(W)
        scores -= np.max(scores)          # avoid overflow in exp
        exp_scores = np.exp(scores)
        sum_exp = np.sum(exp_scores)
        loss += -scores[y[i]] + np.log(sum_exp)
        for j in range(num_classes):
            p = exp_scores[j] / sum_exp
            if j == y[i]:
                dW[:, j] += (p - 1) * X[i]
            else:
                dW[:, j] += p * X[i]

    loss /= num_train
    dW /= num_train

    loss += reg * np.sum(W * W)
    dW += 2 * reg * W
    return loss, dW


def softmax_loss_vectorized(W, X, y, reg):
    """Same as softmax_loss_naive, computed one sample at a time (rows are vectorized)."""
    num_train = X.shape[0]
    loss = 0.0
    dW = np.zeros(W.shape)
    for i in range(num_train):
        s = X[i] @ W
        s = s - s.max()
        p = np.exp(s) / np.exp(s).sum()
        loss -= np.log(p[y[i]])
        p[y[i]] -= 1
        dW += np.outer(X[i], p)
    loss = loss / num_train + reg * (W ** 2).sum()
    dW = dW / num_train + 2 * reg * W
    return loss, dW


if __name__ == "__main__":
    rng = np.random.default_rng(1)
    W = 0.001 * rng.standard_normal((3073, 10))
    X = rng.standard_normal((50, 3073))
    y = rng.integers(0, 10, 50)
    loss, _ = softmax_loss_naive(W, X, y, 0.0)
    print("loss: %f (should be close to -log(0.1) = %f)" % (loss, -np.log(0.1)))
