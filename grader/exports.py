"""Gradebook exports: a CSV for spreadsheets, a CSV Canvas imports, and Gradescope's results.json.

Each student counts once, by ``policy``: ``latest`` (the newest finished submission) or
``best`` (the highest final score; the newest among equals). Every score exported is the final
score, the raw score less its late penalty (``StoredSubmission.final_score``).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from grader import students
from grader.db import StoredSubmission
from grader.errors import ExportError, GraderError, NotFound
from grader.identity import RosterEntry
from grader.rubric import Rubric
from grader.terminal import printable
from grader.visibility import redact_all, reproduction, sentence
from grader.workspace import Workspace

FORMATS = ("csv", "canvas", "gradescope")
POLICIES = ("latest", "best")


def export(
    *,
    assignment: str,
    format: str = "csv",
    policy: str = "latest",
    student: str | None = None,
    canvas_assignment: str | None = None,
    course: Path | str = ".",
    db_url: str | None = None,
) -> str:
    """The export as text. ``gradescope`` describes one student (``student``, or the only one);
    ``canvas`` names its score column ``canvas_assignment`` if given (``canvas_column``)."""
    if format not in FORMATS:
        raise ExportError(f"export format {format!r} is not one of {', '.join(FORMATS)}.")
    if policy not in POLICIES:
        raise ExportError(f"policy {policy!r} is not one of {', '.join(POLICIES)}.")
    if canvas_assignment is not None:
        if format != "canvas":
            raise ExportError(f"--canvas-assignment names the score column of Canvas's import; give --format canvas, not {format}.")
        canvas_column(canvas_assignment)
    workspace = Workspace(course, db_url)
    rubric = workspace.assignment(assignment).rubric
    with workspace.gradebook() as gradebook:
        chosen = choose(gradebook.finished(assignment), policy)
        roster = gradebook.roster() if format == "canvas" else []
    if student is not None:
        chosen = {k: v for k, v in chosen.items() if k == student}
    if not chosen:
        who = f" of {student!r}" if student is not None else ""
        raise NotFound(f"no finished submission{who} for {assignment!r} in the gradebook.")
    if format == "gradescope":
        if len(chosen) != 1:
            raise GraderError(f"results.json describes one student and {len(chosen)} have results: pass --student ID.")
        return json.dumps(gradescope(next(iter(chosen.values())), rubric), indent=2)
    return spreadsheet(chosen, rubric) if format == "csv" else canvas(chosen, rubric, roster, canvas_assignment)


def choose(submissions: list[StoredSubmission], policy: str) -> dict[str, StoredSubmission]:
    """One submission per student, in the order students first appear (``submissions`` oldest first)."""
    chosen: dict[str, StoredSubmission] = {}
    for submission in submissions:
        current = chosen.get(submission.student)
        better = policy == "latest" or current is None or (submission.final_score or 0.0) >= (current.final_score or 0.0)
        if better:
            chosen[submission.student] = submission
    return dict(sorted(chosen.items()))


def spreadsheet(chosen: dict[str, StoredSubmission], rubric: Rubric) -> str:
    """One row per student: the final total, one column per part (as the checks scored them,
    before any penalty), late days and the penalty in points, status, submitted time (UTC, ISO
    8601)."""
    header = ["student", "total", *[p.id for p in rubric.parts], "max_score", "late_days", "penalty", "status", "submitted_at", "submission_id"]
    rows = [header]
    for student, submission in chosen.items():
        parts = _part_scores(submission)
        rows.append([
            student,
            _number(submission.final_score or 0.0),
            *[_number(parts.get(p.id, 0.0)) for p in rubric.parts],
            _number(submission.max_score or rubric.max_score),
            str(submission.late_days),
            _number(submission.penalty),
            submission.status,
            submission.submitted_at.isoformat(),
            str(submission.id),
        ])
    return _csv(rows)


def canvas(chosen: dict[str, StoredSubmission], rubric: Rubric, roster: Iterable[RosterEntry] = (), column: str | None = None) -> str:
    """Canvas's gradebook import: its five identity columns, then one score column.

    A student on ``roster`` is named as Canvas knows them: their name, Canvas's "ID" of
    them (from its gradebook export), their id as "SIS User ID", their "SIS Login ID" (else
    their id) and section; any other student has their id in "Student", "SIS User ID" and "SIS
    Login ID", the columns Canvas matches students by when its "ID" is empty. The score column
    is ``column``, an existing assignment's "Name (ID)" (``canvas_column``), which Canvas fills;
    without it, the assignment's name with its points, which Canvas offers to create or match.
    """
    header = canvas_column(column) if column is not None else f"{rubric.name} ({rubric.max_score:g} points)"
    rows = [["Student", "ID", "SIS User ID", "SIS Login ID", "Section", header]]
    rows.append(["Points Possible", "", "", "", "", _number(rubric.max_score)])
    by_id = {entry.id: entry for entry in roster}
    for student, submission in chosen.items():
        entry = by_id.get(student)
        if entry is None:
            identity = [student, "", student, student, ""]
        else:
            identity = [entry.name or student, entry.canvas_id or "", student, entry.sis_login_id or student, entry.section or ""]
        rows.append([*identity, _number(submission.final_score or 0.0)])
    return _csv(rows)


#: an existing assignment as Canvas's import names its column: "Homework 3 (1234)"
_CANVAS_COLUMN = re.compile(r"\S(?:.*\S)? \([0-9]+\)")


def canvas_column(assignment: str) -> str:
    """``assignment`` if it is an existing Canvas assignment's column as Canvas's import matches
    it, "Name (ID)"; ExportError, one line saying the form and where the ID is, otherwise."""
    if _CANVAS_COLUMN.fullmatch(assignment) is None or students.control_character(assignment) is not None:
        raise ExportError(
            f"the Canvas assignment {students.shown(assignment)} is not of the form 'Name (ID)', e.g. 'Homework 3 (1234)': "
            "the assignment's name in Canvas, a space, and in parentheses the number its page's URL ends with (.../assignments/1234)."
        )
    return assignment


def gradescope(submission: StoredSubmission, rubric: Rubric) -> dict[str, Any]:
    """Gradescope's autograder ``results.json``: the score and one test per check.

    Hidden checks are shown after the due date only (``after_due_date``), the rest at once, a
    failed one with the code that reproduces its case when it is small. The
    score is the final score; the tests' scores add up to the raw score, and the output says why
    they differ.
    """
    late = f" Late by {submission.late_days} day(s): {submission.penalty:g} points off." if submission.penalty else ""
    return {
        "score": submission.final_score or 0.0,
        "output": submission.message + late,
        "tests": [
            {
                "name": check.id,
                "score": check.score,
                "max_score": check.max_score,
                "output": sentence(check, rubric)
                + (f"\nDiagnosis: {', '.join(check.codes)}" if check.codes else "")
                + (f"\n\nTo reproduce:\n\n{reproduction(check)}" if reproduction(check) else ""),
                "visibility": "after_due_date" if check.hidden else "visible",
            }
            for check in redact_all(submission.checks, rubric)
        ],
    }


def _part_scores(submission: StoredSubmission) -> dict[str, float]:
    parts: dict[str, float] = {}
    for check in submission.checks:
        parts[check.part] = parts.get(check.part, 0.0) + check.score
    return parts


def _number(value: float) -> str:
    return f"{value:g}"


def _csv(rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for row in rows:
        writer.writerow([_cell(cell) for cell in row])
    return buffer.getvalue()


#: what a spreadsheet may read as the start of a formula (OWASP's list): student ids are not trusted
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"-?\d+(\.\d+)?(e[+-]?\d+)?")


def _cell(cell: str) -> str:
    """A cell as a spreadsheet will show it and never run it: a formula-like start is defused
    with a leading ', and control characters are shown as escapes."""
    if cell[:1] in _FORMULA_STARTS and not _NUMBER.fullmatch(cell):
        cell = "'" + cell
    return printable(cell)
