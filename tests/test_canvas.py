"""Canvas: its gradebook export as the roster, keeping Canvas's ids of each student."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import run

from grader.db import Gradebook
from grader.identity import RosterEntry

#: Canvas's gradebook export as it downloads: a byte order mark, CRLF, its "Points Possible" row,
#: the test student (no SIS User ID), a student without an SIS Login ID, one on no submission
CANVAS_EXPORT = (
    "\ufeffStudent,ID,SIS User ID,SIS Login ID,Section,Homework 3 (1234),Current Score\r\n"
    "    Points Possible,,,,,100,(read only)\r\n"
    '"Lovelace, Ada",101,ada,alovelace,Section 1,,\r\n'
    '"Babbage, Charles",102,cb,,Section 2,,\r\n'
    '"Student, Test",999,,,Section 1,,\r\n'
    '"Hopper, Grace",103,gh,ghopper@uni.example,"Section 1, Lab 2",,\r\n'
)
ADA = RosterEntry("ada", "Lovelace, Ada", "", "101", "alovelace", "Section 1")
CB = RosterEntry("cb", "Babbage, Charles", "", "102", None, "Section 2")
GH = RosterEntry("gh", "Hopper, Grace", "ghopper@uni.example", "103", "ghopper@uni.example", "Section 1, Lab 2")


def write(directory: Path, text: str, name: str = "canvas.csv") -> Path:
    path = directory / name
    path.write_bytes(text.encode("utf-8"))
    return path


@pytest.fixture
def rostered(course: Path, db_url: str, tmp_path: Path) -> Path:
    """The course with Canvas's export imported as its roster."""
    imported = run(course, "roster", "import", str(write(tmp_path, CANVAS_EXPORT)))
    assert (imported.exit_code, imported.stdout) == (0, "3 added, 0 updated\n")
    return course


def roster(db_url: str) -> list[RosterEntry]:
    with Gradebook(db_url) as book:
        return book.roster()


# --- the roster ------------------------------------------------------------------------------------


def test_canvas_s_export_imports_each_student_s_canvas_ids(rostered: Path, db_url: str) -> None:
    assert roster(db_url) == [ADA, CB, GH]  # by id; the test student has no SIS User ID: not a student


def test_a_plain_roster_keeps_the_canvas_ids_and_a_new_canvas_export_updates_them(rostered: Path, db_url: str, tmp_path: Path) -> None:
    again = run(rostered, "roster", "import", str(write(tmp_path, CANVAS_EXPORT)))
    assert again.stdout == "0 added, 0 updated\n"
    plain = run(rostered, "roster", "import", str(write(tmp_path, "id,name,email\nada,Ada King,ada@uni.example\n", "plain.csv")))
    assert plain.stdout == "0 added, 1 updated\n"
    ada = RosterEntry("ada", "Ada King", "ada@uni.example", "101", "alovelace", "Section 1")  # name and email only
    assert roster(db_url) == [ada, CB, GH]
    moved = CANVAS_EXPORT.replace("102,cb,,Section 2", "102,cb,cbabbage,Section 3")
    assert run(rostered, "roster", "import", str(write(tmp_path, moved))).stdout == "0 added, 2 updated\n"  # ada's name back, cb moved
    assert roster(db_url) == [ADA, RosterEntry("cb", "Babbage, Charles", "", "102", "cbabbage", "Section 3"), GH]
