"""The gradebook: submissions are recorded before grading and completed after it.

Every operation reaches the database through ``Gradebook._transaction`` (or, without a
session, ``Gradebook._retried``), which runs it again when the connection fails for a moment
(``grader.db.retry``). So each operation is written to be repeatable, even after an attempt
whose commit reached the server while its acknowledgement was lost:

- ``claim_submission`` finds the row its lost attempt recorded under the batch key;
- ``finish_submission`` takes its ``graded_at`` once, before the first attempt: a retry that
  finds the row finished with that very time and status knows its own lost attempt finished
  it (no other grading has the same microsecond) and returns as if it had;
- reads (``batch_rows``, ``_load``, ``revision``) and ``upgrade`` (one transaction behind a
  lock, at head afterwards) repeat harmlessly;
- ``begin_submission`` does not: after a lost acknowledgement its retry records a second row,
  and the first stays 'pending' forever. The window is the instant between the server's
  commit and its reply; the stray row is older than the one returned, so reports, summaries
  and exports, which take the latest or the finished submissions, never show it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, TypeVar, cast

from sqlalchemy import ColumnElement, CursorResult, Engine, Table, bindparam, func, insert, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from grader.db import names, schema
from grader.db.deadlines import Deadlines, extension_in, uploads_in
from grader.db.engine import CHECK_URL, masked, open_engine
from grader.db.models import Assignment, CheckRow, Student, Submission
from grader.db.people import People
from grader.db.records import CHECK_COLUMNS, STORED_COLUMNS, Recorded, StoredSubmission, check_values, stored
from grader.db.retry import DEFAULT_SECONDS, retried
from grader.db.sessions import Sessions
from grader.errors import (
    AlreadyFinished,
    DatabaseError,
    InvalidName,
    NotFound,
    UnstorableResult,
)
from grader.leases import Lease, holder_gone, machine
from grader.policy import late_penalty
from grader.results import SUBMISSION_STATUSES, GradingResult, SubmissionStatus

T = TypeVar("T")
#: the fix a failed operation on the rows suggests
TRY_AGAIN = "try again, and check the database is reachable"

#: the tables written without objects (an upload's row, a result's checks)
SUBMISSIONS = cast("Table", Submission.__table__)
CHECK_RESULTS = cast("Table", CheckRow.__table__)


@dataclass(frozen=True)
class Claim:
    """A batch submission's row: its id, its status ('pending' means: grade it), its seed."""

    id: int
    status: str
    seed: int


@dataclass(frozen=True)
class Holder:
    """Who holds a submission's lease, as ``Gradebook.take`` found it."""

    taken: bool  # the caller holds it now
    status: str  # the submission's status ('pending' unless someone finished it)
    owner: str | None
    expires: datetime | None
    attempts: int  # gradings that took it, the caller's included when ``taken``


@dataclass(frozen=True)
class Pending:
    """A pending submission and its lease."""

    id: int
    assignment: str
    owner: str | None
    expires: datetime | None
    attempts: int
    batch_key: str | None

    def lapsed(self, now: datetime) -> bool:
        """Whether its holder is known to have stopped: no lease, one run out, or a holder on
        this machine that no longer runs."""
        return self.owner is None or self.expires is None or self.expires < now or holder_gone(self.owner)


@dataclass(frozen=True)
class BatchRow:
    """A submission recorded under a batch key: its status and score, and its lease while pending."""

    id: int
    status: str
    score: float | None
    pending: Pending | None


