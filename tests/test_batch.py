"""`grade batch`: every submission of a class graded once, resumably, whatever the others do."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import CORRECT, HANGS_THEN_CORRECT, SAMPLES, batch, query, rows, run

from grader.batch import Skipped, claims, discover, local
from grader.batch.claims import Done, batch_key
from grader.course import Assignment
from grader.db import Gradebook
from grader.errors import DatabaseError
from grader.loading import Submission
from grader.results import GradingResult
from grader.sandbox.isolation import IsolationError
from grader.settings import Settings
from grader.workspace import Workspace


def write_class(directory: Path, count: int, source: str = CORRECT) -> list[str]:
    directory.mkdir(parents=True, exist_ok=True)
    students = [f"student{i:03d}" for i in range(count)]
    for student in students:
        (directory / f"{student}.py").write_text(source)
    return students


def test_discover_lists_submissions_and_says_why_the_rest_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "ada.py").write_text("")
    (tmp_path / "bob.ipynb").write_text("{}")
    (tmp_path / "notes.txt").write_text("")
    (tmp_path / "cy").mkdir()
    (tmp_path / "cy" / "answer.py").write_text("")
    (tmp_path / "dee").mkdir()
    (tmp_path / "dee" / "readme.md").write_text("")
    (tmp_path / "eve").mkdir()
    (tmp_path / "eve" / "a.py").write_text("")
    (tmp_path / "eve" / "b.py").write_text("")
    (tmp_path / "ada.ipynb").write_text("{}")
    jobs, skipped = discover(tmp_path)
    assert {(j.student, j.path.relative_to(tmp_path).as_posix()) for j in jobs} == {
        ("ada", "ada.ipynb"),
        ("bob", "bob.ipynb"),
        ("cy", "cy/answer.py"),
    }
    assert set(skipped) == {
        Skipped("ada.py", "a second submission of student 'ada'"),
        Skipped("notes.txt", "not a .py file, a .ipynb notebook or a folder"),
        Skipped("dee/", "no .py or .ipynb file inside"),
        Skipped("eve/", "2 submission files inside; keep one"),
    }


def test_files_named_by_no_valid_student_id_are_skipped_saying_why(course: Path, db_url: str, tmp_path: Path) -> None:
    directory = tmp_path / "class"
    write_class(directory, 1)
    for name in (" .py", "\t.py", "a\x1bb.py", "x" * 201 + ".ipynb"):
        (directory / name).write_text(CORRECT)
    (directory / "\u00a0\u3000").mkdir()  # a folder named by whitespace only
    (directory / "\u00a0\u3000" / "hw.py").write_text(CORRECT)
    summary = batch(course, directory)
    assert (summary["submissions"], summary["graded"]) == (1, 1)
    assert summary["skipped"] == [
        {"path": "\t.py", "reason": "the student id '\\t' is empty or only whitespace"},
        {"path": " .py", "reason": "the student id ' ' is empty or only whitespace"},
        {"path": "a\x1bb.py", "reason": "the student id 'a\\x1bb' holds the control character \\x1b"},
        {"path": "x" * 201 + ".ipynb", "reason": f"the student id '{'x' * 39}…' is 201 characters long, more than the 200 a student id may have"},
        {"path": "\u00a0\u3000/hw.py", "reason": "the student id '\\xa0\\u3000' is empty or only whitespace"},
    ]
    assert [student for student, _, _ in rows(db_url)] == ["student000"]


def test_the_summary_counts_what_was_not_recorded_apart() -> None:
    done = [
        Done("ada", "graded", 100.0, 100.0, 1, seconds=2.0),
        Done("bob", "error", 0.0, 100.0, 2, seconds=1.0),
        Done("cy", claims.ALREADY_GRADED, 50.0, 100.0, 3),
        Done("dee", claims.NOT_RECORDED, 0.0, 100.0, None, "dee.py: the gradebook is gone"),
    ]
    facts = claims.Summary("backprop", 4, [], done, wall_seconds=4.0).to_json()
    assert (facts["graded"], facts["already_graded"], facts["not_recorded"]) == (2, 1, 1)
    assert facts["counts"] == {"graded": 1, "error": 1, claims.ALREADY_GRADED: 1}
    assert facts["not_recorded_reasons"] == [{"student": "dee", "reason": "dee.py: the gradebook is gone"}]
    assert facts["mean_score"] == 50.0  # (100 + 0 + 50) / 3: dee has no score
    assert facts["submissions_per_second"] == 0.5  # 2 recorded in 4 s


@pytest.mark.slow
def test_the_class_is_graded_once_and_a_rerun_grades_nothing(course: Path, db_url: str, tmp_path: Path) -> None:
    directory = tmp_path / "class"
    directory.mkdir()
    for sample in SAMPLES.iterdir():
        (directory / sample.name).write_bytes(sample.read_bytes())
    (directory / "stray.csv").write_text("a,b\n")
    first = batch(course, directory, "--workers", "2")
    assert first["submissions"] == 12 and first["graded"] == 12 and first["counts"] == {"graded": 12}
    assert first["skipped"] == [{"path": "stray.csv", "reason": "not a .py file, a .ipynb notebook or a folder"}]
    scores = {student: score for student, _, score in rows(db_url)}
    assert scores["correct_vectorized"] == 100 and scores["seed_db2_not_summed"] == 95  # 10/2 of db2 lost
    again = batch(course, directory)
    assert again["graded"] == 0 and again["already_graded"] == 12
    assert len(rows(db_url)) == 12
    (directory / "correct_loops.py").write_text(CORRECT + "\n# changed\n")
    third = batch(course, directory)
    assert third["graded"] == 1 and len(rows(db_url)) == 13  # new content, new submission


@pytest.mark.slow
def test_broken_and_hanging_submissions_do_not_stop_the_others(course: Path, db_url: str, tmp_path: Path) -> None:
    directory = tmp_path / "class"
    write_class(directory, 6, (SAMPLES / "correct_vectorized.py").read_text())
    (directory / "hangs.py").write_text("def loss(params, X, y, reg):\n    while True:\n        pass\n")
    (directory / "garbage.ipynb").write_bytes(b"\x00\xff" * 100)
    (directory / "bomb.py").write_text("import os\nwhile True:\n    os.fork()\n")
    summary = batch(course, directory, "--workers", "2")
    assert summary["submissions"] == 9
    statuses = {student: (status, score) for student, status, score in rows(db_url)}
    assert all(statuses[f"student{i:03d}"] == ("graded", 100) for i in range(6))
    assert statuses["garbage"] == ("error", 0)
    assert statuses["hangs"][1] == 0 and statuses["bomb"][1] == 0


#: ``python -c WITH_SIGINT ARGS...`` runs ``python ARGS...`` with SIGINT at its default
WITH_SIGINT = "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.executable, [sys.executable, *sys.argv[1:]])"


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_an_interrupted_batch_loses_nothing_and_the_rerun_completes_it(course: Path, db_url: str, tmp_path: Path, sig: int) -> None:
    # One worker grades the class in order; student003 holds it until the load timeout. The
    # batch is interrupted once student003 is claimed: three graded, one pending, four untouched.
    directory = tmp_path / "class"
    students = write_class(directory, 8)
    held = students[3]
    (directory / f"{held}.py").write_text(HANGS_THEN_CORRECT)
    # Ctrl-C at a terminal: the batch starts with SIGINT at its default, even where this test
    # runs with it ignored (a command started in the background by a shell without job control)
    command = [sys.executable, "-c", WITH_SIGINT, "-m", "grader.cli", "--course", str(course), "batch", str(directory), "-a", "backprop", "--workers", "1", "--json"]
    env = {**os.environ, "GRADE_DB_URL": db_url}
    with subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True) as process:
        deadline = time.monotonic() + 60
        while held not in {student for student, _, _ in rows(db_url)} and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.02)
        os.killpg(process.pid, sig)
        process.communicate(timeout=60)
    before = rows(db_url)
    finished_before = {student for student, status, _ in before if status == "graded"}
    assert set(students[:3]) <= finished_before < set(students)  # really stopped in the middle

    summary = batch(course, directory)
    after = rows(db_url)
    assert sorted(student for student, _, _ in after) == students  # exactly one row each
    assert all(status == "graded" and score == 100 for _, status, score in after)
    assert summary["already_graded"] == len(finished_before)


def lease_and_attempts(url: str, student: str) -> tuple[str | None, int] | None:
    """The lease holder and attempts of ``student``'s row, straight from the gradebook."""
    found = query(
        url,
        "SELECT submissions.lease_owner, submissions.attempts FROM submissions "
        "JOIN students ON students.id = submissions.student_id WHERE students.external_id = :student",
        student=student,
    )
    return (found[0][0], found[0][1]) if found else None


