"""Claiming and grading one submission of a batch, idempotently: what both backends share,
and with them ``grade serve``, whose uploads are graded by id (``grade_by_id``).

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
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import PurePath
from typing import Any

from grader.batch.directory import Skipped
from grader.course import Assignment
from grader.db import Gradebook
from grader.db.gradebook import Claim, Holder
from grader.db.records import Recorded
from grader.errors import AlreadyFinished, GraderError, NotFound, UnstorableResult
from grader.grading import grade, grader_failed, not_graded
from grader.leases import Heartbeat, Lease, readable
from grader.loading import KINDS, Submission
from grader.results import GradingResult, SubmissionStatus

log = logging.getLogger(__name__)

#: how much lower than a server's the scheduling priority of a grading process is (grade
#: serve's own and grade worker's; their sandboxes inherit it): grading yields the processors
#: to the requests, the database and the broker beside it
GRADING_NICENESS = 10

#: ``Done.status`` of a submission the gradebook held finished before this grading
ALREADY_GRADED = "already graded"
#: ``Done.status`` of a submission that could not even be read (``Done.note`` says why)
NOT_RECORDED = "not recorded"
#: ``Done.status`` of a submission another live grader holds (a task delivered twice)
HELD_ELSEWHERE = "held elsewhere"
#: gradings of one submission that may be interrupted before it is closed as an ``error``
MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class Done:
    student: str
    status: str  # a submission status, ALREADY_GRADED or NOT_RECORDED
    score: float
    max_score: float
    submission_id: int | None
    note: str = ""
    seconds: float = 0.0  # wall time of claiming, grading and storing it


@dataclass(frozen=True)
class Unfinished:
    """A claimed submission the batch stopped waiting for, and why."""

    student: str
    submission_id: int | None
    reason: str


@dataclass
class Summary:
    assignment: str
    total: int
    skipped: list[Skipped]
    done: list[Done] = field(default_factory=list)
    wall_seconds: float = 0.0
    unfinished: list[Unfinished] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The summary of ``grade batch --json``: ``graded`` counts what this run recorded (any
        status), ``already_graded`` what the gradebook held before, ``not_recorded`` what it
        could not record (with ``not_recorded_reasons``); ``counts`` and the mean score are of the
        recorded ones."""
        lost = [d for d in self.done if d.status == NOT_RECORDED]
        recorded = [d for d in self.done if d.status != NOT_RECORDED]
        scores = [d.score for d in recorded]
        graded_now = [d for d in recorded if d.status != ALREADY_GRADED]
        return {
            "assignment": self.assignment,
            "submissions": self.total,
            "graded": len(graded_now),
            "already_graded": len(recorded) - len(graded_now),
            "not_recorded": len(lost),
            "counts": dict(Counter(d.status for d in recorded)),
            "skipped": [{"path": s.path, "reason": s.reason} for s in self.skipped],
            "not_recorded_reasons": [{"student": d.student, "reason": d.note} for d in lost],
            "unfinished": [{"student": u.student, "submission_id": u.submission_id, "reason": u.reason} for u in self.unfinished],
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


def claim_and_grade(
    gradebook: Gradebook,
    assignment: Assignment,
    student: str,
    submission: Submission,
    isolation: str,
    lease: Lease,
    *,
    queued_by: str | None = None,
    wait: bool = True,
) -> Done:
    """Claim ``submission`` under its batch key and grade it unless it was graded before
    (``grade_recorded``)."""
    claimed = claim(gradebook, assignment.name, assignment.version, student, submission, lease)
    recorded = Recorded(claimed.id, student, assignment.name, submission.filename, submission.content, claimed.seed, claimed.status, assignment.version)
    return grade_recorded(gradebook, assignment, recorded, isolation, lease, queued_by=queued_by, wait=wait)


def grade_by_id(
    gradebook: Gradebook,
    assignment_of: Callable[[str], Assignment],
    submission_id: int,
    isolation: str,
    lease: Lease,
    *,
    queued_by: str | None = None,
) -> Done:
    """Grade the submission recorded as ``submission_id`` (an upload to ``grade serve``), its
    file read from the gradebook, unless it is finished or another live grader holds it.

    ``assignment_of(name)`` loads the course's assignment (again, when its files were edited).
    A row recorded under another rubric version than the one loaded here (the assignment was
    edited since) is graded under this one, and stored with its version. A row of an assignment
    the course no longer loads is finished as an ``error`` saying so (to the student, without
    the course's paths or the grader's machine: those are logged).
    """
    recorded = gradebook.recorded(submission_id)
    if recorded is None:
        raise NotFound(f"Submission {submission_id} is not in the gradebook.")
    try:
        assignment = assignment_of(recorded.assignment)
    except GraderError as exc:
        log.error("%s cannot grade submission %d: %s", readable(lease.owner), submission_id, exc)
        message = f"the grader failed to load the assignment {recorded.assignment!r}; ask your instructor to grade it again."
        return refuse_recorded(gradebook, recorded, None, message, lease, queued_by=queued_by)
    if assignment.version != recorded.rubric_version and recorded.status == SubmissionStatus.PENDING:
        # The assignment was edited since the upload: it is graded as the course is now, which
        # is what its instructor means (an upload has no batch key tied to a version).
        log.info("submission %d was recorded under rubric version %s of %s; grading it under version %s", submission_id,
                 recorded.rubric_version, assignment.name, assignment.version)
        gradebook.set_rubric_version(submission_id, assignment.version)
        recorded = replace(recorded, rubric_version=assignment.version)
    return grade_recorded(gradebook, assignment, recorded, isolation, lease, queued_by=queued_by, wait=False)


def grade_recorded(
    gradebook: Gradebook,
    assignment: Assignment,
    recorded: Recorded,
    isolation: str,
    lease: Lease,
    *,
    queued_by: str | None = None,
    wait: bool = True,
) -> Done:
    """Grade the recorded submission ``recorded`` unless it was graded before: what a batch's
    claim and a server's upload share.

    The grading holds the submission's lease (``lease``, renewed by a heartbeat while it
    grades), so that two graders never grade it at once and one that is killed leaves it for
    another to take over. When another live grader holds it, this one waits until that one
    finishes or stops (``wait``), or leaves it to that one (``ALREADY_GRADED`` is then not yet
    true: the Celery batch follows the gradebook, not this answer). A submission whose gradings
    were interrupted ``MAX_ATTEMPTS`` times is closed as an ``error`` instead of taken again.
    Once taken, the row is finished whatever happens: an exception while grading it is
    recorded as its ``error`` result (only an unusable gradebook leaves it pending, and its
    lease then runs out).
    """
    student, filename, max_score = recorded.student, recorded.filename, assignment.rubric.max_score
    status = recorded.status
    while True:
        if status != SubmissionStatus.PENDING:
            log.info("%s of %s is already graded (submission %d, %s)", filename, student, recorded.id, status)
            return _already(gradebook, recorded.id, student, max_score)
        holder = gradebook.take(recorded.id, lease, queued_by=queued_by)
        if holder.taken:
            break
        if holder.status == SubmissionStatus.PENDING and not wait:
            log.info("%s of %s is being graded by %s", filename, student, readable(holder.owner or ""))
            return Done(student, HELD_ELSEWHERE, 0.0, max_score, recorded.id)
        if holder.status == SubmissionStatus.PENDING:
            _pause_for(holder)
        status = holder.status
    if holder.attempts > MAX_ATTEMPTS:
        log.error("submission %d of %s was interrupted %d times; closing it", recorded.id, student, holder.attempts - 1)
        message = f"grading was interrupted {holder.attempts - 1} times (the graders stopped); ask your instructor to grade it again."
        return _finish(gradebook, recorded.id, student, filename, GradingResult("error", message, recorded.seed, (), max_score))
    log.debug("grading %s of %s (submission %d)", filename, student, recorded.id)
    submission = Submission(filename, recorded.content, KINDS.get(PurePath(filename).suffix.lower(), "python"))
    try:
        with Heartbeat(gradebook, lease):
            result = grade(assignment, submission, seed=recorded.seed, isolation=isolation)
    except Exception as exc:  # one submission must never stop the others
        log.exception("grading %s of %s failed (submission %d)", filename, student, recorded.id)
        result = not_graded(assignment, "error", grader_failed(exc), recorded.seed)
    return _finish(gradebook, recorded.id, student, filename, result)


def _pause_for(holder: Holder) -> None:
    """Wait a little for a live holder: until its lease would run out, at most a second."""
    left = (holder.expires - datetime.now(UTC)).total_seconds() if holder.expires else 0.0
    time.sleep(min(1.0, max(0.05, left)))


def record_failure(
    gradebook: Gradebook,
    *,
    assignment: str,
    rubric_version: str,
    max_score: float,
    student: str,
    submission: Submission,
    message: str,
    lease: Lease,
    queued_by: str | None = None,
) -> Done:
    """Record ``submission`` under its batch key as an ``error`` saying ``message`` (for the
    student), unless it was finished before or another live grader holds it: for a task that
    cannot grade it at all."""
    claimed = claim(gradebook, assignment, rubric_version, student, submission, lease)
    recorded = Recorded(claimed.id, student, assignment, submission.filename, submission.content, claimed.seed, claimed.status, rubric_version)
    return refuse_recorded(gradebook, recorded, max_score, message, lease, queued_by=queued_by)


def refuse_recorded(
    gradebook: Gradebook, recorded: Recorded, max_score: float | None, message: str, lease: Lease, *, queued_by: str | None = None
) -> Done:
    """Finish ``recorded`` as an ``error`` saying ``message``, unless it was finished before or
    another live grader holds it."""
    top = max_score or 0.0
    if recorded.status != SubmissionStatus.PENDING:
        return _already(gradebook, recorded.id, recorded.student, top)
    holder = gradebook.take(recorded.id, lease, queued_by=queued_by)
    if not holder.taken:
        return Done(recorded.student, HELD_ELSEWHERE if holder.status == SubmissionStatus.PENDING else ALREADY_GRADED, 0.0, top, recorded.id)
    return _finish(gradebook, recorded.id, recorded.student, recorded.filename, GradingResult("error", message, recorded.seed, (), top))


def claim(gradebook: Gradebook, assignment: str, rubric_version: str, student: str, submission: Submission, lease: Lease | None) -> Claim:
    """The row of ``submission`` under its batch key, recorded (leased to ``lease``) if new."""
    return gradebook.claim_submission(
        batch_key=batch_key(assignment, student, submission.sha256, rubric_version),
        student=student,
        assignment=assignment,
        filename=submission.filename,
        content=submission.content,
        seed=int.from_bytes(os.urandom(8), "big") >> 1,
        rubric_version=rubric_version,
        lease=lease,
    )


def _already(gradebook: Gradebook, submission_id: int, student: str, max_score: float) -> Done:
    stored = gradebook.get(submission_id)
    score = stored.score if stored and stored.score is not None else 0.0
    return Done(student, ALREADY_GRADED, score, max_score, submission_id)


def _finish(gradebook: Gradebook, submission_id: int, student: str, filename: str, result: GradingResult) -> Done:
    """Store ``result``; one the gradebook refuses (a fault of the grader's) becomes a plain
    ``error`` result, so that the row is finished all the same."""
    try:
        try:
            gradebook.finish_submission(submission_id, result)
        except UnstorableResult as exc:
            log.exception("the result of submission %d of %s cannot be stored", submission_id, student)
            result = GradingResult("error", grader_failed(exc), result.seed, (), result.max_score)
            gradebook.finish_submission(submission_id, result)
    except AlreadyFinished:  # finished meanwhile by another worker (a redelivered task)
        log.warning("submission %d of %s was finished by another worker first; this grading is dropped", submission_id, student)
        return Done(student, ALREADY_GRADED, result.score, result.max_score, submission_id)
    log.info("graded %s of %s: %s, %g of %g (submission %d)", filename, student, result.status, result.score, result.max_score, submission_id)
    return Done(student, result.status, result.score, result.max_score, submission_id)
