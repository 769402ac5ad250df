"""The mistakes students make in the softmax assignment, as variants of the reference.

Each mistake is a small function named by its code (``reg_grad_factor`` is the code
``reg-grad-factor``). It returns the forms the mistake takes in code, each a setting of the
knobs of a softmax classifier written with every step exposed; its docstring is the message a
student reads, ``{name}`` standing for the wrong output (``L`` or ``dL/dW``).
``answer(function, inputs, mistakes)`` computes what a student with those mistakes returns from
``softmax_loss_naive`` or ``softmax_loss_vectorized`` (the same math): one ``(loss, dW)`` tuple
per combination of forms.

Pure numpy; like the reference, this module never imports the grader.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import softmax as ref


@dataclass
class Knobs:
    stable: bool = True  # row max subtracted before exp
    batch_mean: bool = True  # the 1/N, in L and in dL/dW
    loss_reg: bool = True  # lambda sum(W * W) in L
    grad_reg: float = 2.0  # factor of lambda W in dL/dW
    sign: float = 1.0  # of the whole gradient
    data_sign: float = 1.0  # of X^T (P - Y) only: the regularization term keeps its sign
    transpose: bool = False  # dL/dW returned (C, D)


Form = dict[str, Any]

FUNCTIONS = ("softmax_loss_naive", "softmax_loss_vectorized")


def unstable_softmax() -> list[Form]:
    """{name} overflows to inf/NaN once every score is shifted by a large constant: subtract each row's maximum from the scores X W before exp; the softmax does not change, and exp never overflows."""
    return [{"stable": False}]


def missing_batch_mean() -> list[Form]:
    """{name} is N times too large: the 1/N of L = (1/N) sum_i -log P[i, y_i] is missing, and dL/dW inherits it: X^T (P - Y) / N."""
    return [{"batch_mean": False}]


def reg_grad_factor() -> list[Form]:
    """{name} uses lambda W where the derivative of lambda sum(W * W) is 2 lambda W: double the regularization term."""
    return [{"grad_reg": 1.0}]


def missing_reg_grad() -> list[Form]:
    """{name} leaves out the regularization term: add 2 lambda W, the derivative of lambda sum(W * W)."""
    return [{"grad_reg": 0.0}]


def missing_reg_loss() -> list[Form]:
    """{name} leaves out the regularization: add lambda sum(W * W) to the mean cross-entropy."""
    return [{"loss_reg": False}]


def transposed() -> list[Form]:
    """{name} is transposed, (C, D): with the product in the right order, X^T (P - Y), the gradient has the shape of W, (D, C)."""
    return [{"transpose": True}]


def sign_flip() -> list[Form]:
    """{name} has the wrong sign: it is the negative of the gradient. The gradient of the scores is P - Y (the probabilities minus the one-hot labels), not Y - P."""
    return [{"sign": -1.0}, {"data_sign": -1.0}]  # the whole gradient, or the data term only


MISTAKES: list[Callable[[], list[Form]]] = [
    unstable_softmax,
    missing_batch_mean,
    reg_grad_factor,
    missing_reg_grad,
    missing_reg_loss,
    transposed,
    sign_flip,
]


def answer(function: str, inputs: dict[str, Any], mistakes: list[Callable[[], list[Form]]]) -> list[Any]:
    """What ``function`` returns on ``inputs`` when written with ``mistakes``: one ``(loss, dW)``
    per combination of the mistakes' forms, always in the same order; [] for a function these
    mistakes do not concern."""
    if function not in FUNCTIONS:
        return []
    answers = []
    for combination in itertools.product(*(mistake() for mistake in mistakes)):
        k = Knobs()
        for form in combination:
            for knob, value in form.items():
                setattr(k, knob, value)
        answers.append(_loss_and_grad(k, inputs["W"], inputs["X"], inputs["y"], inputs["reg"]))
    return answers


def _loss_and_grad(k: Knobs, W: np.ndarray, X: np.ndarray, y: np.ndarray, reg: float) -> tuple[float, np.ndarray]:
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        n = X.shape[0]
        rows = np.arange(n)
        S = X @ W
        if k.stable:
            P = np.exp(ref.log_softmax(S))
        else:  # exp of the raw scores: inf (or 0) once they are shifted by +-1000
            E = np.exp(S)
            P = E / E.sum(axis=1, keepdims=True)
        picked = -np.log(P[rows, y])
        loss = picked.mean() if k.batch_mean else picked.sum()
        if k.loss_reg:
            loss = loss + reg * np.sum(W * W)
        dS = P.copy()
        dS[rows, y] -= 1.0
        data = X.T @ dS
        if k.batch_mean:
            data = data / n
        dW = k.sign * (k.data_sign * data + k.grad_reg * reg * W)
        return float(loss), (dW.T if k.transpose else dW)
