"""Grading one submission: load it in a sandbox, run the rubric's checks, score them."""

from __future__ import annotations

import logging
from dataclasses import replace

from grader import environment
from grader.checks.context import Context
from grader.checks.registry import run_check
from grader.checks.verdicts import failed
from grader.course import Assignment
from grader.loading import Submission, Unloadable, to_program
from grader.results import GradingResult
from grader.sandbox.isolation import require
from grader.sandbox.process import Sandbox

log = logging.getLogger(__name__)


def grade(assignment: Assignment, submission: Submission, *, seed: int, isolation: str = "strict") -> GradingResult:
    """Grade ``submission``; a student's failure of any kind ends up in the result, never raised.

    ``isolation`` is ``strict`` (refuse, with IsolationError, to run without namespaces or the
    Landlock path) or ``none`` (run with what the machine has, even a plain process); the result
    records the level. A package the rubric declares that the grader's Python lacks is
    PackagesMissing, raised like IsolationError: the instructor's setup, not the student's.
    """
    level = require(isolation).level
    environment.require(assignment.rubric)
    try:
        return _grade(assignment, submission, seed, level)
    except Exception as exc:  # a fault of the grader's own must not lose the submission
        log.exception("grading %s failed", submission.filename)
        return not_graded(assignment, "error", grader_failed(exc), seed, isolation=level)


def grader_failed(exc: BaseException) -> str:
    """What a submission's result says when the grader itself failed on it."""
    reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:200]
    return f"the grader failed on this submission ({reason}); ask your instructor to grade it again."


def _grade(assignment: Assignment, submission: Submission, seed: int, level: str) -> GradingResult:
    rubric = assignment.rubric
    try:
        program = replace(to_program(submission), imports=environment.imports(rubric.packages))
    except Unloadable as exc:
        return not_graded(assignment, "error", f"{submission.filename}: {exc}", seed, isolation=level)
    with Sandbox(program, list(rubric.functions), rubric.limits) as sandbox:
        report = sandbox.load()
        level = sandbox.isolation or level
        if report.status != "ok":
            return not_graded(assignment, report.status, report.message, seed, report.warnings, sandbox.output, level)
        ctx = Context(assignment, sandbox, report, seed)
        ctx.prefetch(rubric.checks)
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