class Gradebook(People, Deadlines, Sessions):
    """Submissions and their results in SQLite or PostgreSQL.

    Several grader processes may use the same gradebook at once: SQLite runs in WAL mode and
    waits up to 30 s for a write lock, and first-use upgrades are serialized. An operation that
    loses its connection, or finds the server restarting, is tried again for ``retry_seconds``
    (``GRADE_DB_RETRY_SECONDS``; 0: never) before it fails.

    The roster, instructors and tokens are kept by the operations of ``grader.db.people``;
    extensions and the uploads that count against a policy by those of ``grader.db.deadlines``.
    """

    def __init__(self, url: str, *, upgrade: bool = True, retry_seconds: float = DEFAULT_SECONDS) -> None:
        self._engine: Engine = open_engine(url)
        self._url = self._engine.url
        self._sessions = sessionmaker(self._engine, expire_on_commit=False)
        self._retry_seconds = retry_seconds
        try:
            # Connect first, so an unreachable server is reported as such, not as an upgrade.
            self._retried("open gradebook", self._connect, CHECK_URL)
            if upgrade:
                self.upgrade()
        except BaseException:
            self._engine.dispose()
            raise

    def __repr__(self) -> str:
        return f"Gradebook({masked(self._url)!r})"

    def __enter__(self) -> Gradebook:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._engine.dispose()

    def _retried(self, action: str, attempt: Callable[[], T], fix: str) -> T:
        """``attempt()``, tried again while the connection fails, as ``grader.db.retry.retried``
        does; every database failure becomes "Cannot ACTION URL: why; FIX.". ``attempt`` must
        open its own connection, and be safe to repeat (see the module's docstring)."""
        return retried(attempt, action=action, url=self._url, seconds=self._retry_seconds, fix=fix)

    def _transaction(self, action: str, work: Callable[[Session], T], fix: str = TRY_AGAIN) -> T:
        """``work(session)`` in a transaction of its own, committed when it returns; on a lost
        connection the whole transaction is tried again, in a new session, until the gradebook's
        retry bound. Every method that reads or writes rows goes through here, thus:

            def finish(s: Session) -> None:
                s.execute(update(Submission).where(...).values(values))

            self._transaction("store results in", finish)

        ``work`` may run more than once, so it must be safe to repeat, even after an attempt
        that committed (see the module's docstring): it reads what it needs in ``s``, and a
        value that must be the same in every attempt (a timestamp) comes from outside it.
        Exceptions that are not the database's (``NotFound``) pass through at once; the
        database's become the one-line ``DatabaseError`` "Cannot ACTION URL: why; FIX."
        """

        def attempt() -> T:
            with self._sessions.begin() as session:
                return work(session)

        return self._retried(action, attempt, fix)

    def _connect(self) -> None:
        with self._engine.connect():
            pass

    def upgrade(self) -> tuple[str | None, str]:
        """Bring the schema to the newest revision; returns (revision before, revision after)."""
        before, after = self._retried("upgrade gradebook", lambda: schema.upgrade(self._engine), CHECK_URL)
        if after is None:
            raise DatabaseError(f"Upgrading gradebook {masked(self._url)} left no revision.")
        return before, after

    def revision(self) -> str | None:
        """The schema revision the gradebook is at, or None if it has no schema yet."""

        def read() -> str | None:
            with self._engine.connect() as connection:
                return schema.current_revision(connection)

        return self._retried("read gradebook", read, CHECK_URL)

    def begin_submission(
        self,
        *,
        student: str,
        assignment: str,
        filename: str,
        content: bytes,
        seed: int,
        rubric_version: str,
        lease: Lease | None = None,
        submitted_at: datetime | None = None,
        late_days: int = 0,
        late_penalty_per_day: float = 0.0,
    ) -> int:
        """Record a submission as 'pending' before grading starts; returns its id. With a
        ``lease``, the caller holds it (one attempt) and must renew it while it grades.

        ``submitted_at`` (default: now) is when it was received; ``late_days`` how late that
        was (``Policy.late_days`` with the student's extension) and ``late_penalty_per_day``
        the policy's fraction then: ``finish_submission`` turns them into the penalty."""
        _require_name("student", student)
        _require_name("assignment", assignment)
        lateness = _lateness(submitted_at, late_days, late_penalty_per_day)

        def record(s: Session) -> int:
            # Writes come first so SQLite takes its write lock (and waits) at the start.
            values = _new_submission(s, student, assignment, filename, content, seed, rubric_version) | lateness
            row = Submission(**values, **_leased(lease), attempts=1 if lease else 0)
            s.add(row)
            s.flush()
            return row.id

        return self._transaction("record a submission in", record)

    def claim_submission(
        self,
        *,
        batch_key: str,
        student: str,
        assignment: str,
        filename: str,
        content: bytes,
        seed: int,
        rubric_version: str,
        lease: Lease | None = None,
        submitted_at: datetime | None = None,
        late_days: int = 0,
        late_penalty_per_day: float = 0.0,
    ) -> Claim:
        """The submission recorded under ``batch_key``, recorded as 'pending' first if new.

        Batch grading calls this for every file: a rerun, or a queue delivering a task twice,
        finds the row it recorded before (finished: skip it; pending: grade it again, with
        its stored seed) instead of recording a duplicate. A new row is leased to ``lease``'s
        holder (no attempt yet: ``take`` counts those). An upload to ``grade serve`` is claimed
        under a key of its own, with its receipt time and lateness (as ``begin_submission``).
        """
        _require_name("student", student)
        _require_name("assignment", assignment)
        find = select(Submission.id, Submission.status, Submission.seed).where(Submission.batch_key == batch_key)
        lateness = _lateness(submitted_at, late_days, late_penalty_per_day)

        def claim(s: Session) -> Claim:
            values = _new_submission(s, student, assignment, filename, content, seed, rubric_version) | lateness
            insert_ = sqlite.insert if s.get_bind().dialect.name == "sqlite" else postgresql.insert
            new = insert_(Submission).values(batch_key=batch_key, **values, **_leased(lease))
            s.execute(new.on_conflict_do_nothing(index_elements=["batch_key"]))
            row = s.execute(find).one()
            return Claim(row.id, row.status, row.seed)

        return self._transaction("record a submission in", claim)

    def record_upload(
        self,
        *,
        batch_key: str,
        student: str,
        assignment: str,
        filename: str,
        content: bytes,
        seed: int,
        rubric_version: str,
        lease: Lease,
        submitted_at: datetime,
        admit: Callable[[list[datetime], float], tuple[int, float]],
    ) -> Claim:
        """Record an upload as ``claim_submission`` does, if ``admit`` allows it: ``admit(uploads,
        extension_days)`` is given what the student's earlier uploads of ``assignment`` count
        (``Deadlines.uploads``) and their extension, and returns (late days, late penalty per
        day) or raises to refuse (nothing is recorded then).

        Reading, deciding and recording are one transaction under a lock per student and
        assignment (PostgreSQL: an advisory lock; SQLite: the database's write lock, taken by
        the first statement), so that uploads racing each other, on several servers too, cannot
        both take the last submission or the last place in the rate.
        """
        _require_name("student", student)
        _require_name("assignment", assignment)
        key = int.from_bytes(hashlib.sha256(json.dumps(["upload", student, assignment]).encode()).digest()[:8], "big", signed=True)

        def record(s: Session) -> Claim:
            if s.get_bind().dialect.name == "postgresql":
                s.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
            values = _new_submission(s, student, assignment, filename, content, seed, rubric_version)  # writes first
            late_days, per_day = admit(uploads_in(s, student, assignment), extension_in(s, student, assignment))
            values |= _lateness(submitted_at, late_days, per_day)
            values.update(batch_key=batch_key, **_leased(lease), attempts=0)
            recorded = s.connection().execute(insert(SUBMISSIONS).values(values).returning(SUBMISSIONS.c.id)).scalar_one()
            return Claim(recorded, values["status"], seed)

        return self._transaction("record a submission in", record)

    def finish_submission(self, submission_id: int, result: GradingResult) -> None:
        """Store the outcome and every check of a pending submission, all or nothing, and the
        penalty its lateness costs (``grader.policy.late_penalty`` of the score, at the per-day
        fraction recorded with it); ``score`` stays the raw score."""
        _require_storable(result)
        values: dict[str, Any] = {
            "status": result.status,
            "message": result.message,
            "seed": result.seed,
            "score": result.score,
            "max_score": result.max_score,
            "warnings": list(result.warnings),
            "output": result.output,
            "isolation": result.isolation,
            "graded_at": datetime.now(UTC),  # once for every attempt: it tells this call's own row
            "lease_owner": None,
            "lease_expires": None,
        }

        def store(s: Session) -> None:
            # Only a pending row is updated, so two workers cannot both finish it.
            done = s.execute(
                update(Submission)
                .where(Submission.id == submission_id, Submission.status == SubmissionStatus.PENDING)
                .values(values)
                .returning(Submission.late_days, Submission.late_penalty_per_day)
            ).one_or_none()
            if done is None:
                found = s.execute(select(Submission.status, Submission.graded_at).where(Submission.id == submission_id)).one_or_none()
                if found is None:
                    raise NotFound(f"Submission {submission_id} is not in the gradebook.")
                if tuple(found) == (values["status"], values["graded_at"]):
                    return  # an earlier attempt of this call committed; its acknowledgement was lost
                raise AlreadyFinished(f"Submission {submission_id} is already finished ({found.status}).")
            if done.late_days and done.late_penalty_per_day:
                penalty = late_penalty(result.score, done.late_penalty_per_day, done.late_days)
                s.execute(update(Submission).where(Submission.id == submission_id).values(penalty=penalty))
            if result.checks:
                # one INSERT of every check, straight to the table (no objects: these rows are only written)
                s.connection().execute(insert(CHECK_RESULTS), [check_values(submission_id, check) for check in result.checks])

        self._transaction("store results in", store)

    def take(self, submission_id: int, lease: Lease, *, queued_by: str | None = None, attempt: bool = True) -> Holder:
        """Take the lease of a pending submission to grade it, counting one ``attempt``.

        It is taken when nobody holds it, its lease has run out, its holder on this machine no
        longer runs, or its holder is the caller or ``queued_by`` (the batch that queued it for
        the caller). Otherwise ``Holder`` says who holds it, or that it is finished.
        """
        now = datetime.now(UTC)
        free = or_(
            Submission.lease_owner.is_(None),
            Submission.lease_expires.is_(None),
            Submission.lease_expires < now,
            Submission.lease_owner.in_([lease.owner] + ([queued_by] if queued_by else [])),
        )

        def take(s: Session) -> Holder:
            pending = (Submission.id == submission_id, Submission.status == SubmissionStatus.PENDING)
            taking = update(Submission).values(
                lease_owner=lease.owner, lease_expires=now + timedelta(seconds=lease.seconds), attempts=Submission.attempts + int(attempt)
            )
            attempts = s.scalar(taking.where(*pending, free).returning(Submission.attempts))
            if attempts is None:
                row = s.execute(
                    select(Submission.status, Submission.lease_owner, Submission.lease_expires, Submission.attempts)
                    .where(Submission.id == submission_id)
                ).one_or_none()
                if row is None:
                    raise NotFound(f"Submission {submission_id} is not in the gradebook.")
                if row.status != SubmissionStatus.PENDING or not holder_gone(row.lease_owner or ""):
                    return Holder(False, row.status, row.lease_owner, row.lease_expires, row.attempts)
                # Its holder ran on this machine and is gone: take over from exactly that holder.
                attempts = s.scalar(taking.where(*pending, Submission.lease_owner == row.lease_owner).returning(Submission.attempts))
                if attempts is None:
                    return Holder(False, row.status, row.lease_owner, row.lease_expires, row.attempts)
            return Holder(True, SubmissionStatus.PENDING, lease.owner, now + timedelta(seconds=lease.seconds), attempts or 0)

        return self._transaction("lease a submission in", take)

    def renew_leases(self, owner: str, seconds: float) -> int:
        """Push forward every lease ``owner`` holds on a pending submission (its heartbeat);
        returns how many it holds."""
        expires = datetime.now(UTC) + timedelta(seconds=seconds)
        renewing = update(Submission).where(Submission.lease_owner == owner, Submission.status == SubmissionStatus.PENDING)
        return self._transaction("renew leases in", lambda s: _count(s.execute(renewing.values(lease_expires=expires))))

    def give_back(self, submission_ids: list[int], lease: Lease) -> int:
        """Lease these pending submissions to ``lease`` again, undoing the attempt of gradings
        that were stopped on purpose (their holders, processes of this machine, are gone), so
        that only crashes count against ``MAX_ATTEMPTS``; returns how many were given back."""
        now = datetime.now(UTC)

        def give_back(s: Session) -> int:
            held = s.execute(
                select(Submission.id, Submission.lease_owner).where(Submission.id.in_(submission_ids), Submission.status == SubmissionStatus.PENDING)
            ).all()
            gone = [row.id for row in held if row.lease_owner and row.lease_owner != lease.owner and holder_gone(row.lease_owner)]
            if not gone:
                return 0
            back = update(Submission).where(Submission.id.in_(gone), Submission.status == SubmissionStatus.PENDING, Submission.attempts > 0)
            values = {"lease_owner": lease.owner, "lease_expires": now + timedelta(seconds=lease.seconds), "attempts": Submission.attempts - 1}
            return _count(s.execute(back.values(values)))

        return self._transaction("store results in", give_back) if submission_ids else 0

    def release(self, submission_ids: list[int], owner: str) -> None:
        """Give up ``owner``'s leases on these pending submissions: they become orphans, for
        the next batch to regrade or the next command to close."""

        def release(s: Session) -> None:
            for start in range(0, len(submission_ids), 500):
                s.execute(
                    update(Submission)
                    .where(Submission.id.in_(submission_ids[start : start + 500]), Submission.lease_owner == owner)
                    .values(lease_owner=None, lease_expires=None)
                )

        self._transaction("release leases in", release)

    def pending(self, *, keys: list[str] | None = None, lapsed_only: bool = False) -> list[Pending]:
        """The pending submissions (those under ``keys`` only, if given) and their leases; with
        ``lapsed_only``, only those whose holder is known to have stopped (``Pending.lapsed``)."""
        now = datetime.now(UTC)
        query = select(
            Submission.id, Assignment.name, Submission.lease_owner, Submission.lease_expires, Submission.attempts, Submission.batch_key
        ).join(Assignment, Submission.assignment_id == Assignment.id).where(Submission.status == SubmissionStatus.PENDING)
        if lapsed_only:
            # Held by a process of this machine: only the kernel can say whether it still runs.
            here = Submission.lease_owner.like(f"%[{machine()}:%")
            query = query.where(or_(Submission.lease_owner.is_(None), Submission.lease_expires.is_(None), Submission.lease_expires < now, here))
        chunks = [query] if keys is None else [query.where(Submission.batch_key.in_(keys[i : i + 500])) for i in range(0, len(keys), 500)]
        found = self._transaction("read gradebook", lambda s: [Pending(*row) for chunk in chunks for row in s.execute(chunk)])
        return [p for p in found if p.lapsed(now)] if lapsed_only else found

    def close_orphan(self, orphan: Pending, message: str, max_score: float | None) -> bool:
        """Finish ``orphan`` as an ``error`` saying ``message`` (it was interrupted), unless
        someone took or finished it since it was read; its batch key is freed, so that the next
        batch grades the same file anew. Returns whether it was closed."""
        unchanged = (
            Submission.id == orphan.id,
            Submission.status == SubmissionStatus.PENDING,
            Submission.attempts == orphan.attempts,
            Submission.lease_owner.is_(None) if orphan.owner is None else Submission.lease_owner == orphan.owner,
            Submission.lease_expires.is_(None) if orphan.expires is None else Submission.lease_expires == orphan.expires,
        )
        values = {
            "status": SubmissionStatus.ERROR, "message": message, "score": 0.0, "max_score": max_score,
            "graded_at": datetime.now(UTC), "lease_owner": None, "lease_expires": None, "batch_key": None,
        }
        return self._transaction("store results in", lambda s: _count(s.execute(update(Submission).where(*unchanged).values(values))) == 1)

    def set_rubric_version(self, submission_id: int, version: str) -> bool:
        """Record that the pending submission ``submission_id`` is graded under rubric ``version``
        (its assignment was edited since it was recorded); False if it is no longer pending."""
        change = (
            update(Submission)
            .where(Submission.id == submission_id, Submission.status == SubmissionStatus.PENDING)
            .values(rubric_version=version)
        )
        return self._transaction("store results in", lambda s: _count(s.execute(change)) == 1)

    def recorded(self, submission_id: int) -> Recorded | None:
        """The submission ``submission_id`` as a grader needs it (its file included), or None."""
        query = (
            select(Submission.id, Student.external_id, Assignment.name, Submission.filename, Submission.content, Submission.seed,
                   Submission.status, Submission.rubric_version)
            .join(Student, Submission.student_id == Student.id)
            .join(Assignment, Submission.assignment_id == Assignment.id)
            .where(Submission.id == submission_id)
        )

        def read(s: Session) -> Recorded | None:
            row = s.execute(query).one_or_none()
            return None if row is None else Recorded(*row[:4], bytes(row[4]), *row[5:])

        return self._transaction("read gradebook", read)

    def latest(self, student: str, assignment: str) -> StoredSubmission | None:
        """The newest submission of ``student`` for ``assignment``, graded or not."""
        found = self._load(Student.external_id == student, Assignment.name == assignment, limit=1)
        return found[0] if found else None

    def history(self, assignment: str, student: str | None = None) -> list[StoredSubmission]:
        """Every submission of ``assignment`` (only ``student``'s, if given), newest first."""
        mine = () if student is None else (Student.external_id == student,)
        return self._load(Assignment.name == assignment, *mine)

    def get(self, submission_id: int) -> StoredSubmission | None:
        found = self._load(Submission.id == submission_id, limit=1)
        return found[0] if found else None

    def latest_per_student(self, assignment: str) -> list[StoredSubmission]:
        """The newest submission of every student for ``assignment``, graded or not, by student id."""
        rank = func.row_number().over(
            partition_by=Submission.student_id, order_by=(Submission.submitted_at.desc(), Submission.id.desc())
        )
        ranked = (
            select(Submission.id, rank.label("rank"))
            .join(Assignment, Submission.assignment_id == Assignment.id)
            .where(Assignment.name == assignment)
            .subquery()
        )
        newest = select(ranked.c.id).where(ranked.c.rank == 1)
        return self._load(Submission.id.in_(newest), order=(Student.external_id, Submission.id))

    def finished_among(self, ids: list[int]) -> set[int]:
        """Which of these submissions are no longer pending (one light read, whatever their size)."""

        def read(s: Session) -> set[int]:
            found: set[int] = set()
            for start in range(0, len(ids), 500):  # keep each IN list of parameters short
                found.update(s.scalars(_FINISHED, {"ids": ids[start : start + 500]}))
            return found

        return self._transaction("read gradebook", read) if ids else set()

    def batch_rows(self, keys: list[str]) -> dict[str, BatchRow]:
        """The submissions recorded under these batch keys, by key: status and score, and the
        lease of each still pending (one read, whatever the number of keys)."""
        columns = (
            Submission.batch_key, Submission.status, Submission.score, Submission.id, Assignment.name,
            Submission.lease_owner, Submission.lease_expires, Submission.attempts,
        )

        def read(s: Session) -> dict[str, BatchRow]:
            found: dict[str, BatchRow] = {}
            for start in range(0, len(keys), 500):  # keep each IN list of parameters short
                query = (
                    select(*columns)
                    .join(Assignment, Submission.assignment_id == Assignment.id)
                    .where(Submission.batch_key.in_(keys[start : start + 500]))
                )
                for key, status, score, sid, name, owner, expires, attempts in s.execute(query):
                    waiting = Pending(sid, name, owner, expires, attempts, key) if status == SubmissionStatus.PENDING else None
                    found[str(key)] = BatchRow(sid, status, score, waiting)
            return found

        return self._transaction("read gradebook", read)

    def finished(self, assignment: str) -> list[StoredSubmission]:
        """Every finished (not pending) submission of ``assignment``, oldest first."""
        return self._load(
            Assignment.name == assignment, Submission.status != SubmissionStatus.PENDING, order=(Submission.submitted_at, Submission.id)
        )

    def _load(
        self,
        *where: ColumnElement[bool],
        limit: int | None = None,
        order: tuple[Any, ...] = (Submission.submitted_at.desc(), Submission.id.desc()),
    ) -> list[StoredSubmission]:
        """The submissions ``where`` says, with their checks: two reads of plain columns (no objects to track, nor the uploaded files), one
        where every submission is pending (it has no checks yet)."""
        query = (
            select(*STORED_COLUMNS)
            .join(Student, Submission.student_id == Student.id)
            .join(Assignment, Submission.assignment_id == Assignment.id)
            .where(*where)
            .order_by(*order)
            .limit(limit)
        )

        def read(s: Session) -> list[StoredSubmission]:
            rows = s.execute(query).all()
            checks: dict[int, list[Any]] = {row.id: [] for row in rows}
            ids = [row.id for row in rows if row.status != SubmissionStatus.PENDING]
            for start in range(0, len(ids), 500):  # keep each IN list of parameters short
                for check in s.execute(_CHECKS, {"ids": ids[start : start + 500]}):
                    checks[check.submission_id].append(check)
            return [stored(row, checks[row.id]) for row in rows]

        return self._transaction("read gradebook", read)


