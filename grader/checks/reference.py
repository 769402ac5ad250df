"""The ``reference`` check: the student's answer against the reference, case by case."""

from __future__ import annotations

import numpy as np

from grader.checks.compare import BadAnswer, answer_array, compare
from grader.checks.context import Context
from grader.checks.verdicts import failed, mutation_note, passed, unanswered
from grader.results import CheckResult
from grader.rubric import Check


def reference_check(ctx: Context, check: Check) -> CheckResult:
    """Passes when every case agrees with the reference within the rubric's tolerance."""
    rubric = ctx.rubric
    name = rubric.name_of(check.function, check.key)
    worst = 0.0
    notes = ""
    for case in check.cases:
        problem = unanswered(ctx, check, check.function, case)
        if problem is not None:
            return problem
        outcome = ctx.answer(check.function, case)
        notes = notes or mutation_note(outcome, check.function)
        expected = ctx.expected(check.function, case)
        expected = np.asarray(expected[check.key] if check.key else expected, dtype=np.float64)
        where = ctx.describe(case, check.hidden)
        try:
            got = answer_array(outcome.value, expected.shape, check.key)
        except BadAnswer as exc:
            return failed(check, f"{name} {exc} (on {where}).{notes}", {"case": case})
        result = compare(got, expected, rubric.rtol, rubric.floor)
        worst = max(worst, result.rel_error)
        if not result.ok:
            errors = {"case": case, "rel_error": result.rel_error, "tolerance": rubric.rtol}
            element = ""
            if not check.hidden:
                errors.update(worst_index=list(result.worst), expected=result.expected, got=result.got)
                worst_at = f"worst element {list(result.worst)}: " if result.worst else ""
                element = f"; {worst_at}expected {result.expected:.6g}, got {result.got:.6g}"
            message = (
                f"{name} is wrong on {where}: relative error {result.rel_error:.2g} "
                f"(tolerance {rubric.rtol:g}){element}.{notes}"
            )
            return failed(check, message, errors)
    count = len(check.cases)
    cases = f"{count} case{'s' if count > 1 else ''}"
    return passed(
        check,
        f"{name} matches the reference on {cases} (largest relative error {worst:.1g}).{notes}",
        {"rel_error": worst, "tolerance": rubric.rtol},
    )
