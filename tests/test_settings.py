"""Settings: one table, read once, every bad value a one-line usage error, every one documented."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import ROOT, SAMPLES

from grader.cli import main
from grader.settings import TABLE, Settings

README = ROOT / "README.md"


def test_the_table_has_a_row_per_field_and_its_defaults_are_the_fields_defaults() -> None:
    assert [s.field for s in TABLE] == [f.name for f in fields(Settings)]
    assert Settings.from_env({}) == Settings()


def test_the_defaults() -> None:
    settings = Settings.from_env({})
    assert settings == Settings()
    assert (settings.course, settings.db_url, settings.isolation, settings.visibility_timeout) == (".", None, None, 3600.0)
    assert settings.database_url("/c") == "sqlite:////c/grade.db"


def test_values_are_read_and_normalized() -> None:
    settings = Settings.from_env({
        "GRADE_COURSE": "/srv/course", "GRADE_DB_URL": "postgresql://u@h/d", "GRADE_ISOLATION": "strict",
        "GRADE_VISIBILITY_TIMEOUT": "15", "GRADE_NO_BWRAP": "1", "GRADE_LOG_LEVEL": "info",
        "GRADE_BROKER_URL": "amqp://guest:guest@127.0.0.1:5672//",
    })
    assert settings == Settings(
        course="/srv/course", db_url="postgresql://u@h/d", isolation="strict", broker_url="amqp://guest:guest@127.0.0.1:5672//",
        visibility_timeout=15.0, no_bwrap=True, log_level="INFO",
    )


@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        ("GRADE_VISIBILITY_TIMEOUT", "abc", "must be a positive number of seconds"),
        ("GRADE_VISIBILITY_TIMEOUT", "-5", "must be a positive number of seconds"),
        ("GRADE_VISIBILITY_TIMEOUT", "nan", "must be a positive number of seconds"),
        ("GRADE_VISIBILITY_TIMEOUT", "inf", "must be a positive number of seconds"),
        ("GRADE_ISOLATION", "loose", "must be one of strict, none"),
        ("GRADE_ISOLATION", "permissive", "is now called 'none' (it grades even without isolation); use strict or none"),
        ("GRADE_NO_LANDLOCK", "maybe", "must be 1 or 0"),
        ("GRADE_NO_BWRAP", "maybe", "must be 1 or 0"),
        ("GRADE_LOG_LEVEL", "LOUD", "must be one of DEBUG, INFO, WARNING, ERROR"),
        ("GRADE_DB_RETRY_SECONDS", "-1", "must be a number of seconds, 0 or more"),
        ("GRADE_DB_RETRY_SECONDS", "soon", "must be a number of seconds, 0 or more"),
    ],
)
def test_a_bad_value_is_one_line_and_exit_2_for_every_command(variable: str, value: str, problem: str, tmp_path: Path) -> None:
    for args in (["doctor"], ["db", "upgrade"], ["report", "-a", "x", "-s", "y"]):
        result = CliRunner(env={variable: value}).invoke(main, ["--course", str(tmp_path), *args])
        assert result.exit_code == 2, result.output
        assert result.output.strip().splitlines() == [f"Error: {variable}={value!r} {problem}; fix or unset it."]
    assert not (tmp_path / "grade.db").exists(), "nothing runs before the settings are valid"


def test_every_setting_is_documented_in_the_readme() -> None:
    documented = set(re.findall(r"^\| `(GRADE_[A-Z_]+)` \|", README.read_text(), re.MULTILINE))
    assert documented == {s.variable for s in TABLE}


def test_the_course_comes_from_the_setting_unless_given(tmp_path: Path) -> None:
    result = CliRunner(env={"GRADE_COURSE": str(tmp_path)}).invoke(main, ["report", "-a", "nothing", "-s", "x"])
    assert result.exit_code == 2 and str(tmp_path) in result.output


@pytest.mark.slow
def test_log_lines_on_stderr_at_the_level_asked(course: Path, tmp_path: Path) -> None:
    """GRADE_LOG_LEVEL=INFO: the batch, each grading and the zygote's start are logged on stderr;
    the default level keeps them quiet."""
    directory = tmp_path / "class"
    directory.mkdir()
    (directory / "ada.py").write_text((SAMPLES / "correct_loops.py").read_text())
    command = [sys.executable, "-m", "grader.cli", "--course", str(course), "batch", str(directory), "-a", "backprop", "--json", "--workers", "1"]
    env = {**os.environ, "GRADE_DB_URL": f"sqlite:///{tmp_path / 'g.db'}", "GRADE_LOG_LEVEL": "INFO", "PYTHONPATH": str(ROOT)}
    loud = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300, check=True)
    assert "INFO grader.batch.local: batch of 1 submissions of backprop" in loud.stderr
    assert "INFO grader.batch.claims: graded ada.py of ada: graded, 100 of 100" in loud.stderr
    assert re.search(r"INFO grader\.sandbox\.zygote_control: .*zygote.*started", loud.stderr, re.IGNORECASE), loud.stderr
    env["GRADE_LOG_LEVEL"] = "WARNING"
    (directory / "bob.py").write_text((SAMPLES / "correct_loops.py").read_text())
    quiet = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300, check=True)
    assert "INFO" not in quiet.stderr and json.loads(quiet.stdout)["graded"] == 1
