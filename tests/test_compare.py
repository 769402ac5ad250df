"""Trusting a child's exported answer, and the relative error it is graded by."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from grader.checks.compare import HUGE, BadAnswer, Comparison, answer_array, compare, read_answer, relative_error, shape_note


def exported(array: Any) -> dict[str, Any]:
    """What the child's export() sends for an array or a number."""
    return {"array": np.asarray(array)}


# --- answer_array -----------------------------------------------------------------------------


def test_float32_answer_becomes_float64() -> None:
    value = exported(np.array([0.5, -1.25, 3.0], dtype=np.float32))
    got = answer_array(value, (3,))
    assert got.dtype == np.float64
    assert got.tolist() == [0.5, -1.25, 3.0]


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.int8, np.uint8, np.uint64, np.float16])
def test_integer_and_small_float_answers_are_accepted(dtype: type) -> None:
    got = answer_array(exported(np.array([[1, 2], [3, 4]], dtype=dtype)), (2, 2))
    assert got.dtype == np.float64
    assert got.tolist() == [[1.0, 2.0], [3.0, 4.0]]


def test_boolean_answer_is_refused() -> None:
    with pytest.raises(BadAnswer, match="booleans"):
        answer_array(exported(np.array([True, False])), (2,))


def test_complex_answer_is_refused() -> None:
    # the wire refuses complex arrays, but answer_array must not trust that
    with pytest.raises(BadAnswer, match="must hold real numbers"):
        answer_array(exported(np.array([1 + 2j])), (1,))


@pytest.mark.parametrize(
    ("got_shape", "expected_shape", "got_text", "expected_text"),
    [
        ((8, 3), (3,), "(8, 3)", "(3,)"),
        ((3, 8), (8, 3), "(3, 8)", "(8, 3)"),
        # (3,) for (1, 3) used to be refused here; the shape rule accepts it now (below). A
        # difference by more than axes of length 1 is still refused:
        ((3,), (1, 4), "(3,)", "(1, 4)"),
        ((6,), (2, 3), "(6,)", "(2, 3)"),
        ((2,), (), "(2,)", "()"),
        ((), (3,), "()", "(3,)"),
    ],
)
def test_wrong_shape_names_both_shapes(
    got_shape: tuple[int, ...], expected_shape: tuple[int, ...], got_text: str, expected_text: str
) -> None:
    with pytest.raises(BadAnswer) as info:
        answer_array(exported(np.zeros(got_shape)), expected_shape)
    assert str(info.value) == f"has shape {got_text}, but it must have shape {expected_text}"


@pytest.mark.parametrize(
    ("got_shape", "expected_shape"),
    [((1, 7), (7,)), ((7, 1), (7,)), ((7,), (1, 7)), ((1, 1), ()), ((1,), ()), ((1, 4, 1, 3), (4, 3)), ((4, 1, 3), (1, 4, 3))],
)
def test_the_shape_rule_accepts_shapes_that_differ_only_by_axes_of_length_one(
    got_shape: tuple[int, ...], expected_shape: tuple[int, ...]
) -> None:
    values = np.arange(1.0, 1.0 + math.prod(got_shape)).reshape(got_shape)
    got, given = read_answer(exported(values), expected_shape)
    assert got.shape == expected_shape and given == got_shape
    # the same values in the same order
    assert got.ravel().tolist() == list(range(1, 1 + math.prod(got_shape)))


def test_an_answer_of_the_expected_shape_has_no_note() -> None:
    assert read_answer(exported(np.zeros((2, 3))), (2, 3))[1] is None


def test_the_shape_note_names_both_shapes() -> None:
    assert shape_note("dJ/db1", (1, 7), (7,)) == (
        "dJ/db1 has shape (1, 7) where (7,) is expected; accepted, since they differ only by axes of length 1."
    )


@pytest.mark.parametrize("array", [np.array(2.5), np.array([2.5]), np.array([[2.5]]), np.array([[[2.5]]])])
def test_scalar_expected_accepts_any_size_one_array(array: np.ndarray) -> None:
    got = answer_array(exported(array), ())
    assert got.shape == ()
    assert float(got) == 2.5


