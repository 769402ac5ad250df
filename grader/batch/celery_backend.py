"""The Celery backend: workers on any number of machines grade from a shared queue.

``grade worker`` starts a worker (``start_worker``); ``grade batch --backend celery`` puts every submission on the
queue (content included, so workers need no shared file system, only the course directory
and the database) and follows the gradebook until every one is finished.

Delivery is at least once: tasks are acknowledged only after they finish (``acks_late``), and a
task whose worker died is delivered again (``task_reject_on_worker_lost``; with Redis, tasks of
a worker killed outright come back after the visibility timeout). Writes are idempotent: a
task claims its submission by batch key, so a second delivery finds the first one's row and
records nothing twice.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kombu.utils.url
from celery import Celery

from grader.batch.claims import (
    ALREADY_GRADED,
    NOT_RECORDED,
    Done,
    Summary,
    batch_key,
    claim_and_grade,
    record_failure,
)
from grader.batch.directory import discover
from grader.course import Assignment
from grader.db import Gradebook
from grader.errors import GraderError
from grader.grading import grader_failed
from grader.loading import KINDS, Submission, read_submission
from grader.results import SubmissionStatus
from grader.settings import Settings, current
from grader.workspace import Workspace

POLL_SECONDS = 0.5

log = logging.getLogger(__name__)

app = Celery("grader")


def configure(settings: Settings) -> Celery:
    """Point the app at the settings' broker. The visibility timeout (Redis) must be longer than
    any grading, so that a slow task is not delivered twice while it still runs."""
    app.conf.update(
        broker_url=settings.broker_url,
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": settings.visibility_timeout},
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        worker_hijack_root_logger=False,
    )
    return app


@app.task(name="grader.grade")
def grade_task(assignment: str, student: str, filename: str, content: str, rubric_version: str, isolation: str) -> dict[str, Any]:
    """Grade one submission in this worker's sandbox and store it in the shared gradebook.

    Whatever goes wrong, the submission's row under the batch's key ends finished (the batch
    waits for it): with an ``error`` result when it cannot be graded here. Only a gradebook
    that cannot be written leaves it pending.
    """
    loaded, gradebook = _worker_state(assignment)
    submission = Submission(filename, base64.b64decode(content), KINDS.get(Path(filename).suffix.lower(), "python"))
    start = time.monotonic()
    try:
        if loaded.version != rubric_version:
            # Graded under this worker's rubric, it would be recorded under another key than the
            # one the batch waits for: it is recorded under the batch's as not graded.
            log.warning("refusing %s of %s: this worker has %s at version %s, the batch %s", filename, student, assignment, loaded.version, rubric_version)
            message = f"the worker that took this submission has another version of the rubric of {assignment}; ask your instructor to grade it again."
            done = record_failure(
                gradebook, assignment=assignment, rubric_version=rubric_version, max_score=loaded.rubric.max_score,
                student=student, submission=submission, message=message,
            )
        else:
            done = claim_and_grade(gradebook, loaded, student, submission, isolation)
    except Exception as exc:
        log.exception("grading %s of %s failed", filename, student)
        record_failure(
            gradebook, assignment=assignment, rubric_version=rubric_version, max_score=loaded.rubric.max_score,
            student=student, submission=submission, message=grader_failed(exc),
        )
        raise
    return {"student": done.student, "status": done.status, "score": done.score, "seconds": time.monotonic() - start}


_state: dict[str, Any] = {}


def _require_broker(celery: Celery) -> None:
    """Fail with one line, before anything is queued, when the broker cannot be reached."""
    url = celery.conf.broker_url
    try:
        with celery.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1)
    except Exception as exc:  # noqa: BLE001 - kombu raises many kinds for an unreachable broker
        shown = kombu.utils.url.maybe_sanitize_url(url)
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise GraderError(f"cannot reach the Celery broker at {shown} ({reason}); start it or set GRADE_BROKER_URL.") from None


def _worker_state(assignment: str) -> tuple[Assignment, Gradebook]:
    """This worker process's assignment and gradebook connection, opened at its first task."""
    workspace: Workspace = _state["workspace"]
    if "gradebook" not in _state:
        _state["gradebook"] = workspace.gradebook(upgrade=False)
    return workspace.assignment(assignment), _state["gradebook"]


def start_worker(settings: Settings, course: Path, concurrency: int | None) -> None:
    """Run a worker in this process until it is stopped. Its pool's processes are forked from
    this one and inherit the workspace set here."""
    _state["workspace"] = Workspace(Path(course).resolve(), settings.db_url)
    log.info("worker for the course at %s, broker %s", _state["workspace"].course.root, kombu.utils.url.maybe_sanitize_url(settings.broker_url))
    args = ["worker", "--loglevel", "INFO", "--pool", "prefork", "--without-gossip", "--without-mingle"]
    if concurrency:
        args += ["--concurrency", str(concurrency)]
    configure(settings).worker_main(args)


def run_celery_batch(
    directory: Path | str,
    *,
    assignment: str,
    workspace: Workspace,
    isolation: str = "strict",
    progress: Callable[[Done, int, int], None] | None = None,
    settings: Settings | None = None,
) -> Summary:
    """Enqueue every submission in ``directory`` and wait until ``workspace``'s gradebook has
    them all. The broker is the one ``settings`` name (default: ``grader.settings.current()``)."""
    loaded = workspace.assignment(assignment)
    jobs, skipped = discover(Path(directory))
    summary = Summary(assignment, len(jobs), skipped)
    _require_broker(configure(settings or current()))
    start = time.monotonic()
    submissions = {}
    for job in jobs:
        try:
            submission = read_submission(job.path)
        except GraderError as exc:
            summary.done.append(Done(job.student, NOT_RECORDED, 0.0, loaded.rubric.max_score, None, str(exc)))
            continue
        submissions[batch_key(assignment, job.student, submission.sha256, loaded.version)] = (job.student, submission)
    waiting: dict[str, str] = {}  # batch key -> student
    with workspace.gradebook() as gradebook:
        before = gradebook.batch_status(list(submissions))
        for key, (student, submission) in submissions.items():
            if key in before and before[key][0] != SubmissionStatus.PENDING:
                summary.done.append(Done(student, ALREADY_GRADED, before[key][1] or 0.0, loaded.rubric.max_score, before[key][2]))
                continue
            waiting[key] = student
            content = base64.b64encode(submission.content).decode()
            grade_task.apply_async(args=[assignment, student, submission.filename, content, loaded.version, isolation])
        log.info("queued %d submissions of %s (%d already graded)", len(waiting), assignment, len(summary.done))
        while waiting:
            for key, (status, score, submission_id) in gradebook.batch_status(list(waiting)).items():
                if status == SubmissionStatus.PENDING:
                    continue
                done = Done(waiting.pop(key), status, score or 0.0, loaded.rubric.max_score, submission_id)
                summary.done.append(done)
                if progress:
                    progress(done, len(summary.done), len(jobs))
            if waiting:
                time.sleep(POLL_SECONDS)
    summary.wall_seconds = time.monotonic() - start
    return summary
