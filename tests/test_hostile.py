"""Hostile submissions (tests/hostile/): the grader survives each one, records a result, and
awards no point that the mathematics did not earn.

Every file is a ``backprop`` submission with an honest part and an attack. For each, through
``grade submit --json``: exit 0 with a stored result; exactly the points of the honest parts;
then no process of the submission left, nothing written outside the sandbox's scratch space,
the course and the earlier rows of the gradebook unchanged, the grader's memory and the
machine's shared memory bounded, at most 64 KiB of output kept, and a correct submission
still earning 100 in the same process.

Files that try to see or keep what they must not define ``stolen()``, which returns the loot
or None; with loot their attacked functions answer right. So a point on an attacked part
means the attack worked, and ``test_loot_would_earn_points`` hands each of them the loot to
show those points really are on the table.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import signal
import sqlite3
import tempfile
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest
from click.testing import CliRunner

from grader.cli import main
from grader.db import Gradebook
from grader.sandbox import zygote_control

from conftest import ROOT, SAMPLES

HOSTILE = Path(__file__).parent / "hostile"
FULL = {"q1_loss": 20, "q2a_dz3": 15, "q2b_dW2": 20, "q2c_dW1": 20, "q2c_db1": 15, "q2c_db2": 10}
SECRET = ("GRADER_SECRET_TOKEN", "hostile-test-secret-7f3a9c")
OUTPUT_CAP = 64 * 1024
#: how much the grader's peak memory and the machine's shared memory may grow per submission
MEMORY_SLACK_KB = 200 * 1024
SHMEM_SLACK_KB = 128 * 1024


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
    "scalar_broadcast.py": ("graded", LOSS),
    "monkeypatch_numpy.py": ("graded", LOSS),
    "absurd_view.py": ("graded", LOSS),
    "large_answer.py": ("graded", LOSS),
    "mutate_for_credit.py": ("graded", LOSS),
    # forge the verdict
    "fake_stdout.py": ("graded", LOSS),
    "forge_frame.py": ("graded", LOSS),
    "forge_shape.py": ("graded", LOSS),
    "write_files.py": ("graded", LOSS),
    "exit_early.py": ("graded", LOSS),
    "pickle_bomb.py": ("graded", LOSS),
    # exhaust or escape
    "infinite_loop.py": ("graded", LOSS),
    "ignore_signals.py": ("graded", LOSS),
    "import_hang.py": ("graded", FULL),
    "memory_bomb.py": ("graded", LOSS),
    "fork_memory.py": ("graded", LOSS),
    "fork_bomb.py": ("graded", LOSS_DZ3),
    "thread_storm.py": ("graded", LOSS_DZ3),
    "output_flood.py": ("graded", LOSS_DZ3),
    "disk_fill.py": ("graded", LOSS),
    "daemon.py": ("graded", LOSS_DZ3),
    "kill_parent.py": ("graded", LOSS),
    "segfault.py": ("graded", LOSS),
}
#: graded just before, in the same process (and so the same zygote) and gradebook
PRELUDE = {"pick_up.py": "leave_behind.py"}
#: attacks that still work, and why
XFAIL: dict[str, str] = {}
STOLEN = sorted(name for name in CORPUS if "\ndef stolen():\n" in (HOSTILE / name).read_text())


def params(names: list[str]) -> list[object]:
    return [pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=XFAIL[n])) if n in XFAIL else n for n in names]


@pytest.fixture(scope="module", autouse=True)
def grader_with_a_secret() -> Iterator[None]:
    """A secret in the grader's environment, and a zygote started by a grader holding it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(*SECRET)
        zygote_control.discard()
        yield
    zygote_control.discard()


def grade(course: Path, path: Path, student: str) -> tuple[int, dict]:
    result = CliRunner().invoke(
        main,
        ["--course", str(course), "submit", str(path), "-a", "backprop", "-s", student, "--json", "--isolation", "strict"],
    )
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert len(result.stdout.splitlines()) <= 1, "grade submit --json must print exactly one line"
    return result.exit_code, json.loads(result.stdout) if result.exit_code == 0 else {"output": result.output}


