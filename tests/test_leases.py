"""Leases: a pending submission names its grader; one whose grader stopped is taken over or
closed, never left pending forever."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from helpers import CORRECT, HANGS_THEN_CORRECT, ROOT, rows
from servers import PrivatePostgres

from grader.batch.claims import MAX_ATTEMPTS, claim, claim_and_grade
from grader.db import Gradebook
from grader.leases import OUTPUT_PREFIX, Heartbeat, Lease, holder_gone, output_folder, owner_name, readable, sweep_scratch
from grader.loading import Submission
from grader.workspace import INTERRUPTED, Workspace


def a_dead_owner(role: str = "grade submit") -> str:
    """The lease holder name of a process of this machine that has exited."""
    code = f"from grader.leases import owner_name; print(owner_name({role!r}))"
    done = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def record(book: Gradebook, student: str = "ada", lease: Lease | None = None) -> int:
    return book.begin_submission(student=student, assignment="backprop", filename="a.py", content=b"x", seed=1, rubric_version="v", lease=lease)


def test_a_holder_is_gone_only_when_its_process_of_this_machine_has_exited() -> None:
    mine = owner_name("grade submit")
    assert readable(mine) == f"grade submit on {os.uname().nodename} pid {os.getpid()}"
    assert not holder_gone(mine)
    assert holder_gone(a_dead_owner())
    # another machine's holder (another boot or process namespace): only its expiry tells
    elsewhere = mine.replace(mine[mine.rindex("[") + 1 : mine.rindex("[") + 13], "0123456789ab")
    assert elsewhere != mine and not holder_gone(elsewhere)
    assert not holder_gone("an owner written by hand")


def test_take_respects_a_live_lease_and_takes_a_lapsed_one(db_url: str) -> None:
    ours, theirs = Lease("ours", 60), Lease("theirs", 60)
    with Gradebook(db_url) as book:
        sid = record(book, lease=theirs)
        held = book.take(sid, ours)
        assert (held.taken, held.owner, held.attempts) == (False, "theirs", 1)
        assert book.take(sid, theirs).taken  # the holder itself may take it again
        assert book.take(sid, ours, queued_by="theirs").taken  # and may hand it over
        assert book.renew_leases("ours", 60) == 1 and book.renew_leases("theirs", 60) == 0
        lapsed = Lease("lapsed", -1)  # its lease ran out when it was taken
        sid2 = record(book, "bea", lapsed)
        taken = book.take(sid2, ours)
        assert (taken.taken, taken.attempts) == (True, 2)
        # a holder of this machine that exited is replaced at once, its lease still running
        sid3 = record(book, "cy", Lease(a_dead_owner(), 3600))
        assert book.take(sid3, ours).taken


def test_the_next_command_closes_orphans_and_only_orphans(course: Path, db_url: str) -> None:
    with Gradebook(db_url) as book:
        alive = record(book, "alive", Lease.mine("test", 3600))
        dead = record(book, "dead", Lease(a_dead_owner(), 3600))
        lapsed = record(book, "lapsed", Lease("grade worker on another machine pid 7", -1))
        no_lease = record(book, "old")  # pending from before leases existed
    workspace = Workspace(course, db_url)
    with workspace.gradebook() as book:
        statuses = {sid: book.get(sid) for sid in (alive, dead, lapsed, no_lease)}
    assert statuses[alive] is not None and statuses[alive].status == "pending"
    for sid in (dead, lapsed, no_lease):
        stored = statuses[sid]
        assert stored is not None and (stored.status, stored.message, stored.score) == ("error", INTERRUPTED, 0.0)
        assert stored.max_score == workspace.assignment("backprop").rubric.max_score


def test_a_heartbeat_keeps_a_lease_alive(db_url: str) -> None:
    lease = Lease("beating", 0.4)
    with Gradebook(db_url) as book:
        sid = record(book, lease=lease)
        first = book.pending()[0].expires
        with Heartbeat(book, lease) as heart:
            heart.beat()
            renewed = book.pending()[0].expires
        assert first is not None and renewed is not None and renewed > first
        assert book.take(sid, Lease("other", 60)).taken is False


def test_a_submission_interrupted_too_often_is_closed(course: Path, db_url: str) -> None:
    assignment = Workspace(course, db_url).assignment("backprop")
    submission = Submission("hw.py", CORRECT.encode(), "python")
    dead = Lease(a_dead_owner("grade batch"), 3600)
    with Gradebook(db_url) as book:
        claimed = claim(book, "backprop", assignment.version, "ada", submission, dead)
        for attempt in range(1, MAX_ATTEMPTS + 1):  # each grading was killed after taking it
            assert book.take(claimed.id, dead).attempts == attempt
        done = claim_and_grade(book, assignment, "ada", submission, "strict", Lease.mine("grade batch", 60))
        stored = book.get(claimed.id)
    assert (done.status, done.submission_id) == ("error", claimed.id)
    assert stored is not None and stored.message == (
        f"grading was interrupted {MAX_ATTEMPTS} times (the graders stopped); ask your instructor to grade it again."
    )


def test_scratch_folders_of_graders_that_exited_are_swept(tmp_path: Path) -> None:
    mine = output_folder()
    code = "from grader.leases import output_folder; print(output_folder())"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": tempfile.gettempdir()}
    left = Path(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout.strip())
    (left / "deep").mkdir()
    (left / "deep" / "picture.png").write_bytes(b"png")
    other = Path(tempfile.gettempdir()) / f"{OUTPUT_PREFIX}not-a-tag"
    other.mkdir()
    assert left.is_dir() and sweep_scratch() >= 1
    assert not left.exists() and mine.is_dir() and other.is_dir()


def test_grade_submit_killed_mid_grading_leaves_nothing_pending(course: Path, db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "hangs.py"
    path.write_text(HANGS_THEN_CORRECT)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {**os.environ, "GRADE_DB_URL": db_url, "PYTHONPATH": str(ROOT), "TMPDIR": str(scratch)}
    grade = [sys.executable, "-m", "grader.cli", "--course", str(course)]
    process = subprocess.Popen([*grade, "submit", str(path), "-a", "backprop", "-s", "ada"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not (rows(db_url) and any(p.name.startswith(OUTPUT_PREFIX) for p in scratch.iterdir())):
            assert process.poll() is None and time.monotonic() < deadline, "grade submit never started grading"
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
    finally:
        process.communicate()
    assert rows(db_url) == [("ada", "pending", None)]
    # the next command that opens the gradebook closes it, and removes the folder left behind
    report = subprocess.run([*grade, "report", "-a", "backprop", "-s", "ada"], env=env, capture_output=True, text=True)
    assert report.returncode == 0, report.stderr
    assert rows(db_url) == [("ada", "error", 0.0)]
    assert "grading was interrupted" in report.stdout
    assert not [p for p in scratch.iterdir() if p.name.startswith(OUTPUT_PREFIX)]


def test_a_pending_row_of_a_grader_elsewhere_is_closed_once_its_lease_runs_out(course: Path, db_url: str) -> None:
    with Gradebook(db_url) as book:
        sid = record(book, lease=Lease("grade submit on elsewhere pid 1", 3600))
    workspace = Workspace(course, db_url)
    with workspace.gradebook() as book:
        stored = book.get(sid)
        assert stored is not None and stored.status == "pending"  # its lease runs for an hour
        expires = book.pending()[0].expires
        assert expires is not None and expires - datetime.now(UTC) > timedelta(minutes=59)


@pytest.mark.slow
@pytest.mark.postgres
def test_grade_submit_whose_database_stops_mid_grading_exits_2_and_leaves_nothing_pending(
    course: Path, private_postgres: PrivatePostgres, tmp_path: Path
) -> None:
    url = private_postgres.url
    path = tmp_path / "hangs.py"
    path.write_text(HANGS_THEN_CORRECT)  # graded to 100 after the 3 s load timeout
    env = {**os.environ, "GRADE_DB_URL": url, "GRADE_DB_RETRY_SECONDS": "1", "PYTHONPATH": str(ROOT)}
    grade = [sys.executable, "-m", "grader.cli", "--course", str(course)]
    process = subprocess.Popen([*grade, "submit", str(path), "-a", "backprop", "-s", "ada"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while rows(url) != [("ada", "pending", None)]:
            assert process.poll() is None and time.monotonic() < deadline, "grade submit never recorded the submission"
            time.sleep(0.02)
        private_postgres.stop()
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 2 and out == ""
    [line] = [line for line in err.splitlines() if "WARNING" not in line]  # the retries are logged as warnings
    assert "was graded (graded, 100 of 100) but not stored; the next command closes it as interrupted: submit again." in line
    private_postgres.start()
    assert rows(url) == [("ada", "pending", None)]
    subprocess.run([*grade, "summary", "-a", "backprop"], env=env, check=True, capture_output=True)
    assert rows(url) == [("ada", "error", 0.0)]
