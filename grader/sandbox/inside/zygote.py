"""The zygote: a Python with numpy loaded that forks one child per submission, so that no
submission pays for starting Python and importing numpy.

Runs inside the sandbox only (see ``grader.sandbox.inside``; started and driven by
``grader.sandbox.zygote_control``), and never sees a submission: the grader hands each child
its own pipes, which the zygote passes on unread. Importing this module runs nothing; ``main``
serves the grader.

Control protocol, one JSON message per SOCK_SEQPACKET datagram on the fd in argv[0]:
  first, once numpy is loaded: -> {"ready": true, "seccomp": bool}
  {"op": "fork", "limits": {...}, "env": {...}, "reads": [paths]} + fds [requests, replies, output]
       ("reads": what the child may read besides the roots, on the Landlock path)
       -> {"pid": pid}, once the child is in the submission's cgroup (argv[2]), or
       {"pid": null, "error": why} when the kernel refused to move it there (it is ended)
  {"op": "preload", "modules": [names]} -> {"failed": {name: why}}: imports them, so that
       every later child has them loaded (a child whose assignment does not allow them
       forgets them: ``child.serve``)
  {"op": "cpu", "pid": pid}  -> {"seconds": CPU time the child has used, or null}
  {"op": "end", "pid": pid, "wait": bool}  -> {"status": wait status or null}
       kills the child's process group (after up to 1 s for it to exit, with "wait"),
       and in a PID namespace of its own every other process it left behind; removes its
       scratch directory, and in a namespace of its own everything else in the private /tmp.

Under bubblewrap the zygote is the PID namespace's init: a submission's signals to it are
dropped by the kernel (it leaves SIGINT at its default for that), and it reaps what the
submission orphaned. What it writes to stderr (a traceback if it fails) reaches the grader's
log. Without a cgroup for its children (argv[2] empty), it counts a live submission's tasks
while it waits for messages, and kills one over its budget (see ``watch``).
"""

import ctypes
import importlib
import json
import os
import resource
import select
import signal
import socket
import stat
import sys
import tempfile
import time

from . import confine
from .child import serve

try:  # present where the grader's dependencies are installed on Linux
    import pyseccomp
except Exception:  # noqa: BLE001 - any failure to load libseccomp means: no seccomp layer
    pyseccomp = None

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
#: system calls no answer to a numerical assignment needs, refused with EPERM
DENIED = (
    "ptrace", "process_vm_readv", "process_vm_writev", "mount", "umount2", "pivot_root",
    "chroot", "unshare", "setns", "keyctl", "add_key", "request_key", "bpf", "perf_event_open",
    "userfaultfd", "kexec_load", "init_module", "finit_module", "delete_module", "reboot",
    "swapon", "swapoff", "syslog", "acct", "quotactl", "open_by_handle_at", "name_to_handle_at",
    "io_uring_setup",
    # System V IPC objects and POSIX message queues outlive the process that made them (for the
    # zygote's lifetime, in its IPC namespace): memory no limit covers, and a channel to the
    # next submission.
    "shmget", "msgget", "semget", "mq_open",
    # Memory in a file of no file system, which RLIMIT_AS does not see once unmapped (written with
    # write(), or its fd parked in a UNIX socket); the submission's cgroup counts it, where there is one.
    "memfd_create", "memfd_secret",
)
#: the one socket family allowed: no network, no kernel interface (netlink, packet, vsock, ...);
#: UNIX sockets stay for Python's own use
ALLOWED_FAMILY = socket.AF_UNIX

#: socket options refused: a UNIX socket's buffers (up to twice net.core.wmem_max, megabytes,
#: for each socket it holds or has in flight) are memory RLIMIT_AS does not see
SO_SNDBUF, SO_RCVBUF, SO_SNDBUFFORCE, SO_RCVBUFFORCE = 7, 8, 32, 33

libc = ctypes.CDLL(None, use_errno=True)


CLONE_THREAD = 0x10000
#: without a cgroup, how often the zygote counts a live submission's tasks (see watch)
WATCH_SECONDS = 0.01


