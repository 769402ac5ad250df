"""A submission's code running in a child process, answering calls with plain numbers.

The grader never executes student code itself. A ``Sandbox`` has the zygote fork a child
(see ``zygote_control``; isolation layers in ``isolation``) with an empty environment, resource
limits, its own process group and a private scratch directory, sends it the submission's
source, and asks it to call functions. Every call has a
wall-clock limit; a function that hangs or kills its process costs only its own calls: the
child is restarted for the others, and the failed function is not run again.

What a sandbox is given and gives back (``Program``, ``Limits``, ``LoadReport``, ``Outcome``)
is defined in ``interface``.
"""

from __future__ import annotations

import logging
import os
import select
import shutil
import signal
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeGuard

import numpy as np

from grader.leases import output_folder
from grader.sandbox import zygote_control
from grader.sandbox.inside import wire
from grader.sandbox.interface import Handle, Limits, LoadReport, Outcome, Program, RunStatus, Timed

log = logging.getLogger(__name__)

DEFAULT_LIMITS = Limits()

OUTPUT_CAP = 64 * 1024
#: pieces of top-level code (cells, statements) that may be skipped for running too long before
#: the whole load counts as timed out
MAX_SKIPS = 2
#: how often a timed call's CPU time is read while it runs (seconds)
CPU_POLL = 0.02


