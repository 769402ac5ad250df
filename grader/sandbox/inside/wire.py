"""The wire format between the grader and a sandboxed child: plain numbers, never pickle.

A frame is a 4-byte big-endian header length, a UTF-8 JSON header, then raw array buffers.
The header is ``{"body": <value>, "buffers": [nbytes, ...]}`` where ``<value>`` is JSON in
which every array stands as ``{"__nd__": index, "dtype": "<f8", "shape": [..]}``.

Both sides use this one codec: the grader imports it as ``grader.sandbox.inside.wire``, and
the zygote runs its source as ``inside.wire`` (see ``grader.sandbox.inside``), so it imports
only the standard library and numpy. Decoding is written for hostile input: every size is
checked before anything is allocated, and only a short list of plain numeric dtypes is
accepted.
"""

from __future__ import annotations

import json
import os
import select
import struct
import time
from typing import Any

import numpy as np

#: dtypes that may cross the boundary; anything else (object, complex, datetime, structured, ...)
#: is refused before its bytes are read.
WIRE_DTYPES = frozenset(
    ["<f8", "<f4", "<f2", "<i8", "<i4", "<i2", "|i1", "<u8", "<u4", "<u2", "|u1", "|b1"]
)
MAX_HEADER = 1 << 20
MAX_DEPTH = 8


class WireError(Exception):
    """The peer sent something that is not a well-formed frame."""


class Timeout(Exception):
    """No complete frame arrived before the deadline."""


class Closed(Exception):
    """The peer closed its end (it exited or crashed)."""


def encode(body: Any) -> bytes:
    """One frame holding ``body``: JSON values, dicts with str keys, and numpy arrays."""
    buffers: list[bytes] = []

    def pack(value: Any) -> Any:
        if isinstance(value, np.ndarray):
            array = value if value.flags.c_contiguous else value.copy(order="C")
            buffers.append(array.tobytes())
            return {"__nd__": len(buffers) - 1, "dtype": array.dtype.str, "shape": list(array.shape)}
        if isinstance(value, dict):
            return {str(k): pack(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [pack(v) for v in value]
        return value

    header = json.dumps({"body": pack(body), "buffers": [len(b) for b in buffers]}).encode()
    return b"".join([struct.pack(">I", len(header)), header, *buffers])


def write_frame(fd: int, body: Any) -> None:
    data = memoryview(encode(body))
    while data:
        data = data[os.write(fd, data) :]


def read_frame(fd: int, *, deadline: float | None = None, max_bytes: int = 1 << 30) -> Any:
    """Read one frame from ``fd`` and decode it; raise Timeout, Closed or WireError."""
    (size,) = struct.unpack(">I", _read_exact(fd, 4, deadline))
    if size > MAX_HEADER:
        raise WireError(f"header of {size} bytes is over the {MAX_HEADER}-byte limit")
    try:
        header = json.loads(_read_exact(fd, size, deadline))
    except (ValueError, RecursionError) as exc:  # not UTF-8, not JSON, [[[[..., an int of 5000 digits
        raise WireError(f"header is not JSON: {exc}"[:200]) from None
    if type(header) is not dict or set(header) != {"body", "buffers"}:
        raise WireError("header must have exactly the keys body and buffers")
    sizes = header["buffers"]
    if type(sizes) is not list or not all(type(n) is int and n >= 0 for n in sizes):
        raise WireError("buffer sizes must be non-negative integers")
    if sum(sizes) > max_bytes:
        raise WireError(f"{sum(sizes)} bytes of arrays are over the {max_bytes}-byte limit")
    buffers = [_read_exact(fd, n, deadline) for n in sizes]
    return _unpack(header["body"], buffers, 0)


def _unpack(value: Any, buffers: list[bytes], depth: int) -> Any:
    if depth > MAX_DEPTH:
        raise WireError("value is nested too deeply")
    if type(value) is dict:
        if "__nd__" in value:
            return _array(value, buffers)
        return {k: _unpack(v, buffers, depth + 1) for k, v in value.items()}
    if type(value) is list:
        return [_unpack(v, buffers, depth + 1) for v in value]
    if value is None or type(value) in (bool, int, float, str):
        return value
    raise WireError(f"unexpected JSON value of type {type(value).__name__}")


def _array(spec: dict[str, Any], buffers: list[bytes]) -> np.ndarray:
    index, dtype, shape = spec.get("__nd__"), spec.get("dtype"), spec.get("shape")
    if set(spec) != {"__nd__", "dtype", "shape"} or type(index) is not int:
        raise WireError("malformed array description")
    if not 0 <= index < len(buffers):
        raise WireError(f"array refers to missing buffer {index}")
    if type(dtype) is not str or dtype not in WIRE_DTYPES:  # a list is unhashable: test the type first
        raise WireError(f"dtype {dtype!r} may not cross the sandbox boundary")
    if type(shape) is not list or len(shape) > 32 or not all(type(n) is int and n >= 0 for n in shape):
        raise WireError("array shape must be a short list of non-negative integers")
    itemsize = np.dtype(dtype).itemsize
    count = 1
    for n in shape:
        count *= n  # Python ints: an absurd shape cannot overflow, it just fails the size test
    if count * itemsize != len(buffers[index]):
        raise WireError(f"shape {tuple(shape)} does not match a buffer of {len(buffers[index])} bytes")
    try:  # an empty array may still have a dimension numpy cannot hold, such as 2**70
        return np.frombuffer(buffers[index], dtype=np.dtype(dtype)).reshape(shape).copy()
    except (ValueError, OverflowError) as exc:
        raise WireError(f"shape {tuple(shape)} is not a usable array shape ({exc})"[:200]) from None


def _read_exact(fd: int, n: int, deadline: float | None) -> bytes:
    chunks: list[bytes] = []
    while n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise Timeout()
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            raise Closed()
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)
