"""The gradebook tables as SQLAlchemy models.

The schema itself is created by the Alembic revisions in ``migrations/versions``; these
models must describe the same tables (``tests/test_db.py`` compares them).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.sql.expression import false

# Explicit constraint names, so later batch migrations on SQLite can refer to them.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that goes in and comes out as an aware UTC datetime.

    SQLite keeps no zone, so the UTC value is stored naive and UTC is re-attached on the way
    out; PostgreSQL (timestamptz) returns the session's zone, which is converted back to UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"{value!r} has no time zone; the gradebook stores aware UTC times.")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class FreeText(TypeDecorator[str]):
    """Text that may come from a student (output, messages): NUL becomes U+FFFD.

    PostgreSQL text cannot hold NUL, and a student's print must not leave a submission stuck
    in 'pending'; SQLite gets the same replacement so both backends return the same value.
    """

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else value.replace("\x00", "\ufffd")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Student(Base):
    __tablename__ = "students"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stored exactly as given and only ever used as data, never as a path.
    external_id: Mapped[str] = mapped_column(Text, unique=True)


class Assignment(Base):
    __tablename__ = "assignments"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(Text, unique=True)


class Submission(Base):
    __tablename__ = "submissions"
    __table_args__ = (
        Index("ix_submissions_assignment_id_student_id", "assignment_id", "student_id"),
        Index("ux_submissions_batch_key", "batch_key", unique=True),
        Index("ix_submissions_status", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    student_id: Mapped[int] = mapped_column(ForeignKey("students.id"))
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id"))
    filename: Mapped[str] = mapped_column(FreeText)
    # Read only by the grader that grades it (by name, in a select of its own): a result, a
    # history or a class summary never carries the files along.
    content: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    graded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # 'pending' until finish_submission, then one of results.SUBMISSION_STATUSES.
    status: Mapped[str] = mapped_column(Text)
    message: Mapped[str] = mapped_column(FreeText)
    seed: Mapped[int] = mapped_column(BigInteger)
    rubric_version: Mapped[str] = mapped_column(Text)
    score: Mapped[float | None] = mapped_column(Float)
    max_score: Mapped[float | None] = mapped_column(Float)
    warnings: Mapped[list[str]] = mapped_column(JSON)
    output: Mapped[str] = mapped_column(FreeText)
    isolation: Mapped[str] = mapped_column(Text)
    # Batch grading's idempotency key (see migration 0002); None for `grade submit`.
    batch_key: Mapped[str | None] = mapped_column(String(64))
    # Who grades it while it is pending, and until when without a heartbeat (revision 0004).
    lease_owner: Mapped[str | None] = mapped_column(Text)
    lease_expires: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # How many gradings took it (revision 0004).
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    # Started days after the due date (its extension included) when it was submitted, the
    # course's fraction of the score lost per such day then, and the points that cost once
    # graded: ``score`` stays the raw score (revision 0005).
    late_days: Mapped[int] = mapped_column(Integer, server_default="0")
    late_penalty_per_day: Mapped[float] = mapped_column(Float, server_default="0")
    penalty: Mapped[float] = mapped_column(Float, server_default="0")

    checks: Mapped[list[CheckRow]] = relationship(
        order_by="CheckRow.id", cascade="all, delete-orphan", passive_deletes=True
    )


class CheckRow(Base):
    __tablename__ = "check_results"
    __table_args__ = (UniqueConstraint("submission_id", "check_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"))
    check_id: Mapped[str] = mapped_column(Text)
    part: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(Text)
    score: Mapped[float] = mapped_column(Float)
    max_score: Mapped[float] = mapped_column(Float)
    # The grader's sentence, with the slots {case} and {student} (see grader.results).
    message: Mapped[str] = mapped_column(FreeText)
    # [{"code", "explanation", "credit"}, ...]: the named mistakes (revision 0003).
    diagnoses: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    # Measured figures: relative error, tolerance, worst element, small arrays.
    errors: Mapped[dict[str, Any]] = mapped_column(JSON)
    # The case the finding is about, or None.
    case_name: Mapped[str | None] = mapped_column(Text)
    # Text the submission produced (an exception's message), never the grader's words.
    student_text: Mapped[str] = mapped_column(FreeText, server_default="")
    # The rubric hid the check when it was graded.
    hidden: Mapped[bool] = mapped_column(Boolean, server_default=false())


class RosterRow(Base):
    """A student on the course's roster (revision 0005): only they may submit over HTTP. Students
    graded locally (``grade submit``, ``grade batch``) need not be on it."""

    __tablename__ = "roster"

    student_id: Mapped[int] = mapped_column(ForeignKey("students.id"), primary_key=True)
    name: Mapped[str] = mapped_column(FreeText)
    email: Mapped[str] = mapped_column(FreeText)
    # From Canvas's gradebook export (revision 0006), else None: Canvas's number of the user (its
    # "ID", digits: the bulk download's file names carry it), its "SIS Login ID" and "Section".
    canvas_id: Mapped[str | None] = mapped_column(Text)
    sis_login_id: Mapped[str | None] = mapped_column(FreeText)
    section: Mapped[str | None] = mapped_column(FreeText)


class Instructor(Base):
    """An instructor known by a token issued to them (revision 0005); not on the roster."""

    __tablename__ = "instructors"

    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(Text, unique=True)


class Token(Base):
    """A bearer token, by its SHA-256 only: the token itself is shown once and never stored
    (revision 0005). Revoked tokens are kept, with the time, for the record."""

    __tablename__ = "tokens"
    __table_args__ = (
        Index("ux_tokens_sha256", "sha256", unique=True),
        Index("ix_tokens_subject", "subject"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    # "student" (subject: a rostered student's id) or "instructor" (subject: an instructor's id)
    role: Mapped[str] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(Text)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Extension(Base):
    """More time for one student on one assignment: its due date and closing move by ``days``
    (revision 0005). A new extension replaces the old one."""

    __tablename__ = "extensions"

    student_id: Mapped[int] = mapped_column(ForeignKey("students.id"), primary_key=True)
    assignment_id: Mapped[int] = mapped_column(ForeignKey("assignments.id"), primary_key=True)
    days: Mapped[float] = mapped_column(Float)
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WebSession(Base):
    """A signed-in browser (revision 0007), by the SHA-256 of its cookie only. It ends at
    ``expires_at``, when its holder signs out (``ended_at``), or when the subject's tokens are
    revoked. ``csrf`` is the token every form of the session posts back."""

    __tablename__ = "web_sessions"
    __table_args__ = (Index("ux_web_sessions_sha256", "sha256", unique=True), Index("ix_web_sessions_subject", "subject"))

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(Text)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class SignInLink(Base):
    """A one-time sign-in link an instructor mails (revision 0007), by its SHA-256 only."""

    __tablename__ = "sign_in_links"
    __table_args__ = (Index("ux_sign_in_links_sha256", "sha256", unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(Text)
    subject: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
