"""The gradebook on a fresh SQLite file per test, and on the real PostgreSQL server.

PostgreSQL tests are marked ``postgres``; they fail, never skip, when the server is down.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from select import select as wait_readable

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from helpers import ROOT, SAMPLES, run
from sqlalchemy import Connection, create_engine, func, inspect, select, text

import grader.db
import grader.identity
from grader.db import Gradebook, default_url
from grader.db.models import Base, Student, Submission
from grader.errors import AlreadyFinished, DatabaseError, InvalidName, NotFound, NotRostered, UnstorableResult
from grader.results import CheckResult, Diagnosis, GradingResult
from grader.settings import Settings

MIGRATIONS = Path(grader.db.__file__).parent / "migrations"
HEAD = ScriptDirectory(str(MIGRATIONS)).get_current_head()

CONTENT = b"def forward(x):\n    return x\n"
CHECKS = (
    CheckResult(
        id="forward",
        part="a",
        status="passed",
        score=2.0,
        max_score=2.0,
        message="z3 matches the reference.",
        diagnoses=(),
        errors={"rel_error": 1.5e-12, "worst": [0, 3]},
    ),
    CheckResult(
        id="backward",
        part="b",
        status="failed",
        score=0.5,
        max_score=3.0,
        message="dW2 raised {student} on {case}.",
        diagnoses=(Diagnosis("doubled-grad", "dW2 looks doubled: did you add the gradient twice?", 0.5), Diagnosis("phi-sign")),
        errors={"rel_error": 0.5, "nested": {"ok": True, "none": None}},
        case="small",
        student_text="ValueError: {case} \x00 <b>",
        hidden=True,
    ),
)
RESULT = GradingResult(
    status="graded",
    message="2 of 2 checks ran.",
    seed=2**40 + 7,
    checks=CHECKS,
    max_score=5.0,
    warnings=("numpy RuntimeWarning: overflow in exp", "slow: 3.2 s"),
    output="loss 0.25\nlambda = 1e-3\n",
    isolation="subprocess",
)


def begin(book: Gradebook, student: str = "s1", assignment: str = "hw1") -> int:
    return book.begin_submission(
        student=student,
        assignment=assignment,
        filename="hw1.py",
        content=CONTENT,
        seed=RESULT.seed,
        rubric_version="v3",
    )


def test_first_use_creates_schema_at_head(url: str) -> None:
    with Gradebook(url) as book:
        assert book.revision() == HEAD
    engine = create_engine(url)
    try:
        tables = set(inspect(engine).get_table_names())
        with engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    finally:
        engine.dispose()
    assert {"students", "assignments", "submissions", "check_results"} <= tables
    assert diff == [], "the models and the migrations disagree"


def test_round_trip_returns_what_was_stored(url: str) -> None:
    with Gradebook(url) as book:
        sid = begin(book)
        book.finish_submission(sid, RESULT)
        got = book.get(sid)
    assert got is not None
    assert got.checks == CHECKS[:1] + (replace(CHECKS[1], student_text="ValueError: {case} \ufffd <b>"),)
    assert [type(c.diagnoses) for c in got.checks] == [tuple, tuple]
    assert (got.student, got.assignment, got.filename) == ("s1", "hw1", "hw1.py")
    assert (got.status, got.message, got.seed) == ("graded", RESULT.message, RESULT.seed)
    assert (got.score, got.max_score) == (2.5, 5.0)
    assert got.warnings == RESULT.warnings
    assert (got.output, got.isolation, got.rubric_version) == (RESULT.output, "subprocess", "v3")
    assert got.sha256 == hashlib.sha256(CONTENT).hexdigest()
    assert got.submitted_at.tzinfo is UTC and got.graded_at is not None
    assert got.graded_at.tzinfo is UTC and got.graded_at >= got.submitted_at


def test_pending_submission_is_visible(url: str) -> None:
    with Gradebook(url) as book:
        sid = begin(book)
        got = book.latest("s1", "hw1")
    assert got is not None and got.id == sid
    assert (got.status, got.score, got.graded_at, got.checks) == ("pending", None, None, ())


def test_latest_picks_the_newest(sqlite_url: str) -> None:
    with Gradebook(sqlite_url) as book:
        first, second = begin(book), begin(book)
        other = begin(book, student="s2")
        newest = book.latest("s1", "hw1")
        assert book.latest("s1", "hw2") is None
        assert book.latest("nobody", "hw1") is None
    assert first < second and newest is not None and newest.id == second
    assert other not in (first, second)


@pytest.mark.parametrize(
    "student",
    ["'; DROP TABLE students; --", "O'Brien", "a/b\\c", "🦊 Zoë", "  spaced  ", '"quoted"'],
)
def test_hostile_student_ids_round_trip(sqlite_url: str, student: str) -> None:
    with Gradebook(sqlite_url) as book:
        sid = begin(book, student=student, assignment=student)
        got = book.latest(student, student)
    assert got is not None and got.id == sid
    assert (got.student, got.assignment) == (student, student)


@pytest.mark.parametrize("student", ["", "a\x00b"])
def test_unstorable_student_ids_are_refused(sqlite_url: str, student: str) -> None:
    with Gradebook(sqlite_url) as book, pytest.raises(InvalidName, match="NUL"):
        begin(book, student=student)


def test_finish_is_one_transaction(sqlite_url: str) -> None:
    duplicate = GradingResult("graded", "", 1, (CHECKS[0], CHECKS[0]), 4.0)
    with Gradebook(sqlite_url) as book:
        sid = begin(book)
        with pytest.raises(DatabaseError, match="UNIQUE"):
            book.finish_submission(sid, duplicate)
        got = book.get(sid)
    assert got is not None and (got.status, got.checks) == ("pending", ())


def test_finish_refuses_unknown_finished_and_non_json(sqlite_url: str) -> None:
    nan = CheckResult("x", "a", "failed", 0.0, 1.0, "NaN", errors={"rel_error": float("nan")})
    with Gradebook(sqlite_url) as book:
        sid = begin(book)
        with pytest.raises(NotFound):
            book.finish_submission(sid + 1, RESULT)
        with pytest.raises(UnstorableResult, match="NaN"):
            book.finish_submission(sid, GradingResult("graded", "", 1, (nan,), 1.0))
        book.finish_submission(sid, RESULT)
        with pytest.raises(AlreadyFinished, match=r"Submission \d+ is already finished \(graded\)"):
            book.finish_submission(sid, RESULT)


def test_nul_in_student_output_is_replaced(url: str) -> None:
    noisy = GradingResult("crashed", "died\x00", 1, (), 0.0, output="a\x00b")
    with Gradebook(url) as book:
        sid = begin(book)
        book.finish_submission(sid, noisy)
        got = book.get(sid)
    assert got is not None and (got.output, got.message) == ("a\ufffdb", "died\ufffd")


def test_missing_sqlite_directory_is_a_database_error(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such"
    with pytest.raises(DatabaseError, match="does not exist") as caught:
        Gradebook(default_url(missing))
    assert "\n" not in str(caught.value)
    assert not missing.exists()


@pytest.mark.parametrize(
    "bad",
    [
        "not a url",
        "nosuchdb://user:s3cret@host/db",
        "postgresql+psycopg://user:s3cret@127.0.0.1:1/db",  # nothing listens on port 1
        "sqlite+nosuchdriver:///x.db",
    ],
)
def test_bad_url_is_a_one_line_database_error(bad: str) -> None:
    with pytest.raises(DatabaseError) as caught:
        Gradebook(bad, retry_seconds=0)  # a refused connection is otherwise tried again for 30 s
    message = str(caught.value)
    assert "\n" not in message and "s3cret" not in message
    assert message.startswith("Cannot open gradebook")


#: every command that opens the gradebook says what is wrong with its URL in one line
COMMANDS = {
    "db upgrade": ["db", "upgrade"],
    "summary": ["summary", "-a", "backprop"],
    "submit": ["submit", str(SAMPLES / "correct_loops.py"), "-a", "backprop", "-s", "ada"],
}


def one_line_refusal(course: Path, url: str, command: list[str]) -> str:
    """The one line on stderr of a command refused (exit 2) for the gradebook at ``url``."""
    result = run(course, *command, env={"GRADE_DB_URL": url})
    assert result.exit_code == 2, result.output
    assert result.stdout == "" and len(result.stderr.splitlines()) == 1, result.stderr
    return result.stderr.removeprefix("Error: ").strip()


@pytest.mark.parametrize("command", COMMANDS.values(), ids=COMMANDS.keys())
def test_a_url_whose_port_is_not_a_number_is_one_line(course: Path, command: list[str]) -> None:
    message = one_line_refusal(course, "postgresql://u:s3cret@h:abc/db", command)
    assert message == (
        "Cannot open gradebook postgresql://u:***@h:abc/db: it is not a database URL (its port is not a number); "
        "use e.g. sqlite:////abs/path/grade.db or postgresql+psycopg://user@host/db."
    )


IN_MEMORY = ["sqlite://", "sqlite:///:memory:", "sqlite+pysqlite:///:memory:", "sqlite:///file::memory:?uri=true", "sqlite:///file:gb?mode=memory&uri=true"]


@pytest.mark.parametrize("command", COMMANDS.values(), ids=COMMANDS.keys())
@pytest.mark.parametrize("url", IN_MEMORY)
def test_an_in_memory_sqlite_gradebook_is_refused_saying_why(course: Path, url: str, command: list[str]) -> None:
    message = one_line_refusal(course, url, command)
    assert message == (
        f"Cannot open gradebook {url}: an in-memory SQLite database is discarded when the command ends, and every "
        "result with it; set GRADE_DB_URL to a file (sqlite:////abs/path/grade.db) or unset it."
    )


@pytest.mark.parametrize("command", COMMANDS.values(), ids=COMMANDS.keys())
def test_a_gradebook_of_a_newer_grader_says_to_upgrade_the_grader(course: Path, tmp_path: Path, command: list[str]) -> None:
    url = default_url(tmp_path)
    with Gradebook(url):
        pass
    engine = create_engine(url)
    with engine.begin() as connection:  # as a grader with one more migration leaves it
        connection.execute(text("UPDATE alembic_version SET version_num = '0999'"))
    engine.dispose()
    message = one_line_refusal(course, url, command)
    assert message == (
        f"Cannot open gradebook {url}: it is at revision '0999', which this grader does not know (its newest is "
        f"{HEAD!r}); a newer grader wrote it: upgrade the grader to use it."
    )


def test_upgrading_twice_is_a_no_op(sqlite_url: str) -> None:
    with Gradebook(sqlite_url) as book:
        sid = begin(book)
    with Gradebook(sqlite_url) as book:
        assert book.upgrade() == (HEAD, HEAD)
        assert book.revision() == HEAD
        assert book.get(sid) is not None


def test_upgrade_reports_the_empty_start(sqlite_url: str) -> None:
    with Gradebook(sqlite_url, upgrade=False) as book:
        assert book.revision() is None
        assert book.upgrade() == (None, HEAD)


def test_database_url_prefers_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = "sqlite:///" + str((tmp_path / "grade.db").absolute())
    assert Settings.from_env({}).database_url(tmp_path) == default_url(tmp_path) == expected
    assert Settings.from_env({"GRADE_DB_URL": ""}).database_url(tmp_path) == expected
    assert Settings.from_env({"GRADE_DB_URL": " postgresql+psycopg://u@h/d "}).database_url(tmp_path) == "postgresql+psycopg://u@h/d"


def submit_at_once(url: str, workers: int) -> list[int]:
    """``workers`` threads open their own gradebook, then all submit at the same moment."""
    ready = threading.Barrier(workers)

    def work(_: int) -> int:
        ready.wait()
        with Gradebook(url) as book:  # also races the first-use upgrade
            ready.wait()
            return begin(book, student="racer", assignment="race")

    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(work, range(workers)))


def count_rows(url: str) -> tuple[int, int]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            students = connection.scalar(select(func.count()).select_from(Student))
            submissions = connection.scalar(select(func.count()).select_from(Submission))
    finally:
        engine.dispose()
    return int(students or 0), int(submissions or 0)


@pytest.mark.postgres
def test_concurrent_first_submissions_postgres(postgres_url: str) -> None:
    ids = submit_at_once(postgres_url, 20)
    assert len(set(ids)) == 20
    assert count_rows(postgres_url) == (1, 20)


def test_concurrent_first_submissions_sqlite(sqlite_url: str) -> None:
    ids = submit_at_once(sqlite_url, 8)
    assert len(set(ids)) == 8
    assert count_rows(sqlite_url) == (1, 8)


#: A grader process that, once grader is imported, says so on the fd in argv[2] and waits for
#: the fd in argv[3] to close before it opens the gradebook.
OPEN_TOGETHER = """
import os, sys
from grader.db import Gradebook
os.write(int(sys.argv[2]), b".")
os.read(int(sys.argv[3]), 1)
with Gradebook(sys.argv[1]) as book:
    print(book.revision())
