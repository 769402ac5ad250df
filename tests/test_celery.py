"""The Celery backend with real workers on the real Redis and PostgreSQL, one killed while it
holds a task."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

import pytest
import redis
from helpers import CORRECT, ROOT, rows

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
VISIBILITY_TIMEOUT = 5
#: a correct submission whose top level ends in a statement that waits until it is killed: the
#: grader's load timeout (3 s in the test course) stops it, skips it and grades the rest to 100
HANGS_THEN_CORRECT = CORRECT + "\nimport signal\n\nsignal.pause()\n"


def start_worker(grade: list[str], env: dict[str, str], log: IO[bytes]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([*grade, "worker", "--concurrency", "1"], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def stop(worker: subprocess.Popen[bytes]) -> None:
    if worker.poll() is None:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()


def test_killing_a_worker_loses_nothing_and_duplicates_nothing(course: Path, postgres_url: str, broker: str, tmp_path: Path) -> None:
    # Worker 0 alone takes the tasks one at a time, in order (prefetch 1, acks late). When
    # student06, which hangs until the load timeout, is claimed, worker 0 holds its task: it is
    # killed then. Worker 1 grades the rest, and student06 once Redis hands its task back. A
    # worker looks for such tasks when it starts, then only every 100 s (kombu's default sweep),
    # so worker 1 starts once the task is due.
    directory = tmp_path / "class"
    directory.mkdir()
    students = [f"student{i:02d}" for i in range(12)]
    held = "student06"
    for student in students:
        (directory / f"{student}.py").write_text(HANGS_THEN_CORRECT if student == held else CORRECT)
    env = {
        **os.environ,
        "GRADE_DB_URL": postgres_url,
        "GRADE_BROKER_URL": broker,
        "GRADE_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),  # a killed worker's task comes back after 5 s
        "PYTHONPATH": str(ROOT),
    }
    grade = [sys.executable, "-m", "grader.cli", "--course", str(course)]
    subprocess.run([*grade, "db", "upgrade"], env=env, check=True, capture_output=True)
    logs = [open(tmp_path / f"worker{i}.log", "wb") for i in range(2)]
    workers = [start_worker(grade, env, logs[0])]
    batch = None
    try:
        batch = subprocess.Popen(
            [*grade, "batch", str(directory), "-a", "backprop", "--backend", "celery", "--json"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 120
        while held not in {student for student, _, _ in rows(postgres_url)} and time.monotonic() < deadline and batch.poll() is None:
            time.sleep(0.02)
        os.killpg(workers[0].pid, signal.SIGKILL)
        workers[0].wait()
        before = {student: status for student, status, _ in rows(postgres_url)}
        assert before.get(held) == "pending", f"worker 0 was not killed while grading {held}: {before}"
        assert sum(status == "graded" for status in before.values()) == 6
        with redis.Redis.from_url(broker) as client:
            delivered = client.zrange("unacked_index", 0, -1, withscores=True)  # kombu's (task, delivery time)
            assert len(delivered) == 1, f"worker 0 held {len(delivered)} tasks"
            due = delivered[0][1] + VISIBILITY_TIMEOUT
            while time.time() <= due:  # kombu records when it delivered the task: due then
                time.sleep(due - time.time() + 0.01)
        workers.append(start_worker(grade, env, logs[1]))
        out, err = batch.communicate(timeout=180)
        assert batch.returncode == 0, err.decode()[-2000:]
    finally:
        if batch is not None and batch.poll() is None:
            batch.kill()
            batch.communicate()
        for worker in workers:
            stop(worker)
        for log in logs:
            log.close()
    summary = json.loads(out)
    assert summary["submissions"] == len(students) and summary["counts"] == {"graded": len(students)}
    recorded = rows(postgres_url)
    assert sorted(student for student, _, _ in recorded) == students  # exactly one row each
    assert all(status == "graded" and score == 100 for _, status, score in recorded)
    assert "succeeded" in (tmp_path / "worker0.log").read_text()  # the killed worker had really been grading


def test_files_that_are_no_program_do_not_keep_a_celery_batch_waiting(course: Path, postgres_url: str, broker: str, tmp_path: Path) -> None:
    directory = tmp_path / "class"
    directory.mkdir()
    (directory / "ada.py").write_text(CORRECT)
    (directory / "undefined.py").write_bytes(b"# -*- coding: undefined -*-\nx = 1\n")  # the codec raises UnicodeError
    (directory / "huge_int.ipynb").write_bytes(b'{"nbformat": 4, "nbformat_minor": 5, "metadata": {"n": ' + b"9" * 5000 + b'}, "cells": []}')
    env = {**os.environ, "GRADE_DB_URL": postgres_url, "GRADE_BROKER_URL": broker, "PYTHONPATH": str(ROOT)}
    grade = [sys.executable, "-m", "grader.cli", "--course", str(course)]
    subprocess.run([*grade, "db", "upgrade"], env=env, check=True, capture_output=True)
    with open(tmp_path / "worker.log", "wb") as log:
        worker = start_worker(grade, env, log)
        try:
            done = subprocess.run([*grade, "batch", str(directory), "-a", "backprop", "--backend", "celery", "--json"], env=env, capture_output=True, timeout=120)
        finally:
            stop(worker)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert json.loads(done.stdout)["counts"] == {"graded": 1, "error": 2}
    assert sorted(rows(postgres_url)) == [("ada", "graded", 100), ("huge_int", "error", 0), ("undefined", "error", 0)]
