"""Grading a whole class: ``grade batch``.

A directory holds one submission per student (``<student>.py``, ``<student>.ipynb``, or a
folder ``<student>/`` with one such file). Every file is claimed in the gradebook under a key of
(assignment, student, content, rubric version) before it is graded, so a batch is resumable and
idempotent: a rerun skips what was finished, regrades what was left pending by an interrupted
run, and never records a submission twice.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import time
from collections import Counter
import multiprocessing
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from grader.course import Assignment, Course
from grader.db import Gradebook, database_url
from grader.errors import AlreadyFinished, GraderError
from grader.grading import grade
from grader.loading import KINDS, Submission, read_submission
from grader.results import SubmissionStatus
from grader.sandbox.isolation import require


@dataclass(frozen=True)
class Job:
    student: str
    path: Path


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str


@dataclass(frozen=True)
class Done:
    student: str
    status: str  # a submission status, or "already graded"
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
        graded_now = [d for d in self.done if d.status != "already graded"]
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
            "seconds_per_submission": _percentiles([d.seconds for d in graded_now if d.seconds]),
            "submissions_per_second": round(len(graded_now) / self.wall_seconds, 2) if self.wall_seconds else None,
        }


def _percentiles(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    ordered = sorted(values)
    picked = {f"p{round(100 * q)}": ordered[min(len(ordered) - 1, int(q * len(ordered)))] for q in (0.5, 0.9, 0.99)}
    return {name: round(value, 4) for name, value in {**picked, "max": ordered[-1]}.items()}


def discover(directory: Path) -> tuple[list[Job], list[Skipped]]:
    """The submissions in ``directory``, and everything else in it, with the reason it is skipped."""
    if not directory.is_dir():
        raise GraderError(f"{directory} is not a directory of submissions.")
    jobs: dict[str, Job] = {}
    skipped: list[Skipped] = []
    for entry in sorted(directory.iterdir()):
        if entry.is_dir():
            inside = sorted(f for f in entry.iterdir() if f.is_file() and f.suffix.lower() in KINDS)
            if len(inside) != 1:
                reason = "no .py or .ipynb file inside" if not inside else f"{len(inside)} submission files inside; keep one"
                skipped.append(Skipped(entry.name + "/", reason))
                continue
            student, path = entry.name, inside[0]
        elif entry.suffix.lower() in KINDS:
            student, path = entry.stem, entry
        else:
            skipped.append(Skipped(entry.name, "not a .py file, a .ipynb notebook or a folder"))
            continue
        if student in jobs:
            skipped.append(Skipped(str(path.relative_to(directory)), f"a second submission of student {student!r}"))
            continue
        jobs[student] = Job(student, path)
    return list(jobs.values()), skipped


def batch_key(assignment: str, student: str, sha256: str, rubric_version: str) -> str:
    return hashlib.sha256(json.dumps([assignment, student, sha256, rubric_version]).encode()).hexdigest()


def run_batch(
    directory: Path | str,
    *,
    assignment: str,
    course: Path | str = ".",
    workers: int | None = None,
    backend: str = "local",
    db_url: str | None = None,
    isolation: str = "strict",
    progress: Callable[[Done, int, int], None] | None = None,
) -> Summary:
    """Grade every submission in ``directory``: with ``workers`` parallel sandboxes here
    (``local``), or by the Celery workers listening on ``GRADE_BROKER_URL`` (``celery``)."""
    if backend not in ("local", "celery"):
        raise GraderError(f"backend {backend!r} is not one of local, celery.")
    Course(course).assignment(assignment)  # usage errors before anything starts
    require(isolation)
    url = db_url or database_url(Path(course))
    if backend == "celery":
        from grader.queue import run_celery_batch

        with Gradebook(url):  # create or upgrade the schema before any worker writes
            pass
        return run_celery_batch(directory, assignment=assignment, course=course, db_url=url, isolation=isolation, progress=progress)
    with Gradebook(url):  # create or upgrade the schema once, before the workers
        pass
    jobs, skipped = discover(Path(directory))
    summary = Summary(assignment, len(jobs), skipped)
    workers = workers or os.cpu_count() or 1
    start = time.monotonic()
    # Leaving the block terminates the workers, on Ctrl-C too: a grading cut short stays
    # pending in the gradebook and the rerun grades it; nothing that finished is lost.
    with multiprocessing.Pool(workers, initializer=_start_worker, initargs=(str(course), assignment, url, isolation)) as pool:
        try:
            for done in pool.imap_unordered(_grade, [(job.student, str(job.path)) for job in jobs]):
                summary.done.append(done)
                if progress:
                    progress(done, len(summary.done), len(jobs))
        finally:
            summary.wall_seconds = time.monotonic() - start
    return summary


# -- in each worker process ----------------------------------------------------------------

_worker: dict[str, Any] = {}


def _start_worker(course: str, assignment: str, url: str, isolation: str) -> None:
    # Ctrl-C is the batch's to handle (it stops the workers); no worker prints a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _worker.update(assignment=Course(course).assignment(assignment), gradebook=Gradebook(url, upgrade=False), isolation=isolation)


def _grade(job: tuple[str, str]) -> Done:
    student, path = job
    assignment: Assignment = _worker["assignment"]
    start = time.monotonic()
    try:
        submission = read_submission(Path(path))
    except GraderError as exc:  # e.g. the file vanished or grew past the size limit
        return Done(student, "not recorded", 0.0, assignment.rubric.max_score, None, str(exc))
    done = grade_claimed(_worker["gradebook"], assignment, student, submission, _worker["isolation"])
    return replace(done, seconds=time.monotonic() - start)


def grade_claimed(gradebook: Gradebook, assignment: Assignment, student: str, submission: Submission, isolation: str) -> Done:
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
        stored = gradebook.get(claim.id)
        score = stored.score if stored and stored.score is not None else 0.0
        return Done(student, "already graded", score, assignment.rubric.max_score, claim.id)
    result = grade(assignment, submission, seed=claim.seed, isolation=isolation)
    try:
        gradebook.finish_submission(claim.id, result)
    except AlreadyFinished:  # finished meanwhile by another worker (a redelivered task)
        return Done(student, "already graded", result.score, result.max_score, claim.id)
    return Done(student, result.status, result.score, result.max_score, claim.id)