"""


@pytest.mark.slow
def test_concurrent_first_use_from_several_processes(url: str) -> None:
    # Threads share one process lock, so only processes exercise the database's own lock. They
    # start opening it together: when the test closes the one pipe all of them wait on.
    count = 12  # enough that, on a new gradebook, the switch to WAL finds the database busy
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    ready_read, ready_write = os.pipe()
    go_read, go_write = os.pipe()
    graders: list[subprocess.Popen[str]] = []
    ready = b""
    try:
        try:
            for _ in range(count):
                graders.append(subprocess.Popen(
                    [sys.executable, "-W", "error", "-c", OPEN_TOGETHER, url, str(ready_write), str(go_read)],
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    pass_fds=(ready_write, go_read),
                ))
        finally:
            os.close(ready_write)  # only the graders hold these ends now
            os.close(go_read)
        while len(ready) < count and wait_readable([ready_read], [], [], 120)[0]:
            chunk = os.read(ready_read, count)
            if not chunk:
                break  # every grader has exited
            ready += chunk
    finally:
        os.close(go_write)  # all of them go at once
        os.close(ready_read)
        outcomes = [grader_.communicate(timeout=120) for grader_ in graders]
    assert [(g.returncode, out.strip(), err) for g, (out, err) in zip(graders, outcomes, strict=True)] == [
        (0, HEAD, "")
    ] * count
    assert len(ready) == count


def test_threads_opening_different_gradebooks_at_once(tmp_path: Path) -> None:
    # Alembic's proxies are process-wide, so even unrelated gradebooks must migrate in turn.
    urls = [default_url(tmp_path / f"course{i}") for i in range(8)]
    for i in range(8):
        (tmp_path / f"course{i}").mkdir()
    ready = threading.Barrier(len(urls))

    def open_one(url: str) -> str | None:
        ready.wait()
        with Gradebook(url) as book:
            return book.revision()

    with ThreadPoolExecutor(len(urls)) as pool:
        assert list(pool.map(open_one, urls)) == [HEAD] * len(urls)


#: the columns of submissions every revision has had
SUBMISSION_COLUMNS = (
    "id, student_id, assignment_id, filename, content, sha256, submitted_at, status, message, seed, rubric_version, score, "
    "max_score, warnings, output, isolation"
)


@contextmanager
def gradebook_at(url: str, revision: str) -> Iterator[Connection]:
    """A transaction on a new gradebook at the old ``revision`` holding the student 'ada' (1) and
    the assignment 'backprop' (1): what a grader of that revision left, to be filled and upgraded."""
    from alembic import command

    from grader.db.schema import _config

    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            command.upgrade(_config(connection), revision)
            connection.exec_driver_sql("INSERT INTO students (id, external_id) VALUES (1, 'ada')")
            connection.exec_driver_sql("INSERT INTO assignments (id, name) VALUES (1, 'backprop')")
            yield connection
    finally:
        engine.dispose()


def test_revision_0003_turns_old_messages_into_fields(tmp_path: Path) -> None:
    """A gradebook written before checks carried their case and diagnoses as fields keeps its
    results, with the case moved out of the message so a later hidden flag can redact it."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    with gradebook_at(url, "0002") as connection:
        connection.exec_driver_sql(
            f"INSERT INTO submissions ({SUBMISSION_COLUMNS})"
            " VALUES (1, 1, 1, 'a.py', x'00', 'x', '2026-11-30 10:00:00', 'graded', '', 1, 'v', 0.0, 10.0, '[]', '', '')"
        )
        old = "dJ/db1 is wrong on case 'basic' (N=8, D=5, lambda=0.1; a note (with parentheses)): relative error 0.76 (tolerance 0.001); worst element [0]: expected 0.289242, got 0.615392. The derivative is wrong."
        errors = json.dumps({"case": "basic", "rel_error": 0.76, "tolerance": 0.001, "worst_index": [0], "expected": 0.289242, "got": 0.615392})
        connection.execute(
            text("INSERT INTO check_results (submission_id, check_id, part, status, score, max_score, message, diagnoses, errors)"
                 " VALUES (1, 'q_db1', 'q', 'failed', 0.0, 10.0, :message, :diagnoses, :errors)"),
            {"message": old, "diagnoses": json.dumps(["wrong-activation-derivative"]), "errors": errors},
        )
    with Gradebook(url) as book:
        assert book.revision() == HEAD
        stored = book.get(1)
    assert stored is not None
    [check] = stored.checks
    assert check.message == "dJ/db1 is wrong on {case}: relative error 0.76 (tolerance 0.001). The derivative is wrong."
    assert check.case == "basic" and "case" not in check.errors and check.errors["worst_index"] == [0]
    assert check.diagnoses == (Diagnosis("wrong-activation-derivative"),)
    assert (check.student_text, check.hidden) == ("", False)


