"""Bringing a gradebook's schema to the newest Alembic revision, safely under concurrency.

Several graders may open a new gradebook at once, so the upgrade runs in one transaction
behind a lock: PostgreSQL takes an advisory lock (its DDL is transactional), SQLite takes
the database write lock with ``BEGIN IMMEDIATE``. Whoever comes second finds the schema at
head and does nothing. Within one process a thread lock comes first, because Alembic's
``context`` and ``op`` are process-wide proxies: two threads migrating at once, even
different databases, would run each other's operations.
"""

from __future__ import annotations

import threading
import zlib
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

from grader.db.engine import masked
from grader.errors import DatabaseError

MIGRATIONS = Path(__file__).with_name("migrations")
# Any fixed 64-bit key works; derive it from a name so it is recognisable in pg_locks.
_ADVISORY_LOCK_KEY = zlib.crc32(b"grader.db.schema.upgrade")
_IN_PROCESS = threading.Lock()


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    """The newest revision this version of the grader knows."""
    return ScriptDirectory.from_config(_config()).get_current_head()


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at, or None for an empty database."""
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: Engine) -> tuple[str | None, str | None]:
    """Run every pending migration; returns (revision before, revision after)."""
    sqlite = engine.dialect.name == "sqlite"
    with _IN_PROCESS, engine.connect() as connection:
        if sqlite:
            # Batch migrations rebuild tables with DROP TABLE, which would cascade-delete
            # check results if foreign keys were on; the pragma only works outside a
            # transaction. Integrity is checked below before committing instead.
            connection.exec_driver_sql("PRAGMA foreign_keys = OFF")
            connection.commit()
        try:
            with connection.begin():
                _lock(connection)
                before = current_revision(connection)
                _require_known(engine, before)
                command.upgrade(_config(connection), "head")
                if sqlite:
                    _check_foreign_keys(connection)
                after = current_revision(connection)
        finally:
            if sqlite:
                connection.exec_driver_sql("PRAGMA foreign_keys = ON")
                connection.commit()
    return before, after


def _require_known(engine: Engine, revision: str | None) -> None:
    """Refuse a gradebook at a revision this grader has no migration for: a newer grader wrote
    it, and this one can neither upgrade it nor read what that grader stored."""
    script = ScriptDirectory.from_config(_config())
    if revision is not None and revision not in {s.revision for s in script.walk_revisions()}:
        raise DatabaseError(
            f"Cannot open gradebook {masked(engine.url)}: it is at revision {revision!r}, which this grader does not know "
            f"(its newest is {script.get_current_head()!r}); a newer grader wrote it: upgrade the grader to use it."
        )


def _lock(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADVISORY_LOCK_KEY})
    elif connection.dialect.name == "sqlite":
        # pysqlite would only BEGIN (deferred) at the first write; take the lock now.
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _check_foreign_keys(connection: Connection) -> None:
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise DatabaseError(
            f"Migration left {len(broken)} rows with dangling foreign keys (first: {broken[0]}); "
            "the upgrade was rolled back, fix the migration."
        )
