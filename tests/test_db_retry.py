"""A blip of the database: gradebook operations ride out a restart of PostgreSQL, give up with
one line after GRADE_DB_RETRY_SECONDS, never retry what would fail again, and repeat safely
after a commit whose acknowledgement was lost.

The tests that stop a server stop their own (``private_postgres``), never the shared one.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from itertools import islice
from pathlib import Path

import pytest
from helpers import CORRECT, ROOT, rows, run
from servers import PrivatePostgres
from sqlalchemy import event, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.orm import Session

from grader.db import Gradebook, default_url
from grader.db.retry import DEFAULT_SECONDS, pauses, retried, transient
from grader.errors import AlreadyFinished, DatabaseError, NotFound
from grader.results import CheckResult, GradingResult
from grader.settings import Settings

#: how long the server stays down in a restart: a blip, far shorter than the retry bound
DOWNTIME = 1.0
CHECK = CheckResult("forward", "a", "passed", 2.0, 2.0, "z3 matches the reference.")
RESULT = GradingResult("graded", "1 of 1 checks ran.", 7, (CHECK,), 2.0)


def begin(book: Gradebook) -> int:
    return book.begin_submission(student="s1", assignment="hw1", filename="hw1.py", content=b"x = 1\n", seed=7, rubric_version="v1")


class Logged(logging.Handler):
    """The retry warnings of ``grader.db``, and an event set at the first."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []
        self.first = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())
        self.first.set()


@pytest.fixture
def retries() -> Iterator[Logged]:
    logger = logging.getLogger("grader.db")
    handler, level = Logged(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING)  # whatever level an earlier test's command left on "grader"
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


class DriverError(Exception):
    """What a DBAPI driver raises: a message, and an SQLSTATE when the server sent one."""

    def __init__(self, message: str, sqlstate: str | None = None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


REFUSED = 'connection failed: connection to server at "127.0.0.1", port 5432 failed: Connection refused'


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (OperationalError(None, None, DriverError(REFUSED)), True),
        (OperationalError(None, None, DriverError("consuming input failed: server closed the connection unexpectedly")), True),
        (OperationalError(None, None, DriverError("could not receive data from server: Connection reset by peer")), True),
        (OperationalError(None, None, DriverError("connection failed: FATAL:  the database system is starting up")), True),
        (OperationalError(None, None, DriverError("terminating connection due to administrator command", "57P01")), True),
        (OperationalError(None, None, DriverError("terminating connection due to crash of another server process", "57P02")), True),
        (OperationalError(None, None, DriverError("the database system is shutting down", "57P03")), True),
        (OperationalError(None, None, DriverError("connection failure", "08006")), True),
        (DBAPIError(None, None, DriverError("the connection is closed"), connection_invalidated=True), True),
        (OperationalError(None, None, DriverError('connection failed: FATAL:  password authentication failed for user "grader"')), False),
        (OperationalError(None, None, DriverError('connection failed: FATAL:  database "gradebook" does not exist')), False),
        (OperationalError(None, None, DriverError("failed to resolve host 'db.example': Name or service not known")), False),
        (OperationalError(None, None, sqlite3.OperationalError("database is locked")), False),
        (OperationalError(None, None, DriverError("canceling statement due to statement timeout", "57014")), False),
        (ProgrammingError(None, None, DriverError('syntax error at or near "SELEC"', "42601")), False),
        (IntegrityError(None, None, DriverError("duplicate key value violates unique constraint", "23505")), False),
        (AlreadyFinished("Submission 1 is already finished (graded)."), False),
        (NotFound("Submission 2 is not in the gradebook."), False),
        (ConnectionRefusedError("not through SQLAlchemy"), False),
    ],
)
def test_transient_is_a_lost_connection_or_a_server_restarting(error: Exception, expected: bool) -> None:
    assert transient(error) is expected


def test_the_pauses_double_from_a_tenth_of_a_second_up_to_two_less_a_random_part() -> None:
    ceilings = [0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0, 2.0]
    for pause, ceiling in zip(islice(pauses(), len(ceilings)), ceilings, strict=True):
        assert ceiling / 2 <= pause <= ceiling


def failing(errors: list[Exception], result: str = "done") -> Callable[[], str]:
    """An attempt that raises each of ``errors`` in turn, then returns ``result``."""
    left = list(errors)

    def attempt() -> str:
        if left:
            raise left.pop(0)
        return result

    return attempt


def test_an_attempt_is_tried_again_after_transient_failures_each_logged(retries: Logged) -> None:
    refused = OperationalError(None, None, DriverError(REFUSED))
    url = "postgresql+psycopg://grader:s3cret@db/gradebook"
    assert retried(failing([refused, refused]), action="read gradebook", url=url, seconds=30) == "done"
    assert len(retries.messages) == 2
    assert retries.messages[0].startswith(f"cannot read gradebook postgresql+psycopg://grader:***@db/gradebook ({REFUSED}); trying again in 0.")
    assert "s3cret" not in "".join(retries.messages)