def test_revision_0005_upgrades_a_0004_gradebook_with_its_results(url: str) -> None:
    """A gradebook in use before identity and lateness existed keeps every result, each not late
    (its score is its final score), and gains an empty roster, token table and extensions."""
    blob = "x'00'" if url.startswith("sqlite") else "'\\x00'::bytea"
    with gradebook_at(url, "0004") as connection:
        connection.exec_driver_sql("INSERT INTO students (id, external_id) VALUES (2, 'bob')")
        connection.exec_driver_sql(
            f"INSERT INTO submissions ({SUBMISSION_COLUMNS}, attempts)"
            f" VALUES (1, 1, 1, 'a.py', {blob}, 'x', '2026-11-30 10:00:00', 'graded', '7 of 10 points.', 1, 'v', 7.0, 10.0, '[]', '', '', 1),"
            f" (2, 2, 1, 'b.py', {blob}, 'y', '2026-11-30 11:00:00', 'pending', '', 2, 'v', NULL, NULL, '[]', '', '', 0)"
        )
        connection.exec_driver_sql(
            "INSERT INTO check_results (submission_id, check_id, part, status, score, max_score, message, diagnoses, errors)"
            " VALUES (1, 'q_a', 'q', 'failed', 7.0, 10.0, 'm', '[]', '{}')"
        )
    with Gradebook(url) as book:
        assert book.revision() == HEAD
        graded, pending = book.get(1), book.get(2)
        assert book.roster() == [] and not book.is_rostered("ada")
        book.import_roster([grader.identity.RosterEntry("ada", "Ada", "")])
        assert book.authenticate(book.issue_token("ada", "student")) == grader.identity.Identity("ada", "student")
    assert graded is not None and pending is not None
    assert (graded.status, graded.score, graded.late_days, graded.penalty, graded.final_score) == ("graded", 7.0, 0, 0.0, 7.0)
    assert [c.score for c in graded.checks] == [7.0]
    assert (pending.status, pending.score, pending.late_days, pending.penalty, pending.final_score) == ("pending", None, 0, 0.0, None)


