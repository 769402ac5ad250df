"""Alembic environment for the gradebook.

Programmatic use (``grader.db.schema.upgrade``) passes an open connection, already inside
the transaction and lock it wants, in ``config.attributes["connection"]``. From the command
line the URL comes from ``sqlalchemy.url`` in the ini file, else ``GRADE_DB_URL``.
"""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy import Connection, create_engine, pool

from grader.db.models import Base
from grader.settings import Settings

config = context.config
target_metadata = Base.metadata


def _cli_url() -> str:
    url = config.get_main_option("sqlalchemy.url") or Settings.from_env().db_url or ""
    if not url:
        raise SystemExit(
            "No database URL: set sqlalchemy.url in grader/db/alembic.ini or GRADE_DB_URL."
        )
    return url


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_offline() -> None:
    url = _cli_url()
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=url.startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_online() -> None:
    shared = config.attributes.get("connection")
    if shared is not None:
        _run(shared)
        return
    engine = create_engine(_cli_url(), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            _run(connection)
    finally:
        engine.dispose()


# Only the command line configures logging; the grader must not have its logging replaced.
if config.config_file_name is not None and "connection" not in config.attributes:
    fileConfig(config.config_file_name, disable_existing_loggers=False)

if context.is_offline_mode():
    _run_offline()
else:
    _run_online()
