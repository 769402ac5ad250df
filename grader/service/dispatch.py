"""Handing recorded uploads to graders, and taking over what stopped graders left.

Grading never runs in a request handler: an upload is recorded ``pending`` and leased to the
server (``Dispatch.lease``, renewed by its heartbeat for as long as it runs), then sent by id to
a grader, which takes the lease from the server (``queued_by``) and holds it while it grades
(``grader.batch.claims.grade_by_id``). Two kinds of graders:

``LocalGraders``
    ``--workers`` processes of this server, forked from a forkserver (never from the threaded
    server itself), each with its own sandbox; they die with the server;
``CeleryGraders``
    the ``grade worker`` processes on ``GRADE_BROKER_URL``, which read the file from the
    gradebook (``grade_upload_task``).

Nothing depends on a grader or a server staying alive: ``Dispatch.sweep`` (at start, then every
quarter lease) takes over every upload whose holder stopped, a killed server's or a killed
grader's, and sends it again; it also sends again what the queue lost (an upload still leased
to this server long after it was sent, while nothing waits in the queue). A second delivery is
harmless: a grader takes the lease before it grades, so an upload is graded once, by whichever
takes it first, however many servers share the gradebook.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any, Protocol

from grader.batch.claims import GRADING_NICENESS
from grader.db import Gradebook
from grader.leases import Lease, holder_gone, is_upload, readable
from grader.pool import Pool, serve
from grader.settings import Settings, install

log = logging.getLogger(__name__)

#: seconds an upload may stay leased to the server after it was sent, the queue empty, before
#: it is sent again (a grader died before it took it, or a broker lost it)
RESEND_AFTER_SECONDS = 10.0
#: when an upload that could not be sent was sent: long ago
UNSENT = float("-inf")


class Graders(Protocol):
    """Where uploads are graded."""

    def send(self, submission_id: int) -> bool:
        """Hand the upload over; False when it cannot be now (it is sent again later)."""

    def depth(self) -> int | None:
        """Uploads waiting for a grader, or None when that cannot be known now."""

    def problems(self) -> dict[str, str]:
        """What is wrong with the graders, by part (``queue``, ``workers``); empty when healthy."""

    def close(self) -> list[int]:
        """Stop; the uploads whose grading this cut short (none when the graders outlive it)."""


class Dispatch:
    """The server's side of the uploads' leases: sending, and taking over (see the module)."""

    def __init__(self, gradebook: Gradebook, lease: Lease, graders: Graders) -> None:
        self.gradebook = gradebook
        self.lease = lease
        self.graders = graders
        self._sent: dict[int, float] = {}  # upload -> when it was last sent (time.monotonic)
        self._lock = threading.Lock()

    def send(self, submission_id: int) -> None:
        """Send an upload leased to this server to the graders (again, if it was sent before)."""
        sent = self.graders.send(submission_id)
        with self._lock:
            # one that could not be sent is sent again at the next sweep
            self._sent[submission_id] = time.monotonic() if sent else UNSENT

    def sweep(self) -> list[int]:
        """Take over the uploads whose holder stopped and send them, and send again those the
        graders never took; returns the ids sent."""
        sent = []
        for orphan in self.gradebook.pending(lapsed_only=True):
            if not is_upload(orphan.batch_key) or orphan.owner == self.lease.owner:
                continue
            if self.gradebook.take(orphan.id, self.lease, attempt=False).taken:
                log.warning("taking over submission %d: %s stopped grading it", orphan.id, readable(orphan.owner or "its grader"))
                self.send(orphan.id)
                sent.append(orphan.id)
        mine = {p.id for p in self.gradebook.pending() if p.owner == self.lease.owner and is_upload(p.batch_key)}
        now = time.monotonic()
        with self._lock:
            # an upload being recorded right now is sent by its request: it counts as sent now
            self._sent = {i: self._sent.get(i, now) for i in mine}
            stale = [i for i, at in self._sent.items() if i not in sent and now - at >= RESEND_AFTER_SECONDS]
        if any(self._sent.get(i) != UNSENT for i in stale) and self.graders.depth() != 0:
            stale = [i for i in stale if self._sent.get(i) == UNSENT]  # the others may still be queued
        for submission_id in stale:
            log.warning("sending submission %d again: no grader took it", submission_id)
            self.send(submission_id)
            sent.append(submission_id)
        return sent


class LocalGraders:
    """``workers`` grading processes of this server, each asking for an upload id whenever it is
    idle (``grader.pool``: a process killed, idle or mid-grading, takes nothing with it, and is
    replaced at once); a thread of the server hands the ids out."""

    def __init__(self, settings: Settings, course: Path, db_url: str, workers: int, isolation: str, queued_by: str) -> None:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["grader.service.dispatch", "grader.batch.claims"])
        self._pool = Pool(context, workers, _work, (settings, str(course), db_url, isolation, queued_by), "grading process")
        self._handing = threading.Thread(target=self._hand_out, name="grader-hand-out", daemon=True)
        self._handing.start()

    def send(self, submission_id: int) -> bool:
        self._pool.put(submission_id)
        return True

    def depth(self) -> int | None:
        return self._pool.depth()

    def problems(self) -> dict[str, str]:
        stopped = self._pool.stopped()
        return {"workers": f"{stopped} of {self._pool.size()} grading processes stopped"} if stopped else {}

    def close(self) -> list[int]:
        """Stop the graders at once: a grading cut short stays pending, leased to a process that
        is gone, and the next server to start takes it over; returns which they were. (A process
        that dies before is replaced by the pool itself.)"""
        interrupted = self._pool.in_flight()
        self._pool.close()
        self._handing.join(10)
        if not self._handing.is_alive():
            self._pool.release()
        return interrupted

    def _hand_out(self) -> None:
        while not self._pool.closed:
            try:
                self._pool.step(None)
            except Exception:  # never let the hand-out die: uploads would wait forever
                log.exception("handing out uploads failed")
            # Given up after grading processes died with them: the sweep sends them again later.
            self._pool.abandoned.clear()


#: how often a grading process asks whether its server still runs
WATCH_SECONDS = 0.25


def _work(connection: Any, settings: Settings, course: str, db_url: str, isolation: str, queued_by: str) -> None:
    """A grading process: grade each upload id the server hands it on ``connection`` (``grader.pool``),
    until the server goes."""
    from grader.batch.claims import grade_by_id
    from grader.workspace import Workspace

    # Its parent is the forkserver, which lives as long as any process it forked: so it watches
    # the server itself, and ends (its sandbox with it) as soon as the server is gone.
    threading.Thread(target=_die_with, args=(queued_by,), name="grader-server-watch", daemon=True).start()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the server's to handle
    # Grading (and the sandboxes it starts, which inherit this) yields the processors to the
    # server's requests: an upload is acknowledged at once even while every core grades.
    os.nice(GRADING_NICENESS)
    install(settings)
    logging.getLogger("grader").setLevel(settings.log_level_number())
    if not logging.getLogger("grader").handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logging.getLogger("grader").addHandler(handler)
    workspace = Workspace(course, db_url)
    lease = Lease.mine("grade serve worker", settings.lease_seconds)
    with Gradebook(db_url, upgrade=False, retry_seconds=settings.db_retry_seconds) as gradebook:

        def grade(submission_id: int) -> None:
            try:
                grade_by_id(gradebook, workspace.assignment, submission_id, isolation, lease, queued_by=queued_by)
            except Exception:  # the gradebook failed: the upload stays pending, and is taken over
                log.exception("grading submission %d failed", submission_id)

        serve(connection, grade)


def _die_with(server: str) -> None:
    """Kill this process once the lease holder ``server`` (a process of this machine) is gone:
    what it was grading stays pending, and the next server takes it over."""
    while not holder_gone(server):
        time.sleep(WATCH_SECONDS)
    os.kill(os.getpid(), signal.SIGKILL)


class CeleryGraders:
    """The Celery workers listening on the settings' broker."""

    def __init__(self, settings: Settings, isolation: str, queued_by: str) -> None:
        from grader import extras

        try:
            from grader.batch.celery_backend import configure, require_broker
        except ImportError as exc:
            raise extras.require(exc, "grade serve --backend celery") from None

        self._celery = configure(settings)
        require_broker(self._celery)
        self._isolation, self._queued_by = isolation, queued_by

    def send(self, submission_id: int) -> bool:
        from grader.batch.celery_backend import grade_upload_task

        try:
            grade_upload_task.apply_async(args=[submission_id, self._isolation, self._queued_by], retry=False)
        except Exception as exc:  # noqa: BLE001 - kombu raises many kinds for a broker that went away
            log.warning("could not queue submission %d (%s); trying again later", submission_id, exc)
            return False
        return True

    def depth(self) -> int | None:
        from grader.batch.celery_backend import queue_depth

        return queue_depth(self._celery)

    def problems(self) -> dict[str, str]:
        from grader.batch.celery_backend import workers_answering

        workers = workers_answering(self._celery)
        if workers is None:
            return {"queue": "the broker cannot be reached", "workers": "unknown: they answer through the broker"}
        return {} if workers else {"workers": "no Celery worker answers (start `grade worker`)"}

    def close(self) -> list[int]:
        return []  # the workers go on grading: they are started and stopped by whoever runs them
