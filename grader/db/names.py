"""Students and assignments by the names the grader knows them by, as rows of the gradebook.

Every operation that takes a student id or an assignment name turns it into its row here, so
that two graders naming a new student at the same moment make one row between them.
"""

from __future__ import annotations

from sqlalchemy import insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import InstrumentedAttribute, Session

from grader.db.models import Assignment, Instructor, Student


def get_or_create(
    session: Session,
    model: type[Student] | type[Assignment] | type[Instructor],
    column: InstrumentedAttribute[str],
    value: str,
) -> int:
    """The id of the row whose ``column`` is ``value``, inserting it if needed, race-free.

    On SQLite the insert is always tried first: callers rely on it to take the database's write
    lock at the start of their transaction (a transaction that reads first and writes later may
    be refused its upgrade to a writer). Elsewhere a row that exists (nearly always) costs one
    read and no write."""
    dialect = session.get_bind().dialect.name
    if dialect != "sqlite":
        found = session.scalars(select(model.id).where(column == value)).first()
        if found is not None:
            return int(found)
    if dialect in ("sqlite", "postgresql"):
        insert_ = sqlite.insert if dialect == "sqlite" else postgresql.insert
        stmt = insert_(model).values({column.key: value})
        session.execute(stmt.on_conflict_do_nothing(index_elements=[column.key]))
    else:
        try:
            with session.begin_nested():
                session.execute(insert(model).values({column.key: value}))
        except IntegrityError:
            pass  # another grader inserted it first
    return session.scalars(select(model.id).where(column == value)).one()


def student_id(session: Session, student: str) -> int:
    return get_or_create(session, Student, Student.external_id, student)


def assignment_id(session: Session, assignment: str) -> int:
    return get_or_create(session, Assignment, Assignment.name, assignment)


def known_student(session: Session, student: str) -> int | None:
    """The row of ``student``, or None if the gradebook has never heard of them."""
    return session.scalars(select(Student.id).where(Student.external_id == student)).one_or_none()


def known_assignment(session: Session, assignment: str) -> int | None:
    return session.scalars(select(Assignment.id).where(Assignment.name == assignment)).one_or_none()
