"""Grading one submission: load it in a sandbox, run the rubric's checks, score them."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from grader import environment
from grader.checks.context import Context
from grader.checks.registry import ASSIGNMENT_FAILED, run_check
from grader.checks.verdicts import failed
from grader.course import Assignment
from grader.errors import AssignmentFault
from grader.loading import Submission, Unloadable, to_program
from grader.results import GradingResult
from grader.sandbox.interface import Limits, Program
from grader.sandbox.isolation import require
from grader.sandbox.process import Sandbox

log = logging.getLogger(__name__)

#: what runs a submission: ``Sandbox(program, functions, limits)``, or anything with its surface
#: (load, run, timed, out_of_time, output, isolation, a context manager), e.g.
#: ``grader.authoring.TrustedSandbox`` answering for a simulated student
SandboxFactory = Callable[[Program, list[str], Limits], Any]


def grade(
    assignment: Assignment, submission: Submission, *, seed: int, isolation: str = "strict", sandbox: SandboxFactory = Sandbox
) -> GradingResult:
    """Grade ``submission``; a student's failure of any kind ends up in the result, never raised.

    ``isolation`` is ``strict`` (refuse, with IsolationError, to run without namespaces or the
    Landlock path) or ``none`` (run with what the machine has, even a plain process); the result
    records the level. A package the rubric declares that the grader's Python lacks is
    PackagesMissing, raised like IsolationError: the instructor's setup, not the student's.
    """
    level = require(isolation).level
    environment.require(assignment.rubric)
    try:
        return _grade(assignment, submission, seed, level, sandbox)
    except AssignmentFault as exc:  # the assignment's code, outside any check
        log.warning("grading %s: %s", submission.filename, exc)
        return not_graded(assignment, "error", assignment_failed(exc), seed, isolation=level)
    except Exception as exc:  # a fault of the grader's own must not lose the submission
        log.exception("grading %s failed", submission.filename)
        return not_graded(assignment, "error", grader_failed(exc), seed, isolation=level)


def grader_failed(exc: BaseException) -> str:
    """What a submission's result says when the grader itself failed on it."""
    reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:200]
    return f"the grader failed on this submission ({reason}); ask your instructor to grade it again."


def assignment_failed(fault: AssignmentFault) -> str:
    """What a submission's result says when the assignment's own code failed on it."""
    return (
        f"the assignment's {fault.what} failed ({fault.reason}): not a mistake of yours; "
        "your instructor has to fix the assignment, then grade again."
    )


def _grade(assignment: Assignment, submission: Submission, seed: int, level: str, sandbox: SandboxFactory) -> GradingResult:
    rubric = assignment.rubric
    try:
        program = replace(to_program(submission), imports=environment.imports(rubric.packages, rubric.preload))
    except Unloadable as exc:
        return not_graded(assignment, "error", f"{submission.filename}: {exc}", seed, isolation=level)
    with sandbox(program, list(rubric.functions), rubric.limits) as running:
        return run_checks(assignment, running, seed, level)


def run_checks(assignment: Assignment, sandbox: Any, seed: int, level: str = "") -> GradingResult:
    """Load the submission in ``sandbox`` (open; the caller closes it) and run the rubric's checks."""
    rubric = assignment.rubric
    report = sandbox.load()
    level = sandbox.isolation or level
    if report.status != "ok":
        return not_graded(assignment, report.status, report.message, seed, report.warnings, sandbox.output, level)
    ctx = Context(assignment, sandbox, report, seed)
    try:
        ctx.prefetch(rubric.checks)
    except AssignmentFault:
        pass  # each check that needs what failed reports it
    checks = tuple(run_check(ctx, check) for check in rubric.checks)
    output = sandbox.output
    out_of_time = sandbox.out_of_time
    score = sum(c.score for c in checks)
    missing = [f for f, state in report.functions.items() if state != "ok"]
    message = f"{score:g} of {rubric.max_score:g} points."
    if missing:
        message += f" Not defined: {', '.join(missing)}."
    if out_of_time:
        message += f" It used its total time of {rubric.limits.total_timeout:g} s: what was left did not run."
    if report.warnings:
        message += f" {len(report.warnings)} warning(s) while loading."
    faulted = sum(1 for c in checks if c.errors.get(ASSIGNMENT_FAILED))
    if faulted:
        message += (
            f" The assignment itself failed on {faulted} check(s): not a mistake of yours; your instructor has to "
            "fix the assignment, then grade again."
        )
    return GradingResult("graded", message, seed, checks, rubric.max_score, report.warnings, output, level)


def not_graded(
    assignment: Assignment,
    status: str,
    message: str,
    seed: int,
    warnings: tuple[str, ...] = (),
    output: str = "",
    isolation: str = "",
) -> GradingResult:
    """Every check scores 0 with the reason, so the gradebook has a row for each."""
    checks = tuple(
        failed(check, "not graded: {student}", status=status, student_text=message) for check in assignment.rubric.checks
    )
    return GradingResult(status, message, seed, checks, assignment.rubric.max_score, warnings, output, isolation)
