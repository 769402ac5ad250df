"""`grade batch`: every submission of a class graded once, resumably, whatever the others do."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import CORRECT, SAMPLES, batch, rows, run

from grader.batch import Skipped, discover

#: a correct submission whose top level ends in a statement that waits until it is killed: the
#: grader's load timeout (3 s in the test course) stops it, skips it and grades the rest to 100
HANGS_THEN_CORRECT = CORRECT + "\nimport signal\n\nsignal.pause()\n"


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


def test_the_class_is_graded_once_and_a_rerun_grades_nothing(course: Path, db_url: str, tmp_path: Path) -> None:
    directory = tmp_path / "class"
    directory.mkdir()
    for sample in SAMPLES.iterdir():
        (directory / sample.name).write_bytes(sample.read_bytes())
    (directory / "stray.csv").write_text("a,b\n")
    first = batch(course, directory, "--workers", "2")
    assert first["submissions"] == 11 and first["graded"] == 11 and first["counts"] == {"graded": 11}
    assert first["skipped"] == [{"path": "stray.csv", "reason": "not a .py file, a .ipynb notebook or a folder"}]
    scores = {student: score for student, _, score in rows(db_url)}
    assert scores["correct_vectorized"] == 100 and scores["seed_db2_not_summed"] == 95  # 10/2 of db2 lost
    again = batch(course, directory)
    assert again["graded"] == 0 and again["already_graded"] == 11
    assert len(rows(db_url)) == 11
    (directory / "correct_loops.py").write_text(CORRECT + "\n# changed\n")
    third = batch(course, directory)
    assert third["graded"] == 1 and len(rows(db_url)) == 12  # new content, new submission


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


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_an_interrupted_batch_loses_nothing_and_the_rerun_completes_it(course: Path, db_url: str, tmp_path: Path, sig: int) -> None:
    # One worker grades the class in order; student003 holds it until the load timeout. The
    # batch is interrupted once student003 is claimed: three graded, one pending, four untouched.
    directory = tmp_path / "class"
    students = write_class(directory, 8)
    held = students[3]
    (directory / f"{held}.py").write_text(HANGS_THEN_CORRECT)
    command = [sys.executable, "-m", "grader.cli", "--course", str(course), "batch", str(directory), "-a", "backprop", "--workers", "1", "--json"]
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


def test_the_celery_task_keeps_its_name() -> None:
    """Workers and batches of different versions share a queue: the task name is the contract."""
    from grader.batch.celery_backend import grade_task

    assert grade_task.name == "grader.grade"
