"""The mistakes students make in the backprop assignment, as variants of the reference.

Each mistake is a small function named by its code (``bias_not_summed`` is the code
``bias-not-summed``). It returns the forms the mistake takes in code, each a setting of the
knobs of a backprop written with every step exposed; its docstring is the message a student
reads, in the seed's notation, ``{name}`` standing for the wrong output (``dJ/db2``).
``answer(function, inputs, mistakes)`` computes what a student with those mistakes would
return, one answer per combination of forms, so mistakes compose the way they propagate: a
missing 1/N in dz3 shows up in every gradient.

Pure numpy; like the reference, this module never imports the grader.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, Callable

import backprop as ref
import numpy as np


@dataclass
class Knobs:
    softmax_axis: int = 1  # 0: normalized over the samples
    shift_axis: int | None = None  # the axis of the max subtracted before exp (None: softmax_axis)
    stable: bool = True  # max subtracted before exp
    batch_mean: bool = True  # the 1/N
    over_classes: bool = False  # the data term averaged over the N*C entries of psi(z3), 1/(N*C)
    loss_reg_W1: bool = True  # lambda ||W1||^2 in J
    loss_reg_W2: bool = True  # lambda ||W2||^2 in J
    grad_reg: float = 2.0  # factor of lambda W in dJ/dW
    activation_derivative: bool = True  # phi'(z2), not phi(z2)
    sum_bias: bool = True  # bias gradients summed over the batch
    sign: float = 1.0  # of the whole gradient
    data_sign: float = 1.0  # of dz3 only: the regularization terms keep their sign
    transpose: bool = False


Form = dict[str, Any]


def softmax_wrong_axis() -> list[Form]:
    """{name} matches a softmax normalized over the samples (sum over j = 1..N) instead of over the C classes: psi(z3) divides exp(z3[i, c]) by the sum over c of exp(z3[i, c]), row by row (axis=1)."""
    return [{"softmax_axis": 0}, {"softmax_axis": 0, "shift_axis": 1}]  # shifted by the column max, or the row max


def unstable_softmax() -> list[Form]:
    """{name} overflows to inf/NaN once every logit is shifted by a large constant: subtract each row's maximum from z3 before exp; psi(z3) does not change, and exp never overflows."""
    return [{"stable": False}]


def missing_batch_mean() -> list[Form]:
    """{name} is N times too large: the 1/N of J = (1/N) sum_i ... is missing. dJ/dz3 = (psi(z3) - Delta)/N, and every gradient after it inherits the 1/N."""
    return [{"batch_mean": False}]


def mean_over_classes() -> list[Form]:
    """{name} has its cross-entropy term C times too small: it is averaged over the N*C entries of psi(z3), but J = (1/N) sum_i -log psi(z3)[i, y_i] averages over the N samples only. dJ/dz3 = (psi(z3) - Delta)/N, and every gradient after it inherits the 1/N."""
    return [{"over_classes": True}]


def missing_reg_loss() -> list[Form]:
    """{name} leaves out the regularization, or part of it: add lambda (||W1||^2 + ||W2||^2), the terms of both weight matrices, to the mean cross-entropy."""
    # all of it, only W1's term, or only W2's term: leaving out less never costs more
    return [{"loss_reg_W1": False, "loss_reg_W2": False}, {"loss_reg_W1": False}, {"loss_reg_W2": False}]


def missing_reg_grad() -> list[Form]:
    """{name} leaves out the regularization term: add 2 lambda W, the derivative of lambda ||W||^2."""
    return [{"grad_reg": 0.0}]


def reg_grad_factor() -> list[Form]:
    """{name} uses lambda W where the derivative of lambda ||W||^2 is 2 lambda W: double the regularization term."""
    return [{"grad_reg": 1.0}]


def wrong_activation_derivative() -> list[Form]:
    """{name} matches (dz3 W2^T) * phi(z2): multiply by phi'(z2), the derivative of the activation (1 where z2 > 0, else 0), not by phi(z2) itself."""
    return [{"activation_derivative": False}]


def bias_not_summed() -> list[Form]:
    """{name} has one row per sample: a bias is shared by the whole batch, so its gradient is the sum over the N samples, e.g. dJ/db2 = sum_i dJ/dz3[i], of shape (C,)."""
    return [{"sum_bias": False}]


