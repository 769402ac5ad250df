"""Hostile submissions (tests/hostile/): the grader survives each one, records a result, and
awards no point that the mathematics did not earn.

Every file is a ``backprop`` submission with an honest part and an attack. For each, through
``grade submit --json``: exit 0 with a stored result; exactly the points of the honest parts;
then no process of the submission left, nothing written outside the sandbox's scratch space,
the course and the earlier rows of the gradebook unchanged, the grader's memory and the
sandbox's shared memory bounded, at most 64 KiB of output kept, and a correct submission
still earning 100 in the same process.

The corpus runs on both isolation paths that strict mode accepts: namespaces (bubblewrap) and,
as on a machine without user namespaces, Landlock with seccomp and a uid of the child's own
(GRADE_NO_BWRAP=1); every attack must fail on each.

Every check looks at this run's own footprint only, so that other runs on the machine do not
disturb it: this process's descendants, this run's TMPDIR, and markers named after this run.

Files that try to see or keep what they must not define ``stolen()``, which returns the loot
or None; with loot their attacked functions answer right. So a point on an attacked part
means the attack worked, and ``test_loot_would_earn_points`` hands each of them the loot to
show those points really are on the table.
"""

from __future__ import annotations

import ctypes
import glob
import hashlib
import os
import resource
import signal
import site
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import FULL, ROOT, SAMPLES, part_scores, submit

from conftest import RUN_TMP
from grader.db import Gradebook
from grader.sandbox import cgroups, zygote_control
from grader.sandbox.isolation import detect

HOSTILE = Path(__file__).parent / "hostile"
SECRET = ("GRADER_SECRET_TOKEN", "hostile-test-secret-7f3a9c")
STRICT = ("--isolation", "strict")
OUTPUT_CAP = 64 * 1024
#: how much the grader's peak memory and its sandboxes' shared memory may grow per submission
MEMORY_SLACK_KB = 200 * 1024
SHMEM_SLACK_KB = 16 * 1024
#: Every marker a hostile file writes is named hostile-marker-...; the copies this run grades
#: are named hostile-marker-TOKEN-..., so that in places every run shares (/, /dev/shm, /var/tmp,
#: /tmp, the repository) only this run's markers count.
TOKEN = uuid.uuid4().hex[:12]
MARKER = f"hostile-marker-{TOKEN}"
PR_SET_CHILD_SUBREAPER = 36


def honest(*parts: str) -> dict[str, int]:
    """The part scores when only ``parts`` are answered honestly."""
    return {part: points if part in parts else 0 for part, points in FULL.items()}


LOSS = honest("q1_loss")
LOSS_DZ3 = honest("q1_loss", "q2a_dz3")

