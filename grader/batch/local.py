"""The local backend: a pool of worker processes on this machine, one sandbox each."""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from grader.batch.claims import NOT_RECORDED, Done, Summary, claim_and_grade
from grader.batch.directory import Job, Skipped
from grader.course import Assignment, Course
from grader.db import Gradebook
from grader.errors import GraderError
from grader.leases import Lease
from grader.loading import read_submission
from grader.pool import MAX_HANDOUTS, Pool, serve
from grader.settings import current

log = logging.getLogger(__name__)


def run_local_batch(
    found: tuple[list[Job], list[Skipped]],
    *,
    assignment: str,
    course: Path | str,
    db_url: str,
    workers: int | None = None,
    isolation: str = "strict",
    progress: Callable[[Done, int, int], None] | None = None,
) -> Summary:
    """Grade the submissions ``found`` in a directory (``discover``: the jobs, and what is
    skipped) with ``workers`` processes (default: one per core) into the gradebook at
    ``db_url``, whose schema is already up to date."""
    jobs, skipped = found
    summary = Summary(assignment, len(jobs), skipped)
    workers = workers or os.cpu_count() or 1
    log.info("batch of %d submissions of %s (%d skipped) with %d worker processes", len(jobs), assignment, len(skipped), workers)
    start = time.monotonic()
    # Leaving terminates the workers, on Ctrl-C too: a grading cut short stays pending in the
    # gradebook and the rerun grades it; nothing that finished is lost. A worker that dies is
    # replaced, and its submission handed to another (``grader.pool``): no batch waits forever.
    settings = current()
    initargs = (str(course), assignment, db_url, settings.db_retry_seconds, isolation, settings.lease_seconds)
    pool = Pool(multiprocessing.get_context("fork"), workers, _work, initargs, "batch worker", give_up_after=3 * workers)
    try:
        for job in jobs:
            pool.put((job.student, str(job.path)))
        while len(summary.done) < len(jobs):
            finished = pool.step(None)
            for student, path in pool.abandoned:
                why = f"{path}: not graded: {MAX_HANDOUTS} worker processes died while grading it; grade it again."
                finished.append(Done(student, NOT_RECORDED, 0.0, Course(course).assignment(assignment).rubric.max_score, None, why))
            pool.abandoned.clear()
            for done in finished:
                summary.done.append(done)
                if progress:
                    progress(done, len(summary.done), len(jobs))
    finally:
        pool.close()
        pool.release()
        summary.wall_seconds = time.monotonic() - start
        log.info("batch of %s: %d of %d done in %.1f s", assignment, len(summary.done), len(jobs), summary.wall_seconds)
    return summary


# -- in each worker process ----------------------------------------------------------------

_worker: dict[str, Any] = {}


def _work(connection: Any, course: str, assignment: str, url: str, retry_seconds: float, isolation: str, lease_seconds: float) -> None:
    """A worker process: grade each (student, path) the batch hands it (``grader.pool``)."""
    # Ctrl-C is the batch's to handle (it stops the workers); no worker prints a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _worker.update(
        assignment=Course(course).assignment(assignment),
        gradebook=Gradebook(url, upgrade=False, retry_seconds=retry_seconds),
        isolation=isolation,
        lease=Lease.mine("grade batch", lease_seconds),
    )
    serve(connection, _grade)


def _grade(job: tuple[str, str]) -> Done:
    student, path = job
    assignment: Assignment = _worker["assignment"]
    start = time.monotonic()
    try:
        submission = read_submission(Path(path))
    except GraderError as exc:  # e.g. the file vanished or grew past the size limit
        log.warning("not recorded: %s", exc)
        return Done(student, NOT_RECORDED, 0.0, assignment.rubric.max_score, None, str(exc))
    try:
        done = claim_and_grade(_worker["gradebook"], assignment, student, submission, _worker["isolation"], _worker["lease"])
    except Exception as exc:  # e.g. the gradebook failed: the batch goes on with the others
        log.exception("%s of %s not recorded", path, student)
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
        return Done(student, NOT_RECORDED, 0.0, assignment.rubric.max_score, None, f"{path}: grading stopped with {reason}")
    return replace(done, seconds=time.monotonic() - start)
