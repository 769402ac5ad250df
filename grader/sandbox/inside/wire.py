"""The wire format between the grader and a sandboxed child: plain numbers, never pickle.

A frame is a 4-byte big-endian header length, a UTF-8 JSON header, then raw array buffers.
The header is ``{"body": <value>, "buffers": [nbytes, ...]}`` where ``<value>`` is JSON in
which every array stands as ``{"__nd__": index, "dtype": "<f8", "shape": [..]}``, each buffer
standing for exactly one array.

Both sides use this one codec: the grader imports it as ``grader.sandbox.inside.wire``, and
the zygote runs its source as ``inside.wire`` (see ``grader.sandbox.inside``), so it imports
only the standard library and numpy. Decoding is written for hostile input: what a frame may
cost is bounded before anything is allocated. The header is at most MAX_HEADER bytes holding
at most MAX_ITEMS JSON values (counted in its text before it is parsed), integers of at most
MAX_DIGITS digits, nesting of at most MAX_DEPTH; every array description is checked against the
buffer sizes, each buffer is referenced exactly once (so the arrays decoded are exactly the
bytes read, at most ``max_bytes``, which are read once into the arrays' own memory), and only a
short list of plain numeric dtypes is accepted. A reader may also check the body's form (which
fields, of which types) before any buffer is read.
"""

from __future__ import annotations

import json
import os
import select
import struct
import time
from collections.abc import Callable
from typing import Any

import numpy as np

#: dtypes that may cross the boundary; anything else (object, complex, datetime, structured, ...)
#: is refused before its bytes are read.
WIRE_DTYPES = frozenset(
    ["<f8", "<f4", "<f2", "<i8", "<i4", "<i2", "|i1", "<u8", "<u4", "<u2", "|u1", "|b1"]
)
MAX_HEADER = 1 << 20
MAX_DEPTH = 8
#: JSON values in a header (arrays, objects and their members): a frame's bodies are small, and
#: each value costs some 50 bytes of Python objects for the 1 or 2 bytes of its text
MAX_ITEMS = 1 << 16
#: arrays in a frame
MAX_BUFFERS = 1 << 12
#: digits of a JSON integer: int64 needs 19 and a sign; longer ones are refused before int() runs
MAX_DIGITS = 20
INT64 = 1 << 63


class WireError(Exception):
    """The peer sent something that is not a well-formed frame."""


class Timeout(Exception):
    """No complete frame arrived before the deadline."""


class Closed(Exception):
    """The peer closed its end (it exited or crashed)."""


def encode(body: Any) -> bytes:
    """One frame holding ``body``: JSON values, dicts with str keys, and numpy arrays."""
    buffers: list[memoryview] = []

    def pack(value: Any) -> Any:
        if isinstance(value, np.ndarray):
            array = value if value.flags.c_contiguous else value.copy(order="C")
            buffers.append(array.reshape(-1).view(np.uint8).data)  # its bytes, not a copy
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


class Reader:
    """The reading end of a pipe that carries frames only, read a chunk at a time: a frame's
    length, header and small arrays then cost one system call together, not one each. What it
    has read past the current frame is kept for the next one, so every frame from one pipe must
    be read through the same Reader. At most CHUNK bytes are read ahead, whatever the frame."""

    CHUNK = 1 << 16

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.pending = bytearray()

    def exact(self, n: int, deadline: float | None) -> bytes:
        """The next ``n`` bytes."""
        while len(self.pending) < n:
            self._fill(deadline)
        data = bytes(self.pending[:n])
        del self.pending[:n]
        return data

    def buffer(self, n: int, deadline: float | None) -> bytearray:
        """The next ``n`` bytes, in memory of their own (an array's); a large rest is read
        straight into it."""
        buffer = bytearray(n)
        view, done = memoryview(buffer), min(n, len(self.pending))
        view[:done] = self.pending[:done]
        del self.pending[:done]
        while done < n:
            if n - done >= self.CHUNK:
                _read_into(self.fd, view[done:], deadline)
                return buffer
            self._fill(deadline)
            take = min(n - done, len(self.pending))
            view[done : done + take] = self.pending[:take]
            del self.pending[:take]
            done += take
        return buffer

    def _fill(self, deadline: float | None) -> None:
        _wait(self.fd, deadline)
        chunk = os.read(self.fd, self.CHUNK)
        if not chunk:
            raise Closed()
        self.pending += chunk