# file -> (status of the submission, score of each part); the attack is described in each file
CORPUS: dict[str, tuple[str, dict[str, int]]] = {
    # see what it must not
    "read_reference.py": ("graded", LOSS),
    "read_peers.py": ("graded", LOSS),
    "read_gradebook.py": ("graded", LOSS),
    "read_env.py": ("graded", LOSS),
    "read_memory.py": ("graded", LOSS),
    "import_grader.py": ("graded", LOSS),
    "inherited_fds.py": ("graded", LOSS),
    "network.py": ("graded", LOSS),
    "ptrace.py": ("graded", LOSS),
    "leave_behind.py": ("graded", FULL),
    "pick_up.py": ("graded", LOSS),
    # fool the comparison
    "lying_float.py": ("graded", LOSS),
    "ndarray_subclass_eq.py": ("graded", LOSS),
    "array_ufunc.py": ("graded", LOSS),
    "duck_array.py": ("graded", LOSS),
    "object_dtype.py": ("graded", LOSS),
    "complex_dtype.py": ("graded", LOSS),
    "bool_dtype.py": ("graded", LOSS),
    "nan_inf.py": ("graded", LOSS),
    # a scalar for an (N, C) array fails; the right values with extra axes of length 1 pass
    # under the shape rule (compared after the unit axes, with a note), never by broadcasting
    "scalar_broadcast.py": ("graded", honest("q1_loss", "q2b_dW2", "q2c_dW1", "q2c_db1", "q2c_db2")),
    "monkeypatch_numpy.py": ("graded", LOSS),
    "absurd_view.py": ("graded", LOSS),
    "large_answer.py": ("graded", LOSS),
    "mutate_for_credit.py": ("graded", LOSS),
    "empty_answer.py": ("graded", LOSS),
    # difference the loss numerically, out of sight of the child's call counters: the grader
    # times the gradient itself, and numerical-gradient earns no credit
    "numgrad_default_arg.py": ("graded", LOSS_DZ3),
    "numgrad_reset_counter.py": ("graded", LOSS_DZ3),
    "numgrad_inline_copy.py": ("graded", LOSS_DZ3),
    "numgrad_size_switch.py": ("graded", LOSS_DZ3),
    # forge the verdict
    "fake_stdout.py": ("graded", LOSS),
    "forge_frame.py": ("graded", LOSS),
    "forge_shape.py": ("graded", LOSS),
    "reply_bomb.py": ("graded", LOSS),
    "write_files.py": ("graded", LOSS),
    "tamper_install.py": ("graded", LOSS),
    "exit_early.py": ("graded", LOSS),
    "pickle_bomb.py": ("graded", LOSS),
    "terminal_escapes.py": ("graded", LOSS),
    "leak_hidden_inputs.py": ("graded", LOSS),
    # exhaust or escape
    "infinite_loop.py": ("graded", LOSS),
    "ignore_signals.py": ("graded", LOSS),
    "import_hang.py": ("graded", FULL),
    "memory_bomb.py": ("graded", LOSS),
    "fork_memory.py": ("graded", LOSS),
    "memfd_hoard.py": ("graded", LOSS),
    "fork_bomb.py": ("graded", LOSS_DZ3),
    "thread_storm.py": ("graded", LOSS_DZ3),
    "thread_flood.py": ("graded", LOSS),
    "output_flood.py": ("graded", LOSS_DZ3),
    "disk_fill.py": ("graded", LOSS),
    "daemon.py": ("graded", LOSS_DZ3),
    "kill_parent.py": ("graded", LOSS),
    "segfault.py": ("graded", LOSS),
    "slow_drip.py": ("graded", LOSS),
}
#: [limits] the rubric has while a file is graded (the test course's otherwise), and the wall
#: time its grading must end within: 5 s for all slow_drip.py runs lets its loss and at most 2
#: of its 0.9-s calls through (a check needs 3 or 4), where the drip alone would take 15 s
LIMITS: dict[str, tuple[str, float]] = {"slow_drip.py": ("total_timeout = 5.0", 12.0)}
#: graded just before, in the same process (and so the same zygote) and gradebook
PRELUDE = {"pick_up.py": "leave_behind.py"}
#: attacks that still work, and why: without a cgroup per submission (see grader.sandbox.cgroups
#: and the README's "Memory and processes"), files in the scratch tmpfs beside a full address space
#: exceed the memory cap
XFAIL: dict[str, str] = {}
if cgroups.detect()[0] is None:
    XFAIL["memfd_hoard.py"] = f"no cgroup per submission here ({cgroups.detect()[1]})"
STOLEN = sorted(name for name in CORPUS if "\ndef stolen():\n" in (HOSTILE / name).read_text())


#: the isolation paths strict mode accepts, and the level each records
PATHS = {"namespaces": "namespaces+seccomp", "landlock": "landlock+seccomp+uid"}


def params(names: list[str]) -> list[object]:
    return [pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=XFAIL[n])) if n in XFAIL else n for n in names]


@pytest.fixture(params=[pytest.param(p, marks=pytest.mark.slow) for p in PATHS])
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The isolation path of this run: namespaces, or (as without bubblewrap) Landlock; a fresh
    probe and a zygote started on that path, and the same again for the next test."""
    if request.param == "landlock":
        monkeypatch.setenv("GRADE_NO_BWRAP", "1")
    detect.cache_clear()
    zygote_control.discard()
    assert detect().path == request.param and detect().level == PATHS[request.param], detect()
    yield request.param
    monkeypatch.delenv("GRADE_NO_BWRAP", raising=False)
    detect.cache_clear()
    zygote_control.discard()


def site_packages() -> list[Path]:
    """Every site-packages of the grader's Python: a submission must never write there."""
    import numpy

    return sorted({Path(numpy.__file__).parent.parent, *map(Path, site.getsitepackages())})


@pytest.fixture(scope="module", autouse=True)
def no_planted_files() -> Iterator[None]:
    """Whatever an attack that worked left in the grader's installation or a course's
    reference/ is removed at the end (the tests fail on it first)."""
    yield
    for folder in [*site_packages(), *map(Path, glob.glob("/work/*/reference"))]:
        for planted in folder.glob(f"{MARKER}*"):
            planted.unlink(missing_ok=True)


