"""The frame format between grader and child: round trips, and hostile frames written by hand."""

from __future__ import annotations

import json
import os
import struct
import threading
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from grader.sandbox.inside import wire
from grader.sandbox.inside.wire import MAX_BUFFERS, MAX_DEPTH, MAX_HEADER, MAX_ITEMS, WIRE_DTYPES, Closed, Timeout, WireError

#: Generous for a frame already in the pipe; short enough that a wrongly blocking read fails fast.
SECONDS = 2.0


@pytest.fixture
def pipe() -> Iterator[tuple[int, int]]:
    read_end, write_end = os.pipe()
    yield read_end, write_end
    for fd in (read_end, write_end):
        try:
            os.close(fd)
        except OSError:
            pass  # the test closed it already


def deadline() -> float:
    return time.monotonic() + SECONDS


def raw_frame(header: Any, *buffers: bytes) -> bytes:
    """A frame built without wire.encode: a 4-byte big-endian length, JSON, raw buffers."""
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack(">I", len(text)) + text + b"".join(buffers)


def send(pipe: tuple[int, int], data: bytes, **options: Any) -> Any:
    """Write ``data`` (small enough for the pipe buffer) and read one frame, write end left open."""
    read_end, write_end = pipe
    assert len(data) < 60_000
    os.write(write_end, data)
    return wire.read_frame(read_end, deadline=deadline(), **options)


def array_header(spec: dict[str, Any], sizes: list[int]) -> dict[str, Any]:
    return {"body": {"a": spec}, "buffers": sizes}


# --- round trips ------------------------------------------------------------------------------


def sample(dtype: str, shape: tuple[int, ...]) -> np.ndarray:
    count = int(np.prod(shape))
    if dtype == "|b1":
        return (np.arange(count) % 3 == 0).reshape(shape)
    return (np.arange(count) % 100 + 1).astype(np.dtype(dtype)).reshape(shape)


@pytest.mark.parametrize("dtype", sorted(WIRE_DTYPES))
@pytest.mark.parametrize("shape", [(), (0,), (2, 0), (5,), (2, 3, 4)])
def test_round_trip_of_every_wire_dtype(pipe: tuple[int, int], dtype: str, shape: tuple[int, ...]) -> None:
    array = sample(dtype, shape)
    assert array.dtype.str == dtype
    got = send(pipe, wire.encode({"x": array}))
    assert type(got["x"]) is np.ndarray
    assert got["x"].dtype == np.dtype(dtype)
    assert got["x"].shape == shape
    np.testing.assert_array_equal(got["x"], array)


def test_round_trip_of_nested_values(pipe: tuple[int, int]) -> None:
    body = {
        "scalars": [1, -2.5, True, None, "text"],
        "nested": {"a": {"b": [np.array([1.5, -2.0]), {"c": np.array(7, dtype=np.int64)}]}},
        "tuple": (np.zeros((0, 3)), 4),
        "empty": {},
    }
    got = send(pipe, wire.encode(body))
    assert got["scalars"] == [1, -2.5, True, None, "text"]
    assert type(got["scalars"][2]) is bool
    assert got["empty"] == {}
    first, second = got["nested"]["a"]["b"]
    assert type(first) is np.ndarray and first.tolist() == [1.5, -2.0]
    assert type(second["c"]) is np.ndarray and second["c"].shape == () and second["c"] == 7
    zeros, four = got["tuple"]
    assert type(zeros) is np.ndarray and zeros.shape == (0, 3) and four == 4


def test_round_trip_of_a_non_contiguous_view(pipe: tuple[int, int]) -> None:
    base = np.arange(6, dtype="<f8").reshape(2, 3)
    view, strided = base.T, base[:, ::2]
    assert not view.flags.c_contiguous and not strided.flags.c_contiguous
    got = send(pipe, wire.encode([view, strided]))
    assert [type(a) for a in got] == [np.ndarray, np.ndarray]
    assert got[0].tolist() == [[0.0, 3.0], [1.0, 4.0], [2.0, 5.0]]
    assert got[1].tolist() == [[0.0, 2.0], [3.0, 5.0]]


