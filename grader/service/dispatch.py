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

import collections
import contextlib
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from grader.batch.claims import GRADING_NICENESS
from grader.db import Gradebook
from grader.leases import Lease, holder_gone, is_upload, readable
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

    def revive(self) -> None:
        """Replace graders that died."""

    def close(self) -> None: ...


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
        self.graders.revive()
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
    """``workers`` grading processes of this server, each asking for an upload id whenever it is idle.

    Nothing is shared between the processes: each has a pipe of its own to the server, on which
    it says it is ready and receives one id. A queue that they all read from would have them
    take a lock to read it; a process killed while it held that lock (idle, waiting for work)
    would stop every other one forever. Here a process that dies takes nothing with it: the id
    it was handed last goes to the next process that asks (which takes the upload over if the
    dead one had taken it), and ``revive`` replaces the process.
    """

    def __init__(self, settings: Settings, course: Path, db_url: str, workers: int, isolation: str, queued_by: str) -> None:
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(["grader.service.dispatch", "grader.batch.claims"])
        self._args = (settings, str(course), db_url, isolation, queued_by)
        self._lock = threading.Lock()
        self._waiting: collections.deque[int] = collections.deque()
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_write, False)  # a full pipe already wakes the hand-out
        self._closed = False
        self._workers = [self._start() for _ in range(workers)]
        self._handing = threading.Thread(target=self._hand_out, name="grader-hand-out", daemon=True)
        self._handing.start()

    def _start(self) -> _Worker:
        ours, theirs = self._context.Pipe()
        process = self._context.Process(target=_work, args=(theirs, *self._args), name="grade serve worker", daemon=True)
        process.start()
        theirs.close()  # the process's end is the process's alone: its death ends the pipe
        return _Worker(process, ours)

    def send(self, submission_id: int) -> bool:
        with self._lock:
            self._waiting.append(submission_id)
        self._wake()
        return True

    def depth(self) -> int | None:
        with self._lock:
            return len(self._waiting)

    def problems(self) -> dict[str, str]:
        with self._lock:
            workers = list(self._workers)
        alive = sum(w.process.is_alive() and not w.gone for w in workers)
        if alive < len(workers):
            return {"workers": f"{len(workers) - alive} of {len(workers)} grading processes stopped"}
        return {}

    def revive(self) -> None:
        with self._lock:
            for i, worker in enumerate(self._workers):
                if not worker.process.is_alive():
                    log.warning("grading process %s stopped (exit code %s); starting another", worker.process.pid, worker.process.exitcode)
                    self._workers[i] = self._start()
        self._wake()  # the hand-out listens to the new pipes from now on

    def close(self) -> None:
        """Stop the graders at once: a grading cut short stays pending, leased to a process that
        is gone, and the next server to start takes it over."""
        with self._lock:
            self._closed = True
            workers = list(self._workers)
        self._wake()
        self._handing.join(10)
        for worker in workers:
            if worker.process.is_alive():
                worker.process.terminate()
        for worker in workers:
            worker.process.join(10)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.connection.close()
        os.close(self._wake_read)
        os.close(self._wake_write)

    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._wake_write, b"!")

    def _hand_out(self) -> None:
        """Give each waiting id to the next process that says it is ready (this thread alone
        reads and writes the pipes)."""
        while True:
            with self._lock:
                if self._closed:
                    return
                listening = {w.connection: w for w in self._workers if not w.gone}
            for ready in multiprocessing.connection.wait([*listening, self._wake_read]):
                if ready == self._wake_read:
                    os.read(self._wake_read, 4096)
                    continue
                worker = listening[ready]
                try:
                    worker.connection.recv()
                    worker.ready, worker.handed = True, None  # done with what it was handed
                except (EOFError, OSError):  # the process died: revive() replaces it
                    worker.gone, worker.ready = True, False
                    if worker.handed is not None:
                        # Handed to it, perhaps unread: to the next one (it takes the upload
                        # over if the dead one had taken it).
                        log.warning("grading process %s stopped with submission %d; handing it to another", worker.process.pid, worker.handed)
                        with self._lock:
                            self._waiting.appendleft(worker.handed)
                        worker.handed = None
            with self._lock:
                for worker in self._workers:
                    if not self._waiting:
                        break
                    if worker.ready and not worker.gone:
                        submission_id = self._waiting.popleft()
                        try:
                            worker.connection.send(submission_id)
                            worker.ready, worker.handed = False, submission_id
                        except OSError:
                            worker.gone = True
                            self._waiting.appendleft(submission_id)


@dataclass(eq=False)
class _Worker:
    """A grading process and the server's end of its pipe."""

    process: Any
    connection: Any
    ready: bool = False  # it asked for an id and has not been handed one
    handed: int | None = None  # the id it was handed last, until it asks for another
    gone: bool = False  # its pipe ended: it died


#: how often a grading process asks whether its server still runs
WATCH_SECONDS = 0.25


def _work(connection: Any, settings: Settings, course: str, db_url: str, isolation: str, queued_by: str) -> None:
    """A grading process: ask the server for an upload id on ``connection`` and grade it, until
    the server goes."""
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
        while True:
            try:
                connection.send("ready")
                submission_id = connection.recv()
            except (EOFError, OSError):  # the server is gone
                return
            try:
                grade_by_id(gradebook, workspace.assignment, submission_id, isolation, lease, queued_by=queued_by)
            except Exception:  # the gradebook failed: the upload stays pending, and is taken over
                log.exception("grading submission %d failed", submission_id)


def _die_with(server: str) -> None:
    """Kill this process once the lease holder ``server`` (a process of this machine) is gone:
    what it was grading stays pending, and the next server takes it over."""
    while not holder_gone(server):
        time.sleep(WATCH_SECONDS)
    os.kill(os.getpid(), signal.SIGKILL)


class CeleryGraders:
    """The Celery workers listening on the settings' broker."""

    def __init__(self, settings: Settings, isolation: str, queued_by: str) -> None:
        from grader.batch.celery_backend import configure, require_broker

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
            return {"queue": "the broker cannot be reached"}
        return {} if workers else {"workers": "no Celery worker answers (start `grade worker`)"}

    def revive(self) -> None:
        pass  # the workers are started and restarted by whoever runs them

    def close(self) -> None:
        pass
