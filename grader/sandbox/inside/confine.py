"""Confining a forked child where no namespaces are to be had: a uid of its own without any
capability, Landlock, and a seccomp filter of its own on top of the zygote's.

Runs inside the sandbox only (see ``grader.sandbox.inside``): the zygote calls ``confine`` in
each child between fork and the submission's first line, and ``preload`` once. The grader side
runs ``probe`` in a throwaway process to learn what this machine enforces (see
``grader.sandbox.isolation``). Standard library and pyseccomp only; no relative imports, so
that the probe can run this file on its own. Importing it runs nothing.

What a confined child gets, layer by layer:

- uid and gid ``UID_BASE + pid`` (when the zygote is root): a uid no account and no other
  process has, no supplementary group, an empty bounding set, no capability, no ambient
  capability, ``PR_SET_NO_NEW_PRIVS``. It cannot read what the file modes keep from others
  (root's 0600 and 0700 files), signal or ptrace any process but its own, and the zygote ends
  everything it started by killing every process of that uid (``kill_uid``);
- Landlock: reading only the Python installation and numpy (and a few /dev files), writing and
  creating only in its scratch directory; no /proc, no course, no gradebook, no grader venv;
  from ABI 4 no TCP bind or connect, from ABI 6 no signal and no abstract UNIX socket to a
  process outside its own domain;
- seccomp: no connect (a UNIX socket stays usable as a socketpair), no datagram UNIX sockets
  (they could send to any socket path), no use of System V IPC objects that exist, no new
  namespace through clone.
"""

import ctypes
import errno
import json
import os
import signal
import socket
import stat
import sys
import tempfile

try:  # present where the grader's dependencies are installed on Linux
    import pyseccomp
except Exception:  # noqa: BLE001 - any failure to load libseccomp means: no seccomp layer
    pyseccomp = None

#: a child's uid and gid: this plus its pid (pids stay below 2**22), a range no account uses
UID_BASE = 0x7000_0000
#: the exit code of a child that could not be confined (it never ran the submission)
CONFINE_FAILED = 121
#: the name of a zygote's directory of scratch directories starts with this
SCRATCH_PREFIX = "grader-zygote-"
#: the size of the tmpfs mounted there, as root (the same as bubblewrap's /tmp)
TMPFS_MB = 256
MS_NOSUID, MS_NODEV, MS_NOEXEC = 2, 4, 8
MNT_DETACH = 2

# x86_64 and every other architecture share these numbers (added after the syscall tables merged)
SYS_LANDLOCK_CREATE_RULESET, SYS_LANDLOCK_ADD_RULE, SYS_LANDLOCK_RESTRICT_SELF = 444, 445, 446
LANDLOCK_CREATE_RULESET_VERSION = 1
LANDLOCK_RULE_PATH_BENEATH = 1
FS_EXECUTE, FS_WRITE_FILE, FS_READ_FILE, FS_READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
FS_V1 = (1 << 13) - 1  # execute .. make_sym
FS_REFER, FS_TRUNCATE, FS_IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15  # ABI 2, 3, 5
FS_FILE_ONLY = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV
NET_BIND_TCP, NET_CONNECT_TCP = 1 << 0, 1 << 1  # ABI 4
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1  # ABI 6

PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS, PR_GET_NO_NEW_PRIVS = 38, 39
PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 47, 4
LINUX_CAPABILITY_VERSION_3 = 0x20080522

