"""The grader's control of the zygote, the numpy-loaded process that forks submissions.

Runs in the grader. The zygote itself (``grader.sandbox.inside.zygote``) runs inside the
sandbox: this module starts it, with ``python -I -c`` and a bootstrap carrying the sources of
``grader.sandbox.inside`` (inside bubblewrap where available), and talks to it over a control
socket. One zygote serves one grader process, one child at a time. It starts the first time a
submission is loaded, and again whenever a submission killed it. Each child gets fresh pipes
from the grader, passed through the zygote unread.
"""

from __future__ import annotations

import atexit
import functools
import json
import os
import socket
import subprocess
import sys
import threading
from importlib import resources
from typing import Any

from grader.sandbox.isolation import Layers, bubblewrap_command, detect

#: The modules of ``grader.sandbox.inside``, in dependency order: the frame format for both
#: sides, the child's program, the fork server that runs it.
INSIDE_MODULES = ("wire", "child", "zygote")
#: The kernel's limit on one argument (MAX_ARG_STRLEN): the bootstrap, sources included, is one.
MAX_ARGUMENT = 128 * 1024
_BOOTSTRAP = """\
import linecache, os, sys, types

def _load(sources):
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
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        namespace = "pidns" if layers.bubblewrap else "shared"
        command = [sys.executable, "-I", "-c", bootstrap(), str(theirs.fileno()), namespace]
        if layers.bubblewrap:
            command = bubblewrap_command(layers.bubblewrap, command)
        self.process = subprocess.Popen(
            command,
            pass_fds=(theirs.fileno(),),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=environment(),
            start_new_session=True,
        )
        theirs.close()
        self._unanswered = 0
        self.control = ours
        self.control.settimeout(START_TIMEOUT)
        ready = self._receive()
        self.seccomp = bool(ready.get("seccomp"))
        self.control.settimeout(CONTROL_TIMEOUT)

    @property
    def level(self) -> str:
        return ("namespaces" if self.layers.bubblewrap else "process") + ("+seccomp" if self.seccomp else "")

    def fork(self, limits: dict[str, int], fds: list[int]) -> int:
        """A new child serving the given (requests, replies, output) fds; its pid."""
        message = {"op": "fork", "limits": limits, "env": environment()}
        try:
            socket.send_fds(self.control, [json.dumps(message).encode()], fds)
        except OSError as exc:
            raise ZygoteDied(str(exc)) from None
        return int(self._receive()["pid"])

    def end(self, pid: int, *, wait: bool) -> int | None:
        """Kill the child and everything it started; with ``wait``, its wait status if it had
        exited by itself. Without ``wait`` the zygote cleans up while the grader goes on: the
        zygote handles messages in order, so the next fork still comes after the cleanup."""
        try:
            self.control.send(json.dumps({"op": "end", "pid": pid, "wait": wait}).encode())
        except OSError as exc:
            raise ZygoteDied(str(exc)) from None
        if not wait:
            self._unanswered += 1
            return None
        status = self._receive().get("status")
        return status if type(status) is int else None

    def alive(self) -> bool:
        return self.process.poll() is None

    def close(self) -> None:
        self.control.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, 9)
            self.process.wait()

    def _receive(self) -> dict[str, Any]:
        while self._unanswered:  # the replies to ends that were not waited for come first
            self._unanswered -= 1
            self._receive()
        try:
            data = self.control.recv(1 << 16)
        except (OSError, TimeoutError) as exc:
            raise ZygoteDied(str(exc)) from None
        if not data:
            raise ZygoteDied("the zygote closed its control channel")
        return dict(json.loads(data))


@functools.cache
def bootstrap() -> str:
    """The program of ``python -I -c`` that runs the zygote: it holds the sources of
    ``grader.sandbox.inside``, runs them as the in-memory package ``inside`` (the sandbox
    cannot see the grader's files, and imports nothing named ``grader``), then calls
    ``inside.zygote.main`` with the control fd and namespace kind. Read on first use."""
    package = resources.files("grader.sandbox.inside")
    sources = tuple((name, package.joinpath(f"{name}.py").read_text(encoding="utf-8")) for name in INSIDE_MODULES)
    return _BOOTSTRAP.replace("SOURCES", repr(sources), 1)


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


def acquire() -> Zygote:
    """This process's zygote, started or restarted as needed. Hold ``lock()`` while using it."""
    global _zygote
    if _zygote is not None and not _zygote.alive():
        _zygote.close()
        _zygote = None
    if _zygote is None:
        _zygote = Zygote(detect())
    return _zygote


def discard() -> None:
    """Forget the zygote after it failed; the next ``acquire`` starts a new one."""
    global _zygote
    if _zygote is not None:
        zygote, _zygote = _zygote, None
        try:
            os.killpg(zygote.process.pid, 9)
        except ProcessLookupError:
            pass
        zygote.close()


def lock() -> threading.Lock:
    return _lock


@atexit.register
def _shutdown() -> None:
    if _zygote is not None:
        _zygote.close()
