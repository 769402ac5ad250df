"""Building CheckResults: full points or none, with the grader's message and its findings."""

from __future__ import annotations

from typing import Any

from grader.checks.context import Context
from grader.results import CheckResult, CheckStatus
from grader.rubric import Check


def passed(check: Check, message: str, errors: dict[str, Any]) -> CheckResult:
    return CheckResult(check.id, check.part, CheckStatus.PASSED, check.points, check.points, message, (), errors, hidden=check.hidden)


def failed(
    check: Check,
    message: str,
    errors: dict[str, Any] | None = None,
    status: str = CheckStatus.FAILED,
    *,
    case: str | None = None,
    student_text: str = "",
) -> CheckResult:
    """A result worth nothing. ``message`` may name ``{case}`` and ``{student}`` (the text the
    submission produced), which are kept in their own fields."""
    return CheckResult(
        check.id, check.part, status, 0.0, check.points, message, (), errors or {},
        case=case, student_text=student_text, hidden=check.hidden,
    )


def unanswered(ctx: Context, check: Check, function: str, case: str | None) -> CheckResult | None:
    """A failed result when ``function`` gave no answer to look at on ``case``, else None."""
    state = ctx.state(function)
    if state != "ok":
        signature = f"{function}({', '.join(ctx.assignment.parameters(function))})"
        why = "is not defined" if state == "missing" else "is defined but is not a function"
        return failed(check, f"{function} {why} in your submission; define {signature}.", status=CheckStatus.ERROR)
    if case is None:
        return None
    outcome = ctx.answer(function, case)
    if outcome.status == "ok":
        return None
    message = f"{function} raised {{student}} on {{case}}." if outcome.status == "error" else "{student} (on {case})."
    return failed(check, message, status=outcome.status, case=case, student_text=outcome.error)
