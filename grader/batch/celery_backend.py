"""The Celery backend: workers on any number of machines grade from a shared queue.

``grade worker`` starts a worker (``start_worker``); ``grade batch --backend celery`` claims
every submission in the gradebook, puts each on the queue (content included, so workers need no
shared file system, only the course directory and the database) and follows the gradebook until
every one is finished (``follow``).

Delivery is at least once: tasks are acknowledged only after they finish (``acks_late``), and a
task whose worker died is delivered again (``task_reject_on_worker_lost``: at once on RabbitMQ;
on Redis after the visibility timeout). Writes are idempotent: a task claims its submission by
batch key and takes its lease, so a second delivery finds the first one's row and records
nothing twice.

The batch does not rely on the broker to keep every task: it knows every claim it made. A claim
still queued (leased to the batch) while the queue is empty, or one whose worker stopped (its
lease ran out), is queued again; a task that cannot grade records an ``error`` saying which
worker and why. So a broker that loses its queue, a worker killed outright, or a worker that
refuses every task ends in recorded results, and the batch ends: with every claim finished, or
naming those left unfinished (``--timeout``, no worker answering, or a claim queued
``MAX_REQUEUES`` times without a result).
"""

from __future__ import annotations

import base64
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import kombu.utils.url
from celery import Celery

from grader.batch.claims import (
    ALREADY_GRADED,
    GRADING_NICENESS,
    NOT_RECORDED,
    Done,
    Summary,
    Unfinished,
    batch_key,
    claim,
    claim_and_grade,
    grade_by_id,
    record_failure,
    refuse_recorded,
)
from grader.batch.directory import Job, Skipped
from grader.course import Assignment
from grader.db import Gradebook
from grader.db.gradebook import Claim, Pending
from grader.errors import GraderError
from grader.leases import Heartbeat, Lease, readable
from grader.loading import KINDS, Submission, read_submission
from grader.results import SubmissionStatus
from grader.sandbox.isolation import require
from grader.settings import Settings, current
from grader.workspace import Workspace

#: how often the batch reads the gradebook while it waits
POLL_SECONDS = 0.5
#: how long a claim stays queued, the queue empty, before the batch queues it again
REQUEUE_AFTER_SECONDS = 5.0
#: times the batch queues one claim again before it names it unfinished
MAX_REQUEUES = 5
#: how often the batch asks whether any worker is listening, and how long it waits without one
PING_EVERY_SECONDS = 10.0
NO_WORKER_SECONDS = 60.0

log = logging.getLogger(__name__)

app = Celery("grader")


