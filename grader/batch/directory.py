"""What is in a class directory: one submission per student, and everything else, skipped.

A directory holds ``<student>.py``, ``<student>.ipynb``, or a folder ``<student>/`` with one
such file, whose ``<student>`` is a valid student id (``grader.students``, the rule of ``grade
submit``). Anything else is listed with the reason it is not graded.

Canvas's bulk download of an assignment's submissions (``grade batch --canvas-names``) names
each file ``<login>_<user>_<file>_<name>``, or ``<login>_LATE_<user>_<file>_<name>`` for a late
one: ``<user>`` is Canvas's number of the student and ``<file>`` the number of the uploaded file
(later uploads have higher numbers), and ``<name>`` the file's own name, to which Canvas adds
``-1``, ``-2`` when a student uploads a name again. Such a file is the submission of the
rostered student whose Canvas id is ``<user>``, never of someone guessed from ``<login>``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from grader import students
from grader.errors import GraderError
from grader.loading import KINDS

#: a file of Canvas's bulk download: login, LATE, Canvas's user number, its file number, the name
CANVAS_NAME = re.compile(r"(?P<login>.+?)_(?:LATE_)?(?P<user>[0-9]+)_(?P<file>[0-9]+)_(?P<name>.+)")


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


def discover(directory: Path, canvas: Mapping[str, Sequence[str]] | None = None) -> tuple[list[Job], list[Skipped]]:
    """The submissions in ``directory``, and everything else in it, with the reason it is skipped.

    With ``canvas`` (each Canvas user number on the roster: the ids of the rostered students who
    have it, one unless the roster is stale), the files are named as Canvas's bulk download
    names them and belong to the student ``canvas`` gives their user number."""
    if not directory.is_dir():
        raise GraderError(f"{directory} is not a directory of submissions.")
    if canvas is not None:
        return _canvas_download(directory, canvas)
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


def _canvas_download(directory: Path, canvas: Mapping[str, Sequence[str]]) -> tuple[list[Job], list[Skipped]]:
    """The files of Canvas's bulk download in ``directory``: of each student, the one uploaded
    last (the highest file number); the others, and files of no one rostered, skipped."""
    latest: dict[str, tuple[int, Path]] = {}
    skipped: list[Skipped] = []
    for entry in sorted(directory.iterdir()):
        named = CANVAS_NAME.fullmatch(entry.name)
        owners = canvas.get(named["user"], ()) if named else ()
        if entry.is_dir():
            skipped.append(Skipped(entry.name + "/", "a folder, where Canvas's bulk download holds only files"))
        elif entry.suffix.lower() not in KINDS:
            skipped.append(Skipped(entry.name, "not a .py file or a .ipynb notebook"))
        elif named is None:
            skipped.append(Skipped(entry.name, "not named as Canvas's bulk download names files (<login>_<Canvas user ID>_<file number>_<name>)"))
        elif not owners:
            skipped.append(Skipped(entry.name, f"the Canvas user ID {named['user']} is not on the roster (grade roster import takes Canvas's gradebook export)"))
        elif len(owners) > 1:
            both = ", ".join(students.shown(owner) for owner in sorted(owners))
            skipped.append(Skipped(entry.name, f"the Canvas user ID {named['user']} is on the roster for {len(owners)} students ({both})"))
        else:
            [student] = owners
            kept, found = latest.get(student), (int(named["file"]), entry)
            if kept is not None:
                earlier, found = sorted([kept, found])
                skipped.append(Skipped(earlier[1].name, f"an earlier file of student {students.shown(student)}: {found[1].name} is graded"))
            latest[student] = found
    return [Job(student, path) for student, (_, path) in latest.items()], skipped