def test_revision_0007_upgrades_a_0005_gradebook_and_sessions_work(url: str) -> None:
    """A gradebook from before the web pages gains empty sessions and sign-in links; a session
    lives until it is ended, and revoking the subject's tokens ends every one of theirs."""
    with gradebook_at(url, "0005") as connection:
        connection.exec_driver_sql("INSERT INTO roster (student_id, name, email) VALUES (1, 'Ada', '')")  # ada, student 1
    with Gradebook(url) as book:
        assert book.revision() == HEAD
        assert book.is_rostered("ada") and book.session("no-such-session") is None
        ada = grader.identity.Identity("ada", "student")
        book.issue_token("ada", "student")
        first, second = book.start_session(ada), book.start_session(ada)
        assert first != second and book.session(first) == book.session(first) is not None
        signed = book.session(first)
        assert signed is not None and signed.identity == ada and len(signed.csrf) >= 43
        assert book.end_session(first) and book.session(first) is None and not book.end_session(first)
        assert book.session(second) is not None
        assert book.revoke_tokens("ada") == 1 and book.session(second) is None
        link = book.issue_link("ada", "student", hours=1)
        assert book.redeem_link(link) == ada and book.redeem_link(link) is None
        assert book.session("x" * 10_000) is None and book.redeem_link("") is None
        with pytest.raises(NotRostered):
            book.issue_link("zed", "student", hours=1)


