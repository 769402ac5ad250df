"""Grading a submission and storing it: the API behind ``grade submit``."""

from __future__ import annotations

import secrets
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from grader import environment, students
from grader.errors import DatabaseError
from grader.grading import grade
from grader.leases import Heartbeat, Lease
from grader.loading import read_submission
from grader.results import CheckResult, GradingResult
from grader.rubric import Rubric
from grader.sandbox.isolation import require
from grader.settings import current
from grader.visibility import redact_all, reproduction, sentence
from grader.workspace import Workspace


@dataclass(frozen=True)
class Submitted:
    submission_id: int
    student: str
    assignment: str
    result: GradingResult
    #: the rubric it was graded under: its notation and hidden flags shape every output
    rubric: Rubric | None = None
    #: started days after the student's due date, and the points that cost (see grader.policy)
    late_days: int = 0
    penalty: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """The JSON contract of ``grade submit --json``; hidden checks are redacted."""
        checks = redact_all(self.result.checks, self.rubric)
        return {
            "submission_id": self.submission_id,
            "student": self.student,
            "assignment": self.assignment,
            "status": self.result.status,
            "message": self.result.message,
            "score": self.result.score,
            "max_score": self.result.max_score,
            "isolation": self.result.isolation,
            "checks": [
                {
                    "id": c.id,
                    "status": c.status,
                    "score": c.score,
                    "max_score": c.max_score,
                    "message": sentence(c, self.rubric),
                    "diagnoses": list(c.codes),
                    "inputs": _inputs(c),
                }
                for c in checks
            ],
        }


def submit(
    path: Path | str,
    *,
    assignment: str,
    student: str,
    course: Path | str = ".",
    db_url: str | None = None,
    seed: int | None = None,
    isolation: str = "strict",
    submitted_at: datetime | None = None,
) -> Submitted:
    """Grade the file at ``path`` for ``student`` and store the result.

    Operator mistakes (a missing file, an unknown assignment, a broken rubric, an unusable
    database) raise GraderError before anything is recorded. Once recorded, the submission
    always ends with a stored result: its own, or, if grading is interrupted, an ``error``
    saying so (stored here, or by the next command if this process is killed or the database
    cannot be written).

    ``submitted_at`` (aware) is when the student submitted, if not now: lateness counts from it
    (Gradescope says when, and may grade again long after).
    """
    students.require(student)
    workspace = Workspace(course, db_url)
    loaded = workspace.assignment(assignment)
    submission = read_submission(Path(path))
    require(isolation)  # refuse before anything is recorded
    environment.require(loaded.rubric)
    seed = secrets.randbits(63) if seed is None else seed
    lease = Lease.mine("grade submit", current().lease_seconds)
    policy = loaded.rubric.policy
    with workspace.gradebook() as gradebook:
        submitted_at = submitted_at or datetime.now(UTC)
        late_days = policy.late_days(submitted_at, gradebook.extension_days(student, assignment)) if policy.due else 0
        submission_id = gradebook.begin_submission(
            student=student,
            assignment=assignment,
            filename=submission.filename,
            content=submission.content,
            seed=seed,
            rubric_version=loaded.version,
            lease=lease,
            submitted_at=submitted_at,
            late_days=late_days,
            late_penalty_per_day=policy.late_penalty_per_day,
        )
        try:
            # The heartbeat keeps the submission ours while it is graded; if this process is
            # killed, the next command closes it as interrupted (Workspace.tidy).
            with _terminate_as_interrupt(), Heartbeat(gradebook, lease):
                result = grade(loaded, submission, seed=seed, isolation=isolation)
        except BaseException as exc:
            reason = "interrupted" if isinstance(exc, KeyboardInterrupt) else f"stopped by {type(exc).__name__}: {exc}"
            gradebook.finish_submission(
                submission_id,
                GradingResult("error", f"grading was {reason}; submit again.", seed, (), loaded.rubric.max_score),
            )
            raise
        try:
            gradebook.finish_submission(submission_id, result)
        except DatabaseError as exc:
            raise DatabaseError(
                f"{str(exc).rstrip('.')}. Submission {submission_id} was graded ({result.status}, {result.score:g} of "
                f"{result.max_score:g}) but not stored; the next command closes it as interrupted: submit again."
            ) from exc
    return Submitted(submission_id, student, assignment, result, loaded.rubric, late_days, policy.penalty(result.score, late_days))


def _inputs(check: CheckResult) -> dict[str, Any] | None:
    """The inputs that reproduce a failed visible check's case, with the code written out
    (``grader.checks.reproduce``), or None (hidden, passed, a large case)."""
    code = reproduction(check)
    return {**check.errors["inputs"], "code": code} if code else None


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM behaves like Ctrl-C, so a terminated grading still stores its result."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