#: which of some submissions are finished (built once: grade serve asks it a few times a second)
_FINISHED = select(Submission.id).where(Submission.id.in_(bindparam("ids", expanding=True)), Submission.status != SubmissionStatus.PENDING)
#: the checks of some submissions, in order (built once)
_CHECKS = select(*CHECK_COLUMNS).where(CheckRow.submission_id.in_(bindparam("ids", expanding=True))).order_by(CheckRow.id)


def _count(result: Any) -> int:
    """Rows an UPDATE matched."""
    return cast("CursorResult[Any]", result).rowcount


def _leased(lease: Lease | None) -> dict[str, Any]:
    if lease is None:
        return {}
    return {"lease_owner": lease.owner, "lease_expires": datetime.now(UTC) + timedelta(seconds=lease.seconds)}


def _require_name(kind: str, value: str) -> None:
    # PostgreSQL text cannot hold NUL, and silently replacing it would merge two students.
    if not value or "\x00" in value:
        raise InvalidName(f"The {kind} name {value!r} must be non-empty and free of NUL.")


def _lateness(submitted_at: datetime | None, late_days: int, per_day: float) -> dict[str, Any]:
    """The columns of a new submission's time and lateness; ValueError for values no policy gives."""
    if submitted_at is not None and submitted_at.utcoffset() is None:
        raise ValueError(f"submitted_at {submitted_at!r} has no time zone")
    if late_days < 0 or not 0 <= per_day <= 1:
        raise ValueError(f"late_days {late_days} and late_penalty_per_day {per_day} must be >= 0, and the latter <= 1")
    return {"submitted_at": submitted_at or datetime.now(UTC), "late_days": late_days, "late_penalty_per_day": per_day}


def _require_storable(result: GradingResult) -> None:
    if result.status not in SUBMISSION_STATUSES:
        raise UnstorableResult(f"Status {result.status!r} is not one of {SUBMISSION_STATUSES}.")
    for check in result.checks:
        try:
            json.dumps(check.errors, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise UnstorableResult(
                f"Check {check.id!r} errors must be plain JSON without NaN or infinity "
                f"(PostgreSQL rejects them), got {check.errors!r}: {exc}."
            ) from exc


def _new_submission(
    session: Session, student: str, assignment: str, filename: str, content: bytes, seed: int, rubric_version: str
) -> dict[str, Any]:
    """The column values of a new pending submission."""
    return {
        "student_id": names.student_id(session, student),
        "assignment_id": names.assignment_id(session, assignment),
        "filename": filename,
        "content": content,
        "sha256": hashlib.sha256(content).hexdigest(),
        "submitted_at": datetime.now(UTC),
        "status": SubmissionStatus.PENDING,
        "message": "",
        "seed": seed,
        "rubric_version": rubric_version,
        "warnings": [],
        "output": "",
        "isolation": "",
    }