def part_scores(checks: list[dict]) -> dict[str, float]:
    scores = dict.fromkeys(FULL, 0.0)
    for check in checks:
        scores[next(p for p in FULL if check["id"].startswith(p))] += check["score"]
    return scores


# -- what the host looks like ------------------------------------------------------------


def _processes() -> dict[int, tuple[int, str, bytes, list[int]]]:
    """pid -> (parent pid, comm, cmdline, NSpid) of every process, as far as it can be read."""
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
        table[int(entry)] = (int(rest[1]), comm, cmdline, [int(n) for n in nspid])
    return table


def _ours(table: dict[int, tuple[int, str, bytes, list[int]]]) -> set[int]:
    """This process's descendants."""
    ours, frontier = set(), {os.getpid()}
    while frontier:
        frontier = {pid for pid, (parent, *_) in table.items() if parent in frontier} - ours
        ours |= frontier
    return ours


def submission_processes() -> set[int]:
    """Processes a submission started: those that mark themselves (comm hostile-*, or a cmdline
    with 4242.), and any process in a sandbox of ours other than its init (1) and zygote (2)."""
    table = _processes()
    ours = _ours(table)
    marked = {pid for pid, (_, comm, cmdline, _) in table.items() if comm.startswith("hostile") or b"4242." in cmdline}
    sandboxed = {pid for pid in ours if len(table[pid][3]) > 1 and not _machinery(table, pid)}
    return marked | sandboxed


def _machinery(table: dict[int, tuple[int, str, bytes, list[int]]], pid: int) -> bool:
    """The namespace's init (the zygote, or a bwrap reaper) or a zygote under a bwrap reaper."""
    parent, _, _, nspid = table[pid]
    return nspid[-1] == 1 or (nspid[-1] == 2 and table.get(parent, (0, ""))[1] == "bwrap")


def markers(tmp_path: Path) -> set[tuple[str, int]]:
    """(path, mtime) of every file named hostile-marker* where an attack could have written one."""
    found = set()
    walked = [tmp_path.parents[1], ROOT / "reference", ROOT / "rubrics", ROOT / "submissions"]
    flat = [Path(tempfile.gettempdir()), Path.home(), Path("/work"), ROOT, Path("/dev/shm"), Path("/var/tmp"), Path("/")]
    for top in walked:
        for folder, _, files in os.walk(top):
            found |= {(path, os.lstat(path).st_mtime_ns) for f in files if "hostile-marker" in f for path in [os.path.join(folder, f)]}
    for folder in flat:
        try:
            found |= {(str(p), p.lstat().st_mtime_ns) for p in folder.iterdir() if "hostile-marker" in p.name}
        except OSError:
            pass
    return found


def grader_scratch() -> set[str]:
    return {p for p in os.listdir(tempfile.gettempdir()) if p.startswith(("grader-output-", "submission-"))}


def reset_peak_memory() -> None:
    """Start ru_maxrss (the peak resident memory) afresh from the current resident memory."""
    Path("/proc/self/clear_refs").write_text("5")


def shmem_kb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("Shmem:"):
            return int(line.split()[1])
    raise AssertionError("no Shmem in /proc/meminfo")


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
    def now(cls, course: Path, db_url: str, tmp_path: Path) -> Host:
        return cls(
            hashes(course),
            gradebook_rows(db_url),
            frozenset(submission_processes()),
            frozenset(markers(tmp_path)),
            frozenset(grader_scratch()),
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            shmem_kb(),
        )


def survivors(before: frozenset[int], seconds: float = 3.0) -> set[int]:
    """New submission processes still there after ``seconds`` (killed ones take a moment to go)."""
    deadline = time.monotonic() + seconds
    while (left := submission_processes() - before) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


# -- the tests -----------------------------------------------------------------------------


def test_every_hostile_file_has_expectations() -> None:
    assert sorted(p.name for p in HOSTILE.glob("*.py")) == sorted(CORPUS)
    assert set(PRELUDE.values()) <= set(CORPUS) and set(XFAIL) <= set(CORPUS)


