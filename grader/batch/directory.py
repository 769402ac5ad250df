"""What is in a class directory: one submission per student, and everything else, skipped.

A directory holds ``<student>.py``, ``<student>.ipynb``, or a folder ``<student>/`` with one
such file, whose ``<student>`` is a valid student id (``grader.students``, the rule of ``grade
submit``). Anything else is listed with the reason it is not graded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from grader import students
from grader.errors import GraderError
from grader.loading import KINDS


@dataclass(frozen=True)
class Job:
    """A student's submission file to grade."""

    student: str
    path: Path


@dataclass(frozen=True)
class Skipped:
    """A directory entry that is not graded, and why (``path`` relative to the directory)."""

    path: str
    reason: str


def discover(directory: Path) -> tuple[list[Job], list[Skipped]]:
    """The submissions in ``directory``, and everything else in it, with the reason it is skipped."""
    if not directory.is_dir():
        raise GraderError(f"{directory} is not a directory of submissions.")
    jobs: dict[str, Job] = {}
    skipped: list[Skipped] = []
    for entry in sorted(directory.iterdir()):
        if entry.is_dir():
            inside = sorted(f for f in entry.iterdir() if f.is_file() and f.suffix.lower() in KINDS)
            if len(inside) != 1:
                reason = "no .py or .ipynb file inside" if not inside else f"{len(inside)} submission files inside; keep one"
                skipped.append(Skipped(entry.name + "/", reason))
                continue
            student, path = entry.name, inside[0]
        elif entry.suffix.lower() in KINDS:
            student, path = entry.stem, entry
        else:
            skipped.append(Skipped(entry.name, "not a .py file, a .ipynb notebook or a folder"))
            continue
        why = students.problem(student)
        if why is not None:
            skipped.append(Skipped(str(path.relative_to(directory)), f"the student id {students.shown(student)} {why}"))
            continue
        if student in jobs:
            skipped.append(Skipped(str(path.relative_to(directory)), f"a second submission of student {student!r}"))
            continue
        jobs[student] = Job(student, path)
    return list(jobs.values()), skipped