def test_revision_0006_upgrades_a_0005_gradebook_keeping_its_roster(url: str) -> None:
    """A roster imported before Canvas's ids were kept stays as it was, with none of them, and
    takes them from the next import of Canvas's export; its tokens still authenticate."""
    with gradebook_at(url, "0005") as connection:
        connection.exec_driver_sql("INSERT INTO students (id, external_id) VALUES (2, 'bob')")
        connection.exec_driver_sql("INSERT INTO roster (student_id, name, email) VALUES (1, 'Lovelace, Ada', 'ada@uni.example'), (2, 'Bob', '')")
        connection.exec_driver_sql(
            "INSERT INTO tokens (sha256, role, subject, issued_at) VALUES "
            f"('{grader.identity.token_digest('t' * 43)}', 'student', 'ada', '2026-12-01 10:00:00')"
        )
    with Gradebook(url) as book:
        assert book.revision() == HEAD
        assert book.roster() == [
            grader.identity.RosterEntry("ada", "Lovelace, Ada", "ada@uni.example"),
            grader.identity.RosterEntry("bob", "Bob", ""),
        ]
        assert book.authenticate("t" * 43) == grader.identity.Identity("ada", "student")
        canvas = grader.identity.RosterEntry("ada", "Lovelace, Ada", "ada@uni.example", "101", "ada@uni.example", "Section 1")
        assert book.import_roster([canvas]) == (0, 1)
        assert book.roster() == [canvas, grader.identity.RosterEntry("bob", "Bob", "")]


def test_batch_rows_give_a_finished_claims_score_and_a_pending_ones_lease_in_one_read(url: str) -> None:
    from grader.leases import Lease

    lease = Lease.mine("grade batch", 60.0)  # this process: alive
    claim = {"assignment": "hw1", "filename": "a.py", "content": b"x", "seed": 7, "rubric_version": "v1", "lease": lease}
    with Gradebook(url) as book:
        done = book.claim_submission(batch_key="k-done", student="s1", **claim)
        waiting = book.claim_submission(batch_key="k-waiting", student="s2", **claim)
        book.finish_submission(done.id, RESULT)
        found = book.batch_rows(["k-done", "k-waiting", "k-never"])
    assert set(found) == {"k-done", "k-waiting"}
    assert (found["k-done"].id, found["k-done"].status, found["k-done"].score, found["k-done"].pending) == (done.id, "graded", 2.5, None)
    held = found["k-waiting"].pending
    assert (found["k-waiting"].status, found["k-waiting"].score) == ("pending", None)
    assert held is not None and (held.id, held.assignment, held.owner, held.batch_key) == (waiting.id, "hw1", lease.owner, "k-waiting")
    assert held.expires is not None and not held.lapsed(datetime.now(UTC))