@pytest.mark.slow
def test_a_worker_killed_mid_grading_is_replaced_and_its_submission_graded(course: Path, db_url: str, tmp_path: Path) -> None:
    # A worker process is killed outright while it grades student000 (its load waits for the 3 s
    # load timeout): the batch hands that submission to another worker, which takes it over,
    # and starts a new worker; it ends with every student graded once.
    directory = tmp_path / "class"
    students = write_class(directory, 6)
    held = students[0]
    (directory / f"{held}.py").write_text(HANGS_THEN_CORRECT)
    command = [sys.executable, "-m", "grader.cli", "--course", str(course), "batch", str(directory), "-a", "backprop", "--workers", "2", "--json"]
    with subprocess.Popen(command, env={**os.environ, "GRADE_DB_URL": db_url}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          start_new_session=True) as process:
        deadline = time.monotonic() + 60
        while not ((found := lease_and_attempts(db_url, held)) and (found[0] or "").startswith("grade batch") and found[1] == 1):
            assert time.monotonic() < deadline and process.poll() is None, "no worker took student000"
            time.sleep(0.02)
        os.kill(int(str(found[0]).split(" pid ")[1].split()[0]), signal.SIGKILL)
        out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err.decode()[-2000:]
    summary = json.loads(out)
    assert summary["counts"] == {"graded": len(students)}, summary
    after = rows(db_url)
    assert sorted(student for student, _, _ in after) == students  # exactly one row each
    assert all(status == "graded" and score == 100 for _, status, score in after)
    assert lease_and_attempts(db_url, held) == (None, 2)  # the killed worker's grading, then another's
    assert "with a job; handing it to another" in err.decode()


