"""The gradebook's side of course policy: extensions, the uploads that count, and late
penalties stored beside the raw score; `grade extend`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from helpers import run

from grader.db import Gradebook
from grader.errors import InvalidExtension, NotRostered
from grader.grading import grader_failed
from grader.identity import RosterEntry
from grader.results import CheckResult, GradingResult
from grader.workspace import INTERRUPTED

T0 = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
CHECK = CheckResult("q_a", "q", "passed", 8.0, 10.0, "fine")


def begin(book: Gradebook, student: str = "ada", assignment: str = "hw", filename: str = "hw.py", **lateness: object) -> int:
    return book.begin_submission(
        student=student, assignment=assignment, filename=filename, content=b"x = 1\n", seed=1, rubric_version="v", **lateness
    )


def finish(book: Gradebook, submission: int, status: str = "graded", message: str = "8 of 10 points.", score: float = 8.0) -> None:
    checks = (CHECK,) if status == "graded" else (CheckResult("q_a", "q", status, 0.0, 10.0, "not graded"),)
    assert sum(c.score for c in checks) == score
    book.finish_submission(submission, GradingResult(status, message, 1, checks, 10.0))


# --- extensions -----------------------------------------------------------------------------------


def test_an_extension_replaces_the_last_and_zero_removes_it(url: str) -> None:
    with Gradebook(url) as book:
        book.import_roster([RosterEntry("ada", "Ada", "")])
        assert book.extension_days("ada", "hw") == 0.0
        book.extend("ada", "hw", 2)
        book.extend("ada", "hw", 1.5)
        assert book.extension_days("ada", "hw") == 1.5
        assert book.extension_days("ada", "other") == 0.0
        book.extend("ada", "hw", 0)
        assert book.extension_days("ada", "hw") == 0.0


def test_a_student_who_submitted_can_be_extended_without_a_roster(sqlite_url: str) -> None:
    with Gradebook(sqlite_url) as book:
        begin(book, "bob")
        book.extend("bob", "hw", 3)
        assert book.extension_days("bob", "hw") == 3.0


def test_an_unknown_student_cannot_be_extended(sqlite_url: str) -> None:
    with Gradebook(sqlite_url) as book:
        with pytest.raises(NotRostered, match=r"^the student 'adda' is neither on the roster nor in the gradebook"):
            book.extend("adda", "hw", 2)
        assert book.extension_days("adda", "hw") == 0.0


@pytest.mark.parametrize("days", [-1.0, 366.0, float("nan"), float("inf")])
def test_an_impossible_extension_is_refused(sqlite_url: str, days: float) -> None:
    with Gradebook(sqlite_url) as book:
        book.import_roster([RosterEntry("ada", "Ada", "")])
        with pytest.raises(InvalidExtension, match=r"give a number of days from 0 to 365\.$"):
            book.extend("ada", "hw", days)


# --- uploads that count ---------------------------------------------------------------------------


def test_uploads_count_all_but_the_graders_own_failures(url: str) -> None:
    with Gradebook(url) as book:
        at = [T0 + timedelta(minutes=i) for i in range(7)]
        graded = begin(book, submitted_at=at[0])
        finish(book, graded)
        failed_by_grader = begin(book, submitted_at=at[1])
        finish(book, failed_by_grader, "error", grader_failed(RuntimeError("zygote died")), 0.0)
        interrupted = begin(book, submitted_at=at[2])
        finish(book, interrupted, "error", INTERRUPTED, 0.0)
        students_error = begin(book, submitted_at=at[3])
        finish(book, students_error, "error", "hw.py does not compile: SyntaxError", 0.0)
        spoof = begin(book, filename="the grader failed.py", submitted_at=at[4])
        finish(book, spoof, "error", "the grader failed.py does not compile: SyntaxError", 0.0)
        begin(book, submitted_at=at[5])  # pending: counts
        begin(book, "bob", submitted_at=at[6])  # another student
        begin(book, assignment="other", submitted_at=at[6])  # another assignment
        assert book.uploads("ada", "hw") == [at[0], at[3], at[4], at[5]]
        assert book.uploads("ada", "hw", since=at[3]) == [at[3], at[4], at[5]]
        assert book.uploads("nobody", "hw") == []


def test_uploads_are_oldest_first_whatever_the_order_recorded(sqlite_url: str) -> None:
    with Gradebook(sqlite_url) as book:
        for minutes in (5, 1, 3):
            begin(book, submitted_at=T0 + timedelta(minutes=minutes))
        assert book.uploads("ada", "hw") == [T0 + timedelta(minutes=m) for m in (1, 3, 5)]


# --- penalties beside the raw score ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("late_days", "per_day", "penalty"),
    [(0, 0.25, 0.0), (2, 0.25, 4.0), (3, 0.0, 0.0), (5, 0.25, 8.0)],  # 8 * min(1, 0.25 * days)
)
def test_the_penalty_is_computed_when_the_score_is_stored(url: str, late_days: int, per_day: float, penalty: float) -> None:
    with Gradebook(url) as book:
        submission = begin(book, submitted_at=T0, late_days=late_days, late_penalty_per_day=per_day)
        pending = book.get(submission)
        assert pending is not None and (pending.late_days, pending.penalty, pending.final_score) == (late_days, 0.0, None)
        finish(book, submission)
        done = book.get(submission)
    assert done is not None
    assert (done.submitted_at, done.late_days, done.score, done.penalty, done.final_score) == (T0, late_days, 8.0, penalty, 8.0 - penalty)


def test_a_naive_time_or_a_negative_lateness_is_refused(sqlite_url: str) -> None:
    with Gradebook(sqlite_url) as book:
        with pytest.raises(ValueError, match="no time zone"):
            begin(book, submitted_at=datetime(2026, 12, 5))
        with pytest.raises(ValueError, match="must be >= 0"):
            begin(book, late_days=-1)
        with pytest.raises(ValueError, match="must be >= 0"):
            begin(book, late_penalty_per_day=1.5)


# --- grade extend ---------------------------------------------------------------------------------


def test_grade_extend_moves_due_and_closes(course: Path, db_url: str, tmp_path: Path) -> None:
    rubric = course / "rubrics" / "backprop.toml"
    policy = '[policy]\ndue = "2026-12-08T23:59:00-05:00"\ncloses = "2026-12-11T23:59:00-05:00"\n\n'
    rubric.write_text(policy + rubric.read_text())
    roster = tmp_path / "roster.csv"
    roster.write_text("id,name,email\nada,Ada,\n")
    run(course, "roster", "import", str(roster))
    result = run(course, "extend", "ada", "--assignment", "backprop", "--days", "1.5")
    assert (result.exit_code, result.stdout) == (0, "'ada' has 1.5 more days on backprop: due 2026-12-10T11:59:00-05:00, closes 2026-12-13T11:59:00-05:00\n")
    with Gradebook(db_url) as book:
        assert book.extension_days("ada", "backprop") == 1.5


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["extend", "nobody", "-a", "backprop", "--days", "2"], "Error: the student 'nobody' is neither on the roster nor in the gradebook"),
        (["extend", "ada", "-a", "nosuch", "--days", "2"], "Error: no assignment 'nosuch' in "),
        (["extend", "ada", "-a", "backprop", "--days", "-2"], "Error: an extension of -2 days is not possible"),
        (["extend", "ada", "-a", "backprop", "--days", "nan"], "Error: an extension of nan days is not possible"),
    ],
)
def test_grade_extend_errors_are_one_line(course: Path, db_url: str, tmp_path: Path, args: list[str], message: str) -> None:
    roster = tmp_path / "roster.csv"
    roster.write_text("id,name,email\nada,Ada,\n")
    run(course, "roster", "import", str(roster))
    result = run(course, *args)
    assert result.exit_code == 2
    assert result.stderr.startswith(message) and len(result.stderr.splitlines()) == 1, result.stderr


@pytest.mark.parametrize(
    "message",
    [grader_failed(RuntimeError("boom")), INTERRUPTED, "grading was interrupted 3 times (the graders stopped); ask your instructor to grade it again."],
)
def test_every_message_of_a_grader_failure_is_recognised(message: str) -> None:
    from grader.results import grader_fault

    assert grader_fault("error", message, "hw.py")
    assert not grader_fault("graded", message, "hw.py")


class LastOneTaken(Exception):
    pass


@pytest.mark.postgres
def test_uploads_racing_for_the_last_submission_take_it_once(postgres_url: str) -> None:
    # Upload A decides while upload B is waiting on the gradebook's lock for the same student
    # and assignment (seen in pg_locks, not guessed with a sleep): B decides only after A is
    # recorded, sees it, and is refused. Without the lock B would not wait, and A would wait for
    # it in vain.
    import threading

    from sqlalchemy import create_engine, text

    from grader.leases import Lease

    def upload(admit: object) -> int:
        with Gradebook(postgres_url) as book:
            return book.record_upload(
                batch_key=f"upload:{threading.get_ident()}", student="ada", assignment="hw", filename="a.py", content=b"x",
                seed=1, rubric_version="v", lease=Lease("test server", 60), submitted_at=datetime.now(UTC), admit=admit,  # type: ignore[arg-type]
            ).id

    def at_most_one(uploads: list[datetime], extension_days: float) -> tuple[int, float]:
        if uploads:
            raise LastOneTaken
        return 0, 0.0

    a_deciding = threading.Event()
    watcher = create_engine(postgres_url)

    def a_admit(uploads: list[datetime], extension_days: float) -> tuple[int, float]:
        a_deciding.set()
        deadline = datetime.now(UTC) + timedelta(seconds=30)
        with watcher.connect() as db:
            while not db.execute(text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")).scalar():
                assert datetime.now(UTC) < deadline, "upload B never waited for upload A"
        return at_most_one(uploads, extension_days)

    results: dict[str, object] = {}

    def run_a() -> None:
        results["a"] = upload(a_admit)

    def run_b() -> None:
        try:
            results["b"] = upload(at_most_one)
        except LastOneTaken:
            results["b"] = "refused"

    first = threading.Thread(target=run_a)
    first.start()
    assert a_deciding.wait(30)
    second = threading.Thread(target=run_b)
    second.start()
    first.join(60)
    second.join(60)
    watcher.dispose()
    assert isinstance(results["a"], int) and results["b"] == "refused"
    with Gradebook(postgres_url) as book:
        assert len(book.uploads("ada", "hw")) == 1