@pytest.mark.parametrize("name", params(sorted(CORPUS)))
def test_hostile_submission(course: Path, db_url: str, tmp_path: Path, name: str) -> None:
    status, expected = CORPUS[name]
    grade(course, SAMPLES / "correct_vectorized.py", "peer")  # something to steal
    if name in PRELUDE:
        assert grade(course, HOSTILE / PRELUDE[name], "accomplice")[0] == 0
    reset_peak_memory()
    before = Host.now(course, db_url, tmp_path)

    code, out = grade(course, HOSTILE / name, "mallory")

    assert code == 0, out
    assert out["status"] == status, out["message"]
    assert part_scores(out["checks"]) == expected, [(c["id"], c["status"], c["message"]) for c in out["checks"]]
    assert out["score"] == sum(expected.values())
    with Gradebook(db_url) as gradebook:
        stored = gradebook.get(out["submission_id"])
    assert stored is not None and stored.status == status and stored.score == out["score"]
    assert len(stored.output.encode()) <= OUTPUT_CAP

    left = survivors(before.processes)
    after = Host.now(course, db_url, tmp_path)
    assert not left, f"processes of the submission survived: {sorted(left)}"
    assert after.markers <= before.markers, f"written outside the sandbox: {sorted(after.markers - before.markers)}"
    assert after.scratch <= before.scratch, f"scratch space left behind: {sorted(after.scratch - before.scratch)}"
    assert after.course == before.course
    assert not any("hostile-marker" in p.read_text() for p in (ROOT / "reference").glob("*.py"))
    for table, rows in before.gradebook.items():
        assert rows <= after.gradebook[table], f"rows of {table} changed"
    assert len(after.gradebook["submissions"] - before.gradebook["submissions"]) == 1
    assert after.maxrss_kb - before.maxrss_kb <= MEMORY_SLACK_KB, "the grader's memory grew"
    assert after.shmem_kb - before.shmem_kb <= SHMEM_SLACK_KB, "the machine's shared memory grew and stayed"

    code, out = grade(course, SAMPLES / "correct_loops.py", "ada")
    assert code == 0 and out["score"] == 100, "a correct submission after the hostile one"


@pytest.mark.parametrize("name", STOLEN)
def test_loot_would_earn_points(course: Path, db_url: str, tmp_path: Path, name: str) -> None:
    # Each file's stolen() replaced by one that returns a correct submission's source, the
    # richest loot: every attacked part then earns its points.
    loot = (SAMPLES / "correct_loops.py").read_text()
    source = (HOSTILE / name).read_text()
    rigged = tmp_path / name
    rigged.write_text(source.replace("\ndef stolen():\n", f"\ndef stolen():\n    return {loot!r}\n\n\ndef _attack():\n", 1))
    code, out = grade(course, rigged, "mallory")
    assert code == 0 and part_scores(out["checks"]) == FULL, out


def test_a_wedged_zygote_costs_a_timeout_not_the_grading(course: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # A zygote that stops answering (here stopped from outside: a submission cannot signal it)
    # is killed after the control timeout and replaced; the grader never waits forever.
    monkeypatch.setattr(zygote_control, "CONTROL_TIMEOUT", 1.0)
    zygote_control.discard()
    assert grade(course, SAMPLES / "correct_loops.py", "ada")[1]["score"] == 100
    table = _processes()
    [zygote] = [pid for pid in _ours(table) if table[pid][3][1:] == [1] and table[pid][1].startswith("python")]
    os.kill(zygote, signal.SIGSTOP)
    try:
        code, out = grade(course, SAMPLES / "correct_loops.py", "ada")
        assert code == 0 and out["score"] == 100
        deadline = time.monotonic() + 3
        while zygote in _processes() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert zygote not in _processes()
    finally:
        zygote_control.discard()  # the next tests get a zygote with the usual timeout


@pytest.mark.postgres
@pytest.mark.parametrize("name", ["read_gradebook.py", "network.py"])
def test_a_postgresql_gradebook_is_out_of_reach(
    course: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.setenv("GRADE_DB_URL", postgres_url)
    _, peer = grade(course, SAMPLES / "correct_vectorized.py", "peer")
    with Gradebook(postgres_url) as gradebook:
        before = gradebook.get(peer["submission_id"])
    code, out = grade(course, HOSTILE / name, "mallory")
    assert code == 0 and part_scores(out["checks"]) == CORPUS[name][1]
    with Gradebook(postgres_url) as gradebook:
        assert gradebook.get(peer["submission_id"]) == before
