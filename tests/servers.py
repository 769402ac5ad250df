"""Private PostgreSQL and Redis servers, for the tests that stop, restart or kill a server.

The machine's shared servers (conftest's ``postgres_url`` and ``broker``) serve every test of
every run, so no test may stop them. A test about an outage starts its own instead: on a free
port, its files in the test's directory, stopped and removed when the test ends, whatever
happened. Readiness is asked of the server (``pg_isready``, ``PING``), never waited for with a
sleep.

    with private_postgres(tmp_path) as server:   # or the conftest fixture private_postgres
        Gradebook(server.url)                     # postgresql+psycopg://postgres@127.0.0.1:PORT/postgres
        server.stop()                             # clean shutdown; clients see their connections end
        server.start()                            # back on the same port, once it accepts connections
        server.restart()                          # stop(), then start()
        server.kill()                             # SIGKILL: a crash; start() then recovers

``private_redis`` is the same for Redis (no persistence: a stop or a kill empties it).
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, TypeVar

import redis

#: How long a server may take to start, to stop cleanly, or for a killed one to be gone.
SECONDS = 60.0
#: The pause between two questions to a server that is not ready yet.
POLL_SECONDS = 0.02
#: The PostgreSQL server programs (Debian keeps them out of PATH): the newest version's.
POSTGRES_BIN = Path(
    os.environ.get("GRADER_TEST_POSTGRES_BIN")
    or max(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda bin: float(bin.parent.name), default=Path("/usr/bin"))
)
S = TypeVar("S", bound="Server")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listened on a moment ago (the kernel's pick)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ServerError(RuntimeError):
    """A private server did not start, stop or die as asked; the message ends with its log."""


class Server:
    """One server process of a test's own, in its own process group, logging to a file.

    Subclasses say how to run it (``command``), how it stops cleanly (``stop_signal``) and how
    to tell it is ready (``ready``).
    """

    name = "server"
    stop_signal = signal.SIGTERM

    def __init__(self, directory: Path) -> None:
        directory.mkdir()
        self.directory = directory
        self.port = free_port()
        self.log = directory / f"{self.name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        raise NotImplementedError

    def command(self) -> list[str]:
        raise NotImplementedError

    def ready(self) -> bool:
        raise NotImplementedError

    def popen_options(self) -> dict[str, Any]:
        return {}

    def prepare(self) -> None:
        """Whatever must be done once before the first start."""

    def remove(self) -> None:
        """Remove all the server left (once it is stopped)."""
        shutil.rmtree(self.directory, ignore_errors=True)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        """Start the server on its port and return once it accepts connections."""
        if self.running:
            raise ServerError(f"{self.name} on port {self.port} is already running")
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self.command(), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, cwd=self.directory, **self.popen_options(),
            )
        self._wait_until(self.ready, "accept connections")

    def stop(self) -> None:
        """Shut the server down cleanly and return once it has exited."""
        if self.running:
            self._signal(self.stop_signal)
            self._reap()

    def kill(self) -> None:
        """SIGKILL the server and every process it started (a crash); return once all are gone."""
        if self.process is not None:
            self._signal(signal.SIGKILL)
            self._reap()

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop the server, or kill it if it will not stop."""
        try:
            self.stop()
        except ServerError:
            self.kill()

    def _signal(self, signum: int) -> None:
        """Send ``signum`` to the server's process group, while the server is not reaped yet (so
        that its pid, the group's id, cannot belong to another process since)."""
        assert self.process is not None
        if self.process.returncode is None:
            try:
                os.killpg(self.process.pid, signum)
            except ProcessLookupError:
                pass

    def _reap(self) -> None:
        """Wait for the server to exit, then for every other process of its group to be gone
        (a killed postmaster's backends hold its shared memory, and a new one would refuse it)."""
        assert self.process is not None
        try:
            self.process.wait(timeout=SECONDS)
        except subprocess.TimeoutExpired:
            self._signal(signal.SIGKILL)
            self.process.wait()
            raise ServerError(self._failure(f"did not stop within {SECONDS:.0f} s")) from None
        group = self.process.pid
        self._wait_until(lambda: not _group_alive(group), f"see the processes of group {group} exit", check_alive=False)

    def _wait_until(self, condition: Callable[[], bool], what: str, *, check_alive: bool = True) -> None:
        deadline = time.monotonic() + SECONDS
        while not condition():
            if check_alive and not self.running:
                raise ServerError(self._failure(f"exited before it would {what}"))
            if time.monotonic() > deadline:
                raise ServerError(self._failure(f"did not {what} within {SECONDS:.0f} s"))
            time.sleep(POLL_SECONDS)

    def _failure(self, what: str) -> str:
        tail = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else "(no log)"
        return f"{self.name} on port {self.port} {what}; its log ends:\n{tail}"