#: files a numerical submission may open besides the Python installation: (path, rights)
DEVICES = (
    ("/dev/null", FS_READ_FILE | FS_WRITE_FILE | FS_TRUNCATE),
    ("/dev/zero", FS_READ_FILE),
    ("/dev/urandom", FS_READ_FILE),
    ("/dev/random", FS_READ_FILE),
)
#: Imported by the zygote before any fork: a child whose uid may not read the Python
#: installation (one under /root, say) still has these. Numpy's own submodules come from
#: numpy's directory, which Landlock lets it read.
PRELOAD = (
    "abc", "array", "bisect", "cmath", "collections", "collections.abc", "contextlib", "copy",
    "dataclasses", "datetime", "decimal", "enum", "fnmatch", "fractions", "functools", "glob",
    "heapq", "io", "itertools", "json", "math", "numbers", "operator", "pprint", "queue",
    "random", "re", "signal", "stat", "statistics", "string", "struct", "textwrap", "threading",
    "time", "timeit", "traceback", "types", "typing", "warnings", "weakref",
    "numpy.fft", "numpy.linalg", "numpy.polynomial", "numpy.random",
)
#: clone flags that would make a namespace
CLONE_NAMESPACES = (0x80, 0x20000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000)

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]


class RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64), ("scoped", ctypes.c_uint64)]


class PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


class CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def _check(result, what):
    if result < 0:
        number = ctypes.get_errno()
        raise OSError(number, f"{what}: {os.strerror(number)}")
    return result


def child_uid(pid):
    return UID_BASE + pid


def landlock_abi():
    """The Landlock ABI version of this kernel, 0 without Landlock; and why not, if not."""
    version = libc.syscall(SYS_LANDLOCK_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(LANDLOCK_CREATE_RULESET_VERSION))
    if version > 0:
        return version, ""
    number = ctypes.get_errno()
    why = {
        errno.ENOSYS: "this kernel has no Landlock (Linux 5.13 or later, CONFIG_SECURITY_LANDLOCK)",
        errno.EOPNOTSUPP: "Landlock is disabled at boot (add landlock to the lsm= kernel parameter)",
        errno.EPERM: "a seccomp filter around the grader refuses the Landlock system calls",
    }
    return 0, why.get(number, f"landlock_create_ruleset failed: {os.strerror(number)}")


def handled_fs(abi):
    rights = FS_V1
    if abi >= 2:
        rights |= FS_REFER
    if abi >= 3:
        rights |= FS_TRUNCATE
    if abi >= 5:
        rights |= FS_IOCTL_DEV
    return rights


def ruleset(roots, scratch):
    """A Landlock ruleset: read (and run) only ``roots``, write only beneath ``scratch``; its fd
    and ABI. Made before the uid changes, which may keep the new uid from opening the roots."""
    abi, why = landlock_abi()
    if not abi:
        raise OSError(errno.ENOSYS, why)
    handled = handled_fs(abi)
    attr = RulesetAttr(handled, NET_BIND_TCP | NET_CONNECT_TCP if abi >= 4 else 0, SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if abi >= 6 else 0)
    size = 8 if abi < 4 else 16 if abi < 6 else 24
    fd = _check(libc.syscall(SYS_LANDLOCK_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0)), "landlock_create_ruleset")
    try:
        read = FS_EXECUTE | FS_READ_FILE | FS_READ_DIR
        for path, rights in [(root, read) for root in roots] + list(DEVICES) + [(scratch, handled & ~FS_EXECUTE)]:
            try:
                parent = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except FileNotFoundError:
                continue
            try:
                if not stat.S_ISDIR(os.fstat(parent).st_mode):
                    rights &= FS_FILE_ONLY
                rule = PathBeneathAttr(rights & handled, parent)
                _check(libc.syscall(SYS_LANDLOCK_ADD_RULE, fd, LANDLOCK_RULE_PATH_BENEATH, ctypes.byref(rule), ctypes.c_uint32(0)), f"landlock_add_rule {path}")
            finally:
                os.close(parent)
    except BaseException:
        os.close(fd)
        raise
    return fd, abi


def enforce(fd):
    """Restrict this process (and all it starts) to the ruleset ``fd``, then close it."""
    try:
        _check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "PR_SET_NO_NEW_PRIVS")
        _check(libc.syscall(SYS_LANDLOCK_RESTRICT_SELF, fd, ctypes.c_uint32(0)), "landlock_restrict_self")
    finally:
        os.close(fd)


