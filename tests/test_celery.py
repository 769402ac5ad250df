"""The Celery backend with two real workers on the real Redis and PostgreSQL, one killed mid-run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from sqlalchemy import create_engine, text

from conftest import ROOT, SAMPLES

pytestmark = pytest.mark.postgres
#: a Redis database of the tests' own, emptied before and after
BROKER = os.environ.get("GRADER_TEST_BROKER_URL", "redis://127.0.0.1:6379/9")
SLOW_CORRECT = (SAMPLES / "correct_loops.py").read_text() + "\nimport time\ntime.sleep(0.2)\n"


@pytest.fixture
def broker() -> str:
    client = redis.Redis.from_url(BROKER)
    try:
        client.flushdb()
    except redis.ConnectionError as exc:
        client.close()
        pytest.fail(f"Redis at {BROKER} is unusable ({exc}); start it (CI does).", pytrace=False)
    yield BROKER
    client.flushdb()
    client.close()


def rows(url: str) -> list[tuple[str, str, float | None]]:
    engine = create_engine(url)
    try:
        with engine.connect() as db:
            return [tuple(r) for r in db.execute(text(
                "SELECT students.external_id, submissions.status, submissions.score FROM submissions "
                "JOIN students ON students.id = submissions.student_id"
            ))]
    except Exception:  # noqa: BLE001 - the schema may not exist yet
        return []
    finally:
        engine.dispose()


def test_killing_a_worker_loses_nothing_and_duplicates_nothing(course: Path, postgres_url: str, broker: str, tmp_path: Path) -> None:
    directory = tmp_path / "class"
    directory.mkdir()
    students = [f"student{i:02d}" for i in range(30)]
    for student in students:
        (directory / f"{student}.py").write_text(SLOW_CORRECT)
    env = {
        **os.environ,
        "GRADE_DB_URL": postgres_url,
        "GRADE_BROKER_URL": broker,
        "GRADE_VISIBILITY_TIMEOUT": "5",  # a killed worker's task comes back after 5 s
        "PYTHONPATH": str(ROOT),
    }
    grade = [sys.executable, "-m", "grader.cli", "--course", str(course)]
    subprocess.run([*grade, "db", "upgrade"], env=env, check=True, capture_output=True)
    logs = [open(tmp_path / f"worker{i}.log", "wb") for i in range(2)]
    workers = [
        subprocess.Popen([*grade, "worker", "--concurrency", "1"], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        for log in logs
    ]
    try:
        batch = subprocess.Popen(
            [*grade, "batch", str(directory), "-a", "backprop", "--backend", "celery", "--json"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and sum(s == "graded" for _, s, _ in rows(postgres_url)) < 6:
            time.sleep(0.1)
        os.killpg(workers[0].pid, signal.SIGKILL)  # mid-run, possibly while it holds a task
        workers[0].wait()
        out, err = batch.communicate(timeout=180)
        assert batch.returncode == 0, err.decode()[-2000:]
    finally:
        for worker in workers:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGTERM)
                try:
                    worker.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    os.killpg(worker.pid, signal.SIGKILL)
                    worker.wait()
        for log in logs:
            log.close()
    summary = json.loads(out)
    assert summary["submissions"] == 30 and summary["counts"] == {"graded": 30}
    recorded = rows(postgres_url)
    assert sorted(student for student, _, _ in recorded) == students  # exactly one row each
    assert all(status == "graded" and score == 100 for _, status, score in recorded)
    worker_one = (tmp_path / "worker0.log").read_text()
    assert "succeeded" in worker_one  # the killed worker had really been grading
