"""The course's people and what each may do: the API behind ``grade roster``, ``grade token``
and ``grade extend``, over the course's gradebook (``grader.identity`` says what a roster and a
token are; ``grader.db.people`` keeps them)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from grader.identity import Role, RosterEntry, read_roster
from grader.workspace import Workspace


def import_roster(path: Path, *, course: Path | str = ".", db_url: str | None = None) -> tuple[int, int]:
    """Read the roster at ``path`` (whole, before anything is stored) and import it; returns
    (added, updated)."""
    entries = read_roster(path)
    with Workspace(course, db_url).gradebook() as gradebook:
        return gradebook.import_roster(entries)


def roster(*, course: Path | str = ".", db_url: str | None = None) -> list[RosterEntry]:
    with Workspace(course, db_url).gradebook() as gradebook:
        return gradebook.roster()


def issue_token(subject: str, role: Role = "student", *, course: Path | str = ".", db_url: str | None = None) -> str:
    with Workspace(course, db_url).gradebook() as gradebook:
        return gradebook.issue_token(subject, role)


def sign_in_link(subject: str, role: Role, server: str, hours: float, *, course: Path | str = ".", db_url: str | None = None) -> str:
    """A one-time sign-in link to ``server``'s pages for ``subject``, usable once within ``hours``."""
    with Workspace(course, db_url).gradebook() as gradebook:
        secret = gradebook.issue_link(subject, role, hours)
    return f"{server.rstrip('/')}/signin/link/{secret}"


def revoke_tokens(subject: str, *, course: Path | str = ".", db_url: str | None = None) -> int:
    with Workspace(course, db_url).gradebook() as gradebook:
        return gradebook.revoke_tokens(subject)


def extend(
    student: str, assignment: str, days: float, *, course: Path | str = ".", db_url: str | None = None
) -> tuple[datetime | None, datetime | None]:
    """Give ``student`` ``days`` more on the course's ``assignment`` (0: take an extension
    away); returns their due date and closing time now (None where the policy has none)."""
    workspace = Workspace(course, db_url)
    policy = workspace.assignment(assignment).rubric.policy
    with workspace.gradebook() as gradebook:
        gradebook.extend(student, assignment, days)
    return policy.due_for(days), policy.closes_for(days)
