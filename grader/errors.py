"""Errors an operator can cause, each turned into a one-line CLI message.

A student's failure is never one of these: it is data, a ``CheckResult``.

    GraderError
     ├── SettingsError        a GRADE_* environment variable has a value the grader cannot use
     ├── CourseError          the course directory, an assignment or a rubric is unusable
     │    ├── UnknownAssignment
     │    └── RubricError
     ├── SubmissionFileError  the submission path cannot be read at all (missing, a directory)
     ├── InvalidName          a student or assignment name the gradebook cannot store (empty, NUL)
     ├── RosterError          a roster file cannot be read: the line and what is wrong with it
     ├── NotRostered          a student token or an extension for an id the gradebook does not know
     ├── InvalidExtension     an extension of a negative, non-finite or too long a time
     ├── DatabaseError        the gradebook cannot be opened, upgraded, read or written
     │    └── AlreadyFinished a submission to finish was finished (graded) before: a second
     │                        grading of it (a redelivered batch task) is not stored
     ├── NotFound             a report asked for something the gradebook does not hold
     └── ExportError          an export option the export cannot use (a format, a policy, a
                              Canvas assignment not of the form "Name (ID)")

Not a ``GraderError``: ``UnstorableResult``, a grading result the gradebook refuses (a status
that is not a submission status, measured errors that are not plain JSON), is a bug of the
grader, not something an operator can fix. Nor ``AssignmentFault``: the assignment's own code
(the reference, its ``make_inputs``, the mistakes module) raised while grading, on inputs the
checks at load did not try; the grading goes on and the checks it touched say so.
"""

from __future__ import annotations


class GraderError(Exception):
    """Base class: the message is one sentence saying what, why and the fix. The command line
    prints it as one line and exits with ``exit_code``."""

    exit_code = 2


class SettingsError(GraderError):
    pass


class CourseError(GraderError):
    pass


class UnknownAssignment(CourseError):
    pass


class RubricError(CourseError):
    pass


class SubmissionFileError(GraderError):
    pass


class InvalidName(GraderError):
    pass


class RosterError(GraderError):
    pass


class NotRostered(GraderError):
    pass


class InvalidExtension(GraderError):
    pass


class DatabaseError(GraderError):
    pass


class AlreadyFinished(DatabaseError):
    pass


class NotFound(GraderError):
    pass


class ExportError(GraderError):
    pass


class UnstorableResult(Exception):
    """A grading result the gradebook cannot store: a programming error of the grader."""


class AssignmentFault(Exception):
    """The assignment's code raised while grading (``Assignment.function``, ``Assignment.variants``):
    the instructor has to fix the assignment. Never the student's failure, and not an operator's
    mistake at the command line either: ``grader.checks.registry.run_check`` turns it into the
    check's result. ``what`` names the code ("reference's gradients"), ``reason`` the exception."""

    def __init__(self, what: str, reason: str) -> None:
        super().__init__(f"the assignment's {what} failed ({reason})")
        self.what = what
        self.reason = reason

    @classmethod
    def of(cls, what: str, exc: BaseException) -> AssignmentFault:
        return cls(what, " ".join(f"{type(exc).__name__}: {exc}".split())[:200])