@pytest.fixture(scope="module", autouse=True)
def grader_with_a_secret() -> Iterator[None]:
    """A secret in the grader's environment, and a zygote started by a grader holding it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(*SECRET)
        zygote_control.discard()
        yield
    zygote_control.discard()


@pytest.fixture(scope="module", autouse=True)
def subreaper() -> Iterator[None]:
    """This process adopts the orphans of its descendants (instead of init): whatever a
    submission starts stays among this process's descendants, even if it left its sandbox."""
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0, os.strerror(ctypes.get_errno())
    yield
    libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


def staged(tmp_path: Path, name: str, source: str | None = None) -> Path:
    """The hostile file ``name`` (or ``source``) to grade, its markers named after this run."""
    path = tmp_path / "hostile" / name
    path.parent.mkdir(exist_ok=True)
    text = (HOSTILE / name).read_text() if source is None else source
    path.write_text(text.replace("hostile-marker", MARKER))
    return path


# -- what the test's footprint looks like ---------------------------------------------------


def _processes() -> dict[int, tuple[int, str, bytes, list[int], str]]:
    """pid -> (parent pid, comm, cmdline, NSpid, state) of every process, as far as it can be read."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            status = Path(f"/proc/{entry}/status").read_text()
        except OSError:
            continue
        nspid = next((line.split()[1:] for line in status.splitlines() if line.startswith("NSpid:")), [])
        comm, rest = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :].split()
        table[int(entry)] = (int(rest[1]), comm, cmdline, [int(n) for n in nspid], rest[0])
    return table


def _ours(table: dict[int, tuple[int, str, bytes, list[int], str]]) -> set[int]:
    """This process's descendants (in the host's view, which includes its sandboxes' PID
    namespaces), orphans among them included: this process is their subreaper. An adopted
    orphan that died (a zombie child of this process, which nothing here reaps) is gone."""
    ours, frontier = set(), {os.getpid()}
    while frontier:
        frontier = {pid for pid, (parent, *_) in table.items() if parent in frontier} - ours
        ours |= frontier
    return {pid for pid in ours if not (table[pid][4] == "Z" and table[pid][0] == os.getpid())}


def submission_processes() -> set[int]:
    """Processes of this test's submissions: among this process's descendants, those that mark
    themselves (comm hostile-*, or a cmdline with 4242.), and any process in a sandbox other
    than its init (1) and zygote (2)."""
    table = _processes()
    ours = _ours(table)
    marked = {pid for pid in ours if table[pid][1].startswith("hostile") or b"4242." in table[pid][2]}
    sandboxed = {pid for pid in ours if len(table[pid][3]) > 1 and not _machinery(table, pid)}
    return marked | sandboxed


def _machinery(table: dict[int, tuple[int, str, bytes, list[int], str]], pid: int) -> bool:
    """The namespace's init (the zygote, or a bwrap reaper) or a zygote under a bwrap reaper."""
    parent, _, _, nspid, _ = table[pid]
    return nspid[-1] == 1 or (nspid[-1] == 2 and table.get(parent, (0, ""))[1] == "bwrap")


def _sandbox_inits() -> list[int]:
    """The init of each PID namespace among this process's descendants: one per live sandbox."""
    table = _processes()
    return [pid for pid in _ours(table) if len(table[pid][3]) > 1 and table[pid][3][-1] == 1]


def markers() -> set[tuple[str, int]]:
    """(path, mtime) of the marker files an attack could have written: in this run's TMPDIR
    (pytest's directories, the grader's output directories), any; in the places every run
    shares, this run's."""
    found = set()
    mine = [(Path(RUN_TMP), "hostile-marker")]
    walked = [(ROOT / "reference", MARKER), (ROOT / "rubrics", MARKER), (ROOT / "submissions", MARKER)]
    flat = [Path(RUN_TMP).parent, Path.home(), Path("/work"), ROOT, Path("/dev/shm"), Path("/var/tmp"), Path("/")]
    flat += site_packages() + [Path(p) for p in glob.glob("/work/*/reference")]
    for top, name in mine + walked:
        for folder, _, files in os.walk(top):
            found |= {(path, os.lstat(path).st_mtime_ns) for f in files if name in f for path in [os.path.join(folder, f)]}
    for folder in flat:
        try:
            found |= {(str(p), p.lstat().st_mtime_ns) for p in folder.iterdir() if MARKER in p.name}
        except OSError:
            pass
    return found


