"""Grading processes that each ask for one job at a time, on a pipe of their own.

``grade batch`` (local backend) and ``grade serve`` (local graders) grade with a few processes of
one machine. A queue that they all read from (``multiprocessing.Pool``, ``multiprocessing.Queue``)
makes each take a lock to read it, and loses what a process took when it dies: a process killed
while it waited for work holds that lock for good and stops every other one, and a job a killed
process had taken is waited for forever. Here nothing is shared between the processes:

- each process has a pipe to the parent, on which it says it is ready (with the result of its
  last job) and receives one job;
- the parent hands each job to the next process that asks (``Pool.step``);
- a process that dies ends its pipe: the parent starts another in its place and hands the job
  it had been given to the next process that asks (up to ``MAX_HANDOUTS`` processes; then the
  job is given up on, ``Pool.abandoned``). The job itself must make a second hand-out
  harmless; a grading does, by taking its submission's lease first.

The parent drives the pool by calling ``step`` (``grade batch``: its main loop; ``grade
serve``: a thread of its own), which alone reads and writes the pipes.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import multiprocessing.connection
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from grader.errors import GraderError

log = logging.getLogger(__name__)

#: processes a job is handed to, each of which died with it, before it is given up on (``Pool.abandoned``)
MAX_HANDOUTS = 4  # a grading closes its submission as an error at its 4th attempt (grader.batch.claims.MAX_ATTEMPTS)
#: the longest wait before a process that died as it started is started again
STARTS_BACKOFF_SECONDS = 5.0


class PoolBroken(GraderError):
    """The pool's processes die as they start: the machine or the setup is broken, not a job."""