def capabilities():
    """(effective, permitted, inheritable) of this process, each as one integer."""
    header = CapHeader(LINUX_CAPABILITY_VERSION_3, 0)
    data = (CapData * 2)()
    _check(libc.capget(ctypes.byref(header), data), "capget")
    return tuple(getattr(data[0], f) | getattr(data[1], f) << 32 for f in ("effective", "permitted", "inheritable"))


def drop_capabilities():
    """No capability left: none in the bounding set (where this process may drop them), none
    ambient, none effective, permitted or inheritable, and none to gain by execve."""
    for cap in range(64):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 and ctypes.get_errno() == errno.EINVAL:
            break  # past the last capability this kernel knows
    libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    header = CapHeader(LINUX_CAPABILITY_VERSION_3, 0)
    _check(libc.capset(ctypes.byref(header), (CapData * 2)()), "capset")
    _check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "PR_SET_NO_NEW_PRIVS")
    if any(capabilities()):
        raise OSError(errno.EPERM, "capabilities are left after capset")


def drop_privileges(scratch):
    """As root: the scratch directory given to ``UID_BASE + pid``, then that uid and gid with no
    supplementary group and no capability; the uid."""
    uid = child_uid(os.getpid())
    os.chown(scratch, uid, uid)
    for cap in range(64):  # needs CAP_SETPCAP, so before the uid changes
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0:
            if ctypes.get_errno() == errno.EINVAL:
                break
            _check(-1, f"PR_CAPBSET_DROP {cap}")
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    drop_capabilities()
    if os.getresuid() != (uid, uid, uid) or os.getresgid() != (uid, uid, uid) or os.getgroups():
        raise OSError(errno.EPERM, "the uid did not change")
    return uid


def call_filter():
    """The seccomp filter added on this path (the zygote's own comes after it)."""
    if pyseccomp is None:
        return None
    rules = pyseccomp.SyscallFilter(pyseccomp.ALLOW)
    eperm = pyseccomp.ERRNO(errno.EPERM)
    # No connect: without a mount namespace every socket file on the machine is in reach
    # (PostgreSQL's, Redis's, the X server's), and abstract ones too before Landlock ABI 6.
    rules.add_rule(eperm, "connect")
    # A datagram UNIX socket sends to any path without connect; SOCK_RAW is a datagram one.
    for kind in (socket.SOCK_DGRAM, socket.SOCK_RAW):
        for call in ("socket", "socketpair"):
            rules.add_rule(eperm, call, pyseccomp.Arg(1, pyseccomp.MASKED_EQ, 0xF, kind))
    # The zygote's filter refuses to create IPC objects; these would use ones that exist.
    for name in ("shmat", "shmctl", "msgsnd", "msgrcv", "msgctl", "semop", "semtimedop", "semctl"):
        rules.add_rule(eperm, name)
    for flag in CLONE_NAMESPACES:
        rules.add_rule(eperm, "clone", pyseccomp.Arg(0, pyseccomp.MASKED_EQ, flag, flag))
    return rules


def confine(scratch, config):
    """In the forked child, before the submission runs: every layer ``config`` asks for
    (``uid``: drop to a uid of its own; ``landlock``: the file system rules over ``roots``),
    then the extra seccomp filter. A layer that fails ends the child with CONFINE_FAILED and a
    line on its stderr: the submission never runs with less than was asked."""
    try:
        landlock = ruleset(config["roots"], scratch)[0] if config.get("landlock") else None
        if config.get("uid"):
            drop_privileges(scratch)
        else:
            drop_capabilities()
        if landlock is not None:
            enforce(landlock)
        calls = call_filter()
        if calls is not None:
            calls.load()
    except BaseException as exc:  # noqa: BLE001 - whatever failed, the submission must not run
        try:
            os.write(2, f"the sandbox could not confine this process ({exc}); the submission did not run\n".encode())
        finally:
            os._exit(CONFINE_FAILED)


