"""A course directory and its gradebook: what every command opens.

Commands that read or write results (submit, batch, report, summary, export) open a
``Workspace`` instead of each finding the course, loading the assignment and connecting to the
gradebook its own way. An assignment is loaded once per workspace.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection
from pathlib import Path
from typing import Any

from grader.course import Assignment, Course
from grader.db import Gradebook
from grader.db.engine import default_url
from grader.errors import GraderError
from grader.leases import is_upload, readable, sweep_scratch
from grader.settings import current

log = logging.getLogger(__name__)

#: the message of a submission whose grading stopped before it stored a result
INTERRUPTED = "grading was interrupted before it stored a result; submit again."


class Workspace:
    def __init__(self, course: Path | str = ".", db_url: str | None = None) -> None:
        """``db_url`` None means the course's own SQLite gradebook (``COURSE/grade.db``)."""
        self.course = Course(course)
        self.db_url = db_url or default_url(self.course.root)
        self._assignments: dict[str, tuple[tuple[Any, ...], Assignment]] = {}  # name -> (its files' stamp, it)
        self._broken: dict[str, tuple[Any, ...]] = {}  # name -> the stamp of files that did not load
        self._lock = threading.Lock()

    def assignment(self, name: str) -> Assignment:
        """The course's assignment, loaded and checked once, and again whenever its files change
        (its rubric, its reference or mistakes module): a server or worker that runs for weeks
        follows the instructor's edits, a moved due date included. Raise a CourseError if it
        does not load; once it has loaded, an edit that breaks it is logged and the last good
        one kept (an editor's half-written file must not close an assignment)."""
        found = self._assignments.get(name)
        if found is not None and found[0] == self._stamp(name):
            return found[1]
        with self._lock:
            found = self._assignments.get(name)
            stamp = self._stamp(name)  # before loading: an edit made while it loads is seen next time
            if found is not None and (found[0] == stamp or self._broken.get(name) == stamp):
                return found[1]
            try:
                loaded = self.course.assignment(name)
            except GraderError as exc:
                if found is None:
                    raise
                self._broken[name] = stamp
                log.error("%s was edited and no longer loads (%s); grading it as it was", name, exc)
                return found[1]
            if found is not None:
                log.info("%s was edited: reloaded (rubric version %s)", name, loaded.version)
            self._assignments[name] = (stamp, loaded)
            return loaded

    def _stamp(self, name: str) -> tuple[Any, ...]:
        """When the files an assignment may load last changed: its rubric and the course's
        reference modules (a reference may import a module of its own beside it)."""
        paths = [self.course.root / "rubrics" / f"{name}.toml", *sorted((self.course.root / "reference").glob("*.py"))]
        stamp: list[Any] = []
        for path in paths:
            try:
                found = path.stat()
                stamp.append((path.name, found.st_mtime_ns, found.st_size, found.st_ino))
            except OSError:
                stamp.append((path.name, None))
        return tuple(stamp)

    def find(self, name: str) -> tuple[Assignment | None, GraderError | None]:
        """The assignment, or None and why: the gradebook may still hold results of an
        assignment the course has dropped, and they can still be reported."""
        try:
            return self.assignment(name), None
        except GraderError as exc:
            return None, exc

    def gradebook(self, *, upgrade: bool = True, tidy: bool = True) -> Gradebook:
        """A connection to the gradebook (use it as a context manager); with ``upgrade``, the
        schema is created or migrated first, and with ``tidy`` too, what stopped graders left
        behind is tidied (``tidy``). It rides out database restarts for as long as
        ``GRADE_DB_RETRY_SECONDS`` says, in every process that opens it: the command's, and a
        Celery worker's (its settings are those ``grade worker`` installed)."""
        gradebook = Gradebook(self.db_url, upgrade=upgrade, retry_seconds=current().db_retry_seconds)
        if upgrade and tidy:
            try:
                self.tidy(gradebook)
            except BaseException:
                gradebook.close()
                raise
        return gradebook

    def tidy(self, gradebook: Gradebook, spare: Collection[str] = ()) -> list[int]:
        """Close every orphan, a pending submission whose grader stopped (see ``grader.leases``),
        as an ``error`` "grading was interrupted", and remove the scratch folders of graders that
        no longer run on this machine. Returns the ids of the submissions closed.

        A batch spares the orphans under its own batch keys (``spare``): it takes them over and
        grades them. Closing any other frees its batch key, so that a later batch records the
        file anew and grades it; either way nothing stays pending forever. Uploads to ``grade
        serve`` are spared too: a student was told they were accepted, and a server (this one
        restarted, or another on the same gradebook) takes them over and grades them."""
        closed = []
        spared = set(spare)
        for orphan in gradebook.pending(lapsed_only=True):
            if orphan.batch_key in spared or is_upload(orphan.batch_key):
                continue
            loaded, _ = self.find(orphan.assignment)
            max_score = loaded.rubric.max_score if loaded is not None else None
            if gradebook.close_orphan(orphan, INTERRUPTED, max_score):
                log.warning("closed submission %d as interrupted: %s stopped grading it", orphan.id, readable(orphan.owner or "its grader"))
                closed.append(orphan.id)
        sweep_scratch()
        return closed