def test_strict_isolation_and_usage_errors_are_one_line(course: Path, db_url: str, tmp_path: Path) -> None:
    result = run(course, "batch", str(tmp_path / "missing"), "-a", "backprop")
    assert result.exit_code == 2 and "is not a directory of submissions" in result.output
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.slow  # kombu retries the connection once
def test_an_unreachable_broker_is_a_one_line_error(course: Path, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRADE_BROKER_URL", "redis://:secret@127.0.0.1:1/0")  # nothing listens on port 1
    write_class(tmp_path / "class", 2)
    result = run(course, "batch", str(tmp_path / "class"), "-a", "backprop", "--backend", "celery")
    assert result.exit_code == 2
    assert "cannot reach the Celery broker at redis://:**@127.0.0.1:1/0" in result.output
    assert "secret" not in result.output and len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize("args", [["worker"], ["batch", "CLASS", "-a", "backprop", "--backend", "celery"]])
def test_without_the_celery_extra_the_celery_commands_say_which_to_install(
    course: Path, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    write_class(tmp_path / "class", 1)
    monkeypatch.delitem(sys.modules, "grader.batch.celery_backend", raising=False)
    monkeypatch.setitem(sys.modules, "kombu", None)  # as if the celery extra were not installed
    result = run(course, *[str(tmp_path / "class") if a == "CLASS" else a for a in args])
    assert result.exit_code == 2
    [line] = result.output.strip().splitlines()
    assert line.endswith("needs kombu: install the celery extra (pip install -e '.[celery]' in the grader's directory).")


def test_a_missing_module_no_extra_installs_is_the_graders_own_fault() -> None:
    from grader import extras

    assert "install the serve extra" in str(extras.require(ImportError("no uvicorn", name="uvicorn"), "grade serve"))
    with pytest.raises(ImportError, match="no such"):
        extras.require(ImportError("no such", name="grader.nothing"), "grade serve")


def test_the_celery_task_keeps_its_name() -> None:
    """Workers and batches of different versions share a queue: the task name is the contract."""
    from grader.batch.celery_backend import grade_task

    assert grade_task.name == "grader.grade"


#: files that are no program at all: each is recorded as an error, and the class is graded
UNREADABLE = {
    "undefined.py": b"# -*- coding: undefined -*-\nx = 1\n",  # the codec raises a bare UnicodeError
    "punycode.py": b"# -*- coding: punycode -*-\ndef loss(params, X, y, reg):\n    return 0.0\n",
    "huge_int.ipynb": b'{"nbformat": 4, "nbformat_minor": 5, "metadata": {"n": ' + b"9" * 5000 + b'}, "cells": []}',
    "wrong_types.ipynb": b'{"nbformat": 4, "nbformat_minor": 5, "cells": [{"cell_type": "code", "source": {"x": 1}}]}',
    "flood.ipynb": b'{"nbformat": 4, "nbformat_minor": 5, "metadata": {"x": [' + b"{}," * 2_000_000 + b'{}]}, "cells": []}',
}


def test_files_that_are_no_program_are_errors_and_the_rest_of_the_class_is_graded(course: Path, db_url: str, tmp_path: Path) -> None:
    directory = tmp_path / "class"
    students = write_class(directory, 3)
    for name, content in UNREADABLE.items():
        (directory / name).write_bytes(content)
    summary = batch(course, directory, "--workers", "2")
    assert summary["submissions"] == 3 + len(UNREADABLE)
    assert summary["counts"] == {"graded": 3, "error": len(UNREADABLE)} and summary["not_recorded"] == 0
    statuses = {student: (status, score) for student, status, score in rows(db_url)}
    assert statuses == {**{s: ("graded", 100) for s in students}, **{Path(n).stem: ("error", 0) for n in UNREADABLE}}
    with Gradebook(db_url) as gradebook:
        for name in UNREADABLE:
            stored = gradebook.latest(Path(name).stem, "backprop")
            assert stored is not None and stored.message.startswith(f"{name}: ") and stored.message.isprintable()
    again = batch(course, directory)  # a rerun finds them finished: nothing is left pending
    assert again["graded"] == 0 and again["already_graded"] == 3 + len(UNREADABLE)


def test_an_exception_while_grading_one_file_is_recorded_and_the_batch_goes_on(
    course: Path, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The pool's workers are forked from this process, with these functions in place.
    real_grade, real_claim = claims.grade, local.claim_and_grade

    def grade(assignment: Assignment, submission: Submission, **options: Any) -> GradingResult:
        if submission.filename == "trips.py":
            raise RuntimeError("the grader tripped")
        return real_grade(assignment, submission, **options)

    def claim_and_grade(gradebook: Gradebook, assignment: Assignment, student: str, submission: Submission, *args: Any, **kwargs: Any) -> Done:
        if student == "unstorable":
            raise DatabaseError("the gradebook is gone")
        return real_claim(gradebook, assignment, student, submission, *args, **kwargs)

    monkeypatch.setattr(claims, "grade", grade)
    monkeypatch.setattr(local, "claim_and_grade", claim_and_grade)
    directory = tmp_path / "class"
    students = write_class(directory, 3)
    (directory / "trips.py").write_text(CORRECT)
    (directory / "unstorable.py").write_text(CORRECT)
    summary = batch(course, directory, "--workers", "2")
    assert summary["counts"] == {"graded": 3, "error": 1}
    assert (summary["graded"], summary["not_recorded"]) == (4, 1)
    [lost] = summary["not_recorded_reasons"]
    assert lost["student"] == "unstorable" and "DatabaseError: the gradebook is gone" in lost["reason"]
    statuses = {student: (status, score) for student, status, score in rows(db_url)}
    assert statuses == {**{s: ("graded", 100) for s in students}, "trips": ("error", 0)}
    with Gradebook(db_url) as gradebook:
        stored = gradebook.latest("trips", "backprop")
    assert stored is not None and "the grader failed on this submission (RuntimeError: the grader tripped)" in stored.message
    assert len(stored.checks) == 13 and {c.status for c in stored.checks} == {"error"}


@pytest.fixture
def celery_worker_state(course: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Workspace]:
    """What ``grade worker`` sets up in its process, for calling the Celery task right here."""
    from grader.batch import celery_backend

    workspace = Workspace(course, db_url)
    with workspace.gradebook():  # the schema, as `grade batch` creates it
        pass
    monkeypatch.setattr(celery_backend, "_state", {"workspace": workspace, "settings": Settings()})
    yield workspace
    if "gradebook" in celery_backend._state:
        celery_backend._state["gradebook"].close()


def test_a_celery_task_finishes_its_claimed_row_whatever_happens(
    celery_worker_state: Workspace, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from grader.batch import celery_backend

    version = celery_worker_state.assignment("backprop").version

    def task(student: str, content: bytes, filename: str = "hw.py", rubric_version: str = version) -> tuple[str, str]:
        """Run the task as a worker would; the status and message of the row it left."""
        try:
            celery_backend.grade_task("backprop", student, filename, base64.b64encode(content).decode(), rubric_version, "strict")
        except Exception as exc:  # a task may fail: its row must be finished all the same
            assert student == "claim-fails", exc
        key = batch_key("backprop", student, hashlib.sha256(content).hexdigest(), rubric_version)
        with Gradebook(db_url) as gradebook:
            [row] = gradebook.batch_rows([key]).values()
            status, submission_id = row.status, row.id
            stored = gradebook.get(submission_id)
        assert stored is not None
        return status, stored.message

    assert task("unreadable", UNREADABLE["undefined.py"]) == ("error", "hw.py: the file is not readable Python text (UnicodeError: decoding with 'undefined' codec failed (UnicodeError: undefined encoding)).")
    assert task("huge-int", UNREADABLE["huge_int.ipynb"], "hw.ipynb")[0] == "error"

    # the batch has another version of the rubric than this worker: recorded under the batch's key
    status, message = task("other-version", CORRECT.encode(), rubric_version="0" * 64)
    assert status == "error" and f"could not grade it: this worker has backprop at rubric version {version}, the batch {'0' * 64}" in message

    def trips(*args: Any, **kwargs: Any) -> GradingResult:
        raise RuntimeError("the grader tripped")

    monkeypatch.setattr(claims, "grade", trips)
    status, message = task("grading-fails", CORRECT.encode())
    assert status == "error" and "the grader failed on this submission (RuntimeError: the grader tripped)" in message

    def cannot_isolate(mode: str) -> None:
        raise IsolationError("strict isolation needs namespaces or Landlock, but neither works here; install bubblewrap.")

    real_require = celery_backend.require
    monkeypatch.setattr(celery_backend, "require", cannot_isolate)
    status, message = task("no-isolation", CORRECT.encode())
    assert status == "error" and "could not grade it: strict isolation needs namespaces or Landlock" in message
    monkeypatch.setattr(celery_backend, "require", real_require)

    def claim_fails(*args: Any, **kwargs: Any) -> Done:
        raise RuntimeError("claiming tripped")

    monkeypatch.setattr(celery_backend, "claim_and_grade", claim_fails)
    status, message = task("claim-fails", CORRECT.encode())
    assert status == "error" and "grade worker on " in message and "could not grade it: RuntimeError: claiming tripped;" in message
