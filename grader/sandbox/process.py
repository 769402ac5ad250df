"""A submission's code running in a child process, answering calls with plain numbers.

The grader never executes student code itself. A ``Sandbox`` starts a fresh Python child with
an empty environment, resource limits, its own process group and a private scratch
directory, sends it the submission's source, and asks it to call functions. Every call has a
wall-clock limit; a function that hangs or kills its process costs only its own calls: the
child is restarted for the others, and the failed function is not run again.
"""

from __future__ import annotations

import os
import resource
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from grader.sandbox import wire

_HERE = Path(__file__).parent
#: wire.py defines the frame format for both sides; child.py is the child's main loop.
CHILD_SOURCE = (_HERE / "wire.py").read_text() + "\n" + (_HERE / "child.py").read_text()
OUTPUT_CAP = 64 * 1024
#: pieces of top-level code (cells, statements) that may be skipped for running too long before
#: the whole load counts as timed out
MAX_SKIPS = 2
#: Environment variables passed through: OpenBLAS needs these on some processors to compute
#: correct results at all.
_PASSED_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


@dataclass(frozen=True)
class Limits:
    load_timeout: float = 10.0
    call_timeout: float = 5.0
    memory_mb: int = 1024
    cpu_seconds: int = 300
    file_mb: int = 16
    max_reply_mb: int = 64


@dataclass(frozen=True)
class Cell:
    filename: str
    source: str


@dataclass(frozen=True)
class Program:
    """What the child runs: cells in order, as one module."""

    cells: tuple[Cell, ...]
    module: str = "submission"
    #: a .py file that does not compile is a load error; a notebook cell that does not is a warning
    strict_syntax: bool = True
    #: run a .py file statement by statement (a notebook runs cell by cell), so that a top-level
    #: statement that raises or hangs costs only itself
    by_statement: bool = True


@dataclass(frozen=True)
class LoadReport:
    status: str  # ok | error | timeout | memory | crashed
    message: str
    warnings: tuple[str, ...] = ()
    functions: dict[str, str] = field(default_factory=dict)  # name -> ok | missing | not callable


@dataclass(frozen=True)
class Outcome:
    status: str  # ok | error | timeout | memory | crashed
    value: Any = None
    error: str = ""
    seconds: float = 0.0
    mutated: tuple[str, ...] = ()
    inner_calls: dict[str, int] = field(default_factory=dict)


