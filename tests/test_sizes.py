"""The limits on a submission's size agree: every file the grader accepts loads and grades, and
one past a limit is refused when it is read, with a message naming the limit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers import CORRECT, submitted

from grader.db import Gradebook
from grader.loading import MAX_BYTES, MAX_CELLS
from grader.sandbox.inside.wire import MAX_HEADER


def write_notebook(path: Path, sources: list[Any]) -> Path:
    cells = [{"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None, "source": s} for s in sources]
    path.write_text(json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": cells}))
    return path


def test_a_correct_file_of_megabytes_grades_full(course: Path, db_url: str, tmp_path: Path) -> None:
    # 2 MiB of comments and a 1 MiB string of "é": 4 MiB of UTF-8, and 8 MiB as JSON text
    padding = "".join(f"# comment {n:7d} {'-' * 88}\n" for n in range(20_000)) + f"TEXT = '{'é' * (1 << 19)}'\n"
    path = tmp_path / "padded.py"
    path.write_text(CORRECT + padding, encoding="utf-8")
    assert path.stat().st_size > 3 * MAX_HEADER
    result = submitted(course, path)
    assert (result["status"], result["score"]) == ("graded", 100.0), result["message"]


def test_a_notebook_of_megabytes_of_short_lines_grades_full(course: Path, db_url: str, tmp_path: Path) -> None:
    # lines short enough for the notebook reader to parse them as they are (not set aside)
    lines = [f"# line {n:6d} {'.' * 180}\n" for n in range(12_000)]
    path = write_notebook(tmp_path / "lines.ipynb", [CORRECT, lines])
    assert path.stat().st_size > 2 * MAX_HEADER
    result = submitted(course, path)
    assert (result["status"], result["score"]) == ("graded", 100.0), result["message"]


def test_a_notebook_of_the_most_cells_grades_full_and_one_more_is_an_error_naming_the_limit(course: Path, db_url: str, tmp_path: Path) -> None:
    most = write_notebook(tmp_path / "most.ipynb", [CORRECT] + [f"x{n} = {n}\n" for n in range(1, MAX_CELLS)])
    result = submitted(course, most)
    assert (result["status"], result["score"]) == ("graded", 100.0), result["message"]
    over = write_notebook(tmp_path / "over.ipynb", [CORRECT] + ["x = 1\n"] * MAX_CELLS)
    result = submitted(course, over, "bob")
    assert result["status"] == "error"
    assert result["message"] == f"over.ipynb: the notebook has more than {MAX_CELLS:,} cells, more than the grader reads."


def test_a_cell_holding_a_lone_surrogate_is_skipped_and_the_rest_grades(course: Path, db_url: str, tmp_path: Path) -> None:
    # JSON may escape half of a surrogate pair alone: no UTF-8 encodes it, and compile() refuses it
    path = tmp_path / "surrogate.ipynb"
    write_notebook(path, [CORRECT, "odd = 'PAIR'\n"])
    path.write_text(path.read_text().replace("PAIR", "\\ud800"))
    result = submitted(course, path)
    assert (result["status"], result["score"]) == ("graded", 100.0), result["message"]
    with Gradebook(db_url) as gradebook:
        stored = gradebook.get(result["submission_id"])
    assert stored is not None and stored.warnings[0].startswith("cell 2 was skipped: UnicodeEncodeError")


@pytest.mark.slow
def test_a_correct_file_of_the_largest_size_accepted_grades_full(course: Path, db_url: str, tmp_path: Path) -> None:
    line = "# " + "p" * 97 + "\n"
    text = CORRECT + line * ((MAX_BYTES - len(CORRECT)) // len(line))
    text += "#" * (MAX_BYTES - len(text) - 1) + "\n"
    path = tmp_path / "largest.py"
    path.write_text(text)
    assert path.stat().st_size == MAX_BYTES
    result = submitted(course, path)
    assert (result["status"], result["score"]) == ("graded", 100.0), result["message"]
