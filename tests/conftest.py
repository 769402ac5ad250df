"""Shared fixtures: a private copy of the course and a fresh SQLite gradebook per test."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "submissions" / "backprop"


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