def read_frame(
    source: int | Reader,
    *,
    deadline: float | None = None,
    max_bytes: int = 1 << 30,
    max_items: int = MAX_ITEMS,
    form: Callable[[Any], None] | None = None,
) -> Any:
    """Read one frame from ``source`` (a file descriptor read exactly, or a ``Reader``) and
    decode it; raise Timeout, Closed or WireError.

    ``form``, when given, is called with the body as the header describes it (each array still
    its ``{"__nd__": ...}`` description) before any buffer is read, and raises WireError to
    refuse it. A reader whose peer is the grader (a program's source may hold any number of
    commas) may allow more than MAX_ITEMS values."""
    exact: Callable[[int, float | None], bytes]
    buffer: Callable[[int, float | None], bytearray]
    if isinstance(source, Reader):
        exact, buffer = source.exact, source.buffer
    else:
        exact, buffer = (lambda n, d: _read_exact(source, n, d)), (lambda n, d: _read_buffer(source, n, d))
    (size,) = struct.unpack(">I", exact(4, deadline))
    if size > MAX_HEADER:
        raise WireError(f"header of {size} bytes is over the {MAX_HEADER}-byte limit")
    text = exact(size, deadline)
    # Every JSON value but the first follows a comma or opens a container: counting those bytes
    # (in strings too, so an upper bound) bounds the objects json.loads would build.
    items = text.count(b",") + text.count(b"[") + text.count(b"{")
    if items > max_items:
        raise WireError(f"header of more than {max_items} values")
    try:
        header = json.loads(text, parse_int=_integer)
    except (ValueError, RecursionError) as exc:  # not UTF-8, not JSON, [[[[...
        raise WireError(f"header is not JSON: {exc}"[:200]) from None
    if type(header) is not dict or set(header) != {"body", "buffers"}:
        raise WireError("header must have exactly the keys body and buffers")
    sizes = header["buffers"]
    if type(sizes) is not list or not all(type(n) is int and n >= 0 for n in sizes):
        raise WireError("buffer sizes must be non-negative integers")
    if len(sizes) > MAX_BUFFERS:
        raise WireError(f"{len(sizes)} arrays are over the limit of {MAX_BUFFERS}")
    if sum(sizes) > max_bytes:
        raise WireError(f"{sum(sizes)} bytes of arrays are over the {max_bytes}-byte limit")
    body = header["body"]
    arrays: list[tuple[str, tuple[int, ...]] | None] = [None] * len(sizes)
    _check(body, sizes, arrays, 0)
    missing = [index for index, spec in enumerate(arrays) if spec is None]
    if missing:
        raise WireError(f"buffer {missing[0]} is not referenced by any array")
    if form is not None:
        form(body)
    buffers = [buffer(n, deadline) for n in sizes]
    return _unpack(body, buffers, arrays)


def _integer(text: str) -> int:
    if len(text) > MAX_DIGITS:
        raise WireError(f"an integer of {len(text)} digits in the header")
    return int(text)


def _check(value: Any, sizes: list[int], arrays: list[Any], depth: int) -> None:
    """Check a body's values and array descriptions against the buffer sizes; note each
    buffer's (dtype, shape) in ``arrays``, refusing a second reference."""
    if depth > MAX_DEPTH:
        raise WireError("value is nested too deeply")
    kind = type(value)
    if kind is dict:
        if "__nd__" in value:
            index, dtype, shape = _array_spec(value, sizes)
            if arrays[index] is not None:
                raise WireError(f"buffer {index} is referenced by more than one array")
            arrays[index] = (dtype, shape)
            return
        for item in value.values():
            _check(item, sizes, arrays, depth + 1)
    elif kind is list:
        for item in value:
            _check(item, sizes, arrays, depth + 1)
    elif kind is int:
        if not -INT64 <= value < INT64:
            raise WireError("an integer outside the 64-bit range")
    elif value is not None and kind not in (bool, float, str):
        raise WireError(f"unexpected JSON value of type {kind.__name__}")


def _array_spec(spec: dict[str, Any], sizes: list[int]) -> tuple[int, str, tuple[int, ...]]:
    index, dtype, shape = spec.get("__nd__"), spec.get("dtype"), spec.get("shape")
    if set(spec) != {"__nd__", "dtype", "shape"} or type(index) is not int:
        raise WireError("malformed array description")
    if not 0 <= index < len(sizes):
        raise WireError(f"array refers to missing buffer {index}")
    if type(dtype) is not str or dtype not in WIRE_DTYPES:  # a list is unhashable: test the type first
        raise WireError(f"dtype {dtype!r} may not cross the sandbox boundary")
    if type(shape) is not list or len(shape) > 32 or not all(type(n) is int and n >= 0 for n in shape):
        raise WireError("array shape must be a short list of non-negative integers")
    count = 1
    for n in shape:
        count *= n  # Python ints: an absurd shape cannot overflow, it just fails the size test
    if count * np.dtype(dtype).itemsize != sizes[index]:
        raise WireError(f"shape {tuple(shape)} does not match a buffer of {sizes[index]} bytes")
    return index, dtype, tuple(shape)


def _unpack(value: Any, buffers: list[bytearray], arrays: list[Any]) -> Any:
    """The checked body with each array description replaced by its array."""
    if type(value) is dict:
        if "__nd__" in value:
            return _array(buffers[value["__nd__"]], *arrays[value["__nd__"]])
        return {k: _unpack(v, buffers, arrays) for k, v in value.items()}
    if type(value) is list:
        return [_unpack(v, buffers, arrays) for v in value]
    return value


def _array(buffer: bytearray, dtype: str, shape: tuple[int, ...]) -> np.ndarray:
    """A writable array over ``buffer``, which only it holds: no copy."""
    try:  # an empty array may still have a dimension numpy cannot hold, such as 2**70
        return np.frombuffer(buffer, dtype=np.dtype(dtype)).reshape(shape)
    except (ValueError, OverflowError) as exc:
        raise WireError(f"shape {shape} is not a usable array shape ({exc})"[:200]) from None


def _wait(fd: int, deadline: float | None) -> None:
    if deadline is not None:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise Timeout()


def _read_exact(fd: int, n: int, deadline: float | None) -> bytes:
    chunks: list[bytes] = []
    while n:
        _wait(fd, deadline)
        chunk = os.read(fd, min(n, 1 << 20))
        if not chunk:
            raise Closed()
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def _read_buffer(fd: int, n: int, deadline: float | None) -> bytearray:
    """``n`` bytes read straight into the memory that will hold them."""
    buffer = bytearray(n)
    _read_into(fd, memoryview(buffer), deadline)
    return buffer


def _read_into(fd: int, view: memoryview, deadline: float | None) -> None:
    """Fill ``view`` from ``fd``, a megabyte at most per system call."""
    done = 0
    while done < len(view):
        _wait(fd, deadline)
        got = os.readv(fd, [view[done : done + (1 << 20)]])
        if not got:
            raise Closed()
        done += got
