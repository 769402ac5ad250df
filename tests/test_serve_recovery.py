"""`grade serve` killed, and several servers on one gradebook: every accepted upload is graded
exactly once (one grading took it, or two when the first was killed), never stored as an error."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import CORRECT, HANGS_THEN_CORRECT, ROOT
from servers import PrivatePostgres, PrivateRedis
from serving import Served, enrol, graded, upload, wait_for
from sqlalchemy import create_engine, text

pytestmark = pytest.mark.slow


def submission_rows(url: str) -> list[tuple[int, str, str, float | None, int, str | None]]:
    """(id, student, status, score, attempts, lease owner) of every submission, by id."""
    engine = create_engine(url)
    try:
        with engine.connect() as db:
            return [tuple(r) for r in db.execute(text(
                "SELECT submissions.id, students.external_id, submissions.status, submissions.score, submissions.attempts, "
                "submissions.lease_owner FROM submissions JOIN students ON students.id = submissions.student_id ORDER BY submissions.id"
            ))]
    finally:
        engine.dispose()


def holder(url: str, submission_id: int) -> str:
    return next((r[5] or "") for r in submission_rows(url) if r[0] == submission_id)


def test_a_server_killed_mid_grading_grades_every_upload_once_after_a_restart(course: Path, db_url: str, tmp_path: Path) -> None:
    tokens = enrol(db_url, "ada", "bea", "cy")
    server = Served(course, db_url, tmp_path, "--workers", "1")
    try:
        server.start()
        with server.client(tokens["ada"]) as ada, server.client(tokens["bea"]) as bea, server.client(tokens["cy"]) as cy:
            held = upload(ada, HANGS_THEN_CORRECT).json()["submission_id"]  # the one grading process is busy for 3 s
            queued = upload(bea, CORRECT).json()["submission_id"]  # waits in the queue, leased to the server
            wait_for(lambda: holder(db_url, held).startswith("grade serve worker"), "a grading process holds ada's upload", server.process)
            server.kill()
            rows = {r[0]: r for r in submission_rows(db_url)}
            assert rows[held][2:5] == ("pending", None, 1) and rows[queued][2:4] == ("pending", None)
            assert rows[queued][5].startswith("grade serve on ")  # never taken by a grader
            # every other command leaves them alone: a server will grade them
            assert subprocess.run(
                [sys.executable, "-m", "grader.cli", "--course", str(course), "summary", "-a", "backprop"],
                env={**os.environ, "GRADE_DB_URL": db_url, "PYTHONPATH": str(ROOT)}, capture_output=True,
            ).returncode == 0
            assert [r[2] for r in submission_rows(db_url)] == ["pending", "pending"]
            server.start()
            assert graded(ada, held, server.process)["score"] == 100.0
            assert graded(bea, queued, server.process)["score"] == 100.0
            after = graded(cy, upload(cy, CORRECT).json()["submission_id"], server.process)
            assert after["score"] == 100.0
    finally:
        server.stop()
    rows = submission_rows(db_url)
    assert [(r[1], r[2], r[3]) for r in rows] == [("ada", "graded", 100.0), ("bea", "graded", 100.0), ("cy", "graded", 100.0)]
    assert [r[4] for r in rows] == [2, 1, 1]  # ada's was taken twice: by the killed grader, then after the restart
    assert "taking over submission" in server.log()


def grading_processes(server: int) -> list[int]:
    """The server's grading processes: the children of its forkserver (the server's children
    have none but the forkserver's; the sandboxes are one level further down)."""
    return [p for child in children_of(server) for p in children_of(child)]


