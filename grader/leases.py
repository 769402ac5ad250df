"""Who is grading a pending submission, and whether they still are.

Every grading holds a lease on its pending row in the gradebook: the holder's name and a time
it runs out, which a heartbeat thread pushes forward while the holder lives. A holder that
stops renewing (killed, its machine gone, its database connection lost) lets the lease run
out, and its row becomes an orphan that another grader may take over or close. On the holder's
own machine a dead holder is recognised at once: its name carries its process id and start
time, and the kernel says whether that process still exists.

An upload to ``grade serve`` is recorded under a claim key of its own (``upload_key``): its
orphans are taken over and graded by a server, never closed as interrupted (``is_upload``).

The same process tag names the scratch folders the grader makes, so that the ones a killed
grader left behind can be found and removed (``sweep_scratch``).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import re
import socket
import tempfile
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

log = logging.getLogger(__name__)

#: the prefix of the folders in which a sandbox's outputs (pictures) are written
OUTPUT_PREFIX = "grader-output-"
#: the start of the claim key of every upload to ``grade serve``
UPLOAD_PREFIX = "upload:"
_OWNER = re.compile(r"\[(?P<machine>[0-9a-f]{12}):(?P<pid>\d+):(?P<start>\d+)\]$")
_TAGGED = re.compile(re.escape(OUTPUT_PREFIX) + r"(?P<pid>\d+)-(?P<start>\d+)-")


def upload_key() -> str:
    """A new claim key for an upload: unique, and telling an upload apart from a batch's claim
    (a batch's key is a bare SHA-256), without a column of its own."""
    return UPLOAD_PREFIX + uuid.uuid4().hex


def is_upload(batch_key: str | None) -> bool:
    """Whether a submission recorded under ``batch_key`` is an upload to ``grade serve``."""
    return batch_key is not None and batch_key.startswith(UPLOAD_PREFIX)


def _start_ticks(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks after boot), or None if there is none."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    fields = stat[stat.rfind(b")") + 2 :].split()
    return int(fields[19])  # field 22 of proc(5), the 20th after the command name


@functools.cache
def machine() -> str:
    """This kernel boot and process namespace: where a process id means the same process."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:  # no /proc: never recognise a dead holder early, only by its expiry
        return "0" * 12
    return hashlib.sha256(f"{socket.gethostname()} {boot} {namespace}".encode()).hexdigest()[:12]


def process_tag() -> str:
    """``PID-START`` of this process: unique on this machine over its boot."""
    pid = os.getpid()
    return f"{pid}-{_start_ticks(pid) or 0}"


def owner_name(role: str) -> str:
    """This process's name as a lease holder: readable, and checkable on this machine, e.g.
    ``grade submit on laptop pid 4242 [3f2a9c1b7e05:4242:9917321]``."""
    pid = os.getpid()
    return f"{role} on {socket.gethostname()} pid {pid} [{machine()}:{pid}:{_start_ticks(pid) or 0}]"


def readable(owner: str) -> str:
    """The holder's name without the bracketed identity, for messages."""
    return _OWNER.sub("", owner).strip()


def _gone(pid: int, start: int) -> bool:
    return _start_ticks(pid) != start


def holder_gone(owner: str) -> bool:
    """Whether ``owner`` is a process of this machine that no longer runs. A holder on another
    machine is never known to be gone: its lease has to run out."""
    found = _OWNER.search(owner)
    if found is None or found["machine"] != machine():
        return False
    return _gone(int(found["pid"]), int(found["start"]))


def output_folder() -> Path:
    """A new folder for a sandbox's outputs, named after this process (see ``sweep_scratch``)."""
    return Path(tempfile.mkdtemp(prefix=f"{OUTPUT_PREFIX}{process_tag()}-"))


def sweep_scratch(directory: Path | None = None) -> int:
    """Remove the output folders that graders which no longer run left in ``directory``
    (default: the temporary directory); returns how many."""
    from grader.sandbox.inside.zygote import remove  # iterative: any depth, locked folders

    removed = 0
    base = Path(directory or tempfile.gettempdir())
    try:
        entries = list(os.scandir(base))
    except OSError:
        return 0
    for entry in entries:
        found = _TAGGED.match(entry.name)
        if found is None or not entry.is_dir(follow_symlinks=False):
            continue
        if _gone(int(found["pid"]), int(found["start"])):
            log.info("removing %s, left by a grader that no longer runs", entry.path)
            remove(entry.path)
            removed += 1
    return removed


@dataclass(frozen=True)
class Lease:
    """A lease to hold: the holder's name and how long it lasts without a heartbeat."""

    owner: str
    seconds: float

    @classmethod
    def mine(cls, role: str, seconds: float) -> Lease:
        return cls(owner_name(role), seconds)


class Renewer(Protocol):
    def renew_leases(self, owner: str, seconds: float) -> int: ...


class Heartbeat:
    """Renews every lease ``lease.owner`` holds, a few times per lease, until stopped.

    A failed renewal (the database unreachable for a moment) is logged and tried again at the
    next beat; the lease runs out only if renewals fail for its whole length.
    """

    BEATS_PER_LEASE = 4

    def __init__(self, gradebook: Renewer, lease: Lease) -> None:
        self.gradebook = gradebook
        self.lease = lease
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="grader-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def beat(self) -> None:
        try:
            self.gradebook.renew_leases(self.lease.owner, self.lease.seconds)
        except Exception:
            log.warning("could not renew the leases of %s", readable(self.lease.owner), exc_info=True)

    def _run(self) -> None:
        while not self._stop.wait(self.lease.seconds / self.BEATS_PER_LEASE):
            self.beat()
