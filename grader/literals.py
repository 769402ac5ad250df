"""Python source that rebuilds a value exactly: the inputs a report shows so a student can
reproduce a failing case (``grader.checks.reproduce``).

``literal(value)`` is an expression that, evaluated with ``np`` bound to numpy, gives back
``value`` as a sandboxed function receives it: arrays with their dtype and shape and every
number bit for bit (a float as its ``repr``, which round-trips; -0.0, subnormals, NaN and
infinities included), dicts with their keys in order, lists (a tuple crosses the sandbox's wire
as a list), and plain ``int``, ``float``, ``bool``, ``str`` and ``None``.

``small(values)`` says whether values are small enough to show: every array at most
``MAX_ARRAY`` elements, at most ``MAX_NUMBERS`` numbers (and strings) in all, each string at most
``MAX_STRING`` characters, nested at most ``MAX_DEPTH`` deep, and nothing else (a cache's handle,
an object). The source of values that pass is at most some 12,000 characters.

Imports only numpy.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any

import numpy as np

#: elements of one array shown: a 10 x 10 matrix; the shipped cases of a few samples and
#: features fit, the probes and large layers do not
MAX_ARRAY = 100
#: numbers (array elements and scalars) and strings shown for one case, all arguments together
MAX_NUMBERS = 400
#: characters of one string shown
MAX_STRING = 100
#: dicts and lists within one argument
MAX_DEPTH = 4
#: the array dtypes a literal names (kind: b, i, u, f)
_KINDS = frozenset("biuf")
_INDENT = "    "


def small(values: Iterable[Any]) -> bool:
    """Whether every value can be written as a literal and all together are within the bounds."""
    total = 0
    for value in values:
        count = _count(value, 0)
        if count is None:
            return False
        total += count
    return total <= MAX_NUMBERS


def _count(value: Any, depth: int) -> int | None:
    """How many numbers ``value`` holds, or None when it is too large or cannot be written."""
    if isinstance(value, np.ndarray):
        return value.size if value.dtype.kind in _KINDS and value.size <= MAX_ARRAY else None
    if value is None or isinstance(value, (bool, int, float, np.bool_, np.integer, np.floating)):
        return 1
    if isinstance(value, str):
        return 1 if len(value) <= MAX_STRING else None
    if isinstance(value, (dict, list, tuple)) and depth < MAX_DEPTH:
        if isinstance(value, dict) and not all(isinstance(k, str) and len(k) <= MAX_STRING for k in value):
            return None
        total = 0
        for item in value.values() if isinstance(value, dict) else value:
            count = _count(item, depth + 1)
            if count is None:
                return None
            total += count
        return total
    return None


def literal(value: Any, level: int = 0) -> str:
    """Source rebuilding ``value`` (see the module's doc); nested lines indented from ``level``.
    Call it on values ``small`` accepts."""
    if isinstance(value, np.ndarray):
        return _array(value, level)
    if value is None or isinstance(value, (bool, np.bool_)):
        return repr(None if value is None else bool(value))
    if isinstance(value, (int, np.integer)):
        return repr(int(value))
    if isinstance(value, (float, np.floating)):
        return number(float(value))
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a Python string literal too
    if isinstance(value, dict):
        inner = _INDENT * (level + 1)
        items = [f"{inner}{json.dumps(k)}: {literal(v, level + 1)},\n" for k, v in value.items()]
        return "{\n" + "".join(items) + _INDENT * level + "}" if items else "{}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(literal(v, level) for v in value) + "]"
    raise TypeError(f"no literal for {type(value).__name__}")


def number(value: float) -> str:
    """A float as the shortest source that gives it back exactly."""
    if math.isnan(value):
        return "np.nan"
    if math.isinf(value):
        return "np.inf" if value > 0 else "-np.inf"
    return repr(value)


def _array(array: np.ndarray, level: int) -> str:
    dtype = f"np.{'bool_' if array.dtype.kind == 'b' else array.dtype.name}"
    if array.size == 0:
        return f"np.zeros({tuple(array.shape)!r}, dtype={dtype})"
    scalar = literal if array.dtype.kind != "f" else lambda v, _level=0: number(float(v))
    if array.ndim <= 1:
        body = scalar(array.item()) if array.ndim == 0 else "[" + ", ".join(scalar(v) for v in array.tolist()) + "]"
        return f"np.array({body}, dtype={dtype})"
    return f"np.array({_rows(array.tolist(), array.ndim, level, scalar)}, dtype={dtype})"


def _rows(rows: list[Any], ndim: int, level: int, scalar: Any) -> str:
    """A nested list of at least two dimensions, one innermost row per line."""
    inner = _INDENT * (level + 1)
    if ndim == 2:
        lines = ["[" + ", ".join(scalar(v) for v in row) + "]" for row in rows]
    else:
        lines = [_rows(row, ndim - 1, level + 1, scalar) for row in rows]
    return "[\n" + "".join(f"{inner}{line},\n" for line in lines) + _INDENT * level + "]"
