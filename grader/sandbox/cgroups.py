"""A cgroup per zygote: caps on the memory and the tasks of all a submission runs and holds.

RLIMIT_AS caps one process's address space. Memory a submission holds without mapping it (memfd
or tmpfs pages written with write(), pipe buffers, fds parked in a UNIX socket) and kernel memory
are outside it, and RLIMIT_NPROC does not bind a sandbox whose uid is root outside its user
namespace, so threads were limited only by the address space their stacks take. A cgroup counts
all of it: the memory controller charges every page a task's allocations and writes bring in
(shmem and kernel memory included) to the task's cgroup, and the pids controller counts threads.

Where this process may make cgroups with the memory and pids controllers, each zygote gets a
leaf, so that every limit above it still holds: in cgroup v2, under this process's cgroup, or
(since a cgroup that holds processes may not enable controllers for its children) under the one
above it, as a systemd service with ``Delegate=yes`` and ``DelegateSubgroup=grader`` has it;
else in the v1 memory and pids hierarchies, under this process's cgroups (root may). The grader
opens the leaf's ``cgroup.procs`` files and passes them to the zygote, which writes each child's
pid there right after forking it, before the child has its program; the zygote itself stays
outside, so that the caps are the submission's alone. Before each fork the grader checks that
the leaf is empty (killing what a submission left there when the zygote has no PID namespace to
do it) and sets its caps: memory = the rubric's ``memory_mb`` (swap none), tasks = its processes
and threads. Over the memory cap the kernel's OOM killer ends the child; over the task cap
clone() fails with EAGAIN.

Where no such cgroup can be made, ``detect`` says why; the zygote then counts a submission's
tasks itself (``inside.zygote.watch``), and what remains is in the README.
"""

from __future__ import annotations

import errno
import functools
import itertools
import logging
import os
import signal
import time
from dataclasses import dataclass

log = logging.getLogger(__name__)

#: how long a leaf's leftover tasks may take to end, and its removal to succeed
SETTLE_SECONDS = 2.0
_names = itertools.count()


@dataclass(frozen=True)
class Parents:
    """Where this process makes its leaves: one directory (v2) or one per v1 hierarchy."""

    version: int
    memory: str
    pids: str

    def __str__(self) -> str:
        if self.version == 2:
            return f"cgroup v2 under {self.memory}"
        return f"cgroup v1 under {self.memory} and {self.pids}"


@functools.cache
def detect() -> tuple[Parents | None, str]:
    """Where this process may make cgroups with memory and pids caps, or None and why not."""
    try:
        mounts = _mounts()
        own = _own_cgroups()
    except OSError as exc:
        return None, f"cgroups cannot be read ({exc})"
    reasons = []
    for version in (2, 1):
        parents, reason = _candidate(version, mounts, own)
        if parents is not None:
            try:
                _probe(parents)
            except OSError as exc:
                reasons.append(f"{parents}: {exc.strerror or exc}")
                continue
            return parents, ""
        reasons.append(reason)
    return None, "; ".join(reasons)


