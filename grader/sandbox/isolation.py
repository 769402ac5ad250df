"""Which isolation layers this machine gives a submission, and the bubblewrap command line.

Layers, from always present to best:

- ``process``: a separate process with rlimits, an empty environment, stdin from /dev/null,
  no inherited fds, a private scratch directory, BLAS on one thread, a wall-clock limit;
- ``seccomp``: a filter refusing ptrace, mount, namespaces, BPF, kernel modules, System V IPC,
  POSIX message queues and network sockets (pyseccomp over libseccomp);
- ``namespaces``: bubblewrap with every namespace unshared (no network, own PID namespace,
  so nothing a submission starts outlives it, with the zygote as its init), a read-only view
  of only the Python installation, a sized tmpfs for scratch (the only writable place), and
  uid 65534 inside a user namespace.

The recorded level is ``namespaces+seccomp`` when all hold.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from grader import settings
from grader.errors import GraderError

#: what a strict grader refuses to run without
STRICT_LEVEL = "namespaces"
MODES = ("strict", "permissive")
TMPFS_MB = 256


class IsolationError(GraderError):
    """Strict isolation was asked for and this machine cannot provide it."""


@dataclass(frozen=True)
class Layers:
    bubblewrap: str | None  # path of a working bwrap, or None
    seccomp: bool
    reason: str = ""  # why bubblewrap is not usable, when it is not

    @property
    def level(self) -> str:
        base = "namespaces" if self.bubblewrap else "process"
        return base + ("+seccomp" if self.seccomp else "")


@functools.cache
def detect() -> Layers:
    """Probe the machine once: is bwrap installed and does it start, is libseccomp usable."""
    seccomp = importlib.util.find_spec("pyseccomp") is not None
    if seccomp:
        try:
            import pyseccomp

            pyseccomp.SyscallFilter(pyseccomp.ALLOW)
        except Exception:  # noqa: BLE001 - libseccomp missing or unusable
            seccomp = False
    if settings.current().no_bwrap:
        return Layers(None, seccomp, "GRADE_NO_BWRAP is set")
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return Layers(None, seccomp, "bwrap is not installed (Debian package bubblewrap)")
    trial = subprocess.run(
        bubblewrap_command(bwrap, [sys.executable, "-I", "-c", "pass"]),
        capture_output=True,
        text=True,
        timeout=30,
    )
    if trial.returncode != 0:
        return Layers(None, seccomp, f"bwrap cannot start a sandbox here: {trial.stderr.strip()[:200]}")
    return Layers(bwrap, seccomp)


def require(mode: str) -> Layers:
    """The layers, or IsolationError when ``mode`` is strict and namespaces are missing."""
    if mode not in MODES:
        raise GraderError(f"isolation mode {mode!r} is not one of {', '.join(MODES)}.")
    layers = detect()
    if mode == "strict" and layers.bubblewrap is None:
        raise IsolationError(
            f"strict isolation needs namespaces, but {layers.reason}; install bubblewrap or use --isolation permissive."
        )
    return layers


def bubblewrap_command(bwrap: str, command: list[str]) -> list[str]:
    """``command`` inside a fresh set of namespaces seeing only the Python installation."""
    args = [
        bwrap,
        "--unshare-all",
        "--die-with-parent",
        "--new-session",
        "--clearenv",
        "--uid", "65534",
        "--gid", "65534",
        "--hostname", "sandbox",
        "--proc", "/proc",
        "--dev", "/dev",
        "--size", str(TMPFS_MB << 20),
        "--tmpfs", "/tmp",
        "--chdir", "/tmp",
    ]
    for path in _readable_roots():
        args += ["--ro-bind", path, path]
    # Once the mounts are made, only the sized /tmp stays writable: the root and /dev are
    # tmpfs too, unsized and kept for the zygote's lifetime, so a submission writing there
    # could fill the machine's memory and leave files for the next submission.
    args += ["--remount-ro", "/", "--remount-ro", "/dev"]
    # The command is the namespace's init, with no bwrap reaper beside it: a submission cannot
    # signal its namespace's init (the kernel drops it), and the zygote is not dumpable, so no
    # process in the sandbox has memory a submission can read or write through /proc/PID/mem.
    return args + ["--as-pid-1", "--"] + command


def _readable_roots() -> list[str]:
    """System libraries, the Python installation, and the directories its packages come from."""
    # /sbin: ctypes.util.find_library asks /sbin/ldconfig where libseccomp is
    roots = ["/usr", "/lib", "/lib64", "/bin", "/sbin", "/etc/ld.so.cache", "/etc/alternatives"]
    roots += [sys.base_prefix, sys.prefix, str(Path(sys.executable).resolve().parent)]
    for name in ("numpy", "pyseccomp"):
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.origin:
            roots.append(str(Path(spec.origin).resolve().parent.parent))
    kept: list[str] = []
    for root in sorted({r for r in roots if os.path.exists(r)}):
        if not any(root == k or root.startswith(k.rstrip("/") + "/") for k in kept):
            kept.append(root)
    return kept