@pytest.mark.parametrize(
    ("array", "count", "first"),
    [
        (np.array([1.0, np.nan, 3.0]), 1, "at [1]"),
        (np.array([[1.0, 2.0], [np.inf, -np.inf]]), 2, "at [1, 0]"),
        (np.array([np.nan, np.nan, np.inf], dtype=np.float32), 3, "at [0]"),
    ],
)
def test_non_finite_values_are_refused_with_their_count(array: np.ndarray, count: int, first: str) -> None:
    with pytest.raises(BadAnswer) as info:
        answer_array(exported(array), array.shape)
    message = str(info.value)
    assert f"{count} value(s) are nan or inf" in message
    assert f"(first {first}:" in message


def test_non_finite_scalar_is_refused() -> None:
    with pytest.raises(BadAnswer, match=r"1 value\(s\) are nan or inf \(first: inf\)"):
        answer_array(exported(np.array([np.inf])), ())


@pytest.mark.parametrize(
    ("value", "what"),
    [
        ({"unsupported": "a list"}, "a list"),
        (None, "nothing (None)"),
        ({"dict": {"W1": exported([1.0])}}, "a dict"),
        ({"array": [1.0, 2.0]}, "an array"),  # not an ndarray: must not be trusted
        ({"unsupported": "x" * 500}, "x" * 100),
    ],
)
def test_answer_that_is_not_an_array_is_refused(value: Any, what: str) -> None:
    with pytest.raises(BadAnswer) as info:
        answer_array(value, (2,))
    assert str(info.value) == f"must be a numpy array or a float, but it is {what}"


def test_key_selects_an_entry_of_a_returned_dict() -> None:
    value = {"dict": {"W1": exported(np.ones((2, 3), dtype=np.float32)), "b1": exported([0.5, 1.5, 2.5])}}
    assert answer_array(value, (3,), ("b1",)).tolist() == [0.5, 1.5, 2.5]
    assert answer_array(value, (2, 3), ("W1",)).dtype == np.float64


def test_missing_key_lists_the_keys_present() -> None:
    value = {"dict": {"b1": exported([1.0]), "W1": exported([1.0]), "w2": exported([1.0])}}
    with pytest.raises(BadAnswer) as info:
        answer_array(value, (1,), ("W2",))
    assert str(info.value) == "is missing: the returned dict has no key 'W2' (keys: 'W1', 'b1', 'w2')"


def test_missing_key_in_an_empty_dict() -> None:
    with pytest.raises(BadAnswer, match=r"\(keys: none\)"):
        answer_array({"dict": {}}, (1,), ("W2",))


@pytest.mark.parametrize(
    ("value", "what"),
    [(exported([1.0]), "an array"), ({"unsupported": "a tuple"}, "a tuple"), (None, "nothing (None)")],
)
def test_key_asked_of_something_that_is_not_a_dict(value: Any, what: str) -> None:
    with pytest.raises(BadAnswer) as info:
        answer_array(value, (1,), ("W1",))
    assert str(info.value) == f"must be a dict with the key 'W1', but the function returned {what}"


def test_entry_of_a_dict_is_checked_like_an_answer() -> None:
    value = {"dict": {"W1": {"unsupported": "a list"}, "b1": exported([True])}}
    with pytest.raises(BadAnswer, match="but it is a list"):
        answer_array(value, (1,), ("W1",))
    with pytest.raises(BadAnswer, match="booleans"):
        answer_array(value, (1,), ("b1",))


def test_answer_is_not_mutated() -> None:
    original = np.array([[1.0, 2.0]], dtype=np.float32)
    got = answer_array(exported(original), (1, 2))
    got[0, 0] = 99.0
    assert original.tolist() == [[1.0, 2.0]]