def seccomp_filter(fork):
    """The child's filter; without ``fork`` it may start threads but no process, so the memory
    cap, a limit per process, is a limit per submission (RLIMIT_NPROC does not bind a sandbox
    whose uid is root outside its user namespace)."""
    if pyseccomp is None:
        return None
    rules = pyseccomp.SyscallFilter(pyseccomp.ALLOW)
    if not fork:
        for name in ("fork", "vfork"):
            rules.add_rule(pyseccomp.ERRNO(11), name)  # EAGAIN, as when a process limit is reached
        rules.add_rule(pyseccomp.ERRNO(11), "clone", pyseccomp.Arg(0, pyseccomp.MASKED_EQ, CLONE_THREAD, 0))
    for option in (SO_SNDBUF, SO_RCVBUF, SO_SNDBUFFORCE, SO_RCVBUFFORCE):
        rules.add_rule(
            pyseccomp.ERRNO(1), "setsockopt", pyseccomp.Arg(1, pyseccomp.EQ, socket.SOL_SOCKET), pyseccomp.Arg(2, pyseccomp.EQ, option)
        )
    for name in DENIED:
        try:
            rules.add_rule(pyseccomp.ERRNO(1), name)
        except Exception:  # noqa: BLE001 - a call this kernel or architecture does not have
            pass
    # clone3 answers ENOSYS, not EPERM, so glibc falls back to clone (whose namespace flags the
    # user namespace already confines) and threads still start where the process limit allows.
    rules.add_rule(pyseccomp.ERRNO(38), "clone3")
    rules.add_rule(pyseccomp.ERRNO(1), "socket", pyseccomp.Arg(0, pyseccomp.NE, ALLOWED_FAMILY))
    return rules


def set_limits(limits, preloaded_bytes=0):
    """The child's rlimits. Its address space may grow by ``memory_mb`` beyond what the zygote
    had mapped for preloaded modules (``preload``), which the submission did not ask for."""
    memory = (limits["memory_mb"] << 20) + preloaded_bytes
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (limits["cpu_seconds"], limits["cpu_seconds"] + 5))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits["file_mb"] << 20, limits["file_mb"] << 20))
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    # Binds only a uid that is not root outside every user namespace; where it does not, the
    # seccomp filter refuses new processes (see seccomp_filter) and the submission's cgroup, where
    # there is one, caps processes and threads. Threads count too, and under bubblewrap the zygote does.
    tasks = limits["processes"] + limits["threads"]
    resource.setrlimit(resource.RLIMIT_NPROC, (tasks, tasks))


def become_child(control, fds, message, scratch, rules, confinement=None, preloaded=(), preloaded_bytes=0):
    """In the forked child: detach, lock down, then serve the submission. Never returns.
    With ``confinement`` (the Landlock path) it confines itself first (``confine.confine``).
    ``preloaded``: the modules ``preload`` added, which the child forgets unless the submission's
    assignment allows them."""
    try:
        control.close()
        requests, replies, output = fds
        os.setsid()
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(output, 1)
        os.dup2(output, 2)
        for fd in (null, output):
            os.close(fd)
        # Only stdin/out/err and the two pipes stay open.
        keep = sorted({0, 1, 2, requests, replies})
        for low, high in zip(keep, keep[1:] + [resource.getrlimit(resource.RLIMIT_NOFILE)[0]], strict=True):
            os.closerange(low + 1, high)
        signal.signal(signal.SIGINT, signal.default_int_handler)  # the zygote leaves it at SIG_DFL
        os.chdir(scratch)
        os.environ.clear()
        os.environ.update(message["env"], HOME=scratch, TMPDIR=scratch)
        set_limits(message["limits"], preloaded_bytes)
        if confinement is not None:
            reads = [path for path in message.get("reads", []) if type(path) is str]
            confine.confine(scratch, dict(confinement, roots=list(confinement["roots"]) + reads))
        if rules is not None:
            rules.load()
        serve(requests, replies, preloaded)
    finally:
        os._exit(0)


def address_space():
    """The bytes this process has mapped (VmSize), or 0 where /proc cannot say."""
    try:
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmSize:"):
                    return int(line.split()[1]) << 10
    except (OSError, ValueError, IndexError):
        pass
    return 0


def preload(modules):
    """Import ``modules`` (the rubric's ``[environment] preload``, sent by the grader); returns
    the names they added to ``sys.modules``, the bytes of address space they took, and why each
    failure failed."""
    before, mapped = set(sys.modules), address_space()
    failed = {}
    for name in modules:
        try:
            importlib.import_module(name)
        except BaseException as exc:  # noqa: BLE001 - a module that fails must not end the zygote
            failed[name] = f"{type(exc).__name__}: {exc}"[:300]
    return set(sys.modules) - before, max(0, address_space() - mapped), failed


