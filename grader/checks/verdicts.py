"""Building CheckResults: full points or none, with the grader's message and its findings."""

from __future__ import annotations

import re
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
    """A failed result when ``function`` gave no answer to look at on ``case``, else None.

    When the function is missing or raised a NameError and a statement of the file failed while
    loading (an import the assignment does not allow, say), the message says so: the submission's
    own text then holds that load warning too."""
    state = ctx.state(function)
    if state != "ok":
        signature = f"{function}({', '.join(ctx.assignment.parameters(function))})"
        why = "is not defined" if state == "missing" else "is defined but is not a function"
        message = f"{function} {why} in your submission; define {signature}."
        warning = _load_warning(ctx) if state == "missing" else None
        if warning is None:
            return failed(check, message, status=CheckStatus.ERROR)
        text, tail = warning
        return failed(check, f"{message} While loading, {{student}}, which may be why.{tail}", status=CheckStatus.ERROR, student_text=text)
    if case is None:
        return None
    outcome = ctx.answer(function, case)
    if outcome.status == "ok":
        return None
    warning = _load_warning(ctx) if outcome.status == "error" and outcome.error.startswith("NameError") else None
    if warning is not None:
        text, tail = warning
        message = f"{function} raised {{student}}, which may be why that name is not defined (on {{case}}).{tail}"
        return failed(check, message, status=outcome.status, case=case, student_text=f"{outcome.error}; while loading, {text}")
    message = f"{function} raised {{student}} on {{case}}." if outcome.status == "error" else "{student} (on {case})."
    return failed(check, message, status=outcome.status, case=case, student_text=outcome.error)


#: how a load warning of a statement that raised an import error reads (``child.load``)
_IMPORT_ERRORS = (" raised ModuleNotFoundError: ", " raised ImportError: ")


def _load_warning(ctx: Context) -> tuple[str, str] | None:
    """The load warning that may explain a missing name (the first failed import, else the first
    warning), and the grader's words after it: what the assignment allows, when it is an import,
    and how many other warnings there were; None without warnings."""
    warnings = ctx.report.warnings
    if not warnings:
        return None
    imports = [w for w in warnings if any(e in w for e in _IMPORT_ERRORS)]
    text = (imports or warnings)[0]
    tail = ""
    if imports:
        names = ["the standard library", "numpy", *(re.split(r"[\s<>=!~]", p, maxsplit=1)[0] for p in ctx.rubric.packages)]
        tail += f" This assignment allows importing {', '.join(names[:-1])} and {names[-1]} only."
    if len(warnings) > 1:
        tail += f" There were {len(warnings) - 1} more warning(s) while loading."
    return text, tail