def sign_flip() -> list[Form]:
    """{name} has the wrong sign: it is the negative of the gradient. Check the sign of (psi(z3) - Delta) and of every term after it."""
    return [{"sign": -1.0}, {"data_sign": -1.0}]  # the whole gradient, or dz3 and all that follows from it


def transposed() -> list[Form]:
    """{name} is transposed: with the products in the right order (a2^T dz3, X^T dz2, dz3 W2^T) each gradient has the shape of its parameter."""
    return [{"transpose": True}]


MISTAKES: list[Callable[[], list[Form]]] = [
    softmax_wrong_axis,
    unstable_softmax,
    missing_batch_mean,
    mean_over_classes,
    missing_reg_loss,
    missing_reg_grad,
    reg_grad_factor,
    wrong_activation_derivative,
    bias_not_summed,
    sign_flip,
    transposed,
]


def answer(function: str, inputs: dict[str, Any], mistakes: list[Callable[[], list[Form]]]) -> list[Any]:
    """What ``function`` returns on ``inputs`` when written with ``mistakes``: one answer per
    combination of the mistakes' forms, always in the same order; [] for a function this module
    does not vary."""
    if function not in FUNCTIONS:
        return []
    answers = []
    for combination in itertools.product(*(mistake() for mistake in mistakes)):
        k = Knobs()
        for form in combination:
            for knob, value in form.items():
                setattr(k, knob, value)
        answers.append(_answer(function, inputs, k))
    return answers


def _answer(function: str, inputs: dict[str, Any], k: Knobs) -> Any:
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        if function == "loss":
            return _loss(k, **_pick(inputs, "params", "X", "y", "reg"))
        if function == "softmax_grad":
            dz3 = _dz3(k, inputs["z3"], inputs["y"])
            return dz3.T if k.transpose else dz3
        return _gradients(k, **_pick(inputs, "params", "X", "y", "reg"))


#: the functions ``answer`` varies
FUNCTIONS = ("loss", "softmax_grad", "gradients")


def _pick(inputs: dict[str, Any], *names: str) -> dict[str, Any]:
    return {name: inputs[name] for name in names}


def _psi(k: Knobs, z3: np.ndarray) -> np.ndarray:
    shift_axis = k.softmax_axis if k.shift_axis is None else k.shift_axis
    shifted = z3 - z3.max(axis=shift_axis, keepdims=True) if k.stable else z3
    e = np.exp(shifted)
    return e / e.sum(axis=k.softmax_axis, keepdims=True)


def _loss(k: Knobs, params: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray, reg: float) -> float:
    _, _, z3 = ref.forward(params, X)
    n = X.shape[0]
    picked = -np.log(_psi(k, z3)[np.arange(n), y])
    data = (picked.mean() if k.batch_mean else picked.sum()) / (z3.shape[1] if k.over_classes else 1)
    penalty = reg * (k.loss_reg_W1 * np.sum(params["W1"] ** 2) + k.loss_reg_W2 * np.sum(params["W2"] ** 2))
    return float(data + penalty)


def _dz3(k: Knobs, z3: np.ndarray, y: np.ndarray) -> np.ndarray:
    n = z3.shape[0]
    dz3 = _psi(k, z3)
    dz3[np.arange(n), y] -= 1.0
    dz3 = (dz3 / n if k.batch_mean else dz3) / (z3.shape[1] if k.over_classes else 1)
    return k.sign * k.data_sign * dz3


def _gradients(k: Knobs, params: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray, reg: float) -> dict[str, np.ndarray]:
    z2, a2, z3 = ref.forward(params, X)
    dz3 = _dz3(k, z3, y)
    local = (z2 > 0) if k.activation_derivative else ref.relu(z2)
    dz2 = (dz3 @ params["W2"].T) * local
    W1 = X.T @ dz2 + k.sign * k.grad_reg * reg * params["W1"]
    W2 = a2.T @ dz3 + k.sign * k.grad_reg * reg * params["W2"]
    return {
        "W1": W1.T if k.transpose else W1,
        "b1": dz2.sum(axis=0) if k.sum_bias else dz2,
        "W2": W2.T if k.transpose else W2,
        "b2": dz3.sum(axis=0) if k.sum_bias else dz3,
    }