class Leaf:
    """One zygote's cgroup, holding its children one at a time."""

    def __init__(self, parents: Parents) -> None:
        self.parents = parents
        self.owner = os.getpid()  # a process forked from the grader inherits this object, not the leaf
        name = f"grader-{self.owner}-{next(_names)}"
        self.memory = os.path.join(parents.memory, name)
        self.pids = os.path.join(parents.pids, name)
        self.folders = [self.memory] if parents.version == 2 else [self.memory, self.pids]
        self._caps: tuple[int, int] | None = None
        made = []
        try:
            for folder in self.folders:
                os.mkdir(folder, 0o755)
                made.append(folder)
            if parents.version == 2:
                _write_optional(self.memory, "memory.swap.max", "0")
                _write_optional(self.memory, "memory.oom.group", "1")  # the whole submission, not one thread of it
        except OSError:
            for folder in made:
                _rmdir(folder)
            raise

    @classmethod
    def make(cls) -> Leaf | None:
        """A new leaf, or None where this machine gives none (logged once, at INFO)."""
        parents, reason = detect()
        if parents is None:
            _log_once(f"no cgroup per submission ({reason}): memory outside the address space is not capped, threads only by RLIMIT_NPROC or the zygote's count")
            return None
        _sweep(parents)
        try:
            return cls(parents)
        except OSError as exc:
            log.warning("no cgroup for this zygote (%s under %s)", exc.strerror or exc, parents)
            return None

    def open_procs(self) -> list[int]:
        """Write-only fds of the leaf's ``cgroup.procs`` files, for the zygote: writing a pid
        there moves that process (the kernel checks the permissions of whoever opened them)."""
        fds: list[int] = []
        try:
            for folder in self.folders:
                fds.append(os.open(os.path.join(folder, "cgroup.procs"), os.O_WRONLY | os.O_CLOEXEC))
        except OSError:
            for fd in fds:
                os.close(fd)
            raise
        return fds

    def prepare(self, memory_bytes: int, tasks: int) -> None:
        """Before a child is forked: the leaf empty, its caps set (OSError when they cannot be)."""
        self.empty()
        if self._caps == (memory_bytes, tasks):
            return
        if self.parents.version == 2:
            _write(self.memory, "memory.max", str(memory_bytes))
        else:  # memory+swap is at least memory: raise it first, lower it last
            order = ["memory.memsw.limit_in_bytes", "memory.limit_in_bytes"]
            if self._caps is None or memory_bytes < self._caps[0]:
                order.reverse()
            for name in order:
                if name == "memory.limit_in_bytes":
                    _write(self.memory, name, str(memory_bytes))
                else:
                    _write_optional(self.memory, name, str(memory_bytes))  # only with swap accounting
        _write(self.pids, "pids.max", str(tasks))
        self._caps = (memory_bytes, tasks)

    def caps(self) -> tuple[int, int]:
        """The leaf's memory (bytes) and task caps, as the kernel has them."""
        with open(os.path.join(self.memory, "memory.max" if self.parents.version == 2 else "memory.limit_in_bytes")) as f:
            memory = f.read().strip()
        with open(os.path.join(self.pids, "pids.max")) as f:
            tasks = f.read().strip()
        return int(memory) if memory != "max" else -1, int(tasks) if tasks != "max" else -1

    def tasks(self) -> list[int]:
        """The processes in the leaf (pids as this process sees them); none once it is removed."""
        try:
            with open(os.path.join(self.pids, "cgroup.procs")) as f:
                return [int(line) for line in f if line.strip()]
        except FileNotFoundError:
            return []

    def empty(self) -> None:
        """Kill every process in the leaf, and wait (a while) until none is left."""
        deadline = time.monotonic() + SETTLE_SECONDS
        while (left := self.tasks()) and time.monotonic() < deadline:
            if not (self.parents.version == 2 and _write_optional(self.memory, "cgroup.kill", "1")):
                for pid in left:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except (ProcessLookupError, PermissionError):
                        pass
            time.sleep(0.01)
        if left:
            raise OSError(errno.EBUSY, f"processes {left[:5]} are still in {self.pids}")

    def oom_kills(self) -> int:
        """How many times the kernel killed a task of the leaf for its memory cap."""
        events = "memory.events" if self.parents.version == 2 else "memory.oom_control"
        try:
            with open(os.path.join(self.memory, events)) as f:
                fields = dict(line.split() for line in f if len(line.split()) == 2)
        except OSError:
            return 0
        return int(fields.get("oom_kill", 0))

    def remove(self) -> None:
        """Kill what is left in the leaf and remove it; what cannot be removed is logged."""
        if os.getpid() != self.owner:
            return
        try:
            self.empty()
        except OSError as exc:
            log.warning("cgroup %s: %s", self.memory, exc)
        for folder in self.folders:
            deadline = time.monotonic() + SETTLE_SECONDS
            while not _rmdir(folder) and time.monotonic() < deadline:
                time.sleep(0.01)  # tasks killed a moment ago may not have left yet
            if os.path.isdir(folder):
                log.warning("cgroup %s could not be removed", folder)


# -- finding where this process may make cgroups --------------------------------------------


def _mounts() -> list[tuple[str, str, str, set[str]]]:
    """(mount point, root within its file system, type, super options) of cgroup mounts."""
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            rest = fields[fields.index("-") + 1 :]
            if rest[0] in ("cgroup", "cgroup2"):
                found.append((_unescape(fields[4]), _unescape(fields[3]), rest[0], set(rest[2].split(",")) if len(rest) > 2 else set()))
    return found


def _own_cgroups() -> dict[str, str]:
    """This process's cgroup per controller ("" for v2), from /proc/self/cgroup."""
    own = {}
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            for controller in controllers.split(",") if controllers else [""]:
                own[controller] = path
    return own


