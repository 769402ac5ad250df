"""The grader's control of the zygote, the numpy-loaded process that forks submissions.

Runs in the grader. The zygote itself (``grader.sandbox.inside.zygote``) runs inside the
sandbox: this module starts it, with ``python -I -c`` and a bootstrap carrying the sources of
``grader.sandbox.inside`` (inside bubblewrap where available), and talks to it over a control
socket. One zygote serves one grader process, one child at a time. It starts the first time a
submission is loaded, and again whenever a submission killed it. Each child gets fresh pipes
from the grader, passed through the zygote unread, and where the machine allows it a cgroup
(``cgroups``) that the zygote moves it into: one per zygote, emptied and given the child's caps
before each fork.
"""

from __future__ import annotations

import atexit
import base64
import functools
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import zlib
from dataclasses import replace
from importlib import resources
from typing import Any

from grader.sandbox import cgroups
from grader.sandbox.inside.confine import SCRATCH_PREFIX, child_uid, kill_uid, release
from grader.sandbox.inside.zygote import remove
from grader.sandbox.isolation import Layers, bubblewrap_command, detect

log = logging.getLogger(__name__)

#: The modules of ``grader.sandbox.inside``, in dependency order: the frame format for both
#: sides, the child's program, its confinement on the Landlock path, the fork server.
INSIDE_MODULES = ("wire", "child", "confine", "zygote")
#: The kernel's limit on one argument (MAX_ARG_STRLEN): the bootstrap, sources included, is one.
MAX_ARGUMENT = 128 * 1024
_BOOTSTRAP = """\
import base64, json, linecache, os, sys, types, zlib

def _load(packed):
    sources = json.loads(zlib.decompress(base64.b85decode(packed)))
    package = types.ModuleType("inside")
    package.__path__ = []
    package.__package__ = "inside"
    sys.modules["inside"] = package
    for name, source in sources:
        module = types.ModuleType("inside." + name)
        module.__package__ = "inside"
        module.__file__ = filename = "<sandbox inside/" + name + ".py>"
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        sys.modules[module.__name__] = module
        setattr(package, name, module)
        exec(compile(source, filename, "exec", dont_inherit=True), module.__dict__)
    return package

_load(SOURCES).zygote.main(sys.argv[1:])
os._exit(0)
"""
#: what is kept of the zygote's stderr, and how much of it reaches the log
TAIL_BYTES = 8 * 1024
LINE_CHARS = 300
LOGGED_LINES = 1000
#: how long to wait, once the zygote has ended, for the end of its stderr
STDERR_GRACE = 1.0
#: Environment variables passed through: OpenBLAS needs these on some processors to compute
#: correct results at all.
_PASSED_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
START_TIMEOUT = 60.0
#: How long the zygote may take to answer a fork or an end (which waits up to 1 s for the child,
#: then kills and reaps it and removes its files). A zygote that takes longer is treated as dead:
#: a submission may have stopped it (SIGSTOP) or wedged it, and the grader must never wait forever.
CONTROL_TIMEOUT = 10.0


class ZygoteDied(Exception):
    """The zygote is gone (a submission killed it, or it failed to start)."""