def test_past_the_bound_it_gives_up_with_one_line_saying_how_long_it_tried(retries: Logged) -> None:
    refused = OperationalError(None, None, DriverError(REFUSED))
    start = time.monotonic()
    with pytest.raises(DatabaseError) as caught:
        retried(failing([refused] * 1000), action="read gradebook", url="postgresql+psycopg://db/g", seconds=0.5)
    assert 0.5 <= time.monotonic() - start < 3
    message = str(caught.value)
    assert re.fullmatch(rf"Cannot read gradebook postgresql\+psycopg://db/g: {re.escape(REFUSED)}; gave up after \d\.\d s of trying again; check the URL .*\.", message)
    assert len(retries.messages) >= 3


def test_zero_seconds_means_one_attempt_and_the_usual_message(retries: Logged) -> None:
    refused = OperationalError(None, None, DriverError(REFUSED))
    with pytest.raises(DatabaseError, match=r"^Cannot read gradebook postgresql\+psycopg://db/g: .*Connection refused; check the URL"):
        retried(failing([refused]), action="read gradebook", url="postgresql+psycopg://db/g", seconds=0)
    assert retries.messages == []


@pytest.mark.parametrize(
    "error",
    [
        IntegrityError(None, None, DriverError("duplicate key value violates unique constraint", "23505")),
        OperationalError(None, None, sqlite3.OperationalError("database is locked")),
        AlreadyFinished("Submission 1 is already finished (graded)."),
    ],
)
def test_a_failure_that_would_recur_is_not_tried_again(error: Exception, retries: Logged) -> None:
    calls = []

    def attempt() -> str:
        calls.append(1)
        raise error

    with pytest.raises(type(error) if isinstance(error, AlreadyFinished) else DatabaseError):
        retried(attempt, action="read gradebook", url="sqlite:///g.db", seconds=30)
    assert len(calls) == 1 and retries.messages == []


def test_the_setting_and_the_gradebook_have_the_same_default() -> None:
    assert Settings().db_retry_seconds == Settings.from_env({}).db_retry_seconds == DEFAULT_SECONDS
    assert Settings.from_env({"GRADE_DB_RETRY_SECONDS": "0"}).db_retry_seconds == 0


@contextmanager
def commits_unacknowledged(times: int) -> Iterator[list[int]]:
    """The next ``times`` commits of any session reach the database, then fail as a connection
    lost before the acknowledgement would; yields the count of commits so failed."""
    lost: list[int] = []

    def lose(session: Session) -> None:
        if len(lost) < times:
            lost.append(1)
            raise OperationalError("COMMIT", None, DriverError("server closed the connection unexpectedly"), connection_invalidated=True)

    event.listen(Session, "after_commit", lose)
    try:
        yield lost
    finally:
        event.remove(Session, "after_commit", lose)


def test_finishing_again_after_a_lost_acknowledgement_finds_its_own_result(tmp_path: Path, retries: Logged) -> None:
    with Gradebook(default_url(tmp_path)) as book:
        sid = begin(book)
        with commits_unacknowledged(1) as lost:
            book.finish_submission(sid, RESULT)  # the retry finds the row finished by this call
        assert lost == [1] and len(retries.messages) == 1
        got = book.get(sid)
        assert got is not None and (got.status, got.checks) == ("graded", (CHECK,))
        with pytest.raises(AlreadyFinished):  # another call, another time: not this call's row
            book.finish_submission(sid, RESULT)


def test_claiming_again_after_a_lost_acknowledgement_finds_the_same_row(tmp_path: Path) -> None:
    claim = {"batch_key": "k1", "student": "s1", "assignment": "hw1", "filename": "a.py", "content": b"x", "seed": 7, "rubric_version": "v1"}
    with Gradebook(default_url(tmp_path)) as book:
        with commits_unacknowledged(1) as lost:
            first = book.claim_submission(**claim)
        assert lost == [1] and first == book.claim_submission(**claim)
        assert [(r.status, r.score, r.id) for r in book.batch_rows(["k1"]).values()] == [("pending", None, first.id)]


def test_beginning_again_after_a_lost_acknowledgement_leaves_a_stray_row_no_report_shows(tmp_path: Path) -> None:
    """The window begin_submission's docstring admits: the stray row stays pending, and is older
    than the one returned, which every report, summary and export takes."""
    url = default_url(tmp_path)
    with Gradebook(url) as book:
        with commits_unacknowledged(1):
            sid = begin(book)
        book.finish_submission(sid, RESULT)
        latest = book.latest("s1", "hw1")
        assert latest is not None and latest.id == sid and [s.id for s in book.finished("hw1")] == [sid]
    assert rows(url) == [("s1", "pending", None), ("s1", "graded", 2.0)]


