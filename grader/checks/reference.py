"""The ``reference`` check: the student's answer against the reference, case by case."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from grader.checks.compare import BadAnswer, compare, raw_array, read_answer, shape_note
from grader.checks.context import Context, pick
from grader.checks.verdicts import failed, passed, unanswered
from grader.results import CheckResult
from grader.rubric import Check


def reference_check(ctx: Context, check: Check) -> CheckResult:
    """Passes when every case agrees with the reference within the check's tolerance on that
    case (``Context.tolerance``, ``Context.judged_rtol``). Every case is looked at, even after
    one failed: a failed check names its first failing case (``case``, with that case's figures) and says on which
    cases the answer was right, which tells a wrong term from a wrong whole (a loss right on the
    case with lambda = 0 is wrong only in its regularization)."""
    rubric = ctx.rubric
    name = rubric.name_of(check.function, *check.path)
    base, floor = rubric.tolerance(check)
    worst, widest = 0.0, base
    first: CheckResult | None = None
    right: list[str] = []
    wrong: list[str] = []
    note: dict[str, Any] = {}
    for case in check.cases:
        problem = unanswered(ctx, check, check.function, case)
        if problem is not None:
            if first is None:
                return problem  # a crash or a hang on the first failing case: as it is
            wrong.append(case)
            continue
        outcome = ctx.answer(check.function, case)
        expected = np.asarray(pick(ctx.expected(check.function, case), check.path), dtype=np.float64)
        try:
            got, given = read_answer(outcome.value, expected.shape, check.path)
        except BadAnswer as exc:
            wrong.append(case)
            if first is None:
                pictures = _pictures(check, expected, raw_array(outcome.value, check.path))
                first = failed(check, f"{name} {exc.message} (on {{case}}).", pictures, case=case, student_text=exc.student_text)
            continue
        if given is not None and not note:
            note = {"shape_note": shape_note(name, given, expected.shape), "given_shape": list(given), "expected_shape": list(expected.shape)}
        result = compare(got, expected, base, floor)
        rtol = ctx.judged_rtol(check, case, result.rel_error)
        widest = max(widest, rtol)
        if result.rel_error <= rtol:
            worst = max(worst, result.rel_error)
            right.append(case)
            continue
        wrong.append(case)
        if first is None:
            # The worst element and the arrays are figures of their own: every output shows them
            # through grader.visibility, which leaves them out for a hidden check.
            errors: dict[str, Any] = {"rel_error": result.rel_error, "tolerance": rtol}
            errors.update(worst_index=list(result.worst), expected=result.expected, got=result.got)
            errors.update(_pictures(check, expected, got))
            message = f"{name} is wrong on {{case}}: relative error {result.rel_error:.2g} (tolerance {rtol:.2g})."
            first = failed(check, message, errors, case=case)
    if first is not None:
        message = first.message
        if right:
            message += f" It is right on {_and(ctx.describe(c) for c in right)}, and wrong on {_and(repr(c) for c in wrong)}."
        if note:
            message += f" {note['shape_note']}"
        errors = {**first.errors, "right_cases": right, "wrong_cases": wrong, **note}
        return CheckResult(
            first.id, first.part, first.status, first.score, first.max_score, message, first.diagnoses, errors,
            case=first.case, student_text=first.student_text, hidden=first.hidden,
        )
    count = len(check.cases)
    cases = f"{count} case{'s' if count > 1 else ''}"
    message = f"{name} matches the reference on {cases} (largest relative error {worst:.1g})."
    return passed(check, f"{message} {note['shape_note']}" if note else message, {"rel_error": worst, "tolerance": widest, **note})


def _and(items: Any) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    words = list(items)
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


#: arrays up to this size are stored with a failed check, for the report's pictures
PICTURE_LIMIT = 4096


def _pictures(check: Check, expected: np.ndarray, got: np.ndarray | None) -> dict[str, Any]:
    """The expected and the given arrays, when small, as
    ``{"shape": [...], "values": [...]}`` (row-major; a non-finite value is stored as null)."""
    if got is None or expected.ndim == 0 or max(expected.size, got.size) > PICTURE_LIMIT:
        return {}
    return {"expected_array": _stored(expected), "got_array": _stored(got)}


def _stored(array: np.ndarray) -> dict[str, Any]:
    values = [v if math.isfinite(v) else None for v in array.ravel().tolist()]
    return {"shape": list(array.shape), "values": values}
