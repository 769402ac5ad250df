"""A course directory and its gradebook: what every command opens.

Commands that read or write results (submit, batch, report, summary, export) open a
``Workspace`` instead of each finding the course, loading the assignment and connecting to the
gradebook its own way. An assignment is loaded once per workspace.
"""

from __future__ import annotations

from pathlib import Path

from grader.course import Assignment, Course
from grader.db import Gradebook
from grader.db.engine import default_url
from grader.errors import GraderError
from grader.settings import current


class Workspace:
    def __init__(self, course: Path | str = ".", db_url: str | None = None) -> None:
        """``db_url`` None means the course's own SQLite gradebook (``COURSE/grade.db``)."""
        self.course = Course(course)
        self.db_url = db_url or default_url(self.course.root)
        self._assignments: dict[str, Assignment] = {}

    def assignment(self, name: str) -> Assignment:
        """The course's assignment, loaded and checked once; raise a CourseError if unusable."""
        if name not in self._assignments:
            self._assignments[name] = self.course.assignment(name)
        return self._assignments[name]

    def find(self, name: str) -> tuple[Assignment | None, GraderError | None]:
        """The assignment, or None and why: the gradebook may still hold results of an
        assignment the course has dropped, and they can still be reported."""
        try:
            return self.assignment(name), None
        except GraderError as exc:
            return None, exc

    def gradebook(self, *, upgrade: bool = True) -> Gradebook:
        """A connection to the gradebook (use it as a context manager); with ``upgrade``, the
        schema is created or migrated first. It rides out database restarts for as long as
        ``GRADE_DB_RETRY_SECONDS`` says, in every process that opens it: the command's, and a
        Celery worker's (its settings are those ``grade worker`` installed)."""
        return Gradebook(self.db_url, upgrade=upgrade, retry_seconds=current().db_retry_seconds)
