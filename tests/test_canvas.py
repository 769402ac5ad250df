"""Canvas: its gradebook export as the roster, keeping Canvas's ids of each student; `grade export
--format canvas` naming students as Canvas knows them and filling an existing assignment; and
`grade batch --canvas-names` grading Canvas's bulk download by the Canvas user ID in each name."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from helpers import CORRECT, SAMPLES, batch, rows, run

from grader.batch import Job, Skipped, discover
from grader.db import Gradebook
from grader.identity import RosterEntry
from grader.results import CheckResult, GradingResult

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


# --- export ----------------------------------------------------------------------------------------


def finish(db_url: str, student: str, score: float) -> None:
    """A graded submission of backprop by ``student`` scoring ``score`` of 100, written straight
    into the gradebook (one check carries the score)."""
    check = CheckResult(id="q1_loss", part="q1_loss", status="passed", score=score, max_score=100.0, message="", diagnoses=(), errors={})
    with Gradebook(db_url) as book:
        submission = book.begin_submission(student=student, assignment="backprop", filename="hw.py", content=b"", seed=1, rubric_version="v")
        book.finish_submission(submission, GradingResult("graded", "", 1, (check,), 100.0))


@pytest.fixture
def graded(rostered: Path, db_url: str) -> Path:
    """ada (Canvas: ID and login), cb (Canvas: ID, no login) and zed (not on the roster) graded;
    gh is on the roster and submitted nothing."""
    for student, score in (("ada", 87.5), ("cb", 40.0), ("zed", 100.0)):
        finish(db_url, student, score)
    return rostered


def table(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


IDENTITY = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
#: the rows after the header: what Canvas knows of each student, and their score
STUDENTS = [
    ["Points Possible", "", "", "", "", "100"],
    ["Lovelace, Ada", "101", "ada", "alovelace", "Section 1", "87.5"],
    ["Babbage, Charles", "102", "cb", "cb", "Section 2", "40"],  # no SIS Login ID: the id
    ["zed", "", "zed", "zed", "", "100"],  # not on the roster: the id, as without one
]


def test_the_canvas_export_names_rostered_students_as_canvas_knows_them(graded: Path) -> None:
    result = run(graded, "export", "-a", "backprop", "--format", "canvas")
    assert result.exit_code == 0, result.output
    assert table(result.stdout) == [[*IDENTITY, "backprop (100 points)"], *STUDENTS]


@pytest.mark.parametrize("column", ["Homework 3 (1234)", "Lab (part 2): gradients (98765)", "Zoë's HW (7)"])
def test_canvas_assignment_is_the_score_column_verbatim(graded: Path, column: str) -> None:
    result = run(graded, "export", "-a", "backprop", "--format", "canvas", "--canvas-assignment", column)
    assert result.exit_code == 0, result.output
    assert table(result.stdout) == [[*IDENTITY, column], *STUDENTS]


@pytest.mark.parametrize(
    "column",
    [
        "Homework 3",  # no ID
        "Homework 3 (1234) ",  # not at the very end
        " Homework 3 (1234)",
        "Homework 3(1234)",  # Canvas puts a space
        "(1234)",  # no name
        " (1234)",
        "Homework 3 ()",
        "Homework 3 (12a4)",
        "Homework 3 (-1234)",
        "Homework 3 (\u0661\u0662)",  # Arabic-Indic digits are not Canvas's
        "Homework\t3 (1234)",
        "Homework 3 (1234)\n",
        "",
    ],
)
def test_a_canvas_assignment_not_of_the_form_name_id_is_one_line(course: Path, db_url: str, column: str) -> None:
    result = run(course, "export", "-a", "backprop", "--format", "canvas", "--canvas-assignment", column)
    assert result.exit_code == 2
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert "is not of the form 'Name (ID)', e.g. 'Homework 3 (1234)'" in line and "(.../assignments/1234)" in line
    assert "Traceback" not in result.output


@pytest.mark.parametrize("fmt", ["csv", "gradescope"])
def test_canvas_assignment_is_only_for_the_canvas_format(course: Path, db_url: str, fmt: str) -> None:
    result = run(course, "export", "-a", "backprop", "--format", fmt, "--canvas-assignment", "Homework 3 (1234)")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"Error: --canvas-assignment names the score column of Canvas's import; give --format canvas, not {fmt}."
    ]


# --- batch -----------------------------------------------------------------------------------------

#: Canvas user IDs on the roster, as the batch reads them
USERS = {"101": ["ada"], "102": ["cb"], "103": ["gh"], "104": ["dee", "old_dee"]}


def download(directory: Path) -> Path:
    """Canvas's bulk download of backprop: ada's two files (the one uploaded last, file 1001, a
    resubmission whose name Canvas ended with -1, sorts first by name), cb's late one, and files
    of no student on the roster (the test student's among them)."""
    directory.mkdir()
    files = {
        "lovelaceada_101_998_backprop.py": (SAMPLES / "seed_db2_not_summed.py").read_text(),
        "lovelaceada_101_1001_backprop-1.py": CORRECT,
        "babbagecharles_LATE_102_1002_backprop.py": CORRECT,
        "studenttest_999_1003_backprop.py": CORRECT,
        "lovelaceada.py": CORRECT,  # not as Canvas names files
        "hoppergrace_103_1004_notes.txt": "",
    }
    for name, source in files.items():
        (directory / name).write_text(source)
    return directory


def test_discover_maps_canvas_s_file_names_by_their_canvas_user_id(tmp_path: Path) -> None:
    directory = download(tmp_path / "download")
    (directory / "dee_104_1005_backprop.ipynb").write_text("{}")
    (directory / "hoppergrace_103_1006_folder").mkdir()
    jobs, skipped = discover(directory, USERS)
    assert sorted(jobs, key=lambda job: job.student) == [
        Job("ada", directory / "lovelaceada_101_1001_backprop-1.py"),
        Job("cb", directory / "babbagecharles_LATE_102_1002_backprop.py"),
    ]
    assert sorted(skipped, key=lambda s: s.path) == [
        Skipped("dee_104_1005_backprop.ipynb", "the Canvas user ID 104 is on the roster for 2 students ('dee', 'old_dee')"),
        Skipped("hoppergrace_103_1004_notes.txt", "not a .py file or a .ipynb notebook"),
        Skipped("hoppergrace_103_1006_folder/", "a folder, where Canvas's bulk download holds only files"),
        Skipped("lovelaceada.py", "not named as Canvas's bulk download names files (<login>_<Canvas user ID>_<file number>_<name>)"),
        Skipped("lovelaceada_101_998_backprop.py", "an earlier file of student 'ada': lovelaceada_101_1001_backprop-1.py is graded"),
        Skipped("studenttest_999_1003_backprop.py", "the Canvas user ID 999 is not on the roster (grade roster import takes Canvas's gradebook export)"),
    ]


def test_without_canvas_names_a_download_s_files_are_named_by_student_id_as_before(tmp_path: Path) -> None:
    directory = download(tmp_path / "download")
    jobs, skipped = discover(directory)
    assert {job.student for job in jobs} == {
        "lovelaceada_101_998_backprop", "lovelaceada_101_1001_backprop-1", "babbagecharles_LATE_102_1002_backprop",
        "studenttest_999_1003_backprop", "lovelaceada",
    }
    assert skipped == [Skipped("hoppergrace_103_1004_notes.txt", "not a .py file, a .ipynb notebook or a folder")]


def test_batch_canvas_names_grades_each_rostered_student_s_latest_file(rostered: Path, db_url: str, tmp_path: Path) -> None:
    summary = batch(rostered, download(tmp_path / "download"), "--canvas-names")
    assert (summary["submissions"], summary["graded"]) == (2, 2)
    assert sorted(summary["skipped"], key=lambda s: s["path"]) == [
        {"path": "hoppergrace_103_1004_notes.txt", "reason": "not a .py file or a .ipynb notebook"},
        {"path": "lovelaceada.py", "reason": "not named as Canvas's bulk download names files (<login>_<Canvas user ID>_<file number>_<name>)"},
        {"path": "lovelaceada_101_998_backprop.py", "reason": "an earlier file of student 'ada': lovelaceada_101_1001_backprop-1.py is graded"},
        {"path": "studenttest_999_1003_backprop.py", "reason": "the Canvas user ID 999 is not on the roster (grade roster import takes Canvas's gradebook export)"},
    ]
    # ada's file 1001 is the correct one (100); her file 998 does not sum db2 (95)
    assert sorted(rows(db_url)) == [("ada", "graded", 100.0), ("cb", "graded", 100.0)]
    with Gradebook(db_url) as book:
        latest = book.latest("ada", "backprop")
    assert latest is not None and latest.filename == "lovelaceada_101_1001_backprop-1.py"


def test_batch_canvas_names_says_when_the_roster_has_no_canvas_ids(course: Path, db_url: str, tmp_path: Path) -> None:
    assert run(course, "roster", "import", str(write(tmp_path, "id,name,email\nada,Ada,\n", "plain.csv"))).exit_code == 0
    result = run(course, "batch", str(download(tmp_path / "download")), "-a", "backprop", "--canvas-names")
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "Error: --canvas-names finds students by their Canvas user ID, and the roster has none: "
        "import Canvas's gradebook export first (grade roster import FILE.csv)."
    ]
    assert rows(db_url) == []
