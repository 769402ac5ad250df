"""Building CheckResults: full points or none, with a message for the student."""

from __future__ import annotations

from typing import Any

from grader.checks.context import Context
from grader.results import CheckResult
from grader.rubric import Check


def passed(check: Check, message: str, errors: dict[str, Any]) -> CheckResult:
    return CheckResult(check.id, check.part, "passed", check.points, check.points, message, (), errors)


def failed(check: Check, message: str, errors: dict[str, Any] | None = None, status: str = "failed") -> CheckResult:
    return CheckResult(check.id, check.part, status, 0.0, check.points, message, (), errors or {})


def unanswered(ctx: Context, check: Check, function: str, case: str | None) -> CheckResult | None:
    """A failed result when ``function`` gave no answer to look at on ``case``, else None."""
    state = ctx.state(function)
    if state != "ok":
        signature = f"{function}({', '.join(ctx.assignment.parameters(function))})"
        why = "is not defined" if state == "missing" else "is defined but is not a function"
        return failed(check, f"{function} {why} in your submission; define {signature}.", status="error")
    if case is None:
        return None
    outcome = ctx.answer(function, case)
    if outcome.status == "ok":
        return None
    where = ctx.describe(case, check.hidden)
    if outcome.status == "error":
        message = f"{function} raised {outcome.error} on {where}."
    else:
        message = f"{outcome.error} (on {where})."
    return failed(check, message, {"case": case}, status=outcome.status)