def test_decoded_arrays_are_writable_copies(pipe: tuple[int, int]) -> None:
    got = send(pipe, wire.encode(np.array([1.0, 2.0])))
    got[0] = 9.0  # np.frombuffer alone would give a read-only array
    assert got.tolist() == [9.0, 2.0]


def test_write_frame_then_read_frame(pipe: tuple[int, int]) -> None:
    read_end, write_end = pipe
    wire.write_frame(write_end, {"loss": np.array(0.25), "ids": [3, 4]})
    got = wire.read_frame(read_end, deadline=deadline())
    assert got["loss"] == 0.25 and got["ids"] == [3, 4]


def test_frame_layout_is_as_documented() -> None:
    frame = wire.encode({"a": np.array([1, 2], dtype="<i4")})
    header = b'{"body": {"a": {"__nd__": 0, "dtype": "<i4", "shape": [2]}}, "buffers": [8]}'
    assert frame == struct.pack(">I", len(header)) + header + b"\x01\x00\x00\x00\x02\x00\x00\x00"


# --- hostile frames ---------------------------------------------------------------------------


def test_header_over_the_limit_is_refused_before_it_is_read(pipe: tuple[int, int]) -> None:
    with pytest.raises(WireError, match="over the"):
        send(pipe, struct.pack(">I", MAX_HEADER + 1))  # no header follows: reading it would time out


@pytest.mark.parametrize(
    "text",
    [b"not json", b'{"body": 1, "buffers": [', b"\xff\xfe\xfa", b"[" * 5000],
    ids=["words", "truncated", "not-utf8", "deeply-nested"],
)
def test_header_not_json(pipe: tuple[int, int], text: bytes) -> None:
    with pytest.raises(WireError, match="not JSON"):
        send(pipe, raw_frame(text))


@pytest.mark.parametrize(
    "header",
    [
        {"body": 1, "buffers": [], "extra": 0},
        {"body": 1},
        {"buffers": []},
        [1, 2],
        "body",
    ],
)
def test_header_must_have_exactly_body_and_buffers(pipe: tuple[int, int], header: Any) -> None:
    with pytest.raises(WireError, match="exactly the keys"):
        send(pipe, raw_frame(header))


@pytest.mark.parametrize("sizes", [[-1], [8, -8], [1.0], ["8"], [True], [None], 8, {"0": 8}])
def test_buffer_sizes_must_be_non_negative_integers(pipe: tuple[int, int], sizes: Any) -> None:
    with pytest.raises(WireError, match="non-negative integers"):
        send(pipe, raw_frame({"body": None, "buffers": sizes}))


def test_total_over_max_bytes_is_refused_before_reading_buffers(pipe: tuple[int, int]) -> None:
    # Only the header is written; if read_frame tried to read the 600 bytes it would raise
    # Timeout at the deadline instead of WireError.
    header = {"body": [{"__nd__": 0, "dtype": "<f8", "shape": [50]}] * 2, "buffers": [400, 200]}
    with pytest.raises(WireError, match="600 bytes of arrays are over the 500-byte limit"):
        send(pipe, raw_frame(header), max_bytes=500)


def test_total_at_max_bytes_is_accepted(pipe: tuple[int, int]) -> None:
    header = array_header({"__nd__": 0, "dtype": "<f8", "shape": [2]}, [16])
    got = send(pipe, raw_frame(header, struct.pack("<2d", 1.0, -3.0)), max_bytes=16)
    assert got["a"].tolist() == [1.0, -3.0]


@pytest.mark.parametrize(
    ("dtype", "itemsize"),
    [("|O", 8), ("<c16", 16), ("<M8[ns]", 8), (">f8", 8), ("<U1", 4), ("|V8", 8), (["<f8"], 8), (None, 8)],
)
def test_dtypes_outside_the_list_are_refused(pipe: tuple[int, int], dtype: Any, itemsize: int) -> None:
    header = array_header({"__nd__": 0, "dtype": dtype, "shape": [1]}, [itemsize])
    with pytest.raises(WireError, match="may not cross the sandbox boundary"):
        send(pipe, raw_frame(header, b"\x00" * itemsize))


