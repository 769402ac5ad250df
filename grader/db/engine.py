"""Where the gradebook lives and how to connect to it.

Every failure to reach the database becomes a one-line ``DatabaseError`` naming the URL
with its password masked.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from alembic.util import CommandError
from sqlalchemy import URL, Engine, create_engine, event, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError

from grader.errors import DatabaseError

#: Environment variable that overrides the course's own SQLite gradebook.
URL_VARIABLE = "GRADE_DB_URL"
#: How long SQLite waits for another grader's write lock before giving up.
SQLITE_BUSY_TIMEOUT_MS = 30_000


def default_url(course_root: Path) -> str:
    """The SQLite gradebook inside the course directory."""
    return "sqlite:///" + str((course_root / "grade.db").absolute())


def masked(url: str | URL) -> str:
    """The URL with its password replaced by ``***``, safe for messages and logs; a URL given
    as text without a password is shown as written (SQLAlchemy would escape ``:memory:``)."""
    if isinstance(url, URL):
        return url.render_as_string(hide_password=True)
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        # Unparseable, so mask anything shaped like user:password@ by hand.
        return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)
    return url if parsed.password is None else parsed.render_as_string(hide_password=True)


def reason(exc: BaseException) -> str:
    """The first line of what the driver said, without SQLAlchemy's SQL and links."""
    source = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    lines = [line.strip() for line in str(source).splitlines() if line.strip()]
    return lines[0].rstrip(".") if lines else type(source).__name__


CHECK_URL = f"check the URL ({URL_VARIABLE}) and that the database is reachable"


#: What ``translated`` turns into a ``DatabaseError``: failures of the database, its driver
#: (a missing one is an ImportError) and of migrations.
FAILURES = (SQLAlchemyError, CommandError, ImportError)


def failure(action: str, url: str | URL, exc: BaseException, fix: str = CHECK_URL) -> DatabaseError:
    """The one-line error for ``exc``, raised trying to ``action`` the gradebook at ``url``."""
    return DatabaseError(f"Cannot {action} {masked(url)}: {reason(exc)}; {fix}.")


@contextmanager
def translated(action: str, url: str | URL, fix: str = CHECK_URL) -> Iterator[None]:
    """Turn database and migration failures inside the block into a ``DatabaseError``."""
    try:
        yield
    except FAILURES as exc:
        raise failure(action, url, exc, fix) from exc


#: connections a gradebook keeps open for reuse once opened (a command opens one; grade serve
#: as many as its threads, which it limits to this)
POOL_SIZE = 16


def open_engine(url: str) -> Engine:
    """An engine for ``url``, configured for concurrent graders; connects lazily."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        # SQLAlchemy's parser raises ValueError for one thing only: a port that is not a number.
        why = " (its port is not a number)" if isinstance(exc, ValueError) else ""
        raise DatabaseError(
            f"Cannot open gradebook {masked(url)}: it is not a database URL{why}; "
            "use e.g. sqlite:////abs/path/grade.db or postgresql+psycopg://user@host/db."
        ) from exc
    if parsed.drivername == "postgresql":
        # psycopg 3 is the driver we ship; SQLAlchemy 2.0 would otherwise want psycopg2.
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite":
        _require_file(parsed, url)
        _require_directory(parsed)
    with translated("open gradebook", parsed):
        sqlite = parsed.get_backend_name() == "sqlite"
        engine = create_engine(
            parsed,
            # Same answer on both backends: PostgreSQL's json rejects NaN and Infinity.
            json_serializer=partial(json.dumps, allow_nan=False),
            # A pooled connection a server restart has ended is replaced before it is used,
            # instead of failing the first operation after the restart. A file has no server.
            pool_pre_ping=not sqlite,
            # grade serve reaches the gradebook from as many threads as it answers requests
            # with (POOL_SIZE): each keeps a connection open instead of opening one per request
            # (a PostgreSQL backend process, or SQLite's pragmas), and the extra connections
            # of a moment of more (the heartbeat, a sweep) are closed after it.
            pool_size=POOL_SIZE,
            max_overflow=POOL_SIZE,
        )
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _require_file(url: URL, text: str) -> None:
    """Refuse an SQLite database that lives in memory (or in a temporary file, for an empty
    name): it is discarded when the command ends, and every result with it. ``text``: the URL
    as given, for the message."""
    database = url.database or ""
    modes = url.query.get("mode", ())  # a tuple when the URL repeats it
    memory = database in ("", ":memory:") or database.startswith("file::memory:") or "mode=memory" in database
    if memory or "memory" in ((modes,) if isinstance(modes, str) else modes):
        raise DatabaseError(
            f"Cannot open gradebook {masked(text)}: an in-memory SQLite database is discarded when the command ends, "
            f"and every result with it; set {URL_VARIABLE} to a file (sqlite:////abs/path/grade.db) or unset it."
        )


def _require_directory(url: URL) -> None:
    database = url.database or ""
    if database.startswith("file:") or url.query.get("uri"):
        return
    directory = Path(database).absolute().parent
    if not directory.is_dir():
        raise DatabaseError(
            f"Cannot open gradebook {masked(url)}: directory {directory} does not exist; "
            f"create it or set {URL_VARIABLE} to another location."
        )


def _switch_to_wal(cursor: Any) -> None:
    """``PRAGMA journal_mode = WAL``, waiting for other graders as long as the busy timeout.

    The switch needs the database to itself, and when several graders open a new gradebook at
    once SQLite answers "database is locked" at once, without calling its busy handler. So it
    is tried again, with a growing pause, until the busy timeout has passed.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    pause = 0.005
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.25)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        # busy_timeout first: switching to WAL itself may wait for another grader's lock.
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        # WAL lets reports read while a grader writes.
        _switch_to_wal(cursor)
        # In WAL mode NORMAL never corrupts the gradebook and keeps every commit through a crash
        # or kill of the grader; only a power cut may lose the last commits. It saves an fsync
        # per commit, two per graded submission.
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()