def configure(settings: Settings) -> Celery:
    """Point the app at the settings' broker. The visibility timeout (Redis) must be longer than
    any grading, so that a slow task is not delivered twice while it still runs."""
    redis = settings.broker_url.split(":", 1)[0] in ("redis", "rediss")
    app.conf.update(
        broker_url=settings.broker_url,
        broker_connection_retry_on_startup=True,
        # RabbitMQ gives a dead consumer's unacknowledged task back at once; Redis only after this.
        broker_transport_options={"visibility_timeout": settings.visibility_timeout} if redis else {},
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
def grade_task(
    assignment: str, student: str, filename: str, content: str, rubric_version: str, isolation: str, queued_by: str | None = None
) -> dict[str, Any]:
    """Grade one submission in this worker's sandbox and store it in the shared gradebook.

    Whatever goes wrong, the submission's row under the batch's key ends finished (the batch
    waits for it): with an ``error`` saying which worker could not grade it and why. Only a
    gradebook that cannot be written leaves it pending, for the batch to queue again.
    """
    workspace, gradebook, lease = _worker_state()
    loaded = workspace.assignment(assignment)
    submission = Submission(filename, base64.b64decode(content), KINDS.get(Path(filename).suffix.lower(), "python"))
    start = time.monotonic()

    def refuse(why: str) -> Done:
        log.warning("refusing %s of %s: %s", filename, student, why)
        return record_failure(
            gradebook, assignment=assignment, rubric_version=rubric_version, max_score=loaded.rubric.max_score,
            student=student, submission=submission, lease=lease, queued_by=queued_by,
            message=f"{readable(lease.owner)} could not grade it: {why}; ask your instructor to grade it again.",
        )

    try:
        if loaded.version != rubric_version:
            # Graded under this worker's rubric, it would be recorded under another key than the
            # one the batch waits for: it is recorded under the batch's as not graded.
            done = refuse(f"this worker has {assignment} at rubric version {loaded.version}, the batch {rubric_version}")
        else:
            try:
                require(isolation)
            except GraderError as exc:
                done = refuse(str(exc).rstrip("."))
            else:
                done = claim_and_grade(gradebook, loaded, student, submission, isolation, lease, queued_by=queued_by, wait=False)
    except Exception as exc:
        log.exception("grading %s of %s failed", filename, student)
        refuse(" ".join(f"{type(exc).__name__}: {exc}".split())[:200])
        raise
    return {"student": done.student, "status": done.status, "score": done.score, "seconds": time.monotonic() - start}


@app.task(name="grader.grade_upload")
def grade_upload_task(submission_id: int, isolation: str, queued_by: str | None = None) -> dict[str, Any]:
    """Grade the upload to ``grade serve`` recorded as ``submission_id``, its file read from the
    gradebook, unless it is finished or another live grader holds it (a task delivered twice, or
    queued again by a server that took the upload over).

    A worker that cannot isolate as asked records an ``error`` saying so, as ``grade_task`` does.
    """
    workspace, gradebook, lease = _worker_state()
    start = time.monotonic()
    try:
        require(isolation)
    except GraderError as exc:
        recorded = gradebook.recorded(submission_id)
        if recorded is None:
            raise
        log.warning("refusing submission %d: %s", submission_id, exc)
        message = f"{readable(lease.owner)} could not grade it: {str(exc).rstrip('.')}; ask your instructor to grade it again."
        done = refuse_recorded(gradebook, recorded, None, message, lease, queued_by=queued_by)
    else:
        done = grade_by_id(gradebook, workspace.assignment, submission_id, isolation, lease, queued_by=queued_by)
    return {"submission_id": submission_id, "status": done.status, "score": done.score, "seconds": time.monotonic() - start}


_state: dict[str, Any] = {}


def require_broker(celery: Celery) -> None:
    """Fail with one line, before anything is queued, when the broker cannot be reached."""
    url = celery.conf.broker_url
    try:
        with celery.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1)
    except Exception as exc:  # noqa: BLE001 - kombu raises many kinds for an unreachable broker
        shown = kombu.utils.url.maybe_sanitize_url(url)
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise GraderError(f"cannot reach the Celery broker at {shown} ({reason}); start it or set GRADE_BROKER_URL.") from None


def _worker_state() -> tuple[Workspace, Gradebook, Lease]:
    """This worker process's workspace, gradebook connection and lease holder name, made at its
    first task (in the pool's process, not in the parent it was forked from)."""
    workspace: Workspace = _state["workspace"]
    if "gradebook" not in _state:
        _state["gradebook"] = workspace.gradebook(upgrade=False)
        _state["lease"] = Lease.mine("grade worker", _state["settings"].lease_seconds)
    return workspace, _state["gradebook"], _state["lease"]


def start_worker(settings: Settings, course: Path, concurrency: int | None) -> None:
    """Run a worker in this process until it is stopped. Its pool's processes are forked from
    this one and inherit the workspace set here."""
    _state["workspace"] = Workspace(Path(course).resolve(), settings.db_url)
    _state["settings"] = settings
    # As grade serve's own grading processes: grading yields the processors to a server, the
    # database and the broker on the same machine (on a machine of its own it changes nothing).
    os.nice(GRADING_NICENESS)
    log.info("worker for the course at %s, broker %s", _state["workspace"].course.root, kombu.utils.url.maybe_sanitize_url(settings.broker_url))
    args = ["worker", "--loglevel", "INFO", "--pool", "prefork", "--without-gossip", "--without-mingle"]
    # a node name of its own: two workers on one machine with Celery's default (celery@host)
    # share a control queue, and the second stops at once ("cannot obtain exclusive access")
    args += ["--hostname", f"grade-{os.getpid()}@%h"]
    if concurrency:
        args += ["--concurrency", str(concurrency)]
    configure(settings).worker_main(args)