@pytest.mark.parametrize(
    ("shape", "nbytes"),
    [([3], 16), ([2], 24), ([], 0), ([0], 8), ([2, 2], 24), ([10**6, 10**6], 8)],
)
def test_shape_must_match_the_buffer(pipe: tuple[int, int], shape: list[int], nbytes: int) -> None:
    header = array_header({"__nd__": 0, "dtype": "<f8", "shape": shape}, [nbytes])
    with pytest.raises(WireError, match=f"does not match a buffer of {nbytes} bytes"):
        send(pipe, raw_frame(header, b"\x00" * nbytes))


@pytest.mark.parametrize("shape", [[-1], [1.0], ["2"], 2, [1] * 33])
def test_shape_must_be_a_short_list_of_non_negative_integers(pipe: tuple[int, int], shape: Any) -> None:
    header = array_header({"__nd__": 0, "dtype": "<f8", "shape": shape}, [8])
    with pytest.raises(WireError, match="array shape must be"):
        send(pipe, raw_frame(header, b"\x00" * 8))


@pytest.mark.parametrize(("index", "buffers"), [(1, [8]), (-1, [8]), (0, [])])
def test_buffer_index_out_of_range(pipe: tuple[int, int], index: int, buffers: list[int]) -> None:
    header = array_header({"__nd__": index, "dtype": "<f8", "shape": [1]}, buffers)
    with pytest.raises(WireError, match=f"missing buffer {index}"):
        send(pipe, raw_frame(header, b"\x00" * sum(buffers)))


@pytest.mark.parametrize(
    "spec",
    [
        {"__nd__": "0", "dtype": "<f8", "shape": [1]},
        {"__nd__": True, "dtype": "<f8", "shape": [1]},
        {"__nd__": 0, "dtype": "<f8"},
        {"__nd__": 0, "dtype": "<f8", "shape": [1], "strides": [8]},
    ],
)
def test_malformed_array_description(pipe: tuple[int, int], spec: dict[str, Any]) -> None:
    with pytest.raises(WireError, match="malformed array description"):
        send(pipe, raw_frame(array_header(spec, [8]), b"\x00" * 8))


def nested(depth: int) -> Any:
    """``depth`` levels of lists and dicts around a 1: the 1 sits at depth ``depth``."""
    value: Any = 1
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


def test_nesting_up_to_max_depth_is_accepted(pipe: tuple[int, int]) -> None:
    got = send(pipe, raw_frame({"body": nested(MAX_DEPTH), "buffers": []}))
    assert got == nested(MAX_DEPTH)


def test_nesting_deeper_than_max_depth_is_refused(pipe: tuple[int, int]) -> None:
    with pytest.raises(WireError, match="nested too deeply"):
        send(pipe, raw_frame({"body": nested(MAX_DEPTH + 1), "buffers": []}))


def test_closed_pipe_raises_closed(pipe: tuple[int, int]) -> None:
    read_end, write_end = pipe
    os.close(write_end)
    with pytest.raises(Closed):
        wire.read_frame(read_end, deadline=deadline())


def test_pipe_closed_mid_frame_raises_closed(pipe: tuple[int, int]) -> None:
    read_end, write_end = pipe
    os.write(write_end, wire.encode(np.zeros(4))[:-5])
    os.close(write_end)
    with pytest.raises(Closed):
        wire.read_frame(read_end, deadline=deadline())


def test_empty_pipe_with_a_deadline_raises_timeout(pipe: tuple[int, int]) -> None:
    read_end, _ = pipe
    start = time.monotonic()
    with pytest.raises(Timeout):
        wire.read_frame(read_end, deadline=start + 0.2)
    assert time.monotonic() - start < SECONDS  # it returned at the deadline, it did not hang


def test_partial_frame_with_a_deadline_raises_timeout(pipe: tuple[int, int]) -> None:
    read_end, write_end = pipe
    os.write(write_end, wire.encode(np.zeros(4))[:-5])  # the last bytes never come
    with pytest.raises(Timeout):
        wire.read_frame(read_end, deadline=time.monotonic() + 0.2)


