"""Turning a child's answer into a trusted float64 array, and comparing it with the expected one.

Relative error is measured against the norm of the whole expected array, with a floor so an
expected zero does not divide by zero:  ``||got - expected|| / max(||expected||, floor)``.
An answer computed in float32 is ~1e-6 off on ordinary inputs and ~1e-4 with logits near 1000;
a real mistake is ~1e-2 and up, so a default rtol of 1e-3 separates them with room either side.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[np.float64]


class BadAnswer(Exception):
    """The answer cannot be compared at all (wrong type, dtype, shape, or not finite).

    ``message`` may hold the slot ``{student}`` for ``student_text``: how the sandbox described a
    value it could not export, which the submission controls (a class's name, say).
    """

    def __init__(self, message: str, student_text: str = "") -> None:
        super().__init__(message.replace("{student}", student_text))
        self.message = message
        self.student_text = student_text


@dataclass(frozen=True)
class Comparison:
    ok: bool
    rel_error: float
    worst: tuple[int, ...]  # index of the element farthest from the expected one
    expected: float
    got: float


def answer_array(value: Any, shape: tuple[int, ...], path: tuple[str, ...] | str | None = ()) -> Array:
    """The float64 array in a child's exported value, of ``shape``; raise BadAnswer saying what
    is wrong. An array whose shape differs from ``shape`` only by axes of length 1 is accepted
    (``squeezable``): ``read_answer`` also says which shape it had.

    ``value`` comes from the wire, named by the context: ``{"array": ndarray}``, ``{"dict":
    {...}}`` (a returned dict, or a tuple's elements by name), ``{"wrong_return": value,
    "returns": names}`` (not the tuple the rubric says) or ``{"unsupported": "a set"}``. The
    answer is the place ``path`` of it: a tuple's element, then a dict's entry.
    """
    return read_answer(value, shape, path)[0]


def read_answer(value: Any, shape: tuple[int, ...], path: tuple[str, ...] | str | None = ()) -> tuple[Array, tuple[int, ...] | None]:
    """``answer_array``'s array, and the shape the answer had when it was accepted only by the
    shape rule (axes of length 1 apart), else None."""
    value = _place(value, (path,) if isinstance(path, str) else tuple(path or ()))
    if not isinstance(value, dict) or type(value.get("array")) is not np.ndarray:
        raise BadAnswer(f"must be a numpy array or a float, but it is {_what(value)}", _unsupported(value))
    array = value["array"]
    if array.dtype.kind == "b":
        raise BadAnswer("is an array of booleans; it must hold numbers")
    if array.dtype.kind not in "fiu":
        raise BadAnswer(f"has dtype {array.dtype}; it must hold real numbers")
    given: tuple[int, ...] | None = None
    if array.shape != shape and squeezable(array.shape, shape):
        given, array = array.shape, array.reshape(shape)
    if array.shape != shape:
        raise BadAnswer(f"has shape {_shape(array.shape)}, but it must have shape {_shape(shape)}")
    return _finite(array.astype(np.float64)), given


def squeezable(got: tuple[int, ...], expected: tuple[int, ...]) -> bool:
    """The shape rule: an answer whose shape differs from the expected one only by axes of
    length 1 (the same shape once they are removed: ``(1, 7)`` for ``(7,)``, ``(1, 1)`` for a
    scalar) holds the same values in the same order, and is compared as if it had the expected
    shape; any other difference of shape fails."""
    return tuple(n for n in got if n != 1) == tuple(n for n in expected if n != 1)


def as_expected(got: Array, expected: tuple[int, ...]) -> Array | None:
    """``got`` reshaped to ``expected`` when the shape rule accepts it, else None."""
    if got.shape == expected:
        return got
    return got.reshape(expected) if squeezable(got.shape, expected) else None


def shape_note(name: str, given: tuple[int, ...], expected: tuple[int, ...]) -> str:
    """The sentence a check adds when the shape rule accepted an answer."""
    return (
        f"{name} has shape {_shape(given)} where {_shape(expected)} is expected; accepted, since they differ only by axes of length 1."
    )


def _finite(result: Array) -> Array:
    bad = ~np.isfinite(result)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        where = f" at {list(index)}" if index else ""
        raise BadAnswer(f"is not finite: {int(bad.sum())} value(s) are nan or inf (first{where}: {result[index]})")
    return result


def _place(value: Any, path: tuple[str, ...]) -> Any:
    if isinstance(value, dict) and "wrong_return" in value:
        names = ", ".join(value["returns"])
        count = len(value["returns"])
        what = "a single value" if count == 1 else f"the tuple ({names})"
        raise BadAnswer(
            f"is missing: the function must return {what}, but it returned {_what(value['wrong_return'])}",
            _unsupported(value["wrong_return"]),
        )
    for step in path:
        if not isinstance(value, dict) or "dict" not in value:
            raise BadAnswer(f"must be a dict with the key {step!r}, but the function returned {_what(value)}", _unsupported(value))
        entries = value["dict"]
        if step not in entries:
            keys = ", ".join(repr(k) for k in sorted(entries)[:20]) or "none"
            raise BadAnswer(f"is missing: the returned dict has no key {step!r} (keys: {{student}})", keys[:200])
        value = entries[step]
    return value


#: what a relative error too large to compute is reported as (JSON has no inf)
HUGE = 1e300


def raw_array(value: Any, path: tuple[str, ...] | str | None = ()) -> Array | None:
    """The answer as a float64 array of whatever shape it has (for matching mistakes), or None."""
    try:
        value = _place(value, (path,) if isinstance(path, str) else tuple(path or ()))
    except BadAnswer:
        return None
    if not isinstance(value, dict) or type(value.get("array")) is not np.ndarray:
        return None
    array = value["array"]
    return array.astype(np.float64) if array.dtype.kind in "fiu" else None


#: where a sum of squares neither overflowed nor lost precision to underflow
SQUARES_LOW, SQUARES_HIGH = 1e-250, 1e250


def relative_error(got: Array, expected: Array, floor: float) -> float:
    """``||got - expected|| / max(||expected||, floor)``, finite even for answers near overflow."""
    with np.errstate(over="ignore", invalid="ignore"):
        error = float(_norm(got - expected) / max(_norm(expected), floor))
    return error if np.isfinite(error) and error < HUGE else HUGE


def _norm(a: Array) -> float:
    """The 2-norm, scaled so that squaring 1e200 does not overflow (nor 1e-200 underflow)."""
    flat = a.reshape(-1)
    squares = float(np.dot(flat, flat)) if flat.dtype == np.float64 else math.nan
    if SQUARES_LOW < squares < SQUARES_HIGH:  # finite and in range: the plain norm is exact enough
        return math.sqrt(squares)
    scale = float(np.max(np.abs(a))) if a.size else 0.0
    if scale == 0.0 or not np.isfinite(scale):
        return scale
    return scale * float(np.linalg.norm(a / scale))


def compare(got: Array, expected: Array, rtol: float, floor: float) -> Comparison:
    """Compare arrays of the same shape."""
    error = relative_error(got, expected, floor)
    diff = np.abs(got - expected)
    worst = tuple(int(i) for i in np.unravel_index(int(diff.argmax()), diff.shape)) if diff.size else ()
    return Comparison(
        ok=bool(error <= rtol),
        rel_error=error,
        worst=worst,
        expected=float(expected[worst]) if expected.size else 0.0,
        got=float(got[worst]) if got.size else 0.0,
    )


def _what(value: Any) -> str:
    """What a value is, in the grader's words; the sandbox's own description is the slot ``{student}``."""
    if isinstance(value, dict) and "unsupported" in value:
        return "{student}"
    if isinstance(value, dict) and "dict" in value:
        return "a dict"
    if isinstance(value, dict) and "tuple" in value:
        return f"a tuple of {len(value['tuple'])} values"
    if isinstance(value, dict) and "kept" in value:
        return "a value kept in the sandbox"
    if isinstance(value, dict) and "array" in value:
        return "an array"
    return "nothing (None)" if value is None else "something else"


def _unsupported(value: Any) -> str:
    """The sandbox's description of a value it could not export (the submission controls it)."""
    return str(value["unsupported"])[:100] if isinstance(value, dict) and "unsupported" in value else ""


def _shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(str(n) for n in shape) + ("," if len(shape) == 1 else "") + ")"