def cpu_seconds(pid):
    """User and system CPU time of a child, all its threads and its waited-for children, from
    /proc/PID/stat (the kernel's accounting, which the child cannot change); None if unreadable."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
        # The name (field 2) is in parentheses and may hold anything, ")" included: the fields
        # after the last ")" are numbers; utime, stime, cutime, cstime are fields 14 to 17.
        fields = stat[stat.rindex(b")") + 2 :].split()
        ticks = sum(int(n) for n in fields[11:15])
    except (OSError, ValueError, IndexError):
        return None
    return ticks / os.sysconf("SC_CLK_TCK")


def end(children, pid, wait, own_namespace, uid=None):
    """End a child; with ``uid`` (its own, on the Landlock path) every process of that uid too."""
    status = None
    if wait:
        for _ in range(100):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            status = None
            time.sleep(0.01)
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    # Only in a PID (and mount) namespace of our own: on the host, kill(-1) and emptying /tmp
    # would be disastrous.
    private = own_namespace and os.getpid() <= 2
    if private:
        # Everything else in this namespace is left over from the submission (a double-forked
        # daemon escapes the process group): kill(-1) reaches all of it but us and init.
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if status is None:
        try:
            status = os.waitpid(pid, 0)[1]
        except ChildProcessError:
            status = None
    if uid is not None:  # what it started, double-forked daemons included
        confine.kill_uid(uid)
    remove(children.pop(pid))
    if private:
        # As the namespace's init we inherit the orphans just killed: reap them. Then remove
        # what was written in our private /tmp outside the scratch directories of live children,
        # so that nothing is left for the next submission.
        while True:
            try:
                os.waitpid(-1, 0)
            except ChildProcessError:
                break
        base = tempfile.gettempdir()
        for name in os.listdir(base):
            if os.path.join(base, name) not in children.values():
                remove(os.path.join(base, name))
    return status


def remove(path):
    """Delete a file or a tree, even one whose directories the submission made unreadable, but
    nothing on another file system than the folder ``path`` is in: what the submission could not
    have written (a read-only bind mount, such as a Python installation under /tmp, which
    bubblewrap mounts inside the private /tmp) is neither read nor walked. Iterative, so no depth
    of folders makes it fail; at most one open fd per level."""
    parent, name = os.path.split(path)
    try:
        top = os.open(parent or ".", os.O_RDONLY | os.O_DIRECTORY)
        device = os.fstat(top).st_dev
    except OSError:
        return
    frames = [(top, [name], "")]  # (fd of a folder being emptied, names left in it, its own name)
    while frames:
        fd, names, own = frames[-1]
        if names:
            entry = names.pop()
            inner = _enter(fd, entry, device)
            if inner is not None:
                frames.append((inner[0], inner[1], entry))
            continue
        frames.pop()
        os.close(fd)
        if frames:
            try:
                os.rmdir(own, dir_fd=frames[-1][0])
            except OSError:
                pass


def _enter(folder, name, device):
    """Unlink the entry ``name`` of ``folder`` (an fd) if it is not a directory; if it is one on
    ``device``, unlock it and return (its fd, its entries) to empty it. Leave anything else."""
    try:
        info = os.stat(name, dir_fd=folder, follow_symlinks=False)
    except OSError:
        return None
    if info.st_dev != device:  # a mount point: another file system
        return None
    if not stat.S_ISDIR(info.st_mode):
        try:
            os.unlink(name, dir_fd=folder)
        except OSError:
            pass
        return None
    try:
        os.chmod(name, 0o700, dir_fd=folder)  # a directory (not a symlink, just seen): the submission's
    except OSError:
        pass
    try:
        fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=folder)
    except OSError:
        return None
    try:
        return fd, os.listdir(fd)
    except OSError:
        os.close(fd)
        return None


def enter_cgroup(pid, cgroups):
    """Move a new child into the submission's cgroup, before it has its program: ``cgroups`` are
    write-only fds of the cgroup.procs files the grader opened (the kernel checks the opener's
    rights, and reads the pid in this process's PID namespace). Why not, if it failed."""
    for fd in cgroups:
        try:
            os.write(fd, str(pid).encode())
        except OSError as exc:
            return f"the child could not be moved into its cgroup ({exc.strerror})"
    return None


def tasks_of(pid, own_namespace):
    """The tasks (threads) a submission runs: in a PID namespace of our own, those of every
    process in it but us (and a bwrap init); else those of the child alone."""
    pids = [pid]
    if own_namespace and os.getpid() <= 2:
        pids = [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) not in (1, os.getpid())]
    count = 0
    for p in pids:
        try:
            count += len(os.listdir(f"/proc/{p}/task"))
        except OSError:  # it ended meanwhile
            pass
    return count


