"""The kinds of check a rubric can use, by name."""

from __future__ import annotations

from typing import Callable

from grader.checks.context import Context
from grader.checks.gradcheck import gradcheck
from grader.checks.reference import reference_check
from grader.checks.verdicts import failed
from grader.diagnosis import diagnose
from grader.results import CheckResult
from grader.rubric import Check

KINDS: dict[str, Callable[[Context, Check], CheckResult]] = {
    "reference": reference_check,
    "gradcheck": gradcheck,
}


def run_check(ctx: Context, check: Check) -> CheckResult:
    """Run one check. A fault of the grader's own is recorded on the check, not raised, so one
    bad check never loses the rest of a submission's results."""
    try:
        return diagnose(ctx, check, KINDS[check.kind](ctx, check))
    except Exception as exc:  # noqa: BLE001 - see docstring
        return failed(check, f"the grader failed on this check ({type(exc).__name__}: {exc}); ask your instructor to regrade.", status="error")
