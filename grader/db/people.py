"""The gradebook's people: the roster, instructors, and the tokens that speak for them.

``Gradebook`` inherits these operations; like all of its operations, each runs its work
through ``Gradebook._transaction`` and is safe to repeat after a lost acknowledgement:

- ``import_roster`` adds and updates to the same end state (a repeat after a commit whose
  acknowledgement was lost counts nothing as added or updated: it finds everything there);
- ``issue_token`` draws its token once, before the first attempt, and a repeat that finds that
  token's hash stored returns it (the token is random: nobody else has it);
- ``revoke_tokens`` marks revoked what is not yet (a repeat counts 0);
- reads repeat harmlessly.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar, cast

from sqlalchemy import CursorResult, bindparam, select, update
from sqlalchemy.orm import Session

from grader import students
from grader.db import names
from grader.db.models import Instructor, RosterRow, Student, Token, WebSession
from grader.errors import InvalidName, NotRostered
from grader.identity import MAX_TOKEN_LENGTH, ROLES, Identity, Role, RosterEntry, new_token, token_digest

T = TypeVar("T")
#: keep each IN list of parameters short
CHUNK = 500
#: a roster row's columns, in the order of ``RosterEntry``'s fields after the id
ROSTER_FIELDS = (RosterRow.name, RosterRow.email, RosterRow.canvas_id, RosterRow.sis_login_id, RosterRow.section)


class People:
    """Roster, identities and tokens; a part of ``Gradebook``."""

    if TYPE_CHECKING:

        def _transaction(self, action: str, work: Callable[[Session], T], fix: str = ...) -> T: ...

    def import_roster(self, entries: list[RosterEntry]) -> tuple[int, int]:
        """Put these students on the roster; returns (added, updated): students new to the roster,
        and those already on it whose name, email or Canvas identity changed. An entry with a
        Canvas id (from Canvas's export) sets the student's Canvas id, SIS login and section; one
        without (a plain roster) leaves them as they are. Nobody is removed, and importing the
        same file again changes nothing and returns (0, 0)."""
        for entry in entries:
            students.require(entry.id)
        wanted = {entry.id: entry for entry in entries}  # the last line of an id wins

        def work(s: Session) -> tuple[int, int]:
            # Writes first, so that SQLite takes its write lock (and waits for it) at the start.
            ids = {student: names.student_id(s, student) for student in wanted}
            on_roster: dict[int, dict[str, str | None]] = {}
            keys = list(ids.values())
            for start in range(0, len(keys), CHUNK):
                found = s.execute(select(RosterRow.student_id, *ROSTER_FIELDS).where(RosterRow.student_id.in_(keys[start : start + CHUNK])))
                on_roster.update({row.student_id: {c.key: getattr(row, c.key) for c in ROSTER_FIELDS} for row in found})
            added = updated = 0
            for student, entry in wanted.items():
                key, values = ids[student], _stored(entry)
                if key not in on_roster:
                    s.add(RosterRow(student_id=key, **values))
                    added += 1
                elif {**on_roster[key], **values} != on_roster[key]:
                    s.execute(update(RosterRow).where(RosterRow.student_id == key).values(**values))
                    updated += 1
            return added, updated

        return self._transaction("import the roster into", work)

    def roster(self) -> list[RosterEntry]:
        """Every rostered student, by id."""
        query = (
            select(Student.external_id, *ROSTER_FIELDS)
            .join(RosterRow, RosterRow.student_id == Student.id)
            .order_by(Student.external_id)
        )
        return self._transaction("read gradebook", lambda s: [RosterEntry(*row) for row in s.execute(query)])

    def is_rostered(self, student: str) -> bool:
        return self._transaction("read gradebook", lambda s: rostered_in(s, student))

    def issue_token(self, subject: str, role: Role) -> str:
        """A new token for ``subject`` in ``role``, to be shown once: only its SHA-256 is stored.
        A student must be on the roster (else NotRostered); an instructor becomes known by it.
        Earlier tokens of the subject stay valid until revoked."""
        if role not in ROLES:
            raise ValueError(f"role {role!r} is not one of {', '.join(ROLES)}")
        why = students.problem(subject)
        if why is not None:
            raise InvalidName(f"the {role} id {students.shown(subject)} {why}.")
        token = new_token()  # once, before the first attempt: a repeat recognises its own
        digest = token_digest(token)
        issued = datetime.now(UTC)

        def work(s: Session) -> str:
            if s.scalars(select(Token.id).where(Token.sha256 == digest)).first() is not None:
                return token  # an earlier attempt committed; its acknowledgement was lost
            if role == "instructor":
                names.get_or_create(s, Instructor, Instructor.external_id, subject)
            elif not rostered_in(s, subject):
                raise NotRostered(
                    f"the student {students.shown(subject)} is not on the roster, so cannot have a token: "
                    "add them with grade roster import, or give --role instructor."
                )
            s.add(Token(sha256=digest, role=role, subject=subject, issued_at=issued))
            return token

        return self._transaction("issue a token in", work)

    def revoke_tokens(self, subject: str) -> int:
        """Revoke every token of ``subject`` (as a student and as an instructor) and end their
        web sessions; returns how many tokens were valid until now."""
        now = datetime.now(UTC)
        revoking = update(Token).where(Token.subject == subject, Token.revoked_at.is_(None)).values(revoked_at=now)
        # and every browser signed in as them is signed out
        ending = update(WebSession).where(WebSession.subject == subject, WebSession.ended_at.is_(None)).values(ended_at=now)

        def work(s: Session) -> int:
            revoked = cast("CursorResult[Any]", s.execute(revoking)).rowcount
            s.execute(ending)
            return revoked

        return self._transaction("revoke tokens in", work)

    def authenticate(self, token: str) -> Identity | None:
        """Who ``token`` speaks for, or None for an unknown or revoked token (or one longer
        than any token the grader issues, refused before hashing).

        The lookup is by the token's SHA-256 through a unique index, so it reveals nothing of the
        stored hashes by its timing; the final comparison is constant-time all the same."""
        if not token or len(token) > MAX_TOKEN_LENGTH:
            return None
        digest = token_digest(token)

        def work(s: Session) -> Identity | None:
            row = s.execute(_TOKEN, {"digest": digest}).first()
            if row is None or not hmac.compare_digest(row.sha256, digest):
                return None
            return Identity(row.subject, row.role)

        return self._transaction("read gradebook", work)


#: who a token digest speaks for (built once: every request asks it)
_TOKEN = select(Token.sha256, Token.role, Token.subject).where(Token.sha256 == bindparam("digest"), Token.revoked_at.is_(None))


def _stored(entry: RosterEntry) -> dict[str, str | None]:
    """The roster columns ``entry`` sets: its name and email, and its Canvas identity if it has one."""
    values: dict[str, str | None] = {"name": entry.name, "email": entry.email}
    if entry.canvas_id is not None:
        values.update(canvas_id=entry.canvas_id, sis_login_id=entry.sis_login_id, section=entry.section)
    return values


def rostered_in(s: Session, student: str) -> bool:
    """Whether ``student`` is on the roster, within the transaction of ``s``."""
    query = select(RosterRow.student_id).join(Student, RosterRow.student_id == Student.id).where(Student.external_id == student)
    return s.execute(query).first() is not None
