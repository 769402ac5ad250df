"""Riding out a blip of the database server: a restart, a failover, a dropped connection.

A PostgreSQL restart ends every connection and refuses new ones for a second or so. Failing
each operation caught in that second would drop every student whose grading needed the
gradebook then: a blip must not stop a class. So a gradebook operation is an *attempt*, a
function that opens its own connection or transaction and does all its work in it, and
``retried`` runs it again after a failure that a later attempt may not meet, waiting 0.1 s,
then twice as long each time up to 2 s (less a random part, so that the workers of a batch do
not all come back in step), until the bound (``GRADE_DB_RETRY_SECONDS``) has passed. Then it
gives up with the usual one-line ``DatabaseError``, saying for how long it tried.

Transient (``transient``): the connection could not be made or was lost (refused, reset,
closed, timed out; SQLSTATE class 08), or the server is shutting down or starting up (57P01,
57P02, 57P03). Nothing else is tried again, since it would fail the same way: a syntax or
integrity error, a wrong password or database name, SQLite's "database is locked" (it has
already waited its 30 s busy timeout), or the grader's own errors (``AlreadyFinished``,
``NotFound``), which are not database failures at all.

A failure while committing may come after the server committed (the acknowledgement is lost
with the connection), so an attempt must be safe to repeat after its own success: see
``Gradebook`` for what each operation does about it.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

from sqlalchemy import URL
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from grader.db.engine import CHECK_URL, FAILURES, failure, masked, reason

T = TypeVar("T")

log = logging.getLogger(__name__)

#: GRADE_DB_RETRY_SECONDS's default: far longer than a restart, short enough to hear of an outage.
DEFAULT_SECONDS = 30.0
FIRST_PAUSE = 0.1
LONGEST_PAUSE = 2.0

#: SQLSTATEs of a server going away or not there yet: admin shutdown, crash shutdown, cannot
#: connect now (starting up, shutting down, in recovery). Class 08 (connection exceptions) too.
TRANSIENT_SQLSTATES = ("57P01", "57P02", "57P03")
#: What drivers say, without an SQLSTATE, when a connection cannot be made or is lost
#: (psycopg reports every failure to connect so, the server's own FATAL included).
TRANSIENT_MESSAGES = (
    "connection refused",
    "connection reset",
    "closed the connection unexpectedly",
    "has been closed unexpectedly",
    "could not receive data from server",
    "could not send data to server",
    "no connection to the server",
    "terminating connection",
    "the database system is",  # starting up, shutting down, in recovery mode, not accepting connections
    "timed out",
    "timeout expired",
)


def transient(exc: BaseException) -> bool:
    """Whether ``exc`` is a failure of the connection or of a server restarting, which a later
    attempt may not meet."""
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:  # SQLAlchemy's dialect recognised a lost connection
        return True
    sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    if sqlstate:
        return str(sqlstate).startswith("08") or sqlstate in TRANSIENT_SQLSTATES
    said = str(exc.orig).lower()
    return isinstance(exc, OperationalError | InterfaceError) and any(message in said for message in TRANSIENT_MESSAGES)


def pauses(first: float = FIRST_PAUSE, longest: float = LONGEST_PAUSE) -> Iterator[float]:
    """The waits between attempts: ``first``, doubling up to ``longest``, each less up to half
    of it at random."""
    pause = first
    while True:
        yield random.uniform(pause / 2, pause)
        pause = min(pause * 2, longest)


def retried(attempt: Callable[[], T], *, action: str, url: str | URL, seconds: float, fix: str = CHECK_URL) -> T:
    """What ``attempt()`` returns, trying again while it fails transiently for ``seconds`` at
    most (0: once). Every database failure becomes the one-line ``DatabaseError`` "Cannot
    ACTION URL: why; FIX."; other exceptions pass through untouched, at once."""
    start = time.monotonic()
    waits = pauses()
    while True:
        try:
            return attempt()
        except FAILURES as exc:
            spent = time.monotonic() - start
            if not transient(exc):
                raise failure(action, url, exc, fix) from exc
            if spent >= seconds:
                raise failure(action, url, exc, f"gave up after {spent:.1f} s of trying again; {fix}" if seconds > 0 else fix) from exc
            wait = min(next(waits), seconds - spent)
            log.warning("cannot %s %s (%s); trying again in %.1f s, for %.0f s more at most", action, masked(url), reason(exc), wait, seconds - spent)
            time.sleep(wait)