def children_of(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def test_grading_processes_killed_while_idle_stop_no_grading(course: Path, db_url: str, tmp_path: Path) -> None:
    # Idle grading processes wait for work; killed there, outright, they must take nothing with
    # them: the server replaces them, and every upload is still graded.
    tokens = enrol(db_url, "ada", "bea")
    with Served(course, db_url, tmp_path, "--workers", "2") as server:
        first = wait_for(lambda: sorted(grading_processes(server.process.pid)) if len(grading_processes(server.process.pid)) == 2 else None,
                         "two grading processes", server.process)
        for pid in first:
            os.kill(pid, signal.SIGKILL)
        with server.client(tokens["ada"]) as ada, server.client(tokens["bea"]) as bea:
            sent = [(ada, upload(ada, CORRECT).json()["submission_id"]), (bea, upload(bea, CORRECT).json()["submission_id"])]
            assert [graded(client, sid, server.process)["score"] for client, sid in sent] == [100.0, 100.0]
            assert ada.get("/healthz").json()["workers"] == "ok"
            again = grading_processes(server.process.pid)
            assert len(again) == 2 and not set(again) & set(first)
            os.kill(again[0], signal.SIGKILL)  # one of two: the other goes on grading meanwhile
            assert graded(ada, upload(ada, CORRECT).json()["submission_id"], server.process)["score"] == 100.0
    assert "grading process" in server.log() and "starting another" in server.log()


def test_a_grading_process_killed_mid_grading_costs_no_upload(course: Path, db_url: str, tmp_path: Path) -> None:
    tokens = enrol(db_url, "ada")
    with Served(course, db_url, tmp_path, "--workers", "2") as server, server.client(tokens["ada"]) as ada:
        held = upload(ada, HANGS_THEN_CORRECT).json()["submission_id"]  # its load waits for the 3 s load timeout
        owner = wait_for(lambda: (o := holder(db_url, held)).startswith("grade serve worker") and o, "a grading process holds it", server.process)
        os.kill(int(owner.split(" pid ")[1].split()[0]), signal.SIGKILL)
        assert graded(ada, held, server.process)["score"] == 100.0
    [row] = submission_rows(db_url)
    assert row[2:5] == ("graded", 100.0, 2)  # taken by the killed process, then by another
    assert "with a job; handing it to another" in server.log()


def test_stopping_the_server_mid_grading_costs_the_upload_no_attempt(course: Path, db_url: str, tmp_path: Path) -> None:
    # Three restarts of the server, each while ada's upload is being graded (its load waits for
    # the 3 s load timeout): a stop on purpose is no crash, and the upload is not closed as
    # "interrupted 3 times"; the fourth server grades it.
    tokens = enrol(db_url, "ada")
    server = Served(course, db_url, tmp_path, "--workers", "1")
    try:
        server.start()
        with server.client(tokens["ada"]) as ada:
            held = upload(ada, HANGS_THEN_CORRECT).json()["submission_id"]
        for _ in range(3):
            wait_for(lambda: holder(db_url, held).startswith("grade serve worker"), "a grading process holds the upload", server.process)
            server.stop()
            [row] = submission_rows(db_url)
            assert row[2:5] == ("pending", None, 0) and row[5].startswith("grade serve on "), row
            server.start()
        with server.client(tokens["ada"]) as ada:
            assert graded(ada, held, server.process)["score"] == 100.0
    finally:
        server.stop()
    [row] = submission_rows(db_url)
    assert row[2:5] == ("graded", 100.0, 1)


@pytest.mark.postgres
def test_two_servers_on_one_postgresql_gradebook_never_grade_an_upload_twice(course: Path, postgres_url: str, tmp_path: Path) -> None:
    students = [f"s{i}" for i in range(6)]
    tokens = enrol(postgres_url, *students)
    first = Served(course, postgres_url, tmp_path, "--workers", "1")
    second = Served(course, postgres_url, tmp_path, "--workers", "1")
    try:
        first.start()
        second.start()
        sent = {}
        for i, student in enumerate(students):
            with (first if i % 2 == 0 else second).client(tokens[student]) as client:
                answer = upload(client, CORRECT)
                assert answer.status_code == 202
                sent[student] = answer.json()["submission_id"]
        for student, sid in sent.items():
            with second.client(tokens[student]) as client:
                assert graded(client, sid, first.process, second.process)["score"] == 100.0
        # the first server is killed while it grades: the second takes the upload over
        with first.client(tokens["s0"]) as client:
            held = upload(client, HANGS_THEN_CORRECT).json()["submission_id"]
        wait_for(lambda: holder(postgres_url, held).startswith("grade serve worker"), "a grading process holds the upload", first.process)
        first.kill()
        with second.client(tokens["s0"]) as client:
            assert graded(client, held, second.process)["score"] == 100.0
    finally:
        first.stop()
        second.stop()
    rows = submission_rows(postgres_url)
    assert len(rows) == 7 and all(r[2:4] == ("graded", 100.0) for r in rows)
    assert [r[4] for r in rows] == [1, 1, 1, 1, 1, 1, 2]  # each taken by one grading; the killed one's twice
    assert "taking over submission" in second.log()


@pytest.mark.postgres
def test_celery_workers_grade_uploads_by_id(course: Path, postgres_url: str, broker: str, tmp_path: Path) -> None:
    tokens = enrol(postgres_url, "ada")
    env = {"GRADE_BROKER_URL": broker}
    worker_log = open(tmp_path / "worker.log", "wb")
    worker = subprocess.Popen(
        [sys.executable, "-m", "grader.cli", "--course", str(course), "worker", "--concurrency", "1"],
        env={**os.environ, "GRADE_DB_URL": postgres_url, "PYTHONPATH": str(ROOT), **env}, stdout=worker_log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        with Served(course, postgres_url, tmp_path, "--backend", "celery", env=env) as server, server.client(tokens["ada"]) as ada:
            health = ada.get("/healthz").json()
            assert (health["backend"], health["queue"], health["workers"]) == ("celery", "ok", "ok")
            sid = upload(ada, CORRECT).json()["submission_id"]
            assert graded(ada, sid, server.process, worker)["score"] == 100.0
    finally:
        os.killpg(worker.pid, 9)
        worker.wait()
        worker_log.close()
    [row] = submission_rows(postgres_url)
    assert row[2:5] == ("graded", 100.0, 1)
    assert "grader.grade_upload" in (tmp_path / "worker.log").read_text()


def start_worker(course: Path, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """A `grade worker` of one process, in a process group of its own, logging to ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "grader.cli", "--course", str(course), "worker", "--concurrency", "1"],
            env={**os.environ, "PYTHONPATH": str(ROOT), **env}, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )


def kill_group(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


@pytest.mark.postgres
def test_a_celery_worker_killed_mid_grading_costs_the_service_no_upload(course: Path, postgres_url: str, any_broker: str, tmp_path: Path) -> None:
    # The only worker is killed outright while it grades ada's upload (its load waits for the 3 s
    # load timeout). A new worker grades it: RabbitMQ gives the unacknowledged task back at once;
    # on Redis the server's sweep sees that the lease's holder (a process of this machine) is
    # gone, takes the upload over and queues it again.
    tokens = enrol(postgres_url, "ada", "bea")
    env = {"GRADE_DB_URL": postgres_url, "GRADE_BROKER_URL": any_broker, "GRADE_LEASE_SECONDS": "2"}
    workers = [start_worker(course, env, tmp_path / "worker0.log")]
    try:
        with Served(course, postgres_url, tmp_path, "--backend", "celery", env=env) as server:
            with server.client(tokens["ada"]) as ada, server.client(tokens["bea"]) as bea:
                held = upload(ada, HANGS_THEN_CORRECT).json()["submission_id"]
                wait_for(lambda: holder(postgres_url, held).startswith("grade worker"), "the worker holds ada's upload", server.process, workers[0])
                queued = upload(bea, CORRECT).json()["submission_id"]  # behind it, on the queue
                kill_group(workers[0])
                assert [r[2] for r in submission_rows(postgres_url)] == ["pending", "pending"]
                workers.append(start_worker(course, env, tmp_path / "worker1.log"))
                assert graded(ada, held, server.process, workers[1])["score"] == 100.0
                assert graded(bea, queued, server.process, workers[1])["score"] == 100.0
    finally:
        for worker in workers:
            kill_group(worker)
    rows = submission_rows(postgres_url)
    assert [(r[1], r[2], r[3]) for r in rows] == [("ada", "graded", 100.0), ("bea", "graded", 100.0)]
    assert rows[0][4] == 2  # taken by the killed worker, then by the new one
    assert "grader.grade_upload" in (tmp_path / "worker0.log").read_text()  # the killed worker had really taken it


@pytest.mark.postgres
def test_uploads_accepted_while_the_broker_is_down_are_graded_once_it_is_back(
    course: Path, postgres_url: str, private_redis: PrivateRedis, tmp_path: Path
) -> None:
    # An upload is recorded before anything is queued: with the broker away it is still
    # accepted (and /healthz says what is wrong); the server's sweep queues it once the broker
    # answers again, a broker that restarted empty.
    tokens = enrol(postgres_url, "ada", "bea")
    env = {"GRADE_DB_URL": postgres_url, "GRADE_BROKER_URL": private_redis.url, "GRADE_LEASE_SECONDS": "2"}
    worker = start_worker(course, env, tmp_path / "worker.log")
    try:
        with Served(course, postgres_url, tmp_path, "--backend", "celery", env=env) as server:
            with server.client(tokens["ada"]) as ada, server.client(tokens["bea"]) as bea:
                before = upload(ada, CORRECT).json()["submission_id"]
                assert graded(ada, before, server.process, worker)["score"] == 100.0
                private_redis.stop()
                health = ada.get("/healthz")
                assert health.status_code == 503 and health.json()["queue"] == "the broker cannot be reached"
                assert health.json()["workers"] == "unknown: they answer through the broker"
                during = upload(bea, CORRECT)
                assert during.status_code == 202, during.text
                assert bea.get(f"/api/v1/submissions/{during.json()['submission_id']}").json()["status"] == "pending"
                private_redis.start()
                assert graded(bea, during.json()["submission_id"], server.process, worker)["score"] == 100.0
    finally:
        kill_group(worker)
    rows = submission_rows(postgres_url)
    assert [(r[1], r[2], r[3], r[4]) for r in rows] == [("ada", "graded", 100.0, 1), ("bea", "graded", 100.0, 1)]
    assert "could not queue submission" in server.log()


@pytest.mark.postgres
def test_a_restart_of_postgresql_while_the_service_grades_loses_no_upload(course: Path, private_postgres: PrivatePostgres, tmp_path: Path) -> None:
    # ada's upload is being graded (its load waits for the 3 s load timeout) and the others wait
    # behind it when the database goes away; every operation that meets the outage is tried
    # again, and each upload ends graded by one grading.
    url = private_postgres.url
    students = ["ada", *(f"s{i}" for i in range(5))]
    tokens = enrol(url, *students)
    with Served(course, url, tmp_path, "--workers", "1") as server:
        clients = {s: server.client(tokens[s]) for s in students}
        try:
            sent = {"ada": upload(clients["ada"], HANGS_THEN_CORRECT).json()["submission_id"]}
            wait_for(lambda: holder(url, sent["ada"]).startswith("grade serve worker"), "a grading process holds ada's upload", server.process)
            sent.update({s: upload(clients[s], CORRECT).json()["submission_id"] for s in students[1:]})
            private_postgres.stop()
            time.sleep(1.0)  # the outage itself, not a synchronization
            private_postgres.start()
            for student, sid in sent.items():
                assert graded(clients[student], sid, server.process)["score"] == 100.0
        finally:
            for client in clients.values():
                client.close()
    rows = submission_rows(url)
    assert [(r[1], r[2], r[3], r[4]) for r in rows] == [(s, "graded", 100.0, 1) for s in students]
    assert "trying again" in server.log(), "no operation of the server met the outage: the test tested nothing"
