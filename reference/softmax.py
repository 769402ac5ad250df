"""Reference solution of the ``softmax`` assignment.

A linear softmax classifier with L2 regularization (CS231n style), in the notation of the
assignment::

    S  = X W                                  (scores, N x C)
    P  = softmax(S), row by row               (P[i, c] = exp(S[i, c]) / sum_c' exp(S[i, c']))
    L  = (1/N) sum_i -log P[i, y_i] + lambda sum(W * W)
    dL/dW = X^T (P - Y) / N + 2 lambda W      (Y: one-hot of y, N x C)

Shapes: ``W: (D, C)``, ``X: (N, D)``, ``y: (N,)`` integers in ``[0, C)``. The bias is folded
into W: the last column of X is a constant 1, so the last row of W is the bias.

Students write ``softmax_loss_naive`` (loops allowed) and ``softmax_loss_vectorized``; both
return ``(loss, dW)``. Here they are the same math.

Pure numpy; this module never imports the grader.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]


def log_softmax(S: Array) -> Array:
    """Row-wise log softmax(S), shifted by the row maximum so large scores cannot overflow.

    S: (N, C) -> (N, C)
    """
    shifted = S - S.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def _loss_and_grad(W: Array, X: Array, y: npt.NDArray[np.int64], reg: float) -> tuple[float, Array]:
    n = X.shape[0]
    logp = log_softmax(X @ W)
    rows = np.arange(n)
    loss = -logp[rows, y].mean() + reg * np.sum(W * W)
    dS = np.exp(logp)
    dS[rows, y] -= 1.0
    dW = X.T @ dS / n + 2.0 * reg * W
    return float(loss), dW


def softmax_loss_naive(W: Array, X: Array, y: npt.NDArray[np.int64], reg: float) -> tuple[float, Array]:
    """(L, dL/dW): the mean cross-entropy plus lambda sum(W * W), and its gradient (D, C)."""
    return _loss_and_grad(W, X, y, reg)


def softmax_loss_vectorized(W: Array, X: Array, y: npt.NDArray[np.int64], reg: float) -> tuple[float, Array]:
    """(L, dL/dW), as softmax_loss_naive."""
    return _loss_and_grad(W, X, y, reg)


def make_inputs(
    rng: np.random.Generator,
    N: int,
    D: int,
    C: int,
    reg: float,
    logit_shift: float = 0.0,
    skip_top: bool = False,
) -> dict[str, object]:
    """One randomized grading case: the arguments of both functions.

    X's last column is the constant 1 of the bias trick, so ``logit_shift``, added to W's last
    row, shifts every score by the same constant: only a max-subtracted softmax stays finite at
    +-1000. Every other entry of X and W is O(1) (W scaled by 1/sqrt(D)), so the scores differ by
    O(1) between classes, the data loss is O(1) and the term 2 lambda W is a visible share of
    dL/dW. ``skip_top`` draws the labels from [0, C - 1): the last class has no sample, so C
    must come from W's shape, not from y.
    """
    X = rng.standard_normal((N, D))
    X[:, -1] = 1.0
    W = rng.standard_normal((D, C)) / np.sqrt(D)
    W[-1] += logit_shift
    y = rng.integers(0, C - 1 if skip_top else C, size=N)
    return {"W": W, "X": X, "y": y, "reg": float(reg)}
