"""Which isolation layers this machine gives a submission, and the bubblewrap command line.

Layers, from always present to best:

- ``process``: a separate process with rlimits, an empty environment, stdin from /dev/null,
  no inherited fds, a private scratch directory, BLAS on one thread, a wall-clock limit;
- ``seccomp``: a filter refusing ptrace, process_vm_*, mount, namespaces, BPF, kernel modules,
  System V IPC, POSIX message queues and every socket family but AF_UNIX (pyseccomp over
  libseccomp);
- ``namespaces``: bubblewrap with every namespace unshared (no network, own PID namespace,
  so nothing a submission starts outlives it, with the zygote as its init), a read-only view
  of only the Python installation, a sized tmpfs for scratch (the only writable place), and
  uid 65534 inside a user namespace;
- where bubblewrap cannot run (no user namespaces), the Landlock path: ``landlock`` (read only
  the Python installation and numpy, write only the scratch directory, no TCP, signals and
  abstract sockets scoped) and ``uid`` (a uid of its own per child, no capability), with
  more of seccomp (no connect, no datagram UNIX sockets); see ``inside/confine.py``.

Two isolation modes: ``strict`` grades only on a path that holds (``namespaces+seccomp``, or
``landlock+seccomp+uid``), ``none`` grades with whatever the machine has, down to a plain
process of the grader's user. The recorded level names the layers that held.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from grader import settings
from grader.errors import GraderError

MODES = settings.ISOLATION_MODES
#: old names of modes: refused with a line naming the new one
RENAMED = settings.RENAMED_MODES
TMPFS_MB = 256
#: Landlock's signal and abstract-socket scoping: what makes a child that keeps the grader's uid
#: (a grader that is not root) unable to signal it
LANDLOCK_SCOPED_ABI = 6
#: runs ``inside/confine.py`` on its own and calls its ``probe``
_PROBE = """\
import json, sys
namespace = {"__name__": "confine"}
exec(compile(SOURCE, "<sandbox inside/confine.py>", "exec", dont_inherit=True), namespace)
namespace["probe"](json.loads(sys.argv[1]))
"""


class IsolationError(GraderError):
    """Strict isolation was asked for and this machine cannot provide it."""


@dataclass(frozen=True)
class Layers:
    bubblewrap: str | None  # path of a working bwrap, or None
    seccomp: bool
    reason: str = ""  # why bubblewrap is not usable, when it is not
    #: the Landlock ABI a child is confined with on the Landlock path (0: none), and why not
    landlock: int = 0
    landlock_reason: str = ""
    #: on the Landlock path, each child runs under a uid of its own without any capability
    uid: bool = False
    uid_reason: str = ""
    #: what Landlock lets a child read
    roots: tuple[str, ...] = ()
    #: whether a child under its own uid may read the standard library (else: preloaded modules only)
    stdlib_readable: bool = True
    #: whether the zygote can mount a sized tmpfs for its children's scratch directories
    tmpfs: bool = False

    @property
    def path(self) -> str:
        """``namespaces``, ``landlock`` or ``none``: how the zygote isolates its children."""
        return "namespaces" if self.bubblewrap else "landlock" if self.landlock else "none"

    @property
    def level(self) -> str:
        """The layers that hold, as recorded with each result: ``namespaces+seccomp``,
        ``landlock+seccomp+uid``, ``process+seccomp``, ..."""
        layers = [{"namespaces": "namespaces", "landlock": "landlock", "none": "process"}[self.path]]
        if self.seccomp:
            layers.append("seccomp")
        if self.path == "landlock" and self.uid:
            layers.append("uid")
        return "+".join(layers)

    @property
    def strict(self) -> bool:
        """Whether strict isolation holds: namespaces, or Landlock with seccomp and a child
        that cannot signal the grader (a uid of its own, or Landlock's signal scoping)."""
        if self.bubblewrap:
            return True
        return bool(self.landlock and self.seccomp and (self.uid or self.landlock >= LANDLOCK_SCOPED_ABI))

    def why_not_strict(self) -> str:
        """Why neither path holds, as the end of a sentence."""
        if not self.landlock:
            return f"{self.reason}, and no Landlock: {self.landlock_reason}"
        if not self.seccomp:
            return f"{self.reason}, and Landlock without seccomp (pyseccomp/libseccomp missing)"
        return f"{self.reason}, and Landlock ABI {self.landlock} cannot keep a child that shares the grader's uid from signalling it ({self.uid_reason})"

    def confinement(self) -> dict[str, Any] | None:
        """What the zygote applies to each child on the Landlock path; None on the others."""
        if self.path != "landlock":
            return None
        return {"landlock": True, "uid": self.uid, "roots": list(self.roots)}


@functools.cache
def detect() -> Layers:
    """Probe the machine once: is bwrap installed and does it start, is libseccomp usable, and
    what a child confined by Landlock (and a uid of its own, as root) really gets."""
    seccomp = importlib.util.find_spec("pyseccomp") is not None
    if seccomp:
        try:
            import pyseccomp

            pyseccomp.SyscallFilter(pyseccomp.ALLOW)
        except Exception:  # noqa: BLE001 - libseccomp missing or unusable
            seccomp = False
    current = settings.current()
    fallback = _probe_landlock() if not current.no_landlock else {"landlock_reason": "GRADE_NO_LANDLOCK is set"}
    if current.no_bwrap:
        return Layers(None, seccomp, "GRADE_NO_BWRAP is set", **fallback)
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return Layers(None, seccomp, "bwrap is not installed (Debian package bubblewrap)", **fallback)
    trial = subprocess.run(
        bubblewrap_command(bwrap, [sys.executable, "-I", "-c", "pass"]),
        capture_output=True,
        text=True,
        timeout=30,
    )
    if trial.returncode != 0:
        return Layers(None, seccomp, f"bwrap cannot start a sandbox here: {trial.stderr.strip()[:200]}", **fallback)
    return Layers(bwrap, seccomp, **fallback)


def require(mode: str) -> Layers:
    """The layers, or IsolationError when ``mode`` is strict and neither path holds."""
    if mode in RENAMED:
        raise GraderError(f"isolation mode {mode!r} is now called {RENAMED[mode]!r} (it grades even without isolation); use strict or none.")
    if mode not in MODES:
        raise GraderError(f"isolation mode {mode!r} is not one of {', '.join(MODES)}.")
    layers = detect()
    if mode == "strict" and not layers.strict:
        raise IsolationError(
            f"strict isolation needs namespaces or Landlock, but {layers.why_not_strict()}; "
            "install bubblewrap, or grade unisolated with --isolation none."
        )
    return layers


def _probe_landlock() -> dict[str, Any]:
    """Confine a throwaway process as a child would be (``inside/confine.py``'s ``probe``) and
    keep each layer only if what it must prevent was prevented there."""
    if sys.platform != "linux":
        return {"landlock_reason": "Landlock is a Linux feature"}
    roots = landlock_roots()
    root = os.geteuid() == 0
    numpy = importlib.util.find_spec("numpy")
    own = str(Path(__file__).resolve().parent.parent / "__init__.py")  # the grader's own source
    config = {"uid": root, "roots": roots, "numpy": numpy.origin if numpy else None, "outside": [own]}
    source = resources.files("grader.sandbox.inside").joinpath("confine.py").read_text(encoding="utf-8")
    try:
        trial = subprocess.run(
            [sys.executable, "-I", "-c", _PROBE.replace("SOURCE", repr(source), 1), json.dumps(config)],
            capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL, env={"PATH": "/usr/bin:/bin"},
        )
        found = json.loads(trial.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError) as exc:
        return {"landlock_reason": f"the Landlock probe failed ({exc})"}
    shutil.rmtree(str(found["scratch"]), ignore_errors=True)
    uid = found["uid"] is not None
    uid_reason = "" if uid else found["uid_error"] or "the grader is not root, so a child keeps its uid"
    abi, reason = int(found["landlock"]), str(found["landlock_error"])
    if abi and (found["reads_grader"] or found["reads_outside"] or found["writes_outside"]):
        abi, reason = 0, "a process confined by Landlock could still open the grader's files (the probe)"
    elif abi and not (found["writes_scratch"] and found["reads_numpy"]):
        what = "numpy" if not found["reads_numpy"] else "its scratch directory"
        abi, reason = 0, f"a confined process cannot open {what} (does its uid have access to every parent directory?)"
    return {
        "landlock": abi, "landlock_reason": reason, "uid": uid, "uid_reason": uid_reason,
        "roots": tuple(roots), "stdlib_readable": bool(found["reads_stdlib"]), "tmpfs": bool(found["tmpfs"]),
    }


def landlock_roots() -> list[str]:
    """What a child on the Landlock path may read: system libraries, the Python installation
    (not a virtual environment's: only numpy of its packages)."""
    roots = ["/usr", "/lib", "/lib64", "/bin", "/sbin", "/etc/ld.so.cache", sys.base_prefix]
    roots.append(str(Path(sys.executable).resolve().parent))
    spec = importlib.util.find_spec("numpy")
    if spec is not None and spec.origin:
        package = Path(spec.origin).resolve().parent
        roots += [str(package), str(package.parent / "numpy.libs")]
    return _outermost(r for r in roots if r != "/")


def bubblewrap_command(bwrap: str, command: list[str], env: dict[str, str] | None = None) -> list[str]:
    """``command`` inside a fresh set of namespaces seeing only the Python installation, with
    ``env`` as its whole environment (bwrap starts it with none: what the caller's process was
    given would not reach it)."""
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
    for key, value in (env or {}).items():
        args += ["--setenv", key, value]
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
    return _outermost(roots)


def _outermost(roots: Any) -> list[str]:
    """The existing paths among ``roots``, without those inside another."""
    kept: list[str] = []
    for root in sorted({r for r in roots if os.path.exists(r)}):
        if not any(root == k or root.startswith(k.rstrip("/") + "/") for k in kept):
            kept.append(root)
    return kept
