"""Reference solution of the ``backprop`` assignment.

A two-layer network with a ReLU hidden layer, softmax cross-entropy and L2
regularization, in the notation of the assignment::

    z2 = X W1 + b1        a2 = phi(z2)     (phi = ReLU)
    z3 = a2 W2 + b2       a3 = psi(z3)     (psi = softmax over the C classes)
    J  = (1/N) sum_i -log psi(z3)[i, y_i] + lambda (||W1||^2 + ||W2||^2)

Shapes: ``X: (N, D)``, ``y: (N,)`` integers in ``[0, C)``,
``W1: (D, H)``, ``b1: (H,)``, ``W2: (H, C)``, ``b2: (C,)``.

Pure numpy; this module never imports the grader.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]


def relu(z: Array) -> Array:
    """phi(z) = max(z, 0), elementwise."""
    return np.maximum(z, 0.0)


def log_softmax(z3: Array) -> Array:
    """Row-wise log psi(z3), shifted by the row maximum so large logits cannot overflow.

    z3: (N, C) -> (N, C)
    """
    shifted = z3 - z3.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def forward(params: dict[str, Array], X: Array) -> tuple[Array, Array, Array]:
    """z2: (N, H), a2: (N, H), z3: (N, C)."""
    z2 = X @ params["W1"] + params["b1"]
    a2 = relu(z2)
    z3 = a2 @ params["W2"] + params["b2"]
    return z2, a2, z3


def loss(params: dict[str, Array], X: Array, y: npt.NDArray[np.int64], reg: float) -> float:
    """J: the mean cross-entropy plus lambda (||W1||^2 + ||W2||^2)."""
    _, _, z3 = forward(params, X)
    n = X.shape[0]
    data = -log_softmax(z3)[np.arange(n), y].mean()
    penalty = reg * (np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2))
    return float(data + penalty)


def softmax_grad(z3: Array, y: npt.NDArray[np.int64]) -> Array:
    """dJ/dz3 of the data term: (psi(z3) - Delta) / N, where Delta is one-hot of y.

    z3: (N, C), y: (N,) -> (N, C)
    """
    n = z3.shape[0]
    dz3 = np.exp(log_softmax(z3))
    dz3[np.arange(n), y] -= 1.0
    return dz3 / n


def gradients(
    params: dict[str, Array], X: Array, y: npt.NDArray[np.int64], reg: float
) -> dict[str, Array]:
    """dJ/dW1: (D, H), dJ/db1: (H,), dJ/dW2: (H, C), dJ/db2: (C,)."""
    z2, a2, z3 = forward(params, X)
    dz3 = softmax_grad(z3, y)
    dz2 = (dz3 @ params["W2"].T) * (z2 > 0)
    return {
        "W1": X.T @ dz2 + 2.0 * reg * params["W1"],
        "b1": dz2.sum(axis=0),
        "W2": a2.T @ dz3 + 2.0 * reg * params["W2"],
        "b2": dz3.sum(axis=0),
    }


def kinks(params: dict[str, Array], X: Array) -> Array:
    """Where J is not differentiable: the loss has a kink wherever an entry of z2 changes sign.

    Finite differences across a kink are meaningless, so a gradient check keeps only
    perturbations that leave the sign of every entry of this array unchanged.
    """
    return X @ params["W1"] + params["b1"]


def make_inputs(
    rng: np.random.Generator,
    N: int,
    D: int,
    H: int,
    C: int,
    reg: float,
    logit_shift: float = 0.0,
    skip_top: bool = False,
    weight_scale: float = 1.0,
    min_grad: float = 0.0,
) -> dict[str, object]:
    """One randomized grading case: the arguments of every function of the assignment.

    ``logit_shift`` is added to every logit (through b2 for loss and gradients, directly to z3
    for softmax_grad), so that only a max-subtracted softmax stays finite. Each hidden bias is
    chosen to keep its column of z2 clear of the ReLU kink, so the derivative is unambiguous
    (``z2 > 0`` and ``z2 >= 0`` agree) and small finite-difference steps rarely cross it.

    The labels always include the top class C - 1, unless ``skip_top``: then they never do (y
    in [0, C - 1)), so that a one-hot of ``y.max() + 1`` columns is wrong on every draw of that
    case and right on every draw of the others, never on some draws only. ``weight_scale``
    multiplies W1 and W2; with ``min_grad``, the case is drawn again (from the same generator)
    until dJ/dW1, dJ/db1 and dJ/dW2 each have an entry of magnitude at least ``min_grad``, so
    that a gradient clipped to [-1, 1] is wrong on every draw of it.
    """
    for _ in range(1000):
        inputs = _draw(rng, N, D, H, C, reg, logit_shift, skip_top, weight_scale)
        if min_grad <= 0:
            return inputs
        grads = gradients(inputs["params"], inputs["X"], inputs["y"], reg)  # type: ignore[arg-type]
        if all(np.abs(grads[k]).max() >= min_grad for k in ("W1", "b1", "W2")):
            return inputs
    raise ValueError(f"no draw of 1000 has every gradient entry above {min_grad}: raise weight_scale or reg")


def _draw(
    rng: np.random.Generator, N: int, D: int, H: int, C: int, reg: float, logit_shift: float, skip_top: bool, weight_scale: float
) -> dict[str, object]:
    X = rng.standard_normal((N, D))
    W1 = weight_scale * rng.standard_normal((D, H)) / np.sqrt(D)
    pre = X @ W1
    # For each hidden unit, of 64 candidate biases keep the one whose column of z2 stays
    # farthest from the kink.
    candidates = 0.5 * rng.standard_normal((64, H))
    clearance = np.abs(pre[None, :, :] + candidates[:, None, :]).min(axis=1)  # (64, H)
    b1 = candidates[clearance.argmax(axis=0), np.arange(H)]
    W2 = weight_scale * 2.0 * rng.standard_normal((H, C)) / np.sqrt(H)
    b2 = 0.5 * rng.standard_normal(C) + logit_shift
    y = rng.integers(0, C - 1 if skip_top else C, size=N)
    if not skip_top and C - 1 not in y:
        y[rng.integers(N)] = C - 1
    params = {"W1": W1, "b1": b1, "W2": W2, "b2": b2}
    _, _, z3 = forward(params, X)
    return {"params": params, "X": X, "y": y, "reg": float(reg), "z3": z3}