@pytest.mark.postgres
def test_an_operation_during_a_restart_waits_for_the_server_and_succeeds(private_postgres: PrivatePostgres, retries: Logged) -> None:
    with Gradebook(private_postgres.url, retry_seconds=60) as book:
        sid = begin(book)
        private_postgres.stop()
        with ThreadPoolExecutor(1) as pool:
            finishing = pool.submit(book.finish_submission, sid, RESULT)
            assert retries.first.wait(30), "the operation did not meet the outage"
            assert not finishing.done()
            private_postgres.start()
            finishing.result(timeout=60)
        got = book.get(sid)
    assert got is not None and (got.status, got.checks) == ("graded", (CHECK,))
    assert "Connection refused" in retries.messages[0]


@pytest.mark.postgres
def test_a_connection_a_restart_ended_is_replaced_before_use(private_postgres: PrivatePostgres, retries: Logged) -> None:
    with Gradebook(private_postgres.url) as book:
        sid = begin(book)  # its connection is back in the pool, then the server ends it
        private_postgres.restart()
        book.finish_submission(sid, RESULT)
        private_postgres.kill()
        private_postgres.start()
        got = book.get(sid)
    assert got is not None and got.status == "graded"
    assert retries.messages == [], "a pooled connection was used after the restart ended it"


@pytest.mark.postgres
def test_with_the_server_down_a_command_gives_up_after_the_setting_with_one_line(
    course: Path, private_postgres: PrivatePostgres
) -> None:
    private_postgres.stop()
    start = time.monotonic()
    result = run(course, "report", "-s", "ada", "-a", "backprop", env={"GRADE_DB_URL": private_postgres.url, "GRADE_DB_RETRY_SECONDS": "1.5"})
    took = time.monotonic() - start
    assert result.exit_code == 2 and 1.5 <= took < 10, (took, result.output)
    *warnings, error = result.stderr.strip().splitlines()
    assert error.startswith(f"Error: Cannot open gradebook {private_postgres.url}: connection failed: ")
    assert re.search(r"Connection refused; gave up after \d\.\d s of trying again; check the URL \(GRADE_DB_URL\) and that the database is reachable\.$", error)
    assert warnings and all("WARNING grader.db.retry: cannot open gradebook" in line for line in warnings)


@pytest.mark.postgres
def test_what_the_server_refuses_for_good_is_not_tried_again(postgres_url: str, retries: Logged) -> None:
    missing = make_url(postgres_url).set(database=make_url(postgres_url).database + "_missing").render_as_string(False)
    start = time.monotonic()
    with pytest.raises(DatabaseError, match=r'database "\w+_missing" does not exist; check the URL'):
        Gradebook(missing)
    duplicate = GradingResult("graded", "", 1, (CHECK, CHECK), 4.0)
    with Gradebook(postgres_url) as book:
        sid = begin(book)
        with pytest.raises(DatabaseError, match="duplicate key value violates unique constraint"):
            book.finish_submission(sid, duplicate)
        with pytest.raises(NotFound):
            book.finish_submission(sid + 1, RESULT)
    assert time.monotonic() - start < 10 and retries.messages == []


@pytest.mark.slow
@pytest.mark.postgres
def test_a_restart_of_postgresql_mid_batch_costs_no_student(course: Path, private_postgres: PrivatePostgres, tmp_path: Path) -> None:
    directory = tmp_path / "class"
    directory.mkdir()
    students = [f"student{i:03d}" for i in range(200)]
    for student in students:
        (directory / f"{student}.py").write_text(CORRECT)
    url = private_postgres.url
    command = [sys.executable, "-m", "grader.cli", "--course", str(course), "batch", str(directory), "-a", "backprop", "--json", "--workers", "2"]
    env = {**os.environ, "GRADE_DB_URL": url, "PYTHONPATH": str(ROOT)}
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(command, env=env, stdout=stdout, stderr=stderr, start_new_session=True)
    try:
        # The restart comes once a tenth of the class is recorded: the workers are mid-batch.
        deadline = time.monotonic() + 120
        while len(rows(url)) < 20 and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert process.poll() is None and 20 <= len(rows(url)) < len(students), "the batch is not in its middle"
        private_postgres.stop()
        time.sleep(DOWNTIME)  # the outage itself, not a synchronization
        private_postgres.start()
        process.wait(timeout=600)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 0, err.read_text()[-3000:]
    summary = json.loads(out.read_text())
    assert summary["graded"] == len(students) and summary["counts"] == {"graded": len(students)}, summary["not_recorded"][:3]
    after = rows(url)
    assert sorted(student for student, _, _ in after) == students  # exactly one row each
    assert all(status == "graded" and score == 100 for _, status, score in after)
    assert "trying again" in err.read_text(), "no gradebook operation met the outage: the test tested nothing"
