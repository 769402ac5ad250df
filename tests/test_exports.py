"""`grade export`: the spreadsheet CSV, Canvas's import CSV and Gradescope's results.json."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from helpers import PARTS, SAMPLES, rename_student, run, submitted


@pytest.fixture
def graded(course: Path, db_url: str) -> Path:
    submitted(course, "correct_loops.py", "ada")
    submitted(course, "seed_db2_not_summed.py", "ada")  # ada's latest is worse than her best
    submitted(course, "seed_dW2_transposed.py", "=HYPERLINK(\"x\")")
    return course


def rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


@pytest.mark.parametrize(("policy", "ada_total", "ada_db2"), [("latest", "95", "5"), ("best", "100", "10")])
def test_csv_has_a_row_per_student_with_parts(graded: Path, policy: str, ada_total: str, ada_db2: str) -> None:
    result = run(graded, "export", "-a", "backprop", "--policy", policy)
    assert result.exit_code == 0
    table = rows(result.stdout)
    assert table[0] == ["student", "total", *PARTS, "max_score", "late_days", "penalty", "status", "submitted_at", "submission_id"]
    by_student = {row[0]: dict(zip(table[0], row, strict=True)) for row in table[1:]}
    assert set(by_student) == {"ada", "'=HYPERLINK(\"x\")"}  # a formula is defused for spreadsheets
    ada = by_student["ada"]
    assert ada["total"] == ada_total and ada["q2c_db2"] == ada_db2 and ada["max_score"] == "100"
    assert (ada["late_days"], ada["penalty"]) == ("0", "0")  # no [policy]: never late
    assert sum(float(ada[p]) for p in PARTS) == float(ada_total)
    assert by_student["'=HYPERLINK(\"x\")"]["q2b_dW2"] == "10"  # transposed: half of 20


def test_canvas_import_has_its_identity_columns_and_one_score(graded: Path) -> None:
    table = rows(run(graded, "export", "-a", "backprop", "--format", "canvas", "--policy", "best").stdout)
    assert table[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "backprop (100 points)"]
    assert table[1] == ["Points Possible", "", "", "", "", "100"]
    assert ["ada", "", "ada", "ada", "", "100"] in table[2:]
    assert len(table) == 4


def test_gradescope_results_json(graded: Path, tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    result = run(graded, "export", "-a", "backprop", "--format", "gradescope", "-s", "ada", "-o", str(out))
    assert result.exit_code == 0
    results = json.loads(out.read_text())
    assert results["score"] == 95
    assert len(results["tests"]) == 13
    for test in results["tests"]:
        assert set(test) == {"name", "score", "max_score", "output", "visibility"}
        assert test["visibility"] == "visible"
    assert sum(t["score"] for t in results["tests"]) == results["score"]
    db2 = next(t for t in results["tests"] if t["name"] == "q2c_db2_reference")
    assert "Diagnosis: bias-not-summed" in db2["output"]


def test_hidden_checks_are_shown_after_the_due_date(course: Path, db_url: str) -> None:
    rubric = course / "rubrics" / "backprop.toml"
    rubric.write_text(rubric.read_text().replace('id = "q2c_db2_gradcheck"', 'id = "q2c_db2_gradcheck"\nhidden = true'))
    submitted(course, "correct_loops.py", "ada")
    results = json.loads(run(course, "export", "-a", "backprop", "--format", "gradescope").stdout)
    visibility = {t["name"]: t["visibility"] for t in results["tests"]}
    assert visibility["q2c_db2_gradcheck"] == "after_due_date"
    assert list(visibility.values()).count("visible") == 12


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (["--format", "gradescope"], "pass --student ID"),
        (["-s", "nobody"], "no finished submission of 'nobody'"),
    ],
)
def test_export_errors_are_one_line(graded: Path, args: list[str], text: str) -> None:
    result = run(graded, "export", "-a", "backprop", *args)
    assert result.exit_code == 2 and text in result.output
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("student", "cell"),
    [
        ("\t=cmd|' /C calc'!A0", "'\t=cmd|' /C calc'!A0"),  # tab-prefixed formula
        ("\r=1+1", "'\\r=1+1"),  # carriage-return-prefixed, shown as its escape
        ("+1-2", "'+1-2"),
        ("-5", "-5"),  # a plain number stays a number
        ("@SUM(A1)", "'@SUM(A1)"),
        ("ada\x1b[2Jx", "ada\\x1b[2Jx"),  # a terminal escape is shown, not sent
    ],
)
def test_csv_cells_never_start_a_formula_nor_carry_control_characters(course: Path, db_url: str, student: str, cell: str) -> None:
    submitted(course, "correct_loops.py", "ada")
    rename_student(db_url, "ada", student)  # grade submit refuses control characters; a gradebook may hold them
    for fmt in ("csv", "canvas"):
        result = run(course, "export", "-a", "backprop", "--format", fmt)
        assert result.exit_code == 0, result.output
        cells = [c for row in rows(result.stdout) for c in row]
        assert cell in cells, cells
        assert not any(c[:1] in ("=", "+", "@", "\t", "\r") for c in cells)
        assert not any(ch in result.stdout for ch in "\x1b\x00")


@pytest.fixture
def late(course: Path, db_url: str) -> Path:
    """ada's two submissions under a policy whose due date was 36 hours ago, a quarter of the
    score off per late day: seed_db2_not_summed (95 raw) on time thanks to a 2-day extension,
    then, the extension taken away, correct_loops (100 raw) 2 started days late: 50 off."""
    due = (datetime.now(UTC) - timedelta(hours=36)).astimezone(timezone(timedelta(hours=-5))).isoformat(timespec="seconds")
    rubric = course / "rubrics" / "backprop.toml"
    rubric.write_text(f'[policy]\ndue = "{due}"\nlate_penalty_per_day = 0.25\n\n' + rubric.read_text())
    assert run(course, "extend", "ada", "-a", "backprop", "--days", "2").exit_code == 2  # nobody knows ada yet
    run(course, "roster", "import", str(write_roster(course.parent)))
    extended = run(course, "extend", "ada", "-a", "backprop", "--days", "2")
    assert extended.exit_code == 0, extended.output
    on_time = submitted(course, "seed_db2_not_summed.py", "ada")
    assert run(course, "extend", "ada", "-a", "backprop", "--days", "0").exit_code == 0
    text = run(course, "submit", str(SAMPLES / "correct_loops.py"), "-a", "backprop", "-s", "ada")
    assert text.exit_code == 0, text.output
    assert text.stdout.splitlines()[1].endswith(" Late by 2 days: 50 points off, 50 of 100.")
    assert on_time["score"] == 95
    return course


@pytest.mark.parametrize("fmt", ["text", "md", "html"])
def test_a_late_submission_s_report_says_what_lateness_cost(late: Path, fmt: str) -> None:
    shown = run(late, "report", "-a", "backprop", "-s", "ada", "-f", fmt)
    assert shown.exit_code == 0, shown.output
    assert shown.stdout.count("Late by 2 days: 50 points off, 50 of 100.") == 1


def write_roster(directory: Path) -> Path:
    path = directory / "roster.csv"
    path.write_text("id,name,email\nada,Ada Lovelace,\n")
    return path


@pytest.mark.parametrize(("policy", "total", "late_days", "penalty"), [("latest", "50", "2", "50"), ("best", "95", "0", "0")])
def test_exports_use_the_score_after_the_late_penalty(late: Path, policy: str, total: str, late_days: str, penalty: str) -> None:
    table = rows(run(late, "export", "-a", "backprop", "--policy", policy).stdout)
    ada = dict(zip(table[0], table[1], strict=True))
    assert (ada["total"], ada["late_days"], ada["penalty"]) == (total, late_days, penalty)
    assert sum(float(ada[p]) for p in PARTS) == float(total) + float(penalty)  # the parts are the raw score's
    canvas = rows(run(late, "export", "-a", "backprop", "--format", "canvas", "--policy", policy).stdout)
    assert canvas[2] == ["Ada Lovelace", "", "ada", "ada", "", total]  # on the roster (plain: no Canvas ID, no login)


def test_gradescope_gets_the_final_score_and_says_why(late: Path) -> None:
    results = json.loads(run(late, "export", "-a", "backprop", "--format", "gradescope").stdout)
    assert results["score"] == 50
    assert sum(t["score"] for t in results["tests"]) == 100
    assert results["output"].endswith(" Late by 2 day(s): 50 points off.")


def test_the_summary_uses_the_score_after_the_late_penalty(late: Path) -> None:
    result = run(late, "summary", "-a", "backprop")
    assert result.exit_code == 0, result.output
    assert "Score of 100: mean 50, median 50, lowest 50, highest 50 (1 finished)." in result.stdout
