"""`grade serve` processes of a test's own, and the students and tokens they serve.

    with Served(course, db_url, tmp_path) as server:   # a real uvicorn on a free port
        server.client(token).get("/api/v1/assignments")
        server.kill()                                   # SIGKILL of the server process alone
        server.start()                                  # again, on the same port

Readiness and results are asked of the server and the gradebook (``wait_for``), never waited
for with a sleep. Everything a server started (its forkserver, its grading processes and
their sandboxes) is in the server's own process group, killed when the test ends.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import httpx
from helpers import ROOT
from servers import free_port

from grader.db import Gradebook
from grader.identity import RosterEntry

#: how long a server may take to answer /healthz, and a submission to be graded
SECONDS = 90.0


def wait_for(condition: Callable[[], Any], what: str, *alive: subprocess.Popen[bytes], seconds: float = SECONDS) -> Any:
    """Poll ``condition`` until it returns something true (returned), while ``alive`` all run."""
    deadline = time.monotonic() + seconds
    while True:
        found = condition()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        for process in alive:
            assert process.poll() is None, f"a process ended (exit code {process.returncode}) before {what}"
        time.sleep(0.02)


def enrol(db_url: str, *students: str, instructor: str | None = "prof") -> dict[str, str]:
    """Put ``students`` on the roster and issue a token to each (and to ``instructor``):
    the tokens by subject."""
    with Gradebook(db_url) as book:
        book.import_roster([RosterEntry(s, f"Student {s}", f"s{i}@example.edu") for i, s in enumerate(students)])
        tokens = {s: book.issue_token(s, "student") for s in students}
        if instructor is not None:
            tokens[instructor] = book.issue_token(instructor, "instructor")
    return tokens


class Served:
    """A `grade serve` of this test's own (``args`` after ``serve``; ``env`` on top of this
    process's), logging to a file in ``directory``."""

    def __init__(self, course: Path, db_url: str, directory: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = directory / f"serve-{self.port}.log"
        self.command = [sys.executable, "-m", "grader.cli", "--course", str(course), "serve", "--port", str(self.port), *args]
        self.env = {
            **os.environ, "GRADE_DB_URL": db_url, "PYTHONPATH": str(ROOT), "GRADE_LEASE_SECONDS": "2", "GRADE_LOG_LEVEL": "INFO",
            **(env or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._groups: list[int] = []

    def __enter__(self) -> Served:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self._close_log()
        self._log = open(self.log_path, "ab")  # closed by stop()
        self.process = subprocess.Popen(self.command, env=self.env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        self._groups.append(self.process.pid)
        wait_for(self._healthy, f"the server on port {self.port} answers /healthz", self.process)

    def _healthy(self) -> bool:
        try:
            return httpx.get(f"{self.url}/healthz", timeout=5).status_code == 200
        except httpx.TransportError:
            return False

    def client(self, token: str | None = None, **options: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, **options)

    def kill(self) -> None:
        """SIGKILL the server process alone, as a crash would; what it started goes with it."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL) and everything it started."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for group in self._groups:
            try:
                os.killpg(group, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self._groups = []
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def upload(client: httpx.Client, content: bytes | str, filename: str = "hw.py", assignment: str = "backprop") -> httpx.Response:
    data = content.encode() if isinstance(content, str) else content
    return client.post(f"/api/v1/assignments/{assignment}/submissions", files={"file": (filename, data, "text/x-python")})


def graded(client: httpx.Client, submission_id: int, *alive: subprocess.Popen[bytes]) -> dict[str, Any]:
    """The submission's JSON once it is no longer pending."""

    def finished() -> dict[str, Any] | None:
        shown = client.get(f"/api/v1/submissions/{submission_id}").json()
        return shown if shown["status"] != "pending" else None

    found: dict[str, Any] = wait_for(finished, f"submission {submission_id} is graded", *alive)
    return found


def niceness(pid: int) -> int:
    """The scheduling niceness of process ``pid`` (field 19 of /proc/PID/stat)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat[stat.rindex(")") + 2 :].split()[16])


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` now (children, their children, ...)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # it ended while we looked
            children.setdefault(int(stat[stat.rindex(")") + 2 :].split()[1]), []).append(int(entry.name))
    found, stack = [], [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found
