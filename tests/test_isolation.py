"""Isolation layers: detected, reported by `grade doctor`, enforced by strict mode, recorded."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import SAMPLES, run, submitted

from grader.cli import main
from grader.db import Gradebook
from grader.sandbox import zygote_control
from grader.sandbox.isolation import detect


@pytest.fixture
def without_bubblewrap(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """As on a machine without bubblewrap: a fresh probe, and a zygote started without it."""
    monkeypatch.setenv("GRADE_NO_BWRAP", "1")
    detect.cache_clear()
    zygote_control.discard()
    yield
    monkeypatch.delenv("GRADE_NO_BWRAP")
    detect.cache_clear()
    zygote_control.discard()


#: `grade submit` of a correct sample
SUBMIT = ("submit", str(SAMPLES / "correct_loops.py"), "-a", "backprop", "-s", "ada")


def test_this_machine_gives_every_layer() -> None:
    # CI installs bubblewrap and pyseccomp: the tests run under full isolation
    result = CliRunner().invoke(main, ["doctor"])
    assert result.exit_code == 0
    assert "level: namespaces+seccomp" in result.output
    assert detect().bubblewrap is not None


def test_results_record_the_isolation_level(course: Path, db_url: str) -> None:
    out = submitted(course, "correct_loops.py")
    with Gradebook(db_url) as gradebook:
        stored = gradebook.get(out["submission_id"])
    assert stored is not None and stored.isolation == "namespaces+seccomp"


def test_strict_mode_refuses_without_namespaces_and_records_nothing(course: Path, db_url: str, without_bubblewrap: None) -> None:
    result = run(course, *SUBMIT, "--isolation", "strict")
    assert result.exit_code == 2
    assert "strict isolation needs namespaces, but GRADE_NO_BWRAP is set" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not Path(db_url.removeprefix("sqlite:///")).exists()


def test_permissive_mode_grades_with_a_loud_warning(course: Path, db_url: str, without_bubblewrap: None) -> None:
    result = run(course, *SUBMIT, "--json")
    assert result.exit_code == 0
    assert "WARNING: grading without namespaces" in result.stderr
    out = json.loads(result.stdout)
    assert out["score"] == 100
    with Gradebook(db_url) as gradebook:
        stored = gradebook.get(out["submission_id"])
    assert stored is not None and stored.isolation == "process+seccomp"


def test_doctor_says_what_is_missing(without_bubblewrap: None) -> None:
    result = CliRunner().invoke(main, ["doctor"])
    assert "namespaces  no" in result.output
    assert "strict isolation will refuse to grade" in result.output