def _group_alive(group: int) -> bool:
    """Whether a process of process group ``group`` is still running (zombies do not count:
    they hold nothing, and an orphan's may wait long for whoever adopted it to reap it)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        state, pgrp = fields[0], int(fields[2])
        if pgrp == group and state not in ("Z", "X"):
            return True
    return False


class PrivatePostgres(Server):
    """A PostgreSQL cluster of the test's own, run by the ``postgres`` user (PostgreSQL refuses
    root) from a directory that user owns. TCP on 127.0.0.1 only: no Unix socket, so nothing is
    written outside the directory (and no 107-byte socket path limit for a deep tmp_path).
    fsync is off: a killed server loses nothing (the kernel still has every write), only a
    power cut would."""

    name = "postgres"
    stop_signal = signal.SIGINT  # PostgreSQL's fast shutdown: sessions are ended, then it stops

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.user = pwd.getpwnam("postgres")
        self.data = directory / "data"
        self._opened: list[tuple[Path, int]] = []

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def popen_options(self) -> dict[str, Any]:
        return {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []}

    def prepare(self) -> None:
        """A new cluster in the directory, which the postgres user owns and can reach."""
        self._opened = _let_through(self.directory)
        os.chown(self.directory, self.user.pw_uid, self.user.pw_gid)
        os.chmod(self.directory, 0o700)
        done = subprocess.run(
            [str(POSTGRES_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"],
            capture_output=True, text=True, cwd=self.directory, **self.popen_options(),
        )
        if done.returncode != 0:
            raise ServerError(f"initdb in {self.data} failed: {done.stderr.strip()[-2000:]}")

    def remove(self) -> None:
        super().remove()
        for path, mode in self._opened:
            os.chmod(path, mode)

    def command(self) -> list[str]:
        settings = {"listen_addresses": "127.0.0.1", "unix_socket_directories": "", "fsync": "off", "full_page_writes": "off"}
        return [str(POSTGRES_BIN / "postgres"), "-D", str(self.data), "-p", str(self.port), *(f"-c{k}={v}" for k, v in settings.items())]

    def ready(self) -> bool:
        asked = [str(POSTGRES_BIN / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", "postgres"]
        return subprocess.run(asked, stdin=subprocess.DEVNULL, capture_output=True).returncode == 0


class PrivateRedis(Server):
    """A Redis server of the test's own, without persistence: it starts empty every time."""

    name = "redis"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        return [
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--daemonize", "no", "--dir", str(self.directory),
        ]

    def ready(self) -> bool:
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=1)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()


def private_postgres(tmp_path: Path) -> AbstractContextManager[PrivatePostgres]:
    """A fresh PostgreSQL cluster in ``tmp_path / "postgres"``, started; stopped (or killed) and
    removed afterwards."""
    return _running(PrivatePostgres(tmp_path / "postgres"))


def private_redis(tmp_path: Path) -> AbstractContextManager[PrivateRedis]:
    """A Redis server with its directory ``tmp_path / "redis"``, started; stopped (or killed) and
    removed afterwards."""
    return _running(PrivateRedis(tmp_path / "redis"))


@contextmanager
def _running(server: S) -> Iterator[S]:
    try:
        server.prepare()
        _start_on_a_free_port(server)
        yield server
    finally:
        try:
            server.close()
        finally:
            server.remove()


def _start_on_a_free_port(server: Server, attempts: int = 3) -> None:
    """Start ``server``; if another process took its port between our pick and its bind, pick
    again (a restart then keeps the port it has)."""
    for attempt in range(attempts):
        try:
            server.start()
            return
        except ServerError as exc:
            if attempt == attempts - 1 or "in use" not in str(exc):
                raise
            server.port = free_port()


def _let_through(directory: Path) -> list[tuple[Path, int]]:
    """Let other users pass through (not list) every directory above ``directory`` that they
    cannot pass yet: the run's private TMPDIR and pytest's directories are root's alone, and
    the postgres user must reach its data. Returns the changed directories and their old
    modes, to restore."""
    changed = []
    for parent in directory.absolute().parents:
        mode = stat.S_IMODE(parent.stat().st_mode)
        if not mode & stat.S_IXOTH:
            os.chmod(parent, mode | stat.S_IXOTH)
            changed.append((parent, mode))
    return changed
