"""The ``reference`` check: the student's answer against the reference, case by case."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from grader.checks.compare import BadAnswer, answer_array, compare, raw_array
from grader.checks.context import Context, pick
from grader.checks.verdicts import failed, passed, unanswered
from grader.results import CheckResult
from grader.rubric import Check


def reference_check(ctx: Context, check: Check) -> CheckResult:
    """Passes when every case agrees with the reference within the check's tolerance on that
    case (``Context.tolerance``)."""
    rubric = ctx.rubric
    name = rubric.name_of(check.function, *check.path)
    worst, widest = 0.0, rubric.tolerance(check)[0]
    for case in check.cases:
        problem = unanswered(ctx, check, check.function, case)
        if problem is not None:
            return problem
        rtol, floor = ctx.tolerance(check, case)
        widest = max(widest, rtol)
        outcome = ctx.answer(check.function, case)
        expected = np.asarray(pick(ctx.expected(check.function, case), check.path), dtype=np.float64)
        try:
            got = answer_array(outcome.value, expected.shape, check.path)
        except BadAnswer as exc:
            pictures = _pictures(check, expected, raw_array(outcome.value, check.path))
            return failed(check, f"{name} {exc.message} (on {{case}}).", pictures, case=case, student_text=exc.student_text)
        result = compare(got, expected, rtol, floor)
        worst = max(worst, result.rel_error)
        if not result.ok:
            # The worst element and the arrays are figures of their own: every output shows them
            # through grader.visibility, which leaves them out for a hidden check.
            errors: dict[str, Any] = {"rel_error": result.rel_error, "tolerance": rtol}
            errors.update(worst_index=list(result.worst), expected=result.expected, got=result.got)
            errors.update(_pictures(check, expected, got))
            message = f"{name} is wrong on {{case}}: relative error {result.rel_error:.2g} (tolerance {rtol:.2g})."
            return failed(check, message, errors, case=case)
    count = len(check.cases)
    cases = f"{count} case{'s' if count > 1 else ''}"
    return passed(
        check,
        f"{name} matches the reference on {cases} (largest relative error {worst:.1g}).",
        {"rel_error": worst, "tolerance": widest},
    )


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
