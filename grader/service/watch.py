"""Waiting for gradings without asking the gradebook once per waiter: the long poll behind
``GET /submissions/{id}?wait=S``.

A client that wants its result as soon as it is graded asks with ``wait``: the request is held
(a coroutine, no thread) until the submission is no longer pending or ``S`` seconds have
passed. However many requests wait, one ``Watcher`` asks the gradebook which of all their
submissions are finished, one light read per ``TICK`` and only while someone waits: five
hundred students waiting at a deadline cost a few reads a second, not hundreds of full loads.
It works the same whoever grades (this server's graders, another server's, Celery workers):
it reads the gradebook, the one place every grading ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from starlette.concurrency import run_in_threadpool

log = logging.getLogger(__name__)

#: seconds between two reads of the waited-for submissions' statuses
TICK = 0.25
#: the longest a request may wait (a proxy in front usually ends idle requests after 60 s)
MAX_WAIT = 30.0


class Watcher:
    """Wakes the requests waiting for submissions once the gradebook says they are finished.

    ``finished_among(ids)`` is the gradebook's read (synchronous: run in a worker thread).
    """

    def __init__(self, finished_among: Callable[[list[int]], set[int]], tick: float = TICK) -> None:
        self._finished_among = finished_among
        self._tick = tick
        self._waiting: dict[int, list[asyncio.Future[None]]] = {}
        self._task: asyncio.Task[None] | None = None

    @property
    def waiting(self) -> int:
        """Requests waiting now."""
        return sum(len(futures) for futures in self._waiting.values())

    async def until_finished(self, submission_id: int, seconds: float) -> bool:
        """Wait until ``submission_id`` is no longer pending (True) or ``seconds`` passed (False)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(submission_id, []).append(future)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._watch(), name="grader-watch")
        try:
            await asyncio.wait_for(asyncio.shield(future), timeout=max(0.0, seconds))
            return True
        except TimeoutError:
            return False
        finally:
            futures = self._waiting.get(submission_id, [])
            with contextlib.suppress(ValueError):
                futures.remove(future)
            if not futures:
                self._waiting.pop(submission_id, None)

    async def idle(self) -> None:
        """Return once the watcher has stopped reading: nobody waits any more."""
        if self._task is not None:
            await asyncio.shield(self._task)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _watch(self) -> None:
        """Read the statuses of what is waited for, a tick apart, until nobody waits."""
        while self._waiting:
            await asyncio.sleep(self._tick)
            ids = sorted(self._waiting)
            if not ids:  # the last waiter's time ran out during the tick
                break
            try:
                finished = await run_in_threadpool(self._finished_among, ids)
            except Exception:  # the database is away: the waiters wait on, until their time is up
                log.warning("cannot read the statuses of %d waited-for submissions; trying again", len(ids), exc_info=True)
                continue
            for submission_id in finished:
                for future in self._waiting.pop(submission_id, []):
                    if not future.done():
                        future.set_result(None)
