"""The Celery backend with real workers on the real Redis and RabbitMQ and PostgreSQL: a worker
killed while it grades, a worker that refuses every task, a broker that loses its queue, and a
batch with no worker at all. Every batch ends, with every claim finished or named."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import IO

import pytest
from helpers import CORRECT, HANGS_THEN_CORRECT, ROOT, rows
from serving import niceness, wait_for
from sqlalchemy import create_engine, text

from grader.batch.claims import GRADING_NICENESS

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


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


def lease_owner(url: str, student: str) -> str | None:
    """Who holds the lease of ``student``'s row, straight from the database."""
    engine = create_engine(url)
    try:
        with engine.connect() as db:
            return db.execute(text(
                "SELECT submissions.lease_owner FROM submissions JOIN students ON students.id = submissions.student_id "
                "WHERE students.external_id = :student"
            ), {"student": student}).scalar()
    finally:
        engine.dispose()


def class_of(directory: Path, students: list[str], special: dict[str, str] | None = None) -> None:
    directory.mkdir()
    for student in students:
        (directory / f"{student}.py").write_text((special or {}).get(student, CORRECT))


def setup(course: Path, postgres_url: str, broker: str, **extra: str) -> tuple[list[str], dict[str, str]]:
    env = {**os.environ, "GRADE_DB_URL": postgres_url, "GRADE_BROKER_URL": broker, "PYTHONPATH": str(ROOT), **extra}
    grade = [sys.executable, "-m", "grader.cli", "--course", str(course)]
    subprocess.run([*grade, "db", "upgrade"], env=env, check=True, capture_output=True)
    return grade, env


