"""The grader's settings: one table (environment variable, default, meaning), read and validated once.

The command line reads the environment into a ``Settings`` when it starts; a bad value is a
one-line usage error (exit 2) before anything runs. Nothing else in the grader reads the
environment: code that needs a setting gets the ``Settings`` (or ``current()``, the one the
command line installed, for code running far from it, such as a Celery worker's task).
Every setting is documented in the README's settings table; a test checks that.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from grader.errors import SettingsError

ISOLATION_MODES = ("strict", "none")
#: old names of isolation modes: refused with a line naming the new one
RENAMED_MODES = {"permissive": "none"}
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def _text(value: str) -> str:
    return value.strip()


def _optional(value: str) -> str | None:
    return value.strip() or None


def _seconds(value: str, *, zero: bool = False) -> float:
    """A finite number of seconds above 0 (with ``zero``: 0 or above)."""
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and (seconds > 0 or (zero and seconds == 0))):
        raise ValueError("must be a number of seconds, 0 or more" if zero else "must be a positive number of seconds")
    return seconds


def _choice(*allowed: str, upper: bool = False) -> Callable[[str], str | None]:
    def parse(value: str) -> str | None:
        value = value.strip().upper() if upper else value.strip()
        if not value:
            return None
        if value not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}")
        return value

    return parse


def _isolation(value: str) -> str | None:
    if value.strip() in RENAMED_MODES:
        raise ValueError(f"is now called {RENAMED_MODES[value.strip()]!r} (it grades even without isolation); use strict or none")
    return _choice(*ISOLATION_MODES)(value)


def _flag(value: str) -> bool:
    value = value.strip().lower()
    if value in ("", "0", "false", "no"):
        return False
    if value in ("1", "true", "yes"):
        return True
    raise ValueError("must be 1 or 0")


@dataclass(frozen=True)
class Setting:
    """One row of the table: the variable, the field of ``Settings`` it fills, its default."""

    variable: str
    field: str
    default: str
    parse: Callable[[str], Any]
    help: str


#: Every setting the grader has. The README's table lists the same variables.
TABLE = (
    Setting("GRADE_COURSE", "course", ".", _text, "course directory holding reference/ and rubrics/"),
    Setting("GRADE_DB_URL", "db_url", "", _optional, "SQLAlchemy URL of the gradebook (default: sqlite:///COURSE/grade.db)"),
    Setting("GRADE_ISOLATION", "isolation", "", _isolation, "strict (namespaces or Landlock, else refuse) or none (grade even unisolated); default strict"),
    Setting("GRADE_BROKER_URL", "broker_url", "redis://127.0.0.1:6379/0", _text, "Celery broker of grade worker and grade batch --backend celery"),
    Setting("GRADE_VISIBILITY_TIMEOUT", "visibility_timeout", "3600", _seconds, "seconds before Redis gives a dead worker's unfinished task to another worker"),
    Setting("GRADE_LEASE_SECONDS", "lease_seconds", "60", _seconds, "seconds a silent grader keeps its pending submission; after them another grader takes it over or closes it as interrupted"),
    Setting("GRADE_SERVER", "server", "", _optional, "a grade serve URL: grade submit, report and history ask it (overrides grade login's)"),
    Setting("GRADE_TOKEN", "token", "", _optional, "the token that names you to GRADE_SERVER (overrides grade login's)"),
    Setting("GRADE_NO_BWRAP", "no_bwrap", "", _flag, "1: do not use bubblewrap even where it works (as on a machine without it)"),
    Setting("GRADE_LOG_LEVEL", "log_level", "WARNING", _choice(*LOG_LEVELS, upper=True), "what the grader logs to stderr: DEBUG, INFO, WARNING or ERROR"),
    Setting("GRADE_NO_LANDLOCK", "no_landlock", "", _flag, "1: do not use the Landlock path even where it works (as on a machine without it)"),
    Setting("GRADE_DB_RETRY_SECONDS", "db_retry_seconds", "30", partial(_seconds, zero=True), "seconds a gradebook operation keeps trying again when the database connection fails (a restart); 0: never"),
)


@dataclass(frozen=True)
class Settings:
    course: str = "."
    db_url: str | None = None
    isolation: str | None = None
    broker_url: str = "redis://127.0.0.1:6379/0"
    visibility_timeout: float = 3600.0
    lease_seconds: float = 60.0
    server: str | None = None
    token: str | None = None
    no_bwrap: bool = False
    log_level: str = "WARNING"
    no_landlock: bool = False
    db_retry_seconds: float = 30.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings in ``environ`` (default: this process's environment); raise
        SettingsError naming the first bad variable, its value and what it must be."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for setting in TABLE:
            raw = environ.get(setting.variable, "")
            try:
                value = setting.parse(raw if raw.strip() else setting.default)
            except ValueError as exc:
                raise SettingsError(f"{setting.variable}={raw[:80]!r} {exc}; fix or unset it.") from None
            if value is not None:
                values[setting.field] = value
        return cls(**values)

    @property
    def course_path(self) -> Path:
        return Path(self.course)

    def database_url(self, course: Path | str | None = None) -> str:
        """``GRADE_DB_URL``, else the SQLite gradebook inside ``course`` (default: the setting's)."""
        # Imported here: the database layer (SQLAlchemy, Alembic) costs half a second, and every
        # command reads the settings at start, `grade --help` and `grade doctor` included.
        from grader.db.engine import default_url

        return self.db_url or default_url(Path(course if course is not None else self.course))

    def log_level_number(self) -> int:
        return int(logging.getLevelName(self.log_level))


_installed: Settings | None = None


def install(settings: Settings) -> Settings:
    """Make ``settings`` this process's (the command line does, once it has read them)."""
    global _installed
    _installed = settings
    return settings


def reset() -> None:
    """Forget the installed settings (the command line does when a command ends)."""
    global _installed
    _installed = None


def current() -> Settings:
    """The installed settings, or, where no command line installed any, the environment's."""
    return _installed if _installed is not None else Settings.from_env()