def grader_scratch() -> set[str]:
    """The grader's output and scratch directories: in this run's own TMPDIR, and on the
    Landlock path in the zygote's directory of scratch directories."""
    found = {p for p in os.listdir(tempfile.gettempdir()) if p.startswith(("grader-output-", "submission-"))}
    zygote = zygote_control._zygote
    if zygote is not None and zygote.scratch is not None and os.path.isdir(zygote.scratch):
        found |= {os.path.join(zygote.scratch, p) for p in os.listdir(zygote.scratch)}
    return found


def reset_peak_memory() -> None:
    """Start ru_maxrss (the peak resident memory) afresh from the current resident memory."""
    Path("/proc/self/clear_refs").write_text("5")


def sandbox_shmem_kb() -> int:
    """Shared memory that this process's sandboxes hold whatever runs in them: the contents of
    the tmpfs file systems in their mount namespaces (/, /dev, /tmp), or on the Landlock path of
    the zygote's scratch tmpfs, which live as long as the zygote. (System V shared memory and POSIX message queues live in their IPC namespace, which
    only CAP_SYS_ADMIN may enter to count; the zygote's seccomp filter refuses to create them,
    and leave_behind.py, pick_up.py and disk_fill.py would earn points if that failed.)"""
    used = 0
    for init in _sandbox_inits():
        try:
            mounts = Path(f"/proc/{init}/mountinfo").read_text().splitlines()
        except OSError:  # it ended meanwhile, and its file systems with it
            continue
        for line in mounts:
            fields = line.split()
            if fields[fields.index("-") + 1] == "tmpfs":
                try:
                    fs = os.statvfs(f"/proc/{init}/root{fields[4]}")
                except OSError:
                    continue
                used += (fs.f_blocks - fs.f_bfree) * fs.f_frsize
    zygote = zygote_control._zygote  # on the Landlock path, the tmpfs of its scratch directories
    if zygote is not None and zygote.scratch is not None and os.path.ismount(zygote.scratch):
        fs = os.statvfs(zygote.scratch)
        used += (fs.f_blocks - fs.f_bfree) * fs.f_frsize
    return used >> 10


def hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def gradebook_rows(db_url: str) -> dict[str, set[tuple]]:
    with closing(sqlite3.connect(db_url.removeprefix("sqlite:///"))) as db:
        tables = [name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {table: set(db.execute(f'SELECT * FROM "{table}"')) for table in tables}


@dataclass(frozen=True)
class Host:
    course: dict[str, str]
    gradebook: dict[str, set[tuple]]
    processes: frozenset[int]
    markers: frozenset[tuple[str, int]]
    scratch: frozenset[str]
    maxrss_kb: int
    shmem_kb: int

    @classmethod
    def now(cls, course: Path, db_url: str) -> Host:
        return cls(
            hashes(course),
            gradebook_rows(db_url),
            frozenset(submission_processes()),
            frozenset(markers()),
            frozenset(grader_scratch()),
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            sandbox_shmem_kb(),
        )


def settled(condition: Callable[[], bool], seconds: float = 3.0) -> bool:
    """Whether ``condition`` holds within ``seconds``: killed processes take a moment to go, and
    the zygote cleans a submission's files up while the grader goes on."""
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
    return condition()


# -- the tests -----------------------------------------------------------------------------


def test_every_hostile_file_has_expectations() -> None:
    assert sorted(p.name for p in HOSTILE.glob("*.py")) == sorted(CORPUS)
    assert set(PRELUDE.values()) <= set(CORPUS) and set(XFAIL) <= set(CORPUS)


@pytest.mark.slow
@pytest.mark.parametrize("name", params(sorted(CORPUS)))
def test_hostile_submission(course: Path, db_url: str, tmp_path: Path, name: str, path: str) -> None:
    status, expected = CORPUS[name]
    submit(course, "correct_vectorized.py", "peer", *STRICT)  # something to steal
    if name in PRELUDE:
        assert submit(course, staged(tmp_path, PRELUDE[name]), "accomplice", *STRICT)[0] == 0
    attack = staged(tmp_path, name)
    rubric = course / "rubrics" / "backprop.toml"
    usual = rubric.read_text()
    if name in LIMITS:
        rubric.write_text(usual.replace("[limits]\n", f"[limits]\n{LIMITS[name][0]}\n", 1))
    reset_peak_memory()
    before = Host.now(course, db_url)

    start = time.monotonic()
    code, out = submit(course, attack, "mallory", *STRICT)
    seconds = time.monotonic() - start

    assert code == 0, out
    if name in LIMITS:
        assert seconds < LIMITS[name][1], f"grading took {seconds:.1f} s"
    assert out["isolation"] == PATHS[path]
    assert out["status"] == status, out["message"]
    assert part_scores(out["checks"]) == expected, [(c["id"], c["status"], c["message"]) for c in out["checks"]]
    assert out["score"] == sum(expected.values())
    with Gradebook(db_url) as gradebook:
        stored = gradebook.get(out["submission_id"])
    assert stored is not None and stored.status == status and stored.score == out["score"]
    assert len(stored.output.encode()) <= OUTPUT_CAP

    settled(lambda: not submission_processes() - before.processes)
    settled(lambda: sandbox_shmem_kb() - before.shmem_kb <= SHMEM_SLACK_KB)
    after = Host.now(course, db_url)
    assert not after.processes - before.processes, f"processes of the submission survived: {sorted(after.processes - before.processes)}"
    assert after.markers <= before.markers, f"written outside the sandbox: {sorted(after.markers - before.markers)}"
    assert after.scratch <= before.scratch, f"scratch space left behind: {sorted(after.scratch - before.scratch)}"
    assert after.course == before.course
    assert not any(MARKER in p.read_text() for p in (ROOT / "reference").glob("*.py"))
    for table, rows in before.gradebook.items():
        assert rows <= after.gradebook[table], f"rows of {table} changed"
    assert len(after.gradebook["submissions"] - before.gradebook["submissions"]) == 1
    assert after.maxrss_kb - before.maxrss_kb <= MEMORY_SLACK_KB, "the grader's memory grew"
    assert after.shmem_kb - before.shmem_kb <= SHMEM_SLACK_KB, "the sandbox's shared memory grew and stayed"

    rubric.write_text(usual)
    code, out = submit(course, "correct_loops.py", "ada", *STRICT)
    assert code == 0 and out["score"] == 100, "a correct submission after the hostile one"


@pytest.mark.slow
@pytest.mark.parametrize("name", STOLEN)
def test_loot_would_earn_points(course: Path, db_url: str, tmp_path: Path, name: str, path: str) -> None:
    # Each file's stolen() replaced by one that returns a correct submission's source, the
    # richest loot: every attacked part then earns its points.
    loot = (SAMPLES / "correct_loops.py").read_text()
    source = (HOSTILE / name).read_text()
    rigged = staged(tmp_path, name, source.replace("\ndef stolen():\n", f"\ndef stolen():\n    return {loot!r}\n\n\ndef _attack():\n", 1))
    code, out = submit(course, rigged, "mallory", *STRICT)
    assert code == 0 and part_scores(out["checks"]) == FULL and out["isolation"] == PATHS[path], out


@pytest.mark.slow
def test_a_wedged_zygote_costs_a_timeout_not_the_grading(course: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # A zygote that stops answering (here stopped from outside: a submission cannot signal it)
    # is killed after the control timeout and replaced; the grader never waits forever.
    monkeypatch.setattr(zygote_control, "CONTROL_TIMEOUT", 1.0)
    zygote_control.discard()
    assert submit(course, "correct_loops.py", "ada", *STRICT)[1]["score"] == 100
    table = _processes()
    [zygote] = [pid for pid in _ours(table) if table[pid][3][1:] == [1] and table[pid][1].startswith("python")]
    os.kill(zygote, signal.SIGSTOP)
    try:
        code, out = submit(course, "correct_loops.py", "ada", *STRICT)
        assert code == 0 and out["score"] == 100
        assert settled(lambda: zygote not in _ours(_processes())), "the wedged zygote is still there"
    finally:
        zygote_control.discard()  # the next tests get a zygote with the usual timeout


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.parametrize("name", ["read_gradebook.py", "network.py"])
def test_a_postgresql_gradebook_is_out_of_reach(
    course: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str, path: str
) -> None:
    monkeypatch.setenv("GRADE_DB_URL", postgres_url)
    _, peer = submit(course, "correct_vectorized.py", "peer", *STRICT)
    with Gradebook(postgres_url) as gradebook:
        before = gradebook.get(peer["submission_id"])
    code, out = submit(course, staged(tmp_path, name), "mallory", *STRICT)
    assert code == 0 and part_scores(out["checks"]) == CORPUS[name][1]
    with Gradebook(postgres_url) as gradebook:
        assert gradebook.get(peer["submission_id"]) == before
