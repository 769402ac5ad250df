# The zygote: a Python with numpy loaded that forks one child per submission, so that no
# submission pays for starting Python and importing numpy. Like child.py it is not imported:
# it runs after the source of wire.py and child.py (see ``grader.sandbox.zygotes``), inside
# the sandbox, and never sees a submission: the grader hands each child its own pipes, which
# the zygote passes on unread.
#
# Control protocol, one JSON message per SOCK_SEQPACKET datagram on the fd in argv[1]:
#   first, once numpy is loaded: -> {"ready": true, "seccomp": bool}
#   {"op": "fork", "limits": {...}, "env": {...}} + fds [requests, replies, output]
#        -> {"pid": pid}
#   {"op": "end", "pid": pid, "wait": bool}  -> {"status": wait status or null}
#        kills the child's process group (after up to 1 s for it to exit, with "wait"),
#        and in a PID namespace of its own every other process it left behind; removes its
#        scratch directory.
import ctypes
import json
import resource
import shutil
import socket
import tempfile

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
    "io_uring_setup", "clone3",
)
#: socket families refused: no network, no kernel interfaces (UNIX sockets stay for Python's own use)
DENIED_FAMILIES = (socket.AF_INET, socket.AF_INET6, socket.AF_NETLINK, socket.AF_PACKET)

libc = ctypes.CDLL(None, use_errno=True)


def seccomp_filter():
    if pyseccomp is None:
        return None
    rules = pyseccomp.SyscallFilter(pyseccomp.ALLOW)
    for name in DENIED:
        try:
            rules.add_rule(pyseccomp.ERRNO(1), name)
        except Exception:  # noqa: BLE001 - a call this kernel or architecture does not have
            pass
    for family in DENIED_FAMILIES:
        rules.add_rule(pyseccomp.ERRNO(1), "socket", pyseccomp.Arg(0, pyseccomp.EQ, family))
    return rules


def set_limits(limits):
    memory = limits["memory_mb"] << 20
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (limits["cpu_seconds"], limits["cpu_seconds"] + 5))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits["file_mb"] << 20, limits["file_mb"] << 20))
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    # Binds only a non-root uid, or any uid inside a user namespace (as under bubblewrap).
    resource.setrlimit(resource.RLIMIT_NPROC, (limits["processes"], limits["processes"]))


def become_child(control, fds, message, scratch, rules):
    """In the forked child: detach, lock down, then serve the submission. Never returns."""
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
        for low, high in zip(keep, keep[1:] + [resource.getrlimit(resource.RLIMIT_NOFILE)[0]]):
            os.closerange(low + 1, high)
        os.chdir(scratch)
        os.environ.clear()
        os.environ.update(message["env"], HOME=scratch, TMPDIR=scratch)
        set_limits(message["limits"])
        if rules is not None:
            rules.load()
        serve(requests, replies)
    finally:
        os._exit(0)


def end(children, pid, wait, own_namespace):
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
    if own_namespace and os.getpid() <= 2:
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
    shutil.rmtree(children.pop(pid), ignore_errors=True)
    return status


def zygote(control_fd, own_namespace):
    control = socket.socket(fileno=control_fd)
    libc.prctl(PR_SET_DUMPABLE, 0)  # no process of the same uid may read this one's memory
    rules = seccomp_filter()
    base = tempfile.gettempdir()
    children = {}
    control.send(json.dumps({"ready": True, "seccomp": rules is not None}).encode())
    while True:
        try:
            data, fds, _, _ = socket.recv_fds(control, 1 << 16, 3)
        except OSError:
            data, fds = b"", []
        if not data:
            for pid in list(children):
                end(children, pid, False, own_namespace)
            return
        message = json.loads(data)
        if message["op"] == "fork":
            scratch = tempfile.mkdtemp(prefix="submission-", dir=base)
            os.chmod(scratch, 0o700)
            pid = os.fork()
            if pid == 0:
                become_child(control, fds, message, scratch, rules)
            for fd in fds:
                os.close(fd)
            children[pid] = scratch
            control.send(json.dumps({"pid": pid}).encode())
        elif message["op"] == "end":
            status = end(children, message["pid"], message["wait"], own_namespace) if message["pid"] in children else None
            control.send(json.dumps({"status": status}).encode())


zygote(int(sys.argv[1]), sys.argv[2] == "pidns")
os._exit(0)
