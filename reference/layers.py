"""Reference solution of the ``layers`` assignment.

Modular layers, CS231n style: each layer has a forward pass returning ``(out, cache)`` and a
backward pass taking the upstream gradient ``dout`` (shaped like ``out``) and that cache::

    affine:     out = x.reshape(N, D) w + b          x: (N, d_1, ..., d_k), D = d_1 ... d_k,
                                                     w: (D, M), b: (M,), out: (N, M)
    relu:       out = max(x, 0)                      x: (N, D)
    batchnorm:  out = gamma * xhat + beta,           x: (N, D), gamma, beta: (D,)
                xhat = (x - mu) / sqrt(var + eps)    train: mu, var the batch's mean and biased
                                                     variance (1/N); test: the running averages

``bn_param`` holds ``mode`` ("train" or "test"), ``eps`` (default 1e-5), ``momentum``
(default 0.9), ``running_mean`` and ``running_var`` (D,) (default zeros and ones). In train
mode the forward pass stores ``running = momentum * running + (1 - momentum) * batch`` for the
mean and the (biased) variance back into ``bn_param``; test mode reads them.

A cache is whatever a forward pass likes: here a tuple of arrays, which only ever goes to this
module's own backward pass (a student's backward gets the student's own cache).

Pure numpy; this module never imports the grader.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]


def affine_forward(x: Array, w: Array, b: Array) -> tuple[Array, tuple[Array, Array, Array]]:
    """out = x.reshape(N, D) w + b: (N, M)."""
    out = x.reshape(x.shape[0], -1) @ w + b
    return out, (x, w, b)


def affine_backward(dout: Array, cache: tuple[Array, Array, Array]) -> tuple[Array, Array, Array]:
    """(dx, dw, db), shaped like x, w and b."""
    x, w, _ = cache
    dx = (dout @ w.T).reshape(x.shape)
    dw = x.reshape(x.shape[0], -1).T @ dout
    db = dout.sum(axis=0)
    return dx, dw, db


def relu_forward(x: Array) -> tuple[Array, Array]:
    """out = max(x, 0), elementwise."""
    return np.maximum(x, 0.0), x


def relu_backward(dout: Array, cache: Array) -> Array:
    """dx = dout where x > 0, else 0 (a single array, not a tuple)."""
    return dout * (cache > 0)


def relu_kinks(x: Array) -> Array:
    """Where the ReLU is not differentiable: wherever an entry of x changes sign.

    A vjp check keeps only perturbations that leave the sign of every entry unchanged.
    """
    return x


def batchnorm_forward(x: Array, gamma: Array, beta: Array, bn_param: dict[str, Any]) -> tuple[Array, tuple[Any, ...]]:
    """out = gamma * xhat + beta: (N, D); in train mode, updates bn_param's running averages."""
    mode = bn_param["mode"]
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    d = x.shape[1]
    running_mean = bn_param.get("running_mean", np.zeros(d))
    running_var = bn_param.get("running_var", np.ones(d))
    if mode == "train":
        mean = x.mean(axis=0)
        var = x.var(axis=0)  # biased: 1/N
        bn_param["running_mean"] = momentum * running_mean + (1.0 - momentum) * mean
        bn_param["running_var"] = momentum * running_var + (1.0 - momentum) * var
    elif mode == "test":
        mean, var = running_mean, running_var
    else:
        raise ValueError(f"invalid batchnorm mode {mode!r}")
    inv_std = 1.0 / np.sqrt(var + eps)
    xhat = (x - mean) * inv_std
    return gamma * xhat + beta, (mode, xhat, gamma, inv_std)


def batchnorm_backward(dout: Array, cache: tuple[Any, ...]) -> tuple[Array, Array, Array]:
    """(dx, dgamma, dbeta): (N, D), (D,), (D,).

    Train mode: the batch mean and variance depend on x, so
    dx = (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)) / sqrt(var + eps), dxhat = dout * gamma.
    """
    mode, xhat, gamma, inv_std = cache
    dbeta = dout.sum(axis=0)
    dgamma = (dout * xhat).sum(axis=0)
    dxhat = dout * gamma
    if mode == "train":
        dx = inv_std * (dxhat - dxhat.mean(axis=0) - xhat * (dxhat * xhat).mean(axis=0))
    else:  # test mode: the running averages are constants
        dx = inv_std * dxhat
    return dx, dgamma, dbeta


def make_inputs(
    rng: np.random.Generator,
    layer: str,
    N: int,
    d: list[int] | None = None,
    M: int | None = None,
    D: int | None = None,
    mode: str = "train",
) -> dict[str, Any]:
    """One randomized grading case: the forward arguments of ``layer``.

    - ``affine``: x (N, *d), w (prod(d), M), b (M,).
    - ``relu``: x (N, D), every entry at least 0.1 away from the kink at 0.
    - ``batchnorm``: x (N, D), gamma, beta (D,), bn_param in ``mode``. Columns have non-zero
      means, and half of them (chosen at random) a standard deviation of 0.004-0.015, where
      sqrt(var) + eps differs from sqrt(var + eps) by 2-20 %; the others 0.5-3. Their means
      stay within 1 of 0 so that x in float32 is still accurate to ~1e-5 of a small column's
      spread. The running averages are the batch's own statistics moved by about one standard
      deviation (mean) and a factor e^U(-1, 1) (variance), so that their update, and test mode's
      use of them, both show.
    """
    if layer == "affine":
        assert d is not None and M is not None
        dims = tuple(int(n) for n in d)
        size = int(np.prod(dims))
        x = rng.standard_normal((N, *dims))
        w = rng.standard_normal((size, M)) / np.sqrt(size)
        b = rng.standard_normal(M)
        return {"x": x, "w": w, "b": b}
    if layer == "relu":
        assert D is not None
        x = rng.choice([-1.0, 1.0], size=(N, D)) * (0.1 + np.abs(rng.standard_normal((N, D))))
        return {"x": x}
    if layer == "batchnorm":
        assert D is not None
        small = rng.permutation(D) < (D + 1) // 2
        scale = np.where(small, 10.0 ** rng.uniform(-2.4, -1.8, D), 10.0 ** rng.uniform(-0.3, 0.5, D))
        center = np.where(small, rng.uniform(-1.0, 1.0, D), 2.0 * rng.standard_normal(D))
        x = center + scale * rng.standard_normal((N, D))
        gamma = rng.uniform(0.5, 2.0, D)
        beta = 0.5 * rng.standard_normal(D)
        mean, var = x.mean(axis=0), x.var(axis=0)
        bn_param = {
            "mode": mode,
            "eps": 1e-5,
            "momentum": 0.9,
            "running_mean": mean + np.sqrt(var) * rng.standard_normal(D),
            "running_var": var * np.exp(rng.uniform(-1.0, 1.0, D)),
        }
        return {"x": x, "gamma": gamma, "beta": beta, "bn_param": bn_param}
    raise ValueError(f"unknown layer {layer!r}")
