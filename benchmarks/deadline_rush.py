"""The deadline rush: N rostered students each upload once, arrivals spread over T seconds,
against a running `grade serve`.

    python benchmarks/deadline_rush.py [--students 500] [--seconds 30] [--workers 2]
                                       [--postgres URL --broker URL --celery 2]

Makes a course copy, a roster and a token per student, starts `grade serve` on a free port
(local sandbox pool on SQLite by default; with --postgres and --broker, the Celery backend with
that many `grade worker`s), and sends the uploads at evenly spread times from a thread pool.
The students are plain HTTP/1.1 clients of the standard library (``Student``), one keep-alive
connection each: they share the machine with the server, and a heavier client library would
take the processors from what is measured. Prints the upload acknowledgement latency (p50/p99: the 202's round trip), the time from upload
to graded (p50/p99, polling each submission), and lost and duplicated results (every upload
must end as exactly one finished row). Targets on 2 cores: ack p99 < 250 ms, graded p99 < 10 s,
0 lost, 0 duplicated.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from grader.client import FIRST_PAUSE, HOLD_SECONDS, LONGEST_PAUSE  # noqa: E402 - after the path

SAMPLES = ROOT / "submissions" / "backprop"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


class Student:
    """One student's connection to the server: an upload, then long polls, as `grade submit`
    waits (grader.client.Client.wait)."""

    def __init__(self, port: int, token: str) -> None:
        self.port, self.headers = port, {"Authorization": f"Bearer {token}"}
        self.connection: http.client.HTTPConnection | None = None

    def ask(self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        """The status and body of one request; a connection the server closed is opened again once."""
        for attempt in range(2):
            if self.connection is None:
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
            try:
                self.connection.request(method, f"/api/v1{path}", body=body, headers={**self.headers, **(headers or {})})
                response = self.connection.getresponse()
                return response.status, response.read()
            except (ConnectionError, http.client.HTTPException):
                self.connection.close()
                self.connection = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def upload(self, content: bytes) -> tuple[int, bytes]:
        boundary = f"rush{os.urandom(8).hex()}"
        body = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="hw.py"\r\n'
            "Content-Type: text/x-python\r\n\r\n"
        ).encode() + content + f"\r\n--{boundary}--\r\n".encode()
        return self.ask("POST", "/assignments/backprop/submissions", body, {"Content-Type": f"multipart/form-data; boundary={boundary}"})

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()


def grade(env: dict[str, str], course: Path, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "grader.cli", "--course", str(course), *args], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"grade {' '.join(args)} failed: {done.stderr.strip()[-500:]}")
    return done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=30.0, help="Arrivals are spread evenly over this long.")
    parser.add_argument("--workers", type=int, default=2, help="Sandboxes of the server's local pool.")
    parser.add_argument("--postgres", help="A PostgreSQL URL (an empty database): grade on it with Celery.")
    parser.add_argument("--broker", help="The Celery broker for --postgres (e.g. amqp://guest:guest@127.0.0.1:5672//).")
    parser.add_argument("--celery", type=int, default=2, help="Single-process Celery workers with --postgres.")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="grader-rush-"))
    course = work / "course"
    shutil.copytree(ROOT / "reference", course / "reference", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "rubrics", course / "rubrics")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GRADE_DB_URL": args.postgres or f"sqlite:///{work / 'grade.db'}"}
    env.pop("GRADE_SERVER", None)
    env.pop("GRADE_TOKEN", None)
    if args.broker:
        env["GRADE_BROKER_URL"] = args.broker
    students = [f"s{i:04d}" for i in range(args.students)]
    (work / "roster.csv").write_text("id,name,email\n" + "".join(f"{s},Student {s},{s}@example.edu\n" for s in students))
    grade(env, course, "roster", "import", str(work / "roster.csv"))
    from grader.db import Gradebook  # tokens through the API: a command per student would take minutes

    with Gradebook(env["GRADE_DB_URL"]) as book:
        tokens = {s: book.issue_token(s, "student") for s in students}
    samples = [p for p in sorted(SAMPLES.iterdir()) if p.suffix == ".py"]
    uploads = {s: samples[i % len(samples)].read_bytes() + f"\n# {s}\n".encode() for i, s in enumerate(students)}

    port = free_port()
    backend = ["--backend", "celery"] if args.postgres else ["--workers", str(args.workers)]
    logs = open(work / "serve.log", "wb")  # noqa: SIM115 - outlives the servers it logs, closed below
    processes = []
    if args.postgres:
        for _ in range(args.celery):
            processes.append(subprocess.Popen([sys.executable, "-m", "grader.cli", "--course", str(course), "worker", "--concurrency", "1"],
                                              env=env, stdout=logs, stderr=subprocess.STDOUT, start_new_session=True))
    server = subprocess.Popen([sys.executable, "-m", "grader.cli", "--course", str(course), "serve", "--port", str(port), *backend],
                              env=env, stdout=logs, stderr=subprocess.STDOUT, start_new_session=True)
    processes.append(server)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=10).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit(f"grade serve did not become healthy; see {work / 'serve.log'}")
            time.sleep(0.1)

        acks: dict[str, float] = {}
        graded: dict[str, float] = {}
        ids: dict[str, int] = {}
        failures: list[str] = []
        failed_looks: list[str] = []
        lock = threading.Lock()
        start = time.monotonic()
        spacing = args.seconds / max(1, len(students))

        def one(index: int, student: str) -> None:
            time.sleep(max(0.0, start + index * spacing - time.monotonic()))
            client = Student(port, tokens[student])
            try:
                sent = time.monotonic()
                status, body = client.upload(uploads[student])
                acked = time.monotonic()
                if status != 202:
                    with lock:
                        failures.append(f"{student}: {status} {body[:200]!r}")
                    return
                submission_id = int(json.loads(body)["submission_id"])
                pause = FIRST_PAUSE  # as `grade submit` waits (grader.client.Client.wait): long polls
                while True:
                    asked = time.monotonic()
                    status, body = client.ask("GET", f"/submissions/{submission_id}?wait={HOLD_SECONDS:g}")
                    if status != 200:  # counted, and asked again, as the client would be
                        with lock:
                            failed_looks.append(f"{student}: {status} {body[:200]!r}")
                        time.sleep(pause)
                        continue
                    if json.loads(body).get("status") != "pending":
                        break
                    if time.monotonic() - asked < HOLD_SECONDS / 2:
                        time.sleep(pause)
                        pause = min(pause * 2, LONGEST_PAUSE)
            finally:
                client.close()
            with lock:
                acks[student] = acked - sent
                graded[student] = time.monotonic() - sent
                ids[student] = submission_id

        with concurrent.futures.ThreadPoolExecutor(max_workers=min(256, len(students))) as pool:
            list(pool.map(lambda pair: one(*pair), enumerate(students)))
        wall = time.monotonic() - start
    finally:
        for process in processes:  # as an operator stops them: each stops what it started
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
            with contextlib.suppress(ProcessLookupError):  # whatever is left of its group
                os.killpg(process.pid, signal.SIGKILL)
        logs.close()

    from sqlalchemy import create_engine, text

    engine = create_engine(env["GRADE_DB_URL"])
    with engine.connect() as db:
        rows = db.execute(text(
            "SELECT students.external_id, submissions.status FROM submissions JOIN students ON students.id = submissions.student_id"
        )).all()
    engine.dispose()
    per_student: dict[str, list[str]] = {}
    for student, status in rows:
        per_student.setdefault(student, []).append(status)
    lost = [s for s in students if not [st for st in per_student.get(s, []) if st != "pending"]]
    duplicated = [s for s in students if len(per_student.get(s, [])) > 1]
    where = f"PostgreSQL + Celery ({args.celery} workers)" if args.postgres else f"SQLite, local pool of {args.workers}"
    print(f"deadline rush: {len(students)} students over {args.seconds:g} s against grade serve on {where}; wall {wall:.1f} s")
    print(f"  ack latency    p50 {1000 * percentile(list(acks.values()), 0.5):.0f} ms  p99 {1000 * percentile(list(acks.values()), 0.99):.0f} ms")
    print(f"  upload->graded p50 {percentile(list(graded.values()), 0.5):.2f} s  p99 {percentile(list(graded.values()), 0.99):.2f} s")
    print(f"  refused {len(failures)}, failed looks {len(failed_looks)}, lost {len(lost)}, duplicated {len(duplicated)}")
    for line in failures[:5]:
        print(f"  refused: {line}")
    for line in failed_looks[:5]:
        print(f"  failed look: {line}")
    problems = [line for line in (work / "serve.log").read_text(errors="replace").splitlines() if " ERROR " in line or " WARNING " in line]
    print(f"  server log: {len(problems)} warnings and errors")
    for line in problems[:5]:
        print(f"    {line[:200]}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
