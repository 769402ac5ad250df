"""A workspace follows the instructor's edits of an assignment: reloaded when its files change,
the last good one kept when an edit breaks it."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from grader.errors import GraderError
from grader.workspace import Workspace


def edit(path: Path, text: str) -> None:
    """Write ``text`` and move the file's time forward (two edits within a clock tick still differ)."""
    before = path.stat().st_mtime_ns
    path.write_text(text)
    os.utime(path, ns=(before + 10**9, before + 10**9))


def test_an_edited_rubric_is_reloaded_and_a_broken_edit_keeps_the_last_good_one(
    course: Path, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    rubric = course / "rubrics" / "backprop.toml"
    original = rubric.read_text()
    workspace = Workspace(course, db_url)
    first = workspace.assignment("backprop")
    assert workspace.assignment("backprop") is first  # nothing changed: not loaded again
    assert first.rubric.policy.due is None

    edit(rubric, original + '\n[policy]\ndue = "2026-12-08T23:59:00-05:00"\n')
    moved = workspace.assignment("backprop")
    assert moved is not first and moved.rubric.policy.due is not None and moved.rubric.policy.due.isoformat() == "2026-12-08T23:59:00-05:00"
    assert moved.version == first.version  # a policy is no part of the rubric's version

    caplog.set_level(logging.ERROR, logger="grader.workspace")
    edit(rubric, original + "\n[policy\n")  # half-written
    assert workspace.assignment("backprop") is moved
    assert workspace.assignment("backprop") is moved  # tried once per edit, not per call
    assert [r.getMessage().split(" (")[0] for r in caplog.records] == ["backprop was edited and no longer loads"]

    edit(rubric, original)
    assert workspace.assignment("backprop").rubric.policy.due is None


def test_an_edited_reference_gives_a_new_version(course: Path, db_url: str) -> None:
    workspace = Workspace(course, db_url)
    first = workspace.assignment("backprop")
    reference = course / "reference" / "backprop.py"
    edit(reference, reference.read_text() + "\n# a comment is an edit too\n")
    again = workspace.assignment("backprop")
    assert again is not first and again.version != first.version


def test_an_assignment_that_never_loaded_is_an_error(course: Path, db_url: str) -> None:
    with pytest.raises(GraderError, match="no assignment 'nosuch'"):
        Workspace(course, db_url).assignment("nosuch")
