"""Shared fixtures: a private copy of the course and a fresh SQLite gradebook per test."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import Iterator

import pytest
from sqlalchemy import create_engine, make_url
from sqlalchemy.exc import DBAPIError

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "submissions" / "backprop"
#: Admin connection used to create throwaway databases; CI may point it elsewhere.
POSTGRES_ADMIN_URL = os.environ.get(
    "GRADER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture
def course(tmp_path: Path) -> Path:
    """The repository's course copied to tmp_path, with short time limits for fast tests."""
    root = tmp_path / "course"
    shutil.copytree(ROOT / "reference", root / "reference", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "rubrics", root / "rubrics")
    rubric = root / "rubrics" / "backprop.toml"
    text = rubric.read_text()
    text = text.replace("load_timeout = 10.0", "load_timeout = 3.0").replace("call_timeout = 5.0", "call_timeout = 1.0")
    rubric.write_text(text)
    return root


@pytest.fixture
def db_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    monkeypatch.setenv("GRADE_DB_URL", url)
    return url


@pytest.fixture
def correct_source() -> str:
    """A correct answer whose three functions do not call each other."""
    return (SAMPLES / "correct_loops.py").read_text()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A uniquely named empty database on the real server, dropped afterwards."""
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"grader_test_{uuid.uuid4().hex}"
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except DBAPIError as exc:
        admin.dispose()
        where = make_url(POSTGRES_ADMIN_URL).render_as_string(hide_password=True)
        pytest.fail(
            f"PostgreSQL at {where} is unusable ({str(exc.orig or exc).splitlines()[0]}); "
            "start the server (CI does) or set GRADER_TEST_POSTGRES_URL.",
            pytrace=False,
        )
    try:
        yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
