"""The mistakes students make in the layers assignment, as variants of the reference.

Each mistake is a small function named by its code (``eps_outside_sqrt`` is the code
``eps-outside-sqrt``). It returns the forms the mistake takes in code, each a setting of the
knobs of layers written with every step exposed; its docstring is the message a student reads,
``{name}`` standing for the wrong output. ``answer(function, inputs, mistakes)`` computes what
a student with those mistakes returns:

- a forward pass: ``affine_forward``, ``relu_forward`` return ``(out, None)``;
  ``batchnorm_forward`` returns ``{"out": ..., "cache": None, "bn_param": updated copy}``;
- a backward pass: ``inputs`` are the forward's arguments plus ``"dout"``; the variant runs its
  own forward, so a mistake made in the forward (N - 1 in the variance) reaches the backward.

A function none of the mistakes concern gets [] (so does a combination one of whose mistakes
does not concern it: the other mistake alone is tried first).

Pure numpy; like the reference, this module never imports the grader.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import layers as ref
import numpy as np


@dataclass
class Knobs:
    reshape_dx: bool = True  # affine dx reshaped like x
    sum_bias: bool = True  # affine db summed over the batch
    mask_from_dout: bool = False  # relu dx masked by dout > 0 instead of x > 0
    stats_constant: bool = False  # batchnorm dx: the batch mean and variance treated as constants
    ddof: int = 0  # batchnorm variance divides by N - ddof (forward, running average)
    grad_ddof: int = 0  # the N - grad_ddof in the backward's variance term
    eps_outside: bool = False  # sqrt(var) + eps instead of sqrt(var + eps)
    exact_backward: bool = True  # backward differentiates the forward actually written
    sum_params: bool = True  # dgamma, dbeta summed over the batch
    momentum_swapped: bool = False  # running = (1 - momentum) running + momentum batch
    test_batch_stats: bool = False  # test mode normalizes with the batch's statistics


Form = dict[str, Any]


def stats_as_constants() -> list[Form]:
    """{name} treats the batch mean and variance as constants: they are computed from x, so dx also flows through them. dx = (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)) / sqrt(var + eps), with dxhat = dout * gamma and means over the batch."""
    return [{"stats_constant": True}]


def unbiased_variance() -> list[Form]:
    """{name} matches a batch variance divided by N - 1: batch normalization uses the biased variance, mean((x - mu)^2) over the N samples (np.var's default, ddof=0), in the forward pass, the backward pass and the running average."""
    # the backward pass differentiates the N - 1 consistently, or keeps the 1/N textbook formula
    return [{"ddof": 1, "grad_ddof": 1}, {"ddof": 1, "grad_ddof": 0}]


def param_grad_not_summed() -> list[Form]:
    """{name} has one row per sample: gamma and beta are shared by the whole batch, so their gradients are sums over the N samples, e.g. dbeta = sum_i dout[i], of shape (D,)."""
    return [{"sum_params": False}]


def eps_outside_sqrt() -> list[Form]:
    """{name} matches a division by sqrt(var) + eps: eps goes inside the square root, sqrt(var + eps). The two differ in columns whose variance is small."""
    # the backward pass differentiates sqrt(var) + eps, or uses the textbook formula with it
    return [{"eps_outside": True, "exact_backward": True}, {"eps_outside": True, "exact_backward": False}]


def dx_not_reshaped() -> list[Form]:
    """{name} has shape (N, D): x came in as (N, d_1, ..., d_k), so dx must be reshaped back to x.shape."""
    return [{"reshape_dx": False}]


def bias_not_summed() -> list[Form]:
    """{name} has one row per sample: the bias is shared by the whole batch, so db = sum_i dout[i], of shape (M,)."""
    return [{"sum_bias": False}]


def relu_mask_from_dout() -> list[Form]:
    """{name} matches dout masked where dout > 0: the ReLU passes the gradient where its input was positive, dx = dout * (x > 0), whatever the sign of dout."""
    return [{"mask_from_dout": True}]


def momentum_swapped() -> list[Form]:
    """{name} puts the momentum on the batch's statistic: running = momentum * running + (1 - momentum) * batch, so that the running average changes slowly."""
    return [{"momentum_swapped": True}]


def test_uses_batch_stats() -> list[Form]:
    """{name} in test mode matches a normalization with the batch's own mean and variance: at test time use the running averages from bn_param, (x - running_mean) / sqrt(running_var + eps)."""
    return [{"test_batch_stats": True}]


MISTAKES: list[Callable[[], list[Form]]] = [
    stats_as_constants,
    unbiased_variance,
    param_grad_not_summed,
    eps_outside_sqrt,
    dx_not_reshaped,
    bias_not_summed,
    relu_mask_from_dout,
    momentum_swapped,
    test_uses_batch_stats,
]

#: the functions whose answers each mistake changes
CONCERNS: dict[str, set[str]] = {
    "stats_as_constants": {"batchnorm_backward"},
    "unbiased_variance": {"batchnorm_forward", "batchnorm_backward"},
    "param_grad_not_summed": {"batchnorm_backward"},
    "eps_outside_sqrt": {"batchnorm_forward", "batchnorm_backward"},
    "dx_not_reshaped": {"affine_backward"},
    "bias_not_summed": {"affine_backward"},
    "relu_mask_from_dout": {"relu_backward"},
    "momentum_swapped": {"batchnorm_forward"},
    "test_uses_batch_stats": {"batchnorm_forward"},
}


def answer(function: str, inputs: dict[str, Any], mistakes: list[Callable[[], list[Form]]]) -> list[Any]:
    """What ``function`` returns on ``inputs`` when written with ``mistakes``: one answer per
    combination of the mistakes' forms, always in the same order."""
    if not mistakes or any(function not in CONCERNS.get(m.__name__, set()) for m in mistakes):
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
    if function == "affine_backward":
        return _affine_backward(k, inputs["x"], inputs["w"], inputs["b"], inputs["dout"])
    if function == "relu_backward":
        x, dout = inputs["x"], inputs["dout"]
        return dout * ((dout > 0) if k.mask_from_dout else (x > 0))
    if function == "batchnorm_forward":
        out, _, bn_param = _batchnorm_forward(k, inputs["x"], inputs["gamma"], inputs["beta"], inputs["bn_param"])
        return {"out": out, "cache": None, "bn_param": bn_param}
    if function == "batchnorm_backward":
        return _batchnorm_backward(k, inputs["x"], inputs["gamma"], inputs["beta"], inputs["bn_param"], inputs["dout"])
    return []  # unreachable: CONCERNS names only the functions above


def _affine_backward(k: Knobs, x: np.ndarray, w: np.ndarray, b: np.ndarray, dout: np.ndarray) -> tuple[np.ndarray, ...]:
    dx, dw, db = ref.affine_backward(dout, ref.affine_forward(x, w, b)[1])
    return (
        dx if k.reshape_dx else dx.reshape(x.shape[0], -1),
        dw,
        db if k.sum_bias else dout.copy(),
    )


@dataclass
class _Stats:
    """What a batchnorm forward pass computed, for its backward pass."""

    train: bool
    xhat: np.ndarray
    xmu: np.ndarray
    var: np.ndarray
    std: np.ndarray  # the denominator actually used: sqrt(var + eps) or sqrt(var) + eps
    eps: float


def _denominator(k: Knobs, var: np.ndarray, eps: float) -> np.ndarray:
    return np.sqrt(var) + eps if k.eps_outside else np.sqrt(var + eps)


def _batchnorm_forward(
    k: Knobs, x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, bn_param: dict[str, Any]
) -> tuple[np.ndarray, _Stats, dict[str, Any]]:
    bn_param = {key: (v.copy() if isinstance(v, np.ndarray) else v) for key, v in bn_param.items()}
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    n, d = x.shape
    train = bn_param["mode"] == "train"
    if train or k.test_batch_stats:
        mean = x.mean(axis=0)
        xmu = x - mean
        var = (xmu**2).sum(axis=0) / (n - k.ddof)
    else:
        mean = bn_param.get("running_mean", np.zeros(d))
        var = bn_param.get("running_var", np.ones(d))
        xmu = x - mean
    if train:
        old_mean = bn_param.get("running_mean", np.zeros(d))
        old_var = bn_param.get("running_var", np.ones(d))
        keep, take = (1.0 - momentum, momentum) if k.momentum_swapped else (momentum, 1.0 - momentum)
        bn_param["running_mean"] = keep * old_mean + take * mean
        bn_param["running_var"] = keep * old_var + take * var
    std = _denominator(k, var, eps)
    xhat = xmu / std
    return gamma * xhat + beta, _Stats(train or k.test_batch_stats, xhat, xmu, var, std, eps), bn_param


def _batchnorm_backward(
    k: Knobs, x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, bn_param: dict[str, Any], dout: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    _, s, _ = _batchnorm_forward(k, x, gamma, beta, bn_param)
    n = x.shape[0]
    dxhat = dout * gamma
    if not s.train or k.stats_constant:
        dx = dxhat / s.std
    else:
        # xhat = xmu / f(var), var = sum(xmu^2) / n_var:
        # dx = (dxhat - mean(dxhat)) / f - 2 f'(var) / (f^2 n_var) * xmu * sum(dxhat * xmu)
        if k.eps_outside and k.exact_backward:
            f_prime = 1.0 / (2.0 * np.sqrt(s.var))  # of sqrt(var) + eps
        else:
            f_prime = 1.0 / (2.0 * s.std)  # of sqrt(var + eps): the textbook formula
        n_var = n - k.grad_ddof
        dx = (dxhat - dxhat.mean(axis=0)) / s.std - 2.0 * f_prime / (s.std**2 * n_var) * s.xmu * (dxhat * s.xmu).sum(axis=0)
    dgamma = dout * s.xhat
    dbeta = dout.copy()
    if k.sum_params:
        dgamma, dbeta = dgamma.sum(axis=0), dbeta.sum(axis=0)
    return dx, dgamma, dbeta