def run_celery_batch(
    found: tuple[list[Job], list[Skipped]],
    *,
    assignment: str,
    workspace: Workspace,
    isolation: str = "strict",
    progress: Callable[[Done, int, int], None] | None = None,
    settings: Settings | None = None,
    timeout: float | None = None,
) -> Summary:
    """Claim and queue every submission ``found`` in a directory (``discover``: the jobs, and
    what is skipped), and follow ``workspace``'s gradebook until each is finished or, after
    ``timeout`` seconds (None: no bound), named unfinished. The broker is the one ``settings``
    name (default: ``grader.settings.current()``)."""
    settings = settings or current()
    loaded = workspace.assignment(assignment)
    jobs, skipped = found
    summary = Summary(assignment, len(jobs), skipped)
    celery = configure(settings)
    require_broker(celery)
    lease = Lease.mine("grade batch", settings.lease_seconds)
    start = time.monotonic()
    # Tidied once this batch's claims are leased to it: its own orphans it takes over.
    with workspace.gradebook(tidy=False) as gradebook, Heartbeat(gradebook, lease):
        queue = _Queue(celery, assignment, loaded.version, isolation, lease)
        for job in jobs:
            try:
                submission = read_submission(job.path)
            except GraderError as exc:
                summary.done.append(Done(job.student, NOT_RECORDED, 0.0, loaded.rubric.max_score, None, str(exc)))
                continue
            claimed = claim(gradebook, loaded.name, loaded.version, job.student, submission, lease)
            if claimed.status == SubmissionStatus.PENDING:  # left by a stopped grader: ours now
                claimed = Claim(claimed.id, gradebook.take(claimed.id, lease, attempt=False).status, claimed.seed)
            if claimed.status != SubmissionStatus.PENDING:
                stored = gradebook.get(claimed.id)
                score = stored.score if stored and stored.score is not None else 0.0
                summary.done.append(Done(job.student, ALREADY_GRADED, score, loaded.rubric.max_score, claimed.id))
                continue
            queue.put(batch_key(assignment, job.student, submission.sha256, loaded.version), job.student, submission)
        workspace.tidy(gradebook, spare=list(queue.waiting))
        log.info("queued %d submissions of %s (%d already graded)", len(queue.waiting), assignment, len(summary.done))
        follow(gradebook, queue, summary, loaded, progress=progress, deadline=None if timeout is None else start + timeout)
        if summary.unfinished:
            # Left for the next batch to regrade, or the next command to close as interrupted.
            gradebook.release([u.submission_id for u in summary.unfinished if u.submission_id], lease.owner)
    summary.wall_seconds = time.monotonic() - start
    return summary


@dataclass
class _Waiting:
    student: str
    submission: Submission
    sent: float  # when it was last queued (time.monotonic)
    requeues: int = 0
    given_up: str = ""  # why the batch stopped queueing it


class _Queue:
    """The batch's claims still to be finished, and the broker they are queued on."""

    def __init__(self, celery: Celery, assignment: str, version: str, isolation: str, lease: Lease) -> None:
        self.celery = celery
        self.assignment, self.version, self.isolation, self.lease = assignment, version, isolation, lease
        self.owner = lease.owner
        self.waiting: dict[str, _Waiting] = {}

    def put(self, key: str, student: str, submission: Submission) -> None:
        self.waiting[key] = _Waiting(student, submission, 0.0)
        self.send(key)

    def send(self, key: str) -> bool:
        """Queue the claim under ``key`` (again); False if the broker cannot be reached now."""
        waiting = self.waiting[key]
        content = base64.b64encode(waiting.submission.content).decode()
        args = [self.assignment, waiting.student, waiting.submission.filename, content, self.version, self.isolation, self.owner]
        waiting.sent = time.monotonic()
        try:
            grade_task.apply_async(args=args, retry=False)
        except Exception as exc:  # noqa: BLE001 - kombu raises many kinds for a broker that went away
            log.warning("could not queue %s of %s (%s); trying again", waiting.submission.filename, waiting.student, exc)
            return False
        return True

    def depth(self) -> int | None:
        return queue_depth(self.celery)

    def workers(self) -> int | None:
        return workers_answering(self.celery)


def queue_depth(celery: Celery) -> int | None:
    """Tasks in the broker's queue (not those workers hold), or None if it cannot be asked."""
    name = celery.conf.task_default_queue
    try:
        with celery.connection_for_read() as connection:
            connection.ensure_connection(max_retries=1)
            with connection.channel() as channel:
                try:
                    return int(channel.queue_declare(queue=name, passive=True).message_count)
                except Exception as exc:
                    if "NOT_FOUND" in str(exc) or "no queue" in str(exc).lower() or getattr(exc, "code", None) == 404:
                        return 0  # the queue itself is gone (a broker restarted empty)
                    raise
    except Exception as exc:  # noqa: BLE001 - an unreachable broker
        log.warning("cannot read the length of queue %s: %s", name, exc)
        return None