def _folder(mounts: list[tuple[str, str, str, set[str]]], kind: str, controller: str, own: dict[str, str]) -> str | None:
    """The directory of this process's cgroup in the mounted hierarchy of ``controller``."""
    path = own.get(controller)
    if path is None:
        return None
    for point, root, fstype, options in mounts:
        if fstype != kind or (kind == "cgroup" and controller not in options):
            continue
        if path == root or path.startswith(root.rstrip("/") + "/"):
            return os.path.normpath(os.path.join(point, os.path.relpath(path, root)))
    return None


def _candidate(version: int, mounts: list[tuple[str, str, str, set[str]]], own: dict[str, str]) -> tuple[Parents | None, str]:
    if version == 1:
        memory, pids = _folder(mounts, "cgroup", "memory", own), _folder(mounts, "cgroup", "pids", own)
        if memory is None or pids is None:
            return None, "no cgroup v1 memory and pids hierarchies"
        return Parents(1, memory, pids), ""
    folder = _folder(mounts, "cgroup2", "", own)
    if folder is None:
        return None, "no cgroup v2 hierarchy"
    # The grader's own cgroup may enable controllers for its children only if it holds no process
    # (cgroup v2's rule), so only the root may; the one above it may, as a systemd service with
    # Delegate=yes and DelegateSubgroup= (the grader in a leaf of the service's cgroup) has it.
    tried = [folder] + ([os.path.dirname(folder)] if not any(folder == m[0] for m in mounts) else [])
    reasons = []
    for parent in tried:
        reason = _delegated(parent)
        if not reason:
            return Parents(2, parent, parent), ""
        reasons.append(reason)
    return None, "; ".join(reasons)


def _delegated(folder: str) -> str:
    """Why leaves with memory and pids controllers cannot be made under ``folder`` (v2), or ""."""
    wanted = {"memory", "pids"}
    try:
        with open(os.path.join(folder, "cgroup.controllers")) as f:
            available = set(f.read().split())
        with open(os.path.join(folder, "cgroup.subtree_control")) as f:
            enabled = set(f.read().split())
    except OSError as exc:
        return f"cgroup v2 at {folder}: {exc.strerror or exc}"
    if not wanted <= available:
        return f"cgroup v2 at {folder} lacks the {' and '.join(sorted(wanted - available))} controller"
    if not wanted <= enabled:
        try:  # EBUSY in a cgroup that holds processes, other than the root
            _write(folder, "cgroup.subtree_control", " ".join(f"+{c}" for c in sorted(wanted - enabled)))
        except OSError as exc:
            return f"cgroup v2 at {folder}: memory and pids cannot be enabled below it ({exc.strerror or exc})"
    if not os.access(os.path.join(folder, "cgroup.procs"), os.W_OK):  # moving a child into a leaf needs it
        return f"cgroup v2 at {folder}: its cgroup.procs is not writable"
    return ""


def _probe(parents: Parents) -> None:
    """Make and remove a leaf: OSError when this process may not."""
    Leaf(parents).remove()


def _sweep(parents: Parents) -> None:
    """Remove the empty leaves of graders that are gone (a worker of a pool is terminated before
    it can remove its own): each holds a memory cgroup's kernel state, and their number is limited."""
    for folder in {parents.memory, parents.pids}:
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in names:
            parts = name.split("-")
            if len(parts) == 3 and parts[0] == "grader" and parts[1].isdigit() and not _alive(int(parts[1])):
                _rmdir(os.path.join(folder, name))  # refused while any task is in it


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def _unescape(field: str) -> str:
    """A mountinfo path, whose spaces, tabs, newlines and backslashes are octal escapes."""
    for code in ("\\040", "\\011", "\\012", "\\134"):
        field = field.replace(code, chr(int(code[1:], 8)))
    return field


# -- files ------------------------------------------------------------------------------------


def _write(folder: str, name: str, value: str) -> None:
    fd = os.open(os.path.join(folder, name), os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def _write_optional(folder: str, name: str, value: str) -> bool:
    """Write ``value`` to ``name`` if the kernel has that file; whether it did."""
    try:
        _write(folder, name, value)
    except FileNotFoundError:
        return False
    return True


def _rmdir(folder: str) -> bool:
    try:
        os.rmdir(folder)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return True


_logged: set[str] = set()


def _log_once(message: str) -> None:
    if message not in _logged:
        _logged.add(message)
        log.info("%s", message)