# --- what decoding a frame may cost --------------------------------------------------------------


def spec(index: int, shape: list[int], dtype: str = "|u1") -> dict[str, Any]:
    return {"__nd__": index, "dtype": dtype, "shape": shape}


def test_a_buffer_referenced_many_times_is_refused_before_it_is_read(pipe: tuple[int, int]) -> None:
    # 150 arrays over one 4 MiB buffer would decode to 600 MiB (a 1 MiB header fits ~23,000).
    # Only the header is written: reading the buffer would raise Timeout instead.
    header = {"body": {"value": {"dict": {f"k{n}": {"array": spec(0, [4 << 20])} for n in range(150)}}}, "buffers": [4 << 20]}
    with pytest.raises(WireError, match="buffer 0 is referenced by more than one array"):
        send(pipe, raw_frame(header), max_bytes=4 << 20)


def test_a_buffer_no_array_refers_to_is_refused_before_it_is_read(pipe: tuple[int, int]) -> None:
    with pytest.raises(WireError, match="buffer 1 is not referenced"):
        send(pipe, raw_frame({"body": [spec(0, [8])], "buffers": [8, 1 << 20]}))


def test_the_arrays_decoded_are_the_bytes_read_once() -> None:
    # A 4 MiB buffer is read into the array's own memory: no chunks joined, no copy after.
    array = np.arange(1 << 19, dtype="<f8")
    frame = wire.encode({"a": array, "b": np.ones(3)})
    read_end, write_end = os.pipe()
    writer = threading.Thread(target=write_all, args=(write_end, frame))  # encoded before tracing
    tracemalloc.start()
    try:
        writer.start()
        got = wire.read_frame(read_end, deadline=deadline())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        writer.join()
        os.close(read_end)
        os.close(write_end)
    np.testing.assert_array_equal(got["a"], array)
    assert got["a"].flags.writeable and not np.shares_memory(got["a"], got["b"])
    assert peak < 1.25 * array.nbytes, f"decoding {array.nbytes} bytes peaked at {peak} (frame of {len(frame)})"


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def test_a_header_of_too_many_values_is_refused_before_it_is_parsed(pipe: tuple[int, int]) -> None:
    # [[], [], ...] costs 3 bytes of header and 56 bytes of Python per value
    text = b'{"body": [' + b",".join([b"[]"] * MAX_ITEMS) + b'], "buffers": []}'
    assert len(text) < MAX_HEADER
    read_end, write_end = pipe
    writer = threading.Thread(target=write_all, args=(write_end, struct.pack(">I", len(text)) + text))
    writer.start()
    try:
        with pytest.raises(WireError, match=f"header of more than {MAX_ITEMS} values"):
            wire.read_frame(read_end, deadline=deadline())
    finally:
        writer.join()


def test_the_grader_side_may_allow_more_values(pipe: tuple[int, int]) -> None:
    # a program's source is one string, but its commas are counted too
    source = "x = [" + ", ".join(["1"] * 20) + "]\n"
    got = send(pipe, wire.encode({"source": source}), max_items=10_000)
    assert got == {"source": source}
    with pytest.raises(WireError, match="more than 10 values"):
        send(pipe, wire.encode({"source": source}), max_items=10)


def test_too_many_arrays_are_refused(pipe: tuple[int, int]) -> None:
    count = MAX_BUFFERS + 1
    text = json.dumps({"body": [spec(n, [0]) for n in range(count)], "buffers": [0] * count}).encode()
    read_end, write_end = pipe
    writer = threading.Thread(target=write_all, args=(write_end, struct.pack(">I", len(text)) + text))
    writer.start()
    try:
        with pytest.raises(WireError, match=f"{count} arrays are over the limit of {MAX_BUFFERS}"):
            wire.read_frame(read_end, deadline=deadline())
    finally:
        writer.join()