def test_killing_a_worker_loses_nothing_and_duplicates_nothing(course: Path, postgres_url: str, any_broker: str, tmp_path: Path) -> None:
    # Worker 0 alone takes the tasks one at a time, in order (prefetch 1, acks late). It is
    # killed outright while it grades student06 (whose load hangs until the load timeout). The
    # batch sees at once that the lease holder is gone (a process of this machine) and queues
    # the claim again; worker 1 grades the rest. No visibility timeout, no broker sweep: on
    # Redis the killed worker's task would come back only after an hour.
    directory = tmp_path / "class"
    students = [f"student{i:02d}" for i in range(12)]
    held = "student06"
    class_of(directory, students, {held: HANGS_THEN_CORRECT})
    grade, env = setup(course, postgres_url, any_broker)
    logs = [open(tmp_path / f"worker{i}.log", "wb") for i in range(2)]
    workers = [start_worker(grade, env, logs[0])]
    batch = None
    try:
        batch = subprocess.Popen(
            [*grade, "batch", str(directory), "-a", "backprop", "--backend", "celery", "--json"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        wait_for(lambda: (lease_owner(postgres_url, held) or "").startswith("grade worker"), f"a worker grades {held}", batch, workers[0])
        os.killpg(workers[0].pid, signal.SIGKILL)
        workers[0].wait()
        before = {student: status for student, status, _ in rows(postgres_url)}
        assert before[held] == "pending", f"worker 0 was not killed while grading {held}: {before}"
        assert sum(status == "graded" for status in before.values()) == 6
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
    assert summary["submissions"] == len(students) and summary["counts"] == {"graded": len(students)} and summary["unfinished"] == []
    recorded = rows(postgres_url)
    assert sorted(student for student, _, _ in recorded) == students  # exactly one row each
    assert all(status == "graded" and score == 100 for _, status, score in recorded)
    assert "succeeded" in (tmp_path / "worker0.log").read_text()  # the killed worker had really been grading
    if any_broker.startswith("redis"):  # Redis gives the task back after an hour: the batch queued it again
        assert "queueing student06.py of student06 again" in err.decode()
    # (RabbitMQ gives it back at once: the worker that takes it may take the lease before the batch looks)


def test_a_worker_that_refuses_every_task_ends_the_batch_with_recorded_errors(
    course: Path, postgres_url: str, broker: str, tmp_path: Path
) -> None:
    # The worker's copy of the course has another reference: another rubric version.
    directory = tmp_path / "class"
    class_of(directory, ["ada", "bea", "cy"])
    grade, env = setup(course, postgres_url, broker)
    other = tmp_path / "other-course"
    shutil.copytree(course, other)
    with open(other / "reference" / "backprop.py", "a") as reference:
        reference.write("\n# edited after the batch started\n")
    with open(tmp_path / "worker.log", "wb") as log:
        worker = start_worker([sys.executable, "-m", "grader.cli", "--course", str(other)], env, log)
        try:
            done = subprocess.run([*grade, "batch", str(directory), "-a", "backprop", "--backend", "celery", "--json"], env=env, capture_output=True, timeout=120)
        finally:
            stop(worker)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert json.loads(done.stdout)["counts"] == {"error": 3}
    assert sorted(rows(postgres_url)) == [("ada", "error", 0), ("bea", "error", 0), ("cy", "error", 0)]
    engine = create_engine(postgres_url)
    with engine.connect() as db:
        messages = {m for (m,) in db.execute(text("SELECT message FROM submissions"))}
    engine.dispose()
    assert len(messages) == 1
    [message] = messages
    assert message.startswith("grade worker on ") and "could not grade it: this worker has backprop at rubric version" in message


def test_a_batch_without_workers_ends_at_its_timeout_naming_every_claim(course: Path, postgres_url: str, any_broker: str, tmp_path: Path) -> None:
    directory = tmp_path / "class"
    class_of(directory, ["ada", "bea"])
    grade, env = setup(course, postgres_url, any_broker)
    done = subprocess.run(
        [*grade, "batch", str(directory), "-a", "backprop", "--backend", "celery", "--timeout", "2"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    for student in ("ada", "bea"):
        assert f"unfinished {student}: still queued when the batch's --timeout ran out" in lines
    assert rows(postgres_url) == [("ada", "pending", None), ("bea", "pending", None)]
    # released: the next command closes them as interrupted; the next batch grades them anew
    subprocess.run([*grade, "summary", "-a", "backprop"], env=env, check=True, capture_output=True)
    assert rows(postgres_url) == [("ada", "error", 0), ("bea", "error", 0)]


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


def test_a_broker_that_loses_its_queue_mid_batch_does_not_lose_a_student(
    course: Path, postgres_url: str, tmp_path: Path
) -> None:
    # A Redis of the test's own, without persistence, killed once three students are graded and
    # started again empty: the queued tasks are gone. The batch finds its claims still leased
    # to it while the queue is empty, and queues them again.
    from servers import private_redis

    directory = tmp_path / "class"
    students = [f"student{i:02d}" for i in range(16)]
    class_of(directory, students)
    with private_redis(tmp_path) as server:
        grade, env = setup(course, postgres_url, server.url)
        with open(tmp_path / "worker.log", "wb") as log:
            worker = start_worker(grade, env, log)
            batch = None
            try:
                batch = subprocess.Popen(
                    [*grade, "batch", str(directory), "-a", "backprop", "--backend", "celery", "--json"],
                    env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                )
                graded = lambda: sum(status == "graded" for _, status, _ in rows(postgres_url))  # noqa: E731
                wait_for(lambda: graded() >= 3, "three students are graded", batch, worker)
                server.kill()
                lost = len(students) - graded()
                server.start()
                out, err = batch.communicate(timeout=240)
            finally:
                if batch is not None and batch.poll() is None:
                    batch.kill()
                    batch.communicate()
                stop(worker)
    assert batch.returncode == 0, err.decode()[-3000:]
    assert lost > 3, "the queue was nearly empty when the broker was killed"
    summary = json.loads(out)
    assert summary["counts"] == {"graded": len(students)} and summary["unfinished"] == []
    recorded = rows(postgres_url)
    assert sorted(student for student, _, _ in recorded) == students  # exactly one row each
    assert all(status == "graded" and score == 100 for _, status, score in recorded)
    assert "it is no longer in the queue" in err.decode()


def test_claims_no_worker_can_record_are_named_unfinished(course: Path, postgres_url: str, broker: str, tmp_path: Path) -> None:
    # The worker's database does not exist: every task fails before it can record anything.
    # The batch queues each claim again a bounded number of times, then names it.
    from grader.batch.celery_backend import MAX_REQUEUES

    directory = tmp_path / "class"
    class_of(directory, ["ada"])
    grade, env = setup(course, postgres_url, broker)
    elsewhere = postgres_url.rsplit("/", 1)[0] + "/grader_no_such_database"
    with open(tmp_path / "worker.log", "wb") as log:
        worker = start_worker(grade, {**env, "GRADE_DB_URL": elsewhere}, log)
        try:
            done = subprocess.run([*grade, "batch", str(directory), "-a", "backprop", "--backend", "celery"], env=env, capture_output=True, text=True, timeout=300)
        finally:
            stop(worker)
    assert done.returncode == 1, done.stderr[-3000:]
    assert f"unfinished ada: queued {MAX_REQUEUES + 1} times and never recorded; see the workers' logs" in done.stdout.splitlines()
    assert (tmp_path / "worker.log").read_text().count("grader_no_such_database") >= MAX_REQUEUES + 1


def test_a_celery_batch_killed_outright_leaves_nothing_pending(course: Path, postgres_url: str, broker: str, tmp_path: Path) -> None:
    # No worker runs: the batch claims and queues the class, then is killed. Its claims were
    # leased to it; the next command finds their holder gone and closes them as interrupted.
    directory = tmp_path / "class"
    students = ["ada", "bea", "cy"]
    class_of(directory, students)
    grade, env = setup(course, postgres_url, broker)
    batch = subprocess.Popen([*grade, "batch", str(directory), "-a", "backprop", "--backend", "celery"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: len(rows(postgres_url)) == len(students), "every student is claimed", batch)
    finally:
        batch.kill()
        batch.communicate()
    assert {status for _, status, _ in rows(postgres_url)} == {"pending"}
    subprocess.run([*grade, "export", "-a", "backprop"], env=env, check=True, capture_output=True)
    assert sorted(rows(postgres_url)) == [(student, "error", 0) for student in students]


def test_a_worker_grades_at_a_lower_priority_than_what_started_it(course: Path, postgres_url: str, broker: str, tmp_path: Path) -> None:
    # As grade serve's own grading processes: a worker beside a server, its database and its
    # broker yields the processors to them.
    grade, env = setup(course, postgres_url, broker)
    with open(tmp_path / "worker.log", "wb") as log:
        worker = start_worker(grade, env, log)
        try:
            wait_for(lambda: niceness(worker.pid) == os.nice(0) + GRADING_NICENESS or None, "the worker lowers its priority", worker)
        finally:
            stop(worker)


def test_two_workers_on_one_machine_both_run(course: Path, postgres_url: str, broker: str, tmp_path: Path) -> None:
    # Each worker has a node name of its own: with Celery's default (celery@host) the second
    # would share the first's control queue and stop at once. (No Celery client in this test's
    # process: a broker connection left here would be inherited by a later test's fork.)
    grade, env = setup(course, postgres_url, broker)
    logs = [tmp_path / f"worker{i}.log" for i in range(2)]
    workers = []
    try:
        for path in logs:
            with path.open("wb") as log:
                workers.append(start_worker(grade, env, log))

        def ready() -> list[str] | None:
            names = [re.findall(r"(grade-\d+@\S+) ready\.", path.read_text(errors="replace")) for path in logs]
            return [found[0] for found in names] if all(names) else None

        nodes = wait_for(ready, "both workers are ready", *workers)
        assert len(set(nodes)) == 2 and nodes == [f"grade-{w.pid}@{nodes[i].split('@')[1]}" for i, w in enumerate(workers)]
        assert all(w.poll() is None for w in workers)
    finally:
        for worker in workers:
            stop(worker)