class Sandbox:
    """One submission's child process. Use as a context manager."""

    def __init__(self, program: Program, functions: list[str], limits: Limits = Limits()) -> None:
        self.program = program
        self.functions = list(functions)
        self.limits = limits
        self.scratch = Path(tempfile.mkdtemp(prefix="grader-"))
        self._output = self.scratch / ".output"
        self._proc: subprocess.Popen[bytes] | None = None
        self._requests = self._replies = -1
        self._dead: dict[str, Outcome] = {}
        self._report: LoadReport | None = None
        self._skip: list[int] = []

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def load(self) -> LoadReport:
        """Start the child and run the submission's top level; the first report is kept.

        A cell or statement that runs past the load limit is skipped (with a warning) and the
        load starts again without it, up to MAX_SKIPS times: a notebook's long training cell
        must not cost the functions defined around it.
        """
        notes: list[str] = []
        while True:
            report, running = self._start()
            if report.status != "timeout" or running is None or len(self._skip) >= MAX_SKIPS:
                break
            self._skip.append(running[0])
            notes.append(f"{running[1]} ran for more than {self.limits.load_timeout:g} s and was skipped")
        report = replace(report, warnings=tuple(notes) + report.warnings)
        if self._report is None:
            self._report = report
        return report

    def run(self, function: str, names: list[str], calls: list[list[Any]]) -> list[Outcome]:
        """Call ``function`` once per argument list; one Outcome per call, in order."""
        if function in self._dead:
            return [self._dead[function]] * len(calls)
        if self._proc is None:
            report, _ = self._start()
            if report.status != "ok":
                return [Outcome(report.status, error=f"the submission could not be reloaded: {report.message}")] * len(calls)
        outcomes: list[Outcome] = []
        try:
            self._send({"function": function, "names": names, "calls": calls})
            for _ in calls:
                deadline = time.monotonic() + self.limits.call_timeout
                outcomes.append(self._outcome(self._receive(deadline)))
        except wire.Timeout:
            self._stop()
            failed = Outcome("timeout", error=f"{function} did not return within {self.limits.call_timeout:g} s and was stopped")
            self._dead[function] = failed
        except (wire.Closed, OSError):
            failed = Outcome("crashed", error=f"{function} ended its process ({self._exit_reason()})")
            self._stop()
            self._dead[function] = failed
        except wire.WireError as exc:
            self._stop()
            failed = Outcome("crashed", error=f"{function} broke the protocol ({exc})")
            self._dead[function] = failed
        else:
            return outcomes
        return outcomes + [failed] * (len(calls) - len(outcomes))

    @property
    def output(self) -> str:
        """What the submission printed (first OUTPUT_CAP bytes)."""
        try:
            with open(self._output, "rb") as f:
                return f.read(OUTPUT_CAP).decode("utf-8", "replace")
        except OSError:
            return ""

    def close(self) -> None:
        self._stop()
        shutil.rmtree(self.scratch, ignore_errors=True)

    # -- the child process -------------------------------------------------------------

    def _start(self) -> tuple[LoadReport, tuple[int, str] | None]:
        """Start a child and load the program; also which piece was running when it stopped."""
        self._stop()
        req_read, self._requests = os.pipe()
        self._replies, rep_write = os.pipe()
        out = open(self._output, "ab")
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-I", "-c", CHILD_SOURCE, str(req_read), str(rep_write)],
                pass_fds=(req_read, rep_write),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.scratch,
                env=self._environment(),
                start_new_session=True,
                preexec_fn=self._set_limits,
            )
        finally:
            os.close(req_read)
            os.close(rep_write)
            out.close()
        deadline = time.monotonic() + self.limits.load_timeout
        running = None
        try:
            program = {
                "module": self.program.module,
                "strict_syntax": self.program.strict_syntax,
                "by_statement": self.program.by_statement,
                "skip": self._skip,
                "cells": [{"filename": c.filename, "source": c.source} for c in self.program.cells],
                "functions": self.functions,
            }
            self._send(program, deadline)
            while True:
                reply = self._receive(deadline)
                if type(reply) is not dict or "running" not in reply:
                    break
                if type(reply["running"]) is not int:
                    raise wire.WireError("a progress frame without an index")
                running = (reply["running"], str(reply.get("label", ""))[:200])
        except wire.Timeout:
            self._stop()
            where = f" ({running[1]} was running)" if running else ""
            return LoadReport("timeout", f"loading the submission took longer than {self.limits.load_timeout:g} s{where}"), running
        except (wire.Closed, OSError):
            reason = self._exit_reason()
            self._stop()
            return LoadReport("crashed", f"the submission ended its process while loading ({reason})"), None
        except wire.WireError as exc:
            self._stop()
            return LoadReport("crashed", f"the submission broke the protocol while loading ({exc})"), None
        return _load_report(reply, self.functions), None

    def _send(self, body: Any, deadline: float | None = None) -> None:
        data = memoryview(wire.encode(body))
        while data:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not select.select([], [self._requests], [], left)[1]:
                raise wire.Timeout()
            data = data[os.write(self._requests, data[: 1 << 16]) :]

    def _receive(self, deadline: float) -> Any:
        return wire.read_frame(self._replies, deadline=deadline, max_bytes=self.limits.max_reply_mb << 20)

    def _outcome(self, reply: Any) -> Outcome:
        if type(reply) is not dict or reply.get("status") not in ("ok", "error", "memory"):
            raise wire.WireError("a reply without a valid status")
        seconds = reply.get("seconds")
        mutated = reply.get("mutated")
        inner = reply.get("inner_calls")
        return Outcome(
            status=reply["status"],
            value=reply.get("value"),
            error=str(reply.get("error", ""))[:500],
            seconds=float(seconds) if type(seconds) in (int, float) else 0.0,
            mutated=tuple(str(m)[:100] for m in mutated[:20]) if type(mutated) is list else (),
            inner_calls={str(k): v for k, v in inner.items() if type(v) is int} if type(inner) is dict else {},
        )

    def _stop(self) -> None:
        if self._proc is not None:
            try:
                os.killpg(self._proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self._proc.wait()
            self._proc = None
        for fd in (self._requests, self._replies):
            if fd >= 0:
                os.close(fd)
        self._requests = self._replies = -1

    def _exit_reason(self) -> str:
        if self._proc is None:
            return "it is not running"
        try:
            code = self._proc.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            return "it closed its connection to the grader"
        if code < 0:
            return f"killed by signal {signal.Signals(-code).name}"
        return f"exit code {code}"

    def _environment(self) -> dict[str, str]:
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(self.scratch),
            "LANG": "C.UTF-8",
            "OPENBLAS_NUM_THREADS": "1",
            "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1",
        }
        env.update({k: os.environ[k] for k in _PASSED_ENV if k in os.environ})
        return env

    def _set_limits(self) -> None:
        # Runs in the child between fork and exec.
        limits = self.limits
        memory = limits.memory_mb << 20
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 5))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_mb << 20, limits.file_mb << 20))
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _load_report(reply: Any, functions: list[str]) -> LoadReport:
    if type(reply) is not dict:
        return LoadReport("crashed", "the submission broke the protocol while loading")
    warnings = reply.get("warnings")
    warnings = tuple(str(w)[:500] for w in warnings[:50]) if type(warnings) is list else ()
    error = reply.get("error")
    if error:
        return LoadReport("error", str(error)[:500], warnings)
    states = reply.get("functions")
    states = states if type(states) is dict else {}
    return LoadReport(
        "ok",
        "",
        warnings,
        {name: str(states.get(name, "missing")) for name in functions},
    )