def watch(children, budgets, own_namespace):
    """Without a cgroup nothing counts a sandbox's threads when its uid is root outside (RLIMIT_NPROC
    does not bind it): kill a child whose submission runs more tasks than its budget. Polled every
    WATCH_SECONDS, so a submission may exceed the budget for that long."""
    for pid in list(children):
        count = tasks_of(pid, own_namespace)
        if count > budgets[pid]:
            print(f"child {pid}: {count} tasks, over its budget of {budgets[pid]}: killed", file=sys.stderr)
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def run(control_fd, own_namespace, cgroups=(), confinement=None):
    """Answer the grader's control messages until it closes the channel, then end every child.
    ``cgroups``: fds of the submissions' cgroup.procs files (none: the zygote counts threads
    itself); ``confinement``: what each child applies to itself on the Landlock path."""
    control = socket.socket(fileno=control_fd)
    libc.prctl(PR_SET_DUMPABLE, 0)  # no process of the same uid may read this one's memory
    if own_namespace and os.getpid() == 1:
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # as init, it then ignores the submission's SIGINT
    if confinement is not None:
        confine.preload()

    def uid(pid):
        return confine.child_uid(pid) if confinement is not None and confinement.get("uid") else None

    filters = {True: seccomp_filter(True), False: seccomp_filter(False)}
    rules = filters[True]
    # On the Landlock path the scratch directories are on the machine's /tmp, in one of this
    # zygote's own, which the grader removes if this process is killed.
    base = confine.scratch_base() if confinement is not None else tempfile.gettempdir()
    children: dict = {}
    budgets: dict = {}
    preloaded: set = set()
    preloaded_bytes = 0
    control.send(json.dumps({"ready": True, "seccomp": rules is not None, "scratch": base if confinement is not None else None}).encode())
    while True:
        if children and not cgroups and not select.select([control], [], [], WATCH_SECONDS)[0]:
            watch(children, budgets, own_namespace)
            continue
        try:
            data, fds, _, _ = socket.recv_fds(control, 1 << 16, 3)
        except OSError:
            data, fds = b"", []
        if not data:
            for pid in list(children):
                end(children, pid, False, own_namespace, uid(pid))
            if confinement is not None:
                confine.release(base)
                remove(base)
            return
        message = json.loads(data)
        if message["op"] == "fork":
            scratch = tempfile.mkdtemp(prefix="submission-", dir=base)
            os.chmod(scratch, 0o700)
            pid = os.fork()
            if pid == 0:
                rules = filters[message["limits"]["processes"] > 1]
                become_child(control, fds, message, scratch, rules, confinement, preloaded, preloaded_bytes)
            for fd in fds:
                os.close(fd)
            children[pid] = scratch
            budgets[pid] = message["limits"]["processes"] + message["limits"]["threads"]
            refused = enter_cgroup(pid, cgroups)
            if refused:
                budgets.pop(pid, None)
                end(children, pid, False, own_namespace, uid(pid))
            control.send(json.dumps({"pid": None, "error": refused} if refused else {"pid": pid}).encode())
        elif message["op"] == "preload":
            added, grown, failed = preload(message["modules"])
            preloaded |= added
            preloaded_bytes += grown
            control.send(json.dumps({"failed": failed}).encode())
        elif message["op"] == "cpu":
            seconds = cpu_seconds(message["pid"]) if message["pid"] in children else None
            control.send(json.dumps({"seconds": seconds}).encode())
        elif message["op"] == "end":
            pid = message["pid"]
            budgets.pop(pid, None)
            status = end(children, pid, message["wait"], own_namespace, uid(pid)) if pid in children else None
            control.send(json.dumps({"status": status}).encode())


def main(argv: list[str]) -> None:
    """``argv``: the control socket's fd; ``pidns`` when this process has a PID namespace of its
    own (under bubblewrap) or ``shared``; the fds of the cgroup.procs files of the submissions'
    cgroup, comma-separated (empty without one); and on the Landlock path the confinement of each
    child as JSON."""
    control_fd, namespace, *more = argv
    cgroups = [int(fd) for fd in more[0].split(",") if fd] if more else []
    confinement = json.loads(more[1]) if len(more) > 1 else None
    run(int(control_fd), namespace == "pidns", cgroups, confinement)