class Sandbox:
    """One submission's child process, forked by this process's zygote. Use as a context
    manager: the zygote serves one sandbox at a time, from the first load until close."""

    def __init__(self, program: Program, functions: list[str], limits: Limits = DEFAULT_LIMITS) -> None:
        self.program = program
        self.functions = list(functions)
        self.limits = limits
        self._outdir = output_folder()  # named after this process: a killed grader's are swept
        self._output = self._outdir / "output"
        self._zygote: zygote_control.Zygote | None = None
        self._pid: int | None = None
        self._locked = False
        self.isolation = ""
        self._requests = self._replies = -1
        self._reader: wire.Reader | None = None  # the frames of _replies
        self._dead: dict[str, Outcome] = {}
        self._report: LoadReport | None = None
        self._skip: list[int] = []
        self._end: float | None = None  # when the total time runs out (time.monotonic)
        self._oom_kills = 0
        self._cells: tuple[list[dict[str, Any]], np.ndarray] | None = None  # the program as it crosses

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def load(self) -> LoadReport:
        """Start the child and run the submission's top level; the first report is kept.

        A cell or statement that runs past the load limit, or ends the process, is skipped (with
        a warning) and the load starts again without it, up to MAX_SKIPS times: a notebook's long
        training cell or a stray ``exit()`` must not cost the functions defined around it.
        """
        notes: list[str] = []
        while True:
            report, running = self._start()
            if report.status not in (RunStatus.TIMEOUT, RunStatus.CRASHED) or running is None or len(self._skip) >= MAX_SKIPS:
                break
            if self.out_of_time:
                break
            self._skip.append(running[0])
            what = f"ran for more than {self.limits.load_timeout:g} s" if report.status == RunStatus.TIMEOUT else "ended the process"
            notes.append(f"{running[1]} {what} and was skipped")
        report = replace(report, warnings=tuple(notes) + report.warnings)
        if self._report is None:
            self._report = report
        return report

    def run(
        self,
        function: str,
        names: list[str],
        calls: list[list[Any]],
        *,
        opaque: int | None = None,
        keep: list[str | None] | None = None,
        updates: tuple[str, ...] = (),
    ) -> list[Outcome]:
        """Call ``function`` once per argument list; one Outcome per call, in order.

        ``opaque``: the index of an element of the returned tuple that stays in the child (a
        cache), kept under ``keep[i]`` for call i when that is not None; a ``Handle`` argument
        stands for a kept value. ``updates``: arguments whose values after the call come back
        in ``Outcome.updated``. A restarted child has kept nothing: a call given a handle it
        lost is an error outcome."""
        if function in self._dead:
            return [self._dead[function]] * len(calls)
        if self.out_of_time:
            return [Outcome(RunStatus.TIMEOUT, error=f"{self._spent()}; {function} was not run")] * len(calls)
        if self._pid is None:
            report, _ = self._start()
            if report.status != RunStatus.OK:
                return [Outcome(report.status, error=f"the submission could not be reloaded: {report.message}")] * len(calls)
        outcomes: list[Outcome] = []
        try:
            request = {
                "function": function,
                "names": names,
                "calls": [[{"__handle__": a.name} if isinstance(a, Handle) else a for a in args] for args in calls],
                "opaque": opaque,
                "keep": keep,
                "updates": list(updates),
            }
            self._send(request, self._deadline(self.limits.call_timeout))
            for _ in calls:
                outcomes.append(_outcome(self._receive(self._deadline(self.limits.call_timeout), _reply_form)))
        except wire.Timeout:
            self._stop()
            if self.out_of_time:  # the calls left are not run either
                failed = Outcome(RunStatus.TIMEOUT, error=f"{self._spent()}; {function} was stopped")
            else:
                failed = Outcome(RunStatus.TIMEOUT, error=f"{function} did not return within {self.limits.call_timeout:g} s and was stopped")
                self._dead[function] = failed
        except (wire.Closed, OSError):
            pid, reason = self._pid, self._exit_reason()
            log.warning("child %s: %s ended its process (%s)", pid, function, reason)
            failed = Outcome(RunStatus.CRASHED, error=f"{function} ended its process ({reason})")
            self._stop()
            self._dead[function] = failed
        except wire.WireError as exc:
            log.warning("child %s: %s broke the protocol (%s)", self._pid, function, exc)
            self._stop()
            failed = Outcome(RunStatus.CRASHED, error=f"{function} broke the protocol ({exc})")
            self._dead[function] = failed
        else:
            return outcomes
        return outcomes + [failed] * (len(calls) - len(outcomes))

    def timed(self, function: str, names: list[str], args: list[Any], *, budget: float, deadline: float) -> Timed:
        """Call ``function`` once and measure what it cost, from outside the child: the CPU time
        the kernel accounts to the child (read by the zygote, every thread included) over the
        call, or the wall time where that cannot be read (or the rubric lets the submission run
        other processes, whose CPU time the child's does not include). The call is stopped once
        it has cost ``budget`` seconds, or run ``deadline`` seconds of wall time. A timed call
        is the grader's probe, not one of the rubric's calls: it runs even if the function hung
        or crashed before (its own limits bound it), a stopped call does not mark the function
        as dead, and the next call starts a new child."""
        if self._pid is None:
            report, _ = self._start()
            if report.status != RunStatus.OK:
                return Timed(Outcome(report.status, error=f"the submission could not be reloaded: {report.message}"), 0.0, 0.0)
        start_cpu = self._cpu()
        start = time.monotonic()

        def cost() -> float:
            wall = time.monotonic() - start
            now = self._cpu()
            if start_cpu is None or now is None:
                return wall
            return max(now - start_cpu, wall) if self.limits.processes > 1 else now - start_cpu

        try:
            self._send({"function": function, "names": names, "calls": [[{"__handle__": a.name} if isinstance(a, Handle) else a for a in args]]}, start + deadline)
            while not (self._reader and self._reader.pending) and not select.select([self._replies], [], [], CPU_POLL)[0]:
                spent = cost()
                if spent >= budget or time.monotonic() - start >= deadline:
                    self._stop()
                    return Timed(None, spent, time.monotonic() - start, "budget" if spent >= budget else "deadline")
            outcome = _outcome(self._receive(start + deadline, _reply_form))
        except wire.Timeout:
            spent = cost()
            self._stop()
            return Timed(None, spent, time.monotonic() - start, "budget" if spent >= budget else "deadline")
        except (wire.Closed, OSError):
            spent, reason = time.monotonic() - start, self._exit_reason()
            self._stop()
            return Timed(Outcome(RunStatus.CRASHED, error=f"{function} ended its process ({reason})"), spent, spent)
        except wire.WireError as exc:
            spent = time.monotonic() - start
            self._stop()
            return Timed(Outcome(RunStatus.CRASHED, error=f"{function} broke the protocol ({exc})"), spent, spent)
        return Timed(outcome, cost(), time.monotonic() - start)

    @property
    def out_of_time(self) -> bool:
        """Whether the submission has used its total time (``Limits.total_timeout``): nothing of
        it runs any more, and every call left is a timeout."""
        return self._end is not None and time.monotonic() >= self._end

    def _deadline(self, seconds: float) -> float:
        """``seconds`` from now, or sooner if the total time ends sooner; the first deadline
        starts the total time."""
        now = time.monotonic()
        if self._end is None:
            self._end = now + self.limits.total_timeout
        return min(now + seconds, self._end)

    def _spent(self) -> str:
        return f"the submission used its total time of {self.limits.total_timeout:g} s"

    @property
    def output(self) -> str:
        """What the submission printed: at most OUTPUT_CAP bytes once encoded as UTF-8, with
        undecodable bytes and NUL (which PostgreSQL text cannot hold) as U+FFFD. Each of those
        takes 3 bytes, so the text is cut again after replacing them."""
        try:
            with open(self._output, "rb") as f:
                text = f.read(OUTPUT_CAP).decode("utf-8", "replace").replace("\x00", "\ufffd")
        except OSError:
            return ""
        return text.encode()[:OUTPUT_CAP].decode("utf-8", "ignore")

    def close(self) -> None:
        self._stop()
        if self._locked:
            zygote_control.lock().release()
            self._locked = False
        shutil.rmtree(self._outdir, ignore_errors=True)

    # -- the child process -------------------------------------------------------------

    def _start(self) -> tuple[LoadReport, tuple[int, str] | None]:
        """Start a child and load the program; also which piece was running when it stopped."""
        self._stop()
        if not self._locked:
            zygote_control.lock().acquire()
            self._locked = True
        req_read, self._requests = os.pipe()
        self._replies, rep_write = os.pipe()
        output = os.open(self._output, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            self._pid = self._fork([req_read, rep_write, output])
        except zygote_control.ZygoteDied as exc:
            log.warning("the sandbox could not be started (%s)", exc)
            self._stop()
            return LoadReport(RunStatus.CRASHED, f"the sandbox could not be started ({exc})"), None
        finally:
            for fd in (req_read, rep_write, output):
                os.close(fd)
        deadline = self._deadline(self.limits.load_timeout)
        running = None
        if self._cells is None:
            self._cells = _cells(self.program)
        cells, source = self._cells
        try:
            program = {
                "module": self.program.module,
                "strict_syntax": self.program.strict_syntax,
                "by_statement": self.program.by_statement,
                "skip": self._skip,
                "cells": cells,
                "source": source,
                "functions": self.functions,
                "imports": {"modules": list(self.program.imports.modules), "packages": list(self.program.imports.packages)},
            }
            self._send(program, deadline)
            while True:
                reply = self._receive(deadline, _load_form, max_bytes=0)
                if "running" not in reply:
                    break
                running = (reply["running"], reply["label"][:200])
        except wire.Timeout:
            self._stop()
            where = f" ({running[1]} was running)" if running else ""
            if self.out_of_time:
                return LoadReport(RunStatus.TIMEOUT, f"{self._spent()} while loading{where}"), running
            return LoadReport(RunStatus.TIMEOUT, f"loading the submission took longer than {self.limits.load_timeout:g} s{where}"), running
        except (wire.Closed, OSError):
            pid, reason = self._pid, self._exit_reason()
            self._stop()
            where = f"; {running[1]} was running" if running else ""
            log.warning("child %s ended its process while loading (%s%s)", pid, reason, where)
            return LoadReport(RunStatus.CRASHED, f"the submission ended its process while loading ({reason}{where})"), running
        except wire.WireError as exc:
            log.warning("child %s broke the protocol while loading (%s)", self._pid, exc)
            self._stop()
            return LoadReport(RunStatus.CRASHED, f"the submission broke the protocol while loading ({exc})"), running
        return _load_report(reply, self.functions), None

    def _send(self, body: Any, deadline: float | None = None) -> None:
        data = memoryview(wire.encode(body))
        while data:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not select.select([], [self._requests], [], left)[1]:
                raise wire.Timeout()
            data = data[os.write(self._requests, data[: 1 << 16]) :]

    def _receive(self, deadline: float, form: Callable[[Any], None], max_bytes: int | None = None) -> Any:
        """The next frame, refused unless its body has ``form``; checked before its arrays are
        read (see ``wire.read_frame``)."""
        limit = self.limits.max_reply_mb << 20 if max_bytes is None else max_bytes
        if self._reader is None:  # a new child's pipe
            self._reader = wire.Reader(self._replies)
        return wire.read_frame(self._reader, deadline=deadline, max_bytes=limit, form=form)

    def _cpu(self) -> float | None:
        """The child's CPU time so far, as the zygote reads it; None if it cannot be read."""
        if self._pid is None or self._zygote is None:
            return None
        try:
            return self._zygote.cpu(self._pid)
        except zygote_control.ZygoteDied as exc:
            zygote_control.discard(str(exc))
            self._zygote = None
            return None

    def _fork(self, fds: list[int]) -> int:
        for attempt in range(2):  # a submission may have killed the zygote: start a new one once
            try:
                self._zygote = zygote_control.acquire()
                self.isolation = self._zygote.level
                self._oom_kills = self._zygote.oom_kills()
                return self._zygote.fork(self.limits.for_child(), fds, reads=self.program.imports.paths, preload=self.program.imports.preload)
            except zygote_control.ZygoteDied as exc:
                zygote_control.discard(str(exc))
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def _stop(self) -> None:
        """Kill the child and all it started."""
        if self._pid is not None and self._zygote is not None:
            try:
                self._zygote.end(self._pid, wait=False)
            except zygote_control.ZygoteDied as exc:
                zygote_control.discard(str(exc))
        self._pid = None
        for fd in (self._requests, self._replies):
            if fd >= 0:
                os.close(fd)
        self._requests = self._replies = -1
        self._reader = None

    def _exit_reason(self) -> str:
        """Why the child stopped answering; ends it."""
        if self._pid is None or self._zygote is None:
            return "it is not running"
        pid, self._pid = self._pid, None
        try:
            status = self._zygote.end(pid, wait=True)
        except zygote_control.ZygoteDied as exc:
            zygote_control.discard(str(exc))
            return "it killed the sandbox"
        if status is None:
            return "it closed its connection to the grader"
        if os.WIFSIGNALED(status):
            number = os.WTERMSIG(status)
            name = signal.Signals(number).name if number in signal.valid_signals() else str(number)
            if number == signal.SIGKILL and self._zygote.oom_kills() > self._oom_kills:
                return f"killed by signal {name} for holding more than its {self.limits.memory_mb} MiB of memory"
            return f"killed by signal {name}"
        return f"exit code {os.waitstatus_to_exitcode(status)}"


def _cells(program: Program) -> tuple[list[dict[str, Any]], np.ndarray]:
    """How ``program``'s cells cross to the child (``child.read_program``): each one's name and
    size in the frame's header, and all their text, in UTF-8, in one raw buffer beside it. A
    header is at most ``wire.MAX_HEADER`` bytes: text inside it would cap a program at ~1 MiB."""
    texts = [cell.source.encode("utf-8", "surrogatepass") for cell in program.cells]
    cells = [{"filename": cell.filename, "size": len(text)} for cell, text in zip(program.cells, texts, strict=True)]
    return cells, np.frombuffer(b"".join(texts), dtype=np.uint8)


# -- the forms of the child's frames, checked before their arrays are read ------------------
#
# A forged frame may hold any JSON; the grader accepts only the forms the child sends, with every
# field of its type and arrays only where an answer's arrays go.

#: the keys of a reply to a call (child.call)
REPLY_KEYS = frozenset({"status", "value", "error", "seconds", "mutated", "inner_calls", "updated"})
#: the keys of a load report (child.serve)
REPORT_KEYS = frozenset({"warnings", "functions", "error"})


def _reply_form(body: Any) -> None:
    """A reply to one call: raise WireError unless it is what ``child.call`` sends."""
    if type(body) is not dict or set(body) != REPLY_KEYS:
        raise wire.WireError("a reply without exactly the keys of a reply")
    if body["status"] not in (RunStatus.OK, RunStatus.ERROR, RunStatus.MEMORY) or type(body["status"]) is not str:
        raise wire.WireError("a reply without a valid status")
    if not _exported(body["value"]):
        raise wire.WireError("a reply whose value is not an answer as the sandbox exports it")
    if type(body["error"]) is not str:
        raise wire.WireError("a reply whose error is not a string")
    if not (_plain_number(body["seconds"]) and 0 <= body["seconds"] < 1e9):
        raise wire.WireError("a reply whose seconds are not a plain number of seconds")
    if not _strings(body["mutated"]):
        raise wire.WireError("a reply whose mutated names are not a list of strings")
    inner = body["inner_calls"]
    if type(inner) is not dict or not all(type(n) is int and n >= 0 for n in inner.values()):
        raise wire.WireError("a reply whose inner calls are not counts")
    updated = body["updated"]
    if type(updated) is not dict or len(updated) > MAX_UPDATED or not all(_exported(v) for v in updated.values()):
        raise wire.WireError("a reply whose updated arguments are not answers as the sandbox exports them")


def _load_form(body: Any) -> None:
    """A frame while loading: progress ``{"running", "label"}`` or the report; no arrays."""
    if type(body) is not dict:
        raise wire.WireError("a frame that is not an object while loading")
    if "running" in body:
        if set(body) != {"running", "label"} or type(body["running"]) is not int or type(body["label"]) is not str:
            raise wire.WireError("a progress frame that is not an index and a label")
        return
    if set(body) != REPORT_KEYS:
        raise wire.WireError("a load report without exactly the keys of a report")
    functions, error = body["functions"], body["error"]
    if not _strings(body["warnings"]) or type(functions) is not dict or not all(type(v) is str for v in functions.values()):
        raise wire.WireError("a load report whose warnings or functions are not strings")
    if error is not None and type(error) is not str:
        raise wire.WireError("a load report whose error is not a string")


#: the most arguments a reply may say were updated, and elements a returned tuple may have
MAX_UPDATED = 16
MAX_TUPLE = 16


def _exported(value: Any, depth: int = 0) -> bool:
    """Whether ``value`` has a form the child's ``export`` gives: None (no answer),
    ``{"array": <array>}``, ``{"unsupported": str}``, ``{"kept": true}`` (a value left in the
    child), ``{"dict": {str: <one of these>}}`` or ``{"tuple": [<one of these>, ...]}``, where an
    array is still its description (``wire`` checks the description itself)."""
    if value is None:
        return True
    if type(value) is not dict or len(value) != 1 or depth > wire.MAX_DEPTH:
        return False
    [(kind, inner)] = value.items()
    if kind == "array":
        return type(inner) is dict and "__nd__" in inner
    if kind == "unsupported":
        return type(inner) is str
    if kind == "kept":
        return inner is True
    if kind == "tuple":
        return type(inner) is list and len(inner) <= MAX_TUPLE and all(_exported(v, depth + 1) for v in inner)
    return kind == "dict" and type(inner) is dict and "__nd__" not in inner and all(_exported(v, depth + 1) for v in inner.values())


def _strings(value: Any) -> bool:
    return type(value) is list and all(type(v) is str for v in value)


def _plain_number(value: Any) -> TypeGuard[int | float]:
    """An int or a float, not a bool (nor any other subclass)."""
    return type(value) in (int, float)


def _outcome(reply: dict[str, Any]) -> Outcome:
    """The Outcome of a reply of ``_reply_form``, its arrays decoded."""
    return Outcome(
        status=RunStatus(reply["status"]),
        value=reply["value"],
        error=reply["error"][:500],
        seconds=float(reply["seconds"]),
        mutated=tuple(m[:100] for m in reply["mutated"][:20]),
        inner_calls=dict(reply["inner_calls"]),
        updated=dict(reply["updated"]),
    )


def _load_report(reply: Any, functions: list[str]) -> LoadReport:
    if type(reply) is not dict:
        return LoadReport(RunStatus.CRASHED, "the submission broke the protocol while loading")
    warnings = reply.get("warnings")
    warnings = tuple(str(w)[:500] for w in warnings[:50]) if type(warnings) is list else ()
    error = reply.get("error")
    if error:
        return LoadReport(RunStatus.ERROR, str(error)[:500], warnings)
    states = reply.get("functions")
    states = states if type(states) is dict else {}
    return LoadReport(
        RunStatus.OK,
        "",
        warnings,
        {name: str(states.get(name, "missing")) for name in functions},
    )