# --- relative_error and compare ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("got", "expected", "floor", "error"),
    [
        ([1.0, 2.0, 2.0], [1.0, 2.0, 3.0], 1e-6, 1 / math.sqrt(14)),  # ||(0,0,-1)|| / ||(1,2,3)||
        ([1.0, 2.0, 3.0], [1.0, 2.0, 3.0], 1e-6, 0.0),
        ([[3.0, 0.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 4.0]], 1e-6, 5.0 / 4.0),  # ||(3,-4)|| / 4
        ([1e-9, 0.0, 0.0], [0.0, 0.0, 0.0], 1e-6, 1e-3),  # the floor replaces ||expected|| = 0
        ([1e-9], [0.0], 1e-6, 1e-3),
        ([2e-6], [1e-6], 1e-3, 1e-3),  # ||expected|| = 1e-6 is under the floor 1e-3
        ([0.0], [0.0], 1e-6, 0.0),
        (5.0, 4.0, 1e-6, 0.25),  # 0-d arrays
    ],
)
def test_relative_error(got: Any, expected: Any, floor: float, error: float) -> None:
    assert relative_error(np.asarray(got), np.asarray(expected), floor) == pytest.approx(error, rel=1e-12)


def test_compare_reports_the_worst_element() -> None:
    result = compare(np.array([1.0, 2.0, 2.0]), np.array([1.0, 2.0, 3.0]), rtol=1e-3, floor=1e-6)
    assert result.ok is False
    assert result.rel_error == pytest.approx(1 / math.sqrt(14), rel=1e-12)
    assert result.worst == (2,)
    assert (result.expected, result.got) == (3.0, 2.0)


def test_compare_worst_index_in_two_dimensions() -> None:
    expected = np.arange(6.0).reshape(2, 3)  # [[0, 1, 2], [3, 4, 5]]
    got = expected.copy()
    got[1, 0] = 3.5
    got[0, 2] = 1.0  # off by 1, the largest difference
    result = compare(got, expected, rtol=1e-3, floor=1e-6)
    assert result.worst == (0, 2)
    assert (result.expected, result.got) == (2.0, 1.0)
    assert result.rel_error == pytest.approx(math.sqrt(1.25) / math.sqrt(55), rel=1e-12)


@pytest.mark.parametrize(
    ("delta", "rtol", "ok"),
    [
        (1.25, 0.25, True),  # error exactly 1.25 / 5 = 0.25 == rtol (all exact in binary)
        (1.3125, 0.25, False),  # 0.2625
        (1.1875, 0.25, True),  # 0.2375
        (5e-7, 1e-3, True),  # 1e-7, float32 round-off
        (4.99e-3, 1e-3, True),
        (5.01e-3, 1e-3, False),
        (5e-2, 1e-3, False),  # 1e-2, a real mistake
    ],
)
def test_compare_ok_is_error_at_most_rtol(delta: float, rtol: float, ok: bool) -> None:
    expected = np.array([3.0, 4.0])  # norm 5
    got = expected + np.array([0.0, delta])  # relative error delta / 5
    assert compare(got, expected, rtol=rtol, floor=1e-6).ok is ok


def test_compare_with_the_floor() -> None:
    result = compare(np.array([0.0, 1e-9]), np.zeros(2), rtol=1e-3, floor=1e-6)
    assert result.rel_error == pytest.approx(1e-3, rel=1e-12)
    assert result.ok is True
    assert result.worst == (1,) and (result.expected, result.got) == (0.0, 1e-9)


def test_compare_scalars_and_empty_arrays() -> None:
    scalar = compare(np.array(2.0), np.array(2.5), rtol=1e-3, floor=1e-6)
    assert scalar == Comparison(ok=False, rel_error=pytest.approx(0.2), worst=(), expected=2.5, got=2.0)
    empty = compare(np.zeros((0, 3)), np.zeros((0, 3)), rtol=1e-3, floor=1e-6)
    assert empty == Comparison(ok=True, rel_error=0.0, worst=(), expected=0.0, got=0.0)


def test_relative_error_of_answers_near_overflow_is_finite() -> None:
    # ||[1e200, 1e200]|| overflows when squared naively; the scaled norm does not
    assert relative_error(np.array([1e200, 1e200]), np.array([1.0, 0.0]), 1e-6) == pytest.approx(1e200 * np.sqrt(2), rel=1e-12)
    assert relative_error(np.array([1.7e308, -1.7e308]), np.array([-1.7e308, 1.7e308]), 1e-6) == HUGE