def workers_answering(celery: Celery) -> int | None:
    """How many workers answer a ping, or None if the broker cannot be reached."""
    try:
        return len(celery.control.ping(timeout=1.0) or [])
    except Exception as exc:  # noqa: BLE001
        log.warning("cannot ping the workers: %s", exc)
        return None


def follow(
    gradebook: Gradebook,
    queue: _Queue,
    summary: Summary,
    loaded: Assignment,
    *,
    progress: Callable[[Done, int, int], None] | None,
    deadline: float | None,
) -> None:
    """Wait until every claim in ``queue`` is finished, reconciling the gradebook with the queue
    as it goes (see the module's docstring); what is left at the end is ``summary.unfinished``."""
    waiting = queue.waiting
    last_ping = last_worker = time.monotonic()
    while waiting:
        pending: dict[str, Pending] = {}
        for key, row in gradebook.batch_rows(list(waiting)).items():
            if row.pending is not None:
                pending[key] = row.pending
                continue
            done = Done(waiting.pop(key).student, row.status, row.score or 0.0, loaded.rubric.max_score, row.id)
            summary.done.append(done)
            if progress:
                progress(done, len(summary.done), summary.total)
        if not waiting:
            break
        now = time.monotonic()
        if now - last_ping >= PING_EVERY_SECONDS:
            last_ping = now
            if queue.workers() != 0:
                last_worker = now
        why = _requeue(gradebook, queue, pending, now)
        stop = ""
        if deadline is not None and now >= deadline:
            stop = "the batch's --timeout ran out"
        elif now - last_worker >= NO_WORKER_SECONDS:
            broker = kombu.utils.url.maybe_sanitize_url(queue.celery.conf.broker_url)
            stop = f"no worker answered on {broker} for {NO_WORKER_SECONDS:g} s (start `grade worker`)"
        elif why and all(w.given_up for w in waiting.values()):
            stop = "no worker recorded the claims left"
        if stop:
            for key, w in waiting.items():
                p = pending.get(key)
                summary.unfinished.append(Unfinished(w.student, p.id if p else None, w.given_up or _state_of(p, queue.owner, stop)))
            return
        time.sleep(POLL_SECONDS)


def _requeue(gradebook: Gradebook, queue: _Queue, pending: dict[str, Pending], now: float) -> bool:
    """Queue again the claims no worker holds: those taken by a worker whose lease ran out, and
    those still leased to the batch while the queue is empty (a broker that lost them). Returns
    whether any claim was given up on."""
    stale = datetime.now(UTC)
    lost = [k for k, p in pending.items() if p.owner != queue.owner and p.lapsed(stale)]
    mine = [k for k, p in pending.items() if p.owner == queue.owner and now - queue.waiting[k].sent >= REQUEUE_AFTER_SECONDS]
    if mine and queue.depth() != 0:
        mine = []  # still queued behind others, or the broker cannot say: wait
    for key in lost + mine:
        waiting = queue.waiting[key]
        if waiting.given_up:
            continue
        if waiting.requeues >= MAX_REQUEUES:
            waiting.given_up = f"queued {waiting.requeues + 1} times and never recorded; see the workers' logs"
            continue
        # Leased to the batch again, so that it is not found lost again before a worker takes it.
        if key in lost and not gradebook.take(pending[key].id, queue.lease, attempt=False).taken:
            continue
        waiting.requeues += 1
        why = f"{readable(pending[key].owner or 'its worker')} stopped" if key in lost else "it is no longer in the queue"
        log.warning("queueing %s of %s again: %s", waiting.submission.filename, waiting.student, why)
        queue.send(key)
    return any(w.given_up for w in queue.waiting.values())


def _state_of(pending: Pending | None, batch: str, stop: str) -> str:
    """Why a claim is unfinished when the batch stops for ``stop``."""
    if pending is None:
        return stop
    if pending.owner == batch:
        return f"still queued when {stop}"
    return f"being graded by {readable(pending.owner or 'a worker')} when {stop}"
