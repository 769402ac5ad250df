"""The web pages' sign-ins: sessions of signed-in browsers and one-time sign-in links.

A part of ``Gradebook`` (a mixin, as ``People``): a session is made by signing in with a token
or a link, and named by a fresh secret that only the browser keeps, in an HttpOnly cookie; the
gradebook stores its SHA-256. A session ends when it expires, when its holder signs out, or
when the subject's tokens are revoked (``People.revoke_tokens`` ends them too). A sign-in link
is a secret of its own, used at most once, before it expires.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from grader import students
from grader.db.models import SignInLink, Token, WebSession
from grader.db.people import rostered_in
from grader.errors import InvalidName, NotRostered
from grader.identity import ROLES, Identity, Role, new_token, token_digest

T = TypeVar("T")

#: how long a browser stays signed in without signing in again
SESSION_HOURS = 12.0
#: the longest a sign-in link may stay usable
MAX_LINK_HOURS = 24.0 * 14
#: a session's or link's secret, in characters, is never longer than this (token_urlsafe(32))
MAX_SECRET = 64


@dataclass(frozen=True)
class SignedIn:
    """A live session: who, and the token its forms must post back."""

    identity: Identity
    csrf: str


class Sessions:
    """The gradebook's sessions and sign-in links (see the module)."""

    if TYPE_CHECKING:

        def _transaction(self, action: str, work: Callable[[Session], T], fix: str = ...) -> T: ...

    def start_session(self, identity: Identity, hours: float = SESSION_HOURS) -> str:
        """A new session for ``identity``: its secret, for the cookie (shown once, never stored)."""
        secret = new_token()
        now = datetime.now(UTC)
        row = {
            "sha256": token_digest(secret), "role": identity.role, "subject": identity.subject, "csrf": secrets.token_urlsafe(32),
            "created_at": now, "expires_at": now + timedelta(hours=hours),
        }

        def work(s: Session) -> None:
            if s.scalars(select(WebSession.id).where(WebSession.sha256 == row["sha256"])).first() is None:  # a repeat after a lost commit
                s.add(WebSession(**row))

        self._transaction("start a session in", work)
        return secret

    def session(self, secret: str | None) -> SignedIn | None:
        """The live session ``secret`` names, or None (unknown, ended, expired, or not a secret)."""
        if not secret or len(secret) > MAX_SECRET or not secret.isascii():
            return None
        digest = token_digest(secret)
        query = select(WebSession).where(WebSession.sha256 == digest, WebSession.ended_at.is_(None), WebSession.expires_at > datetime.now(UTC))

        def work(s: Session) -> SignedIn | None:
            row = s.scalars(query).first()
            if row is None or not hmac.compare_digest(row.sha256, digest):
                return None
            return SignedIn(Identity(row.subject, row.role), row.csrf)  # type: ignore[arg-type]

        return self._transaction("read gradebook", work)

    def end_session(self, secret: str | None) -> bool:
        """End the session ``secret`` names; whether one was live."""
        if not secret or len(secret) > MAX_SECRET or not secret.isascii():
            return False
        ending = update(WebSession).where(WebSession.sha256 == token_digest(secret), WebSession.ended_at.is_(None)).values(ended_at=datetime.now(UTC))
        return self._transaction("end a session in", lambda s: s.execute(ending).rowcount == 1)  # type: ignore[attr-defined]

    def issue_link(self, subject: str, role: Role, hours: float) -> str:
        """A one-time sign-in link's secret for ``subject`` (a rostered student, or an instructor
        who has a token), usable once within ``hours``."""
        if role not in ROLES:
            raise ValueError(f"role {role!r} is not one of {', '.join(ROLES)}")
        why = students.problem(subject)
        if why is not None:
            raise InvalidName(f"the {role} id {students.shown(subject)} {why}.")
        if not 0 < hours <= MAX_LINK_HOURS:
            raise InvalidName(f"a sign-in link lasts from a minute to {MAX_LINK_HOURS / 24:g} days; {hours:g} hours is not possible.")
        secret = new_token()
        row = {"sha256": token_digest(secret), "role": role, "subject": subject, "expires_at": datetime.now(UTC) + timedelta(hours=hours)}

        def work(s: Session) -> None:
            if role == "student" and not rostered_in(s, subject):
                raise NotRostered(f"the student {students.shown(subject)} is not on the roster; add them with grade roster import.")
            if role == "instructor" and s.scalars(select(Token.id).where(Token.subject == subject, Token.role == "instructor")).first() is None:
                raise NotRostered(f"{students.shown(subject)} is not an instructor yet; issue them a token with grade token issue --role instructor.")
            if s.scalars(select(SignInLink.id).where(SignInLink.sha256 == row["sha256"])).first() is None:
                s.add(SignInLink(**row))

        self._transaction("record a sign-in link in", work)
        return secret

    def redeem_link(self, secret: str | None) -> Identity | None:
        """Who the link ``secret`` signs in, using it up; None if it is unknown, used or expired."""
        if not secret or len(secret) > MAX_SECRET or not secret.isascii():
            return None
        digest = token_digest(secret)
        now = datetime.now(UTC)

        def work(s: Session) -> Identity | None:
            row = s.scalars(select(SignInLink).where(SignInLink.sha256 == digest)).first()
            if row is None or not hmac.compare_digest(row.sha256, digest) or row.expires_at <= now:
                return None
            # used once: only the transaction that marks it unused -> used signs in
            used = s.execute(update(SignInLink).where(SignInLink.id == row.id, SignInLink.used_at.is_(None)).values(used_at=now))
            if used.rowcount != 1:  # type: ignore[attr-defined]
                return None
            if row.role == "student" and not rostered_in(s, row.subject):
                return None
            return Identity(row.subject, row.role)  # type: ignore[arg-type]

        return self._transaction("use a sign-in link in", work)
