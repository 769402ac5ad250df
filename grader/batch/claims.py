"""Claiming and grading one submission of a batch, idempotently: what both backends share.

Every submission is claimed in the gradebook under its batch key (assignment, student,
content, rubric version) before it is graded, so a batch is resumable and idempotent: a rerun
skips what was finished, regrades what was left pending by an interrupted run, and never
records a submission twice. ``Done`` is the outcome of one submission, ``Summary`` of a batch.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from grader.batch.directory import Skipped
from grader.course import Assignment
from grader.db import Gradebook
from grader.errors import AlreadyFinished
from grader.grading import grade
from grader.loading import Submission
from grader.results import SubmissionStatus

log = logging.getLogger(__name__)

#: ``Done.status`` of a submission the gradebook held finished before this grading
ALREADY_GRADED = "already graded"
#: ``Done.status`` of a submission that could not even be read (``Done.note`` says why)
NOT_RECORDED = "not recorded"


@dataclass(frozen=True)
class Done:
    student: str
    status: str  # a submission status, ALREADY_GRADED or NOT_RECORDED
    score: float
    max_score: float
    submission_id: int | None
    note: str = ""
    seconds: float = 0.0  # wall time of claiming, grading and storing it


@dataclass
class Summary:
    assignment: str
    total: int
    skipped: list[Skipped]
    done: list[Done] = field(default_factory=list)
    wall_seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        scores = [d.score for d in self.done]
        graded_now = [d for d in self.done if d.status != ALREADY_GRADED]
        return {
            "assignment": self.assignment,
            "submissions": self.total,
            "graded": len(graded_now),
            "already_graded": len(self.done) - len(graded_now),
            "counts": dict(Counter(d.status for d in self.done)),
            "skipped": [{"path": s.path, "reason": s.reason} for s in self.skipped],
            "not_recorded": [{"student": d.student, "reason": d.note} for d in self.done if d.note],
            "mean_score": sum(scores) / len(scores) if scores else None,
            "wall_seconds": round(self.wall_seconds, 3),
            "seconds_per_submission": percentiles([d.seconds for d in graded_now if d.seconds]),
            "submissions_per_second": round(len(graded_now) / self.wall_seconds, 2) if self.wall_seconds else None,
        }


def percentiles(values: list[float]) -> dict[str, float] | None:
    """The median, 90th and 99th percentile and the maximum of ``values``, or None if empty."""
    if not values:
        return None
    ordered = sorted(values)
    picked = {f"p{round(100 * q)}": ordered[min(len(ordered) - 1, int(q * len(ordered)))] for q in (0.5, 0.9, 0.99)}
    return {name: round(value, 4) for name, value in {**picked, "max": ordered[-1]}.items()}


def batch_key(assignment: str, student: str, sha256: str, rubric_version: str) -> str:
    """The key a batch claims a submission under: the same file, rubric and student, the same key."""
    return hashlib.sha256(json.dumps([assignment, student, sha256, rubric_version]).encode()).hexdigest()


def claim_and_grade(gradebook: Gradebook, assignment: Assignment, student: str, submission: Submission, isolation: str) -> Done:
    """Claim ``submission`` under its batch key and grade it unless it was graded before.

    Safe to run twice for the same submission at once (a queue redelivering a task): the
    claim finds one row, and only one grading can finish it.
    """
    claim = gradebook.claim_submission(
        batch_key=batch_key(assignment.name, student, submission.sha256, assignment.version),
        student=student,
        assignment=assignment.name,
        filename=submission.filename,
        content=submission.content,
        seed=int.from_bytes(os.urandom(8), "big") >> 1,
        rubric_version=assignment.version,
    )
    if claim.status != SubmissionStatus.PENDING:
        log.info("%s of %s is already graded (submission %d, %s)", submission.filename, student, claim.id, claim.status)
        stored = gradebook.get(claim.id)
        score = stored.score if stored and stored.score is not None else 0.0
        return Done(student, ALREADY_GRADED, score, assignment.rubric.max_score, claim.id)
    log.debug("grading %s of %s (submission %d)", submission.filename, student, claim.id)
    result = grade(assignment, submission, seed=claim.seed, isolation=isolation)
    try:
        gradebook.finish_submission(claim.id, result)
    except AlreadyFinished:  # finished meanwhile by another worker (a redelivered task)
        log.warning("submission %d of %s was finished by another worker first; this grading is dropped", claim.id, student)
        return Done(student, ALREADY_GRADED, result.score, result.max_score, claim.id)
    log.info("graded %s of %s: %s, %g of %g (submission %d)", submission.filename, student, result.status, result.score, result.max_score, claim.id)
    return Done(student, result.status, result.score, result.max_score, claim.id)
