"""Errors an operator can cause, each turned into a one-line CLI message.

A student's failure is never one of these: it is data, a ``CheckResult``.

    GraderError
     ├── SettingsError        a GRADE_* environment variable has a value the grader cannot use
     ├── CourseError          the course directory, an assignment or a rubric is unusable
     │    ├── UnknownAssignment
     │    └── RubricError
     ├── SubmissionFileError  the submission path cannot be read at all (missing, a directory)
     ├── DatabaseError        the gradebook cannot be opened or upgraded
     └── NotFound             a report asked for something the gradebook does not hold
"""

from __future__ import annotations


class GraderError(Exception):
    """Base class: the message is one sentence saying what, why and the fix."""


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


class DatabaseError(GraderError):
    pass


class NotFound(GraderError):
    pass
