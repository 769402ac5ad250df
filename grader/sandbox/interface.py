"""The types both sides of the sandbox boundary agree on: what to run, under which limits, and
what came back.

The rest of the grader (loading, rubrics, checks) imports these from here, not from
``process``, so that describing a program or reading an outcome never pulls in the machinery
that runs one. Standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol


class RunStatus(StrEnum):
    """How loading a submission, or one call of a function, ended. Members are strings:
    ``outcome.status == "ok"`` holds, and they serialize (JSON, SQL) as their plain value."""

    OK = "ok"
    ERROR = "error"
    TIMEOUT = "timeout"
    MEMORY = "memory"
    CRASHED = "crashed"


@dataclass(frozen=True)
class Limits:
    load_timeout: float = 10.0
    call_timeout: float = 5.0
    #: wall-clock seconds for everything a submission runs (loads and calls), from its first
    #: load: staying just under every other limit must not hold a worker for minutes
    total_timeout: float = 60.0
    memory_mb: int = 1024
    cpu_seconds: int = 300
    file_mb: int = 16
    #: processes a submission may run, itself included: 1 (no fork, threads allowed) makes the
    #: memory cap, a limit per process, a limit per submission
    processes: int = 1
    #: threads a submission may run beside its processes (its cgroup's pids.max, and RLIMIT_NPROC,
    #: count both)
    threads: int = 64
    #: an answer to this assignment is kilobytes; a larger reply is refused unread
    max_reply_mb: int = 4

    def for_child(self) -> dict[str, int]:
        """The rlimits the zygote sets on a child."""
        return {
            "memory_mb": self.memory_mb,
            "cpu_seconds": self.cpu_seconds,
            "file_mb": self.file_mb,
            "processes": self.processes,
            "threads": self.threads,
        }


@dataclass(frozen=True)
class Cell:
    filename: str
    source: str


@dataclass(frozen=True)
class Imports:
    """What a submission may import besides the standard library (``grader.environment``)."""

    #: the distributions, as messages name them: numpy and the rubric's declared packages
    packages: tuple[str, ...] = ("numpy",)
    #: the top-level modules they and their requirements install: the child refuses any other
    #: top-level module that is not the standard library's
    modules: tuple[str, ...] = ("numpy",)
    #: the files and directories those modules are read from, which the Landlock path must let
    #: the child read (numpy's it always may)
    paths: tuple[str, ...] = ()
    #: modules of those the zygote imports before it forks (``[environment] preload``)
    preload: tuple[str, ...] = ()


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
    #: what it may import beyond the standard library
    imports: Imports = Imports()


@dataclass(frozen=True)
class LoadReport:
    #: a plain string is accepted and stored as its RunStatus (ValueError for any other value)
    status: RunStatus
    message: str
    warnings: tuple[str, ...] = ()
    functions: dict[str, str] = field(default_factory=dict)  # name -> ok | missing | not callable

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", RunStatus(self.status))


@dataclass(frozen=True)
class Handle:
    """An argument standing for a value the sandbox kept (``Sandbox.run``'s ``keep``): a forward
    pass's cache, which never crosses the boundary."""

    name: str


@dataclass(frozen=True)
class Outcome:
    #: a plain string is accepted and stored as its RunStatus (ValueError for any other value)
    status: RunStatus
    value: Any = None
    error: str = ""
    seconds: float = 0.0
    mutated: tuple[str, ...] = ()
    inner_calls: dict[str, int] = field(default_factory=dict)
    #: the arguments the function is meant to update in place (``run``'s ``updates``), after the
    #: call, exported like its return value
    updated: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", RunStatus(self.status))


@dataclass(frozen=True)
class Timed:
    """One call measured by the grader (``Sandbox.timed``), not by the child.

    ``cost`` is the CPU time the child spent on the call, every thread included, as the kernel
    accounts it (read through the zygote; the wall time where that cannot be read, or where the
    submission may run other processes). ``stopped`` says why there is no outcome: ``budget``
    (the call was stopped once it had cost the budget) or ``deadline`` (it ran out of wall time).
    """

    outcome: Outcome | None
    cost: float
    wall: float
    stopped: str = ""


class Runner(Protocol):
    """What the checks call a submission's functions through: a ``process.Sandbox``, or
    ``authoring.TrustedSandbox`` for an assignment's self-test."""

    def run(
        self,
        function: str,
        names: list[str],
        calls: list[list[Any]],
        *,
        opaque: int | None = None,
        keep: list[str | None] | None = None,
        updates: tuple[str, ...] = (),
    ) -> list[Outcome]: ...

    def timed(self, function: str, names: list[str], args: list[Any], *, budget: float, deadline: float) -> Timed: ...