def preload():
    """Import PRELOAD in the zygote, so that every child has them whatever its uid may read."""
    for name in PRELOAD:
        try:
            __import__(name)
        except ImportError:
            pass


def scratch_base():
    """A directory of the zygote's own for its children's scratch directories: a child may pass
    through it to its own (mode 0700, owned by its uid) but not list it. As root, a tmpfs of
    TMPFS_MB is mounted there, so that what submissions write is bounded (elsewhere only each
    file is, by RLIMIT_FSIZE); ``release`` unmounts it."""
    base = tempfile.mkdtemp(prefix=SCRATCH_PREFIX)
    mount_tmpfs(base)
    os.chmod(base, 0o711)
    return base


def mount_tmpfs(path):
    """Whether a sized tmpfs could be mounted on ``path`` (needs CAP_SYS_ADMIN)."""
    options = f"size={TMPFS_MB}m,mode=0711".encode()
    return libc.mount(b"tmpfs", os.fsencode(path), b"tmpfs", ctypes.c_ulong(MS_NOSUID | MS_NODEV | MS_NOEXEC), options) == 0


def release(path):
    """Unmount what ``scratch_base`` mounted on ``path``, if anything."""
    while libc.umount2(os.fsencode(path), MNT_DETACH) == 0:
        pass


def kill_uid(uid):
    """SIGKILL every process of ``uid`` (a child and all it started, double-forked daemons
    included), from a helper process that takes that uid: kill(-1) reaches exactly them."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setresuid(uid, uid, uid)
            for _ in range(100):  # until none is left: one may have been forking meanwhile
                os.kill(-1, signal.SIGKILL)
        except OSError:
            pass
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def _opens(path, flags=os.O_RDONLY):
    try:
        os.close(os.open(path, flags))
    except OSError:
        return False
    return True


def probe(config):
    """What a child confined with ``config`` gets here, by trying each layer in this (throwaway)
    process and then what a submission would try. A dict for ``grader.sandbox.isolation``."""
    scratch = tempfile.mkdtemp(prefix="grader-probe-")
    result: dict = {"scratch": scratch, "uid": None, "uid_error": "", "landlock": 0, "landlock_error": ""}
    trial = tempfile.mkdtemp(prefix="grader-probe-")
    result["tmpfs"] = mount_tmpfs(trial)
    release(trial)
    os.rmdir(trial)
    grader = os.getppid()
    outside = config.get("outside", [])
    try:
        made = None
        try:
            made = ruleset(config["roots"], scratch)
        except OSError as exc:
            result["landlock_error"] = exc.strerror or str(exc)
        if config.get("uid"):
            try:
                result["uid"] = drop_privileges(scratch)
            except OSError as exc:
                result["uid_error"] = str(exc)
        try:
            drop_capabilities()
        except OSError as exc:
            result["uid_error"] = result["uid_error"] or str(exc)
        if made is not None:
            try:
                enforce(made[0])
                result["landlock"] = made[1]
            except OSError as exc:
                result["landlock_error"] = str(exc)
        result["writes_scratch"] = _opens(os.path.join(scratch, "probe"), os.O_WRONLY | os.O_CREAT)
        result["reads_numpy"] = _opens(config["numpy"]) if config.get("numpy") else True
        result["reads_stdlib"] = _opens(os.__file__)
        result["reads_grader"] = _opens(f"/proc/{grader}/environ") or _opens(f"/proc/{grader}/cmdline")
        result["reads_outside"] = [path for path in outside if _opens(path)]
        result["writes_outside"] = [path for path in outside if _opens(path, os.O_WRONLY | os.O_APPEND)]
    finally:
        sys.stdout.write(json.dumps(result) + "\n")
        sys.stdout.flush()
    return result
