"""The kinds of check a rubric can use, by name, and running one check with its diagnosis.

A new kind is a function ``(Context, Check) -> CheckResult`` in a module of this package,
registered in ``KINDS`` (and given a model in ``grader.rubric``).
"""

from __future__ import annotations

from collections.abc import Callable

from grader.checks.context import Context
from grader.checks.diagnosis import diagnose
from grader.checks.gradcheck import gradcheck
from grader.checks.reference import reference_check
from grader.checks.reproduce import attach
from grader.checks.verdicts import failed
from grader.checks.vjp import vjp_check
from grader.errors import AssignmentFault
from grader.results import CheckResult, CheckStatus
from grader.rubric import Check

KINDS: dict[str, Callable[[Context, Check], CheckResult]] = {
    "reference": reference_check,
    "gradcheck": gradcheck,
    "vjp": vjp_check,
}


def run_check(ctx: Context, check: Check) -> CheckResult:
    """Run one check. A fault of the grader's own, or of the assignment's code, is recorded on
    the check, not raised, so one bad check never loses the rest of a submission's results.
    A check failed on a small case carries its inputs (``checks/reproduce.py``)."""
    try:
        return diagnose(ctx, check, attach(ctx, check, KINDS[check.kind](ctx, check)))
    except AssignmentFault as exc:
        return assignment_failed(check, exc)
    except Exception as exc:  # noqa: BLE001 - see docstring
        reason = f"{type(exc).__name__}: {exc}"[:300]
        message = f"the grader failed on this check ({reason}); ask your instructor to regrade."
        return failed(check, message, status=CheckStatus.ERROR)


#: ``errors`` key of a check the assignment's own code failed (visibility words a hidden one by it)
ASSIGNMENT_FAILED = "assignment_failed"


def assignment_failed(check: Check, fault: AssignmentFault) -> CheckResult:
    """The result of a check on which the assignment's code raised: not the student's doing."""
    message = (
        f"the assignment's {fault.what} failed on this check ({fault.reason}): not a mistake of yours; "
        "your instructor has to fix the assignment, then grade again."
    )
    return failed(check, message, {ASSIGNMENT_FAILED: True}, status=CheckStatus.ERROR)