class Zygote:
    def __init__(self, layers: Layers) -> None:
        self.layers = layers
        self.cgroup = cgroups.Leaf.make()
        try:
            procs = self.cgroup.open_procs() if self.cgroup is not None else []
        except OSError as exc:
            log.warning("no cgroup for this zygote (%s)", exc)
            self._drop_cgroup()
            procs = []
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        namespace = "pidns" if layers.bubblewrap else "shared"
        command = [sys.executable, "-I", "-c", bootstrap(), str(theirs.fileno()), namespace, ",".join(map(str, procs))]
        confinement = layers.confinement()
        if confinement is not None:  # the Landlock path: each child confines itself
            command.append(json.dumps(confinement))
        if layers.bubblewrap:
            command = bubblewrap_command(layers.bubblewrap, command, environment())
        stderr, stderr_write = os.pipe()
        try:
            self.process = subprocess.Popen(
                command,
                pass_fds=(theirs.fileno(), *procs),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr_write,
                env=environment(),
                start_new_session=True,
            )
        except BaseException:
            os.close(stderr)
            ours.close()
            self._drop_cgroup()
            raise
        finally:
            theirs.close()
            os.close(stderr_write)
            for fd in procs:
                os.close(fd)
        self.stderr = StderrTail(stderr, self.process.pid)
        self._unanswered = 0
        self.scratch: str | None = None
        #: children forked and not yet ended
        self.children: set[int] = set()
        #: modules the zygote was asked to import (``fork``'s ``preload``)
        self.preloaded: set[str] = set()
        self.control = ours
        self.control.settimeout(START_TIMEOUT)
        try:
            ready = self._receive()
        except ZygoteDied:
            self.kill()
            raise
        self.seccomp = bool(ready.get("seccomp"))
        scratch = ready.get("scratch")  # the Landlock path: its children's scratch directories
        self.scratch = scratch if type(scratch) is str and os.path.basename(scratch).startswith(SCRATCH_PREFIX) else None
        self.control.settimeout(CONTROL_TIMEOUT)
        log.info("zygote started: pid %d, isolation %s, %s", self.process.pid, self.level, self.cgroup.memory if self.cgroup else "no cgroup")

    @property
    def level(self) -> str:
        return replace(self.layers, seccomp=self.seccomp).level

    def fork(self, limits: dict[str, int], fds: list[int], reads: tuple[str, ...] = (), preload: tuple[str, ...] = ()) -> int:
        """A new child serving the given (requests, replies, output) fds; its pid. ``reads``:
        what it may read besides the Python installation and numpy on the Landlock path (the
        assignment's declared packages). ``preload``: modules the zygote imports first, once."""
        self._answered()  # the last child's end is done: its cgroup is empty
        wanted = [m for m in preload if m not in self.preloaded]
        if wanted:
            self._preload(wanted)
        if self.cgroup is not None:
            try:
                self.cgroup.prepare(limits["memory_mb"] << 20, limits["processes"] + limits["threads"])
            except OSError as exc:  # no child goes without its caps
                raise ZygoteDied(f"the submission's cgroup could not be prepared ({exc})") from None
        message = {"op": "fork", "limits": limits, "env": environment(), "reads": list(reads)}
        try:
            socket.send_fds(self.control, [json.dumps(message).encode()], fds)
        except OSError as exc:
            raise self._died(str(exc), ended=True) from None
        reply = self._receive()
        if reply.get("pid") is None:
            raise ZygoteDied(str(reply.get("error", "the zygote started no child")))
        pid = int(reply["pid"])
        self.children.add(pid)
        return pid

    def _preload(self, modules: list[str]) -> None:
        """Have the zygote import ``modules`` (the rubric's, trusted): every child forked later
        has them loaded. One that fails to import is logged and not asked for again; the
        submissions that import it then pay for it themselves, as without a preload."""
        self.preloaded.update(modules)
        try:
            self.control.send(json.dumps({"op": "preload", "modules": modules}).encode())
        except OSError as exc:
            raise self._died(str(exc), ended=True) from None
        reply = self._receive()
        failed = reply.get("failed")
        for module, why in (failed.items() if isinstance(failed, dict) else ()):
            log.warning("the sandbox could not preload %s: %s", module, str(why)[:300])
        log.info("zygote %d preloaded %s", self.process.pid, ", ".join(modules))

    def cpu(self, pid: int) -> float | None:
        """The CPU time (user and system, every thread) the child has used so far, read by the
        zygote from /proc: the kernel's figure, not the child's; None where it cannot be read."""
        try:
            self.control.send(json.dumps({"op": "cpu", "pid": pid}).encode())
        except OSError as exc:
            raise self._died(str(exc), ended=True) from None
        seconds = self._receive().get("seconds")
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 <= seconds < 1e9:
            return None
        return float(seconds)

    def oom_kills(self) -> int:
        """How many children the kernel has killed so far for their memory cap (0 without a cgroup)."""
        return self.cgroup.oom_kills() if self.cgroup is not None else 0

    def end(self, pid: int, *, wait: bool) -> int | None:
        """Kill the child and everything it started; with ``wait``, its wait status if it had
        exited by itself. Without ``wait`` the zygote cleans up while the grader goes on: the
        zygote handles messages in order, so the next fork still comes after the cleanup."""
        try:
            self.control.send(json.dumps({"op": "end", "pid": pid, "wait": wait}).encode())
        except OSError as exc:
            raise self._died(str(exc), ended=True) from None
        self.children.discard(pid)
        if not wait:
            self._unanswered += 1
            return None
        status = self._receive().get("status")
        return status if type(status) is int else None

    def alive(self) -> bool:
        return self.process.poll() is None

    def exit_reason(self) -> str:
        """How the zygote ended, with the last line it wrote to stderr; once it has ended."""
        code = self.process.poll()
        if code is None:
            how = "it is still running"
        elif code < 0:
            how = f"killed by signal {_signal_name(-code)}"
        else:
            how = f"exit code {code}"
        return self._with_stderr(how, ended=True)

    def kill(self) -> None:
        """Kill the zygote and all it started, then close."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        confinement = self.layers.confinement()
        if confinement is not None and confinement["uid"]:
            # On the Landlock path its children die with it (PR_SET_PDEATHSIG), but not what
            # they started: every process of a live child's own uid goes.
            for pid in self.children:
                kill_uid(child_uid(pid))
        self.children.clear()
        self.close()

    def close(self) -> None:
        self.control.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.stderr.wait(STDERR_GRACE)
        if self.scratch is not None:  # left behind (and mounted) when the zygote was killed
            release(self.scratch)
            remove(self.scratch)
        self._drop_cgroup()

    def _drop_cgroup(self) -> None:
        if self.cgroup is not None:
            self.cgroup.remove()
            self.cgroup = None

    def _answered(self) -> None:
        """Read the replies to the ends that were not waited for."""
        while self._unanswered:
            self._unanswered -= 1
            self._receive()

    def _receive(self) -> dict[str, Any]:
        self._answered()  # the replies to ends that were not waited for come first
        try:
            data = self.control.recv(1 << 16)
        except TimeoutError:  # alive but not answering: stopped or wedged
            raise self._died(f"the zygote did not answer within {self.control.gettimeout():g} s", ended=False) from None
        except OSError as exc:
            raise self._died(str(exc), ended=True) from None
        if not data:
            raise self._died("the zygote closed its control channel", ended=True)
        return dict(json.loads(data))

    def _died(self, reason: str, *, ended: bool) -> ZygoteDied:
        return ZygoteDied(self._with_stderr(reason, ended=ended))

    def _with_stderr(self, reason: str, *, ended: bool) -> str:
        """``reason`` with the last line the zygote wrote to stderr, if any. When it has
        ended, first wait (briefly) for the reader to see the end of what it wrote."""
        if ended:
            self.stderr.wait(STDERR_GRACE)
        last = self.stderr.last_line()
        return f"{reason} (stderr: {last})" if last else reason


class StderrTail:
    """The zygote's stderr, read to its end by a daemon thread: the last TAIL_BYTES are kept
    (a traceback, when the zygote fails), and lines are logged at DEBUG, each cut to LINE_CHARS
    and at most LOGGED_LINES of them. Memory stays bounded whatever the zygote writes, and the
    thread never holds up grading: it only reads, and it ends when the pipe's last writer, the
    zygote (and bubblewrap), has ended."""

    def __init__(self, fd: int, pid: int) -> None:
        self._fd = fd
        self._pid = pid
        self._tail = bytearray()
        self._lock = threading.Lock()
        self._logged = 0
        self._thread = threading.Thread(target=self._read, name=f"zygote-{pid}-stderr", daemon=True)
        self._thread.start()

    def last_line(self) -> str:
        """The last non-empty line kept, cut to LINE_CHARS; empty if there is none."""
        with self._lock:
            tail = bytes(self._tail)
        lines = [line.strip() for line in tail.decode("utf-8", "replace").splitlines()]
        return _printable(next((line for line in reversed(lines) if line), ""))

    def wait(self, seconds: float) -> bool:
        """Wait up to ``seconds`` for the end of the stream; whether it came."""
        self._thread.join(seconds)
        return not self._thread.is_alive()

    def _read(self) -> None:
        line = bytearray()
        try:
            while chunk := os.read(self._fd, 1 << 12):
                with self._lock:
                    self._tail += chunk
                    del self._tail[:-TAIL_BYTES]
                *ended, rest = chunk.split(b"\n")
                for piece in ended:
                    line += piece[: LINE_CHARS - len(line)]
                    self._log(line)
                    line.clear()
                line += rest[: LINE_CHARS - len(line)]
        except OSError:
            pass
        finally:
            os.close(self._fd)
        if line:
            self._log(line)

    def _log(self, line: bytearray) -> None:
        self._logged += 1
        if self._logged <= LOGGED_LINES:
            log.debug("zygote %d stderr: %s", self._pid, _printable(line.decode("utf-8", "replace")))
        elif self._logged == LOGGED_LINES + 1:
            log.debug("zygote %d stderr: further lines are not logged", self._pid)


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else "?" for c in text[:LINE_CHARS])


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


@functools.cache
def bootstrap() -> str:
    """The program of ``python -I -c`` that runs the zygote: it holds the sources of
    ``grader.sandbox.inside`` (compressed: one argument may hold 128 KiB), runs them as the
    in-memory package ``inside`` (the sandbox cannot see the grader's files, and imports
    nothing named ``grader``), then calls
    ``inside.zygote.main`` with the control fd and namespace kind. Read on first use."""
    package = resources.files("grader.sandbox.inside")
    sources = [(name, package.joinpath(f"{name}.py").read_text(encoding="utf-8")) for name in INSIDE_MODULES]
    packed = base64.b85encode(zlib.compress(json.dumps(sources).encode(), 9)).decode()  # a quarter of the size
    return _BOOTSTRAP.replace("SOURCES", repr(packed), 1)


def environment() -> dict[str, str]:
    env = {
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
    }
    env.update({k: os.environ[k] for k in _PASSED_ENV if k in os.environ})
    return env


_lock = threading.Lock()
_zygote: Zygote | None = None
#: why the last zygote was lost, until the next one starts
_lost: str | None = None


def acquire() -> Zygote:
    """This process's zygote, started or restarted as needed. Hold ``lock()`` while using it."""
    global _zygote, _lost
    if _zygote is not None and not _zygote.alive():
        zygote, _zygote = _zygote, None
        _lost = zygote.exit_reason()
        log.warning("zygote %d died (%s)", zygote.process.pid, _lost)
        zygote.close()
    if _zygote is None:
        if _lost is not None:
            log.info("restarting the zygote after the last one died (%s)", _lost)
        try:
            _zygote = Zygote(detect())
        except ZygoteDied as exc:
            _lost = str(exc)
            log.warning("the zygote failed to start (%s)", _lost)
            raise
        _lost = None
    return _zygote


def discard(reason: str = "") -> None:
    """Kill and forget the zygote; the next ``acquire`` starts a new one. With ``reason``
    (it failed), it is logged as a zygote that died."""
    global _zygote, _lost
    if _zygote is not None:
        zygote, _zygote = _zygote, None
        if reason:
            log.warning("zygote %d died (%s)", zygote.process.pid, reason)
            _lost = reason
        zygote.kill()


def lock() -> threading.Lock:
    return _lock


@atexit.register
def _shutdown() -> None:
    if _zygote is not None:
        _zygote.close()