class Pool:
    """``size`` processes of ``context`` running ``target(connection, *args)``, which serves jobs
    with ``serve``; ``name`` names them in logs."""

    def __init__(
        self, context: Any, size: int, target: Callable[..., None], args: tuple[Any, ...], name: str, *, give_up_after: int | None = None
    ) -> None:
        self._context, self._target, self._args, self.name = context, target, args, name
        #: processes in a row that may die before they ask for work before ``step`` raises
        #: ``PoolBroken`` (None: never; each failed start waits longer before the next)
        self.give_up_after = give_up_after
        self._failed_starts = 0
        self._lock = threading.Lock()
        self._jobs: collections.deque[_Job] = collections.deque()
        #: jobs given up on: handed out ``MAX_HANDOUTS`` times, each time to a process that died
        self.abandoned: list[Any] = []
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_write, False)  # a full pipe already wakes the step
        self._workers = [self._start() for _ in range(size)]
        self.closed = False

    def put(self, job: Any) -> None:
        """Hand ``job`` to the next process that asks (any thread)."""
        with self._lock:
            self._jobs.append(_Job(job))
        self.wake()

    def depth(self) -> int:
        """Jobs not handed to a process yet."""
        with self._lock:
            return len(self._jobs)

    def stopped(self) -> int:
        """Processes that died and are not replaced yet."""
        with self._lock:
            return sum(not w.process.is_alive() for w in self._workers)

    def size(self) -> int:
        return len(self._workers)

    def in_flight(self) -> list[Any]:
        """The jobs handed to processes that have not answered them yet."""
        with self._lock:
            return [w.handed.job for w in self._workers if w.handed is not None]

    def wake(self) -> None:
        """End the wait of a ``step`` now (any thread)."""
        with contextlib.suppress(OSError):
            os.write(self._wake_write, b"!")

    def step(self, timeout: float | None) -> list[Any]:
        """Wait up to ``timeout`` seconds (None: until something happens) for processes to ask
        for work, replace those that died, hand out what is waiting; the results that came back.
        One thread at a time."""
        with self._lock:
            listening = {w.connection: w for w in self._workers}
        results = []
        for ready in multiprocessing.connection.wait([*listening, self._wake_read], timeout):
            if ready == self._wake_read:
                with contextlib.suppress(BlockingIOError):
                    os.read(self._wake_read, 4096)
                continue
            worker = listening[ready]
            try:
                done, result = worker.connection.recv()
            except (EOFError, OSError, TypeError, ValueError):  # it died (or spoke nonsense: it is killed)
                self._replace(worker)
                continue
            if done:
                results.append(result)
            worker.ready, worker.handed, worker.asked = True, None, True
            self._failed_starts = 0
        with self._lock:
            for worker in self._workers:
                if not self._jobs:
                    break
                if worker.ready:
                    job = self._jobs.popleft()
                    try:
                        worker.connection.send(job.job)
                        job.handouts += 1
                        worker.ready, worker.handed = False, job
                    except OSError:  # it died just now: its end-of-pipe comes at the next step
                        worker.ready = False
                        self._jobs.appendleft(job)
        return results

    def close(self) -> None:
        """Stop every process at once (SIGTERM, then SIGKILL): what one was doing is cut short."""
        with self._lock:
            self.closed = True
            workers = list(self._workers)
        self.wake()
        for worker in workers:
            if worker.process.is_alive():
                worker.process.terminate()
        for worker in workers:
            worker.process.join(10)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()

    def release(self) -> None:
        """Close the parent's ends of the pipes; after ``close`` and once no ``step`` runs."""
        for worker in self._workers:
            worker.connection.close()
        os.close(self._wake_read)
        os.close(self._wake_write)

    def _start(self) -> _Worker:
        ours, theirs = self._context.Pipe()
        process = self._context.Process(target=self._target, args=(theirs, *self._args), name=self.name, daemon=True)
        process.start()
        theirs.close()  # the process's end is the process's alone: its death ends the pipe
        return _Worker(process, ours)

    def _replace(self, worker: _Worker) -> None:
        worker.process.join(5)
        if worker.process.is_alive():  # it broke the protocol: it is not trusted with more
            worker.process.kill()
            worker.process.join()
        worker.connection.close()
        with self._lock:
            if self.closed:  # stopped by ``close``
                self._workers.remove(worker)
                return
            job = worker.handed
            if job is not None and job.handouts >= MAX_HANDOUTS:
                log.error("%s %s stopped (exit code %s) with a job that %d processes died with; giving it up", self.name,
                          worker.process.pid, worker.process.exitcode, job.handouts)
                self.abandoned.append(job.job)
            elif job is not None:
                log.warning("%s %s stopped (exit code %s) with a job; handing it to another", self.name, worker.process.pid,
                            worker.process.exitcode)
                self._jobs.appendleft(job)
            else:
                log.warning("%s %s stopped (exit code %s); starting another", self.name, worker.process.pid, worker.process.exitcode)
            if not worker.asked:  # it died before it asked for work: as it started
                self._failed_starts += 1
                if self.give_up_after is not None and self._failed_starts >= self.give_up_after:
                    self._workers.remove(worker)
                    raise PoolBroken(
                        f"every {self.name} dies as it starts ({self._failed_starts} in a row, the last with exit code "
                        f"{worker.process.exitcode}); see the messages above."
                    )
                # no process spinning through starts: 0.1 s, then twice as long each time, up to 5 s
                time.sleep(min(STARTS_BACKOFF_SECONDS, 0.1 * 2 ** (self._failed_starts - 1)))
            self._workers[self._workers.index(worker)] = self._start()


@dataclass(eq=False)
class _Worker:
    """A process and the parent's end of its pipe."""

    process: Any
    connection: Any
    ready: bool = False  # it asked for a job and has not been handed one
    asked: bool = False  # it has asked for work at least once: it started
    handed: _Job | None = None  # the job it was handed last, until it asks for another


@dataclass(eq=False)
class _Job:
    job: Any
    handouts: int = 0  # processes it was handed to


def serve(connection: Any, work: Callable[[Any], Any]) -> None:
    """In a pool's process: ask for a job, do it, and ask again with its result, until the
    parent goes (its end of the pipe closes) or hands ``None``."""
    message: tuple[bool, Any] = (False, None)
    while True:
        try:
            connection.send(message)
            job = connection.recv()
        except (EOFError, OSError):  # the parent is gone
            return
        if job is None:
            return
        message = (True, work(job))