@pytest.mark.parametrize(
    ("number", "message"),
    [
        (b"9" * 4000, "an integer of 4000 digits"),  # under int()'s own limit of 4300 digits
        (b"-" + b"1" * 20, "an integer of 21 digits"),
        (str(2**63).encode(), "outside the 64-bit range"),
        (str(-(2**63) - 1).encode(), "outside the 64-bit range"),
    ],
)
def test_integers_are_at_most_64_bits(pipe: tuple[int, int], number: bytes, message: str) -> None:
    with pytest.raises(WireError, match=message):
        send(pipe, raw_frame(b'{"body": {"seconds": ' + number + b'}, "buffers": []}'))


def test_64_bit_integers_and_huge_floats_are_accepted(pipe: tuple[int, int]) -> None:
    got = send(pipe, raw_frame(f'{{"body": [{2**63 - 1}, {-(2**63)}, 1e400], "buffers": []}}'.encode()))
    assert got == [2**63 - 1, -(2**63), float("inf")]


def test_the_form_is_checked_before_any_buffer_is_read(pipe: tuple[int, int]) -> None:
    seen = []

    def form(body: Any) -> None:
        seen.append(body)
        raise WireError("not a reply")

    header = {"body": {"status": "bogus", "value": {"array": spec(0, [1 << 20])}}, "buffers": [1 << 20]}
    with pytest.raises(WireError, match="not a reply"):
        send(pipe, raw_frame(header), form=form)  # the buffer is never written
    assert seen == [header["body"]]  # as described: the array is still its description


def test_an_accepted_form_gets_its_arrays(pipe: tuple[int, int]) -> None:
    got = send(pipe, wire.encode({"value": np.arange(3)}), form=lambda body: None)
    assert got["value"].tolist() == [0, 1, 2]


# --- a Reader: frames read a chunk at a time ----------------------------------------------------


def test_a_reader_keeps_what_it_read_past_a_frame_for_the_next(pipe: tuple[int, int]) -> None:
    read_end, write_end = pipe
    frames = [{"n": i, "a": np.arange(i + 1, dtype="<f8"), "b": [np.full((2, 2), i, dtype="<i4")]} for i in range(5)]
    os.write(write_end, b"".join(wire.encode(f) for f in frames))  # every frame in the pipe at once
    reader = wire.Reader(read_end)
    for frame in frames:
        got = wire.read_frame(reader, deadline=deadline())
        assert got["n"] == frame["n"]
        np.testing.assert_array_equal(got["a"], frame["a"])
        np.testing.assert_array_equal(got["b"][0], frame["b"][0])
        got["a"][0] = -1.0  # each array owns its memory
    assert reader.pending == bytearray()
    with pytest.raises(Timeout):
        wire.read_frame(reader, deadline=time.monotonic() + 0.1)


def test_a_reader_reads_an_array_larger_than_its_chunk_in_pieces_and_stops_at_a_closed_pipe(pipe: tuple[int, int]) -> None:
    read_end, write_end = pipe
    big = np.arange(3 * wire.Reader.CHUNK // 8 + 5, dtype="<f8")  # three chunks and a bit
    data = wire.encode({"big": big}) + wire.encode({"after": 1})
    writer = threading.Thread(target=lambda: os.write(write_end, data))
    writer.start()
    reader = wire.Reader(read_end)
    got = wire.read_frame(reader, deadline=deadline())
    writer.join()
    np.testing.assert_array_equal(got["big"], big)
    assert wire.read_frame(reader, deadline=deadline()) == {"after": 1}
    os.write(write_end, wire.encode({"cut": np.zeros(100)})[:-8])  # a frame cut short by a crash
    os.close(write_end)
    with pytest.raises(Closed):
        wire.read_frame(reader, deadline=deadline())


def test_a_reader_refuses_a_hostile_header_as_the_plain_read_does(pipe: tuple[int, int]) -> None:
    read_end, write_end = pipe
    header = {"body": [{"__nd__": 0, "dtype": "<f8", "shape": [50]}] * 2, "buffers": [400, 200]}
    os.write(write_end, raw_frame(header))
    with pytest.raises(WireError, match="600 bytes of arrays are over the 500-byte limit"):
        wire.read_frame(wire.Reader(read_end), deadline=deadline(), max_bytes=500)
