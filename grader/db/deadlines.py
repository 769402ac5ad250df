"""The gradebook's half of course policy: per-student extensions, and the uploads that count
against ``max_submissions`` and the rate (``grader.policy`` decides; these operations give it
the facts, the same to every server sharing the gradebook).

``Gradebook`` inherits these operations; each runs through ``Gradebook._transaction`` and is
safe to repeat: ``extend`` sets an extension to a value (a repeat sets it again), the rest read.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from grader import students
from grader.db import names
from grader.db.models import Assignment, Extension, RosterRow, Student, Submission
from grader.db.people import rostered_in
from grader.errors import InvalidExtension, NotRostered
from grader.results import grader_fault

T = TypeVar("T")
#: the longest extension: a year is no longer an extension
MAX_EXTENSION_DAYS = 365


@dataclass(frozen=True)
class Standing:
    """A student's standing on an assignment: on the roster, days of extension, uploads that count."""

    rostered: bool
    extension_days: float
    uploads: list[datetime]


class Deadlines:
    """Extensions and counted uploads; a part of ``Gradebook``."""

    if TYPE_CHECKING:

        def _transaction(self, action: str, work: Callable[[Session], T], fix: str = ...) -> T: ...

    def extend(self, student: str, assignment: str, days: float) -> None:
        """Give ``student`` ``days`` more on ``assignment`` (its due date and closing move),
        replacing an earlier extension; 0 takes it away. The student must be on the roster or
        have submitted something (NotRostered otherwise: a mistyped id)."""
        if not (math.isfinite(days) and 0 <= days <= MAX_EXTENSION_DAYS):
            raise InvalidExtension(f"an extension of {days:g} days is not possible: give a number of days from 0 to {MAX_EXTENSION_DAYS}.")
        granted = datetime.now(UTC)

        def work(s: Session) -> None:
            assignment_id = names.assignment_id(s, assignment)  # a write first: SQLite's lock
            student_id = names.known_student(s, student)
            rostered = student_id is not None and s.get(RosterRow, student_id) is not None
            submitted = student_id is not None and s.scalars(select(Submission.id).where(Submission.student_id == student_id).limit(1)).first() is not None
            if student_id is None or not (rostered or submitted):
                raise NotRostered(
                    f"the student {students.shown(student)} is neither on the roster nor in the gradebook: "
                    "check the id, or add them with grade roster import."
                )
            s.execute(delete(Extension).where(Extension.student_id == student_id, Extension.assignment_id == assignment_id))
            if days > 0:
                s.add(Extension(student_id=student_id, assignment_id=assignment_id, days=float(days), granted_at=granted))

        self._transaction("record an extension in", work)

    def standing(self, student: str, assignment: str) -> Standing:
        """What the course's policy weighs before an upload of ``student``'s is read, in one read."""

        def read(s: Session) -> Standing:
            return Standing(rostered_in(s, student), extension_in(s, student, assignment), uploads_in(s, student, assignment, None))

        return self._transaction("read gradebook", read)

    def extension_days(self, student: str, assignment: str) -> float:
        """The days ``student`` has been given on ``assignment``; 0.0 without an extension."""
        return self._transaction("read gradebook", lambda s: extension_in(s, student, assignment))

    def uploads(self, student: str, assignment: str, since: datetime | None = None) -> list[datetime]:
        """When ``student``'s submissions of ``assignment`` that count were submitted (since
        ``since``, inclusive, if given), oldest first: every one, pending ones included, except
        those that ended in a failure of the grader's own (``grader.results.grader_fault``)."""
        return self._transaction("read gradebook", lambda s: uploads_in(s, student, assignment, since))


def extension_in(s: Session, student: str, assignment: str) -> float:
    """``Deadlines.extension_days`` within the transaction of ``s``."""
    query = (
        select(Extension.days)
        .join(Student, Extension.student_id == Student.id)
        .join(Assignment, Extension.assignment_id == Assignment.id)
        .where(Student.external_id == student, Assignment.name == assignment)
    )
    return float(s.scalars(query).first() or 0.0)


def uploads_in(s: Session, student: str, assignment: str, since: datetime | None = None) -> list[datetime]:
    """``Deadlines.uploads`` within the transaction of ``s``."""
    query = (
        select(Submission.submitted_at, Submission.status, Submission.message, Submission.filename)
        .join(Student, Submission.student_id == Student.id)
        .join(Assignment, Submission.assignment_id == Assignment.id)
        .where(Student.external_id == student, Assignment.name == assignment)
        .order_by(Submission.submitted_at, Submission.id)
    )
    if since is not None:
        query = query.where(Submission.submitted_at >= since)
    return [row.submitted_at for row in s.execute(query) if not grader_fault(row.status, row.message, row.filename)]
