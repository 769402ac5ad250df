"""Isolation layers: detected, reported by `grade doctor`, enforced by strict mode, recorded.

Two paths hold strict isolation: namespaces (bubblewrap) and, where bubblewrap cannot run, Landlock
with seccomp and a uid of the child's own (GRADE_NO_BWRAP=1 grades as there); with neither
(GRADE_NO_LANDLOCK=1 too) only `--isolation none` grades.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import ROOT, SAMPLES, run, submitted

from grader.cli import main
from grader.db import Gradebook
from grader.sandbox import zygote_control
from grader.sandbox.inside.confine import UID_BASE
from grader.sandbox.interface import Cell, Limits, Program
from grader.sandbox.isolation import detect
from grader.sandbox.process import Sandbox


@pytest.fixture
def without_bubblewrap(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """As on a machine without bubblewrap (the Landlock path): a fresh probe, and a zygote
    started without it."""
    monkeypatch.setenv("GRADE_NO_BWRAP", "1")
    detect.cache_clear()
    zygote_control.discard()
    yield
    monkeypatch.delenv("GRADE_NO_BWRAP")
    detect.cache_clear()
    zygote_control.discard()


@pytest.fixture
def without_any_sandbox(monkeypatch: pytest.MonkeyPatch, without_bubblewrap: None) -> Iterator[None]:
    """As on a machine with neither bubblewrap nor Landlock."""
    monkeypatch.setenv("GRADE_NO_LANDLOCK", "1")
    detect.cache_clear()
    yield
    monkeypatch.delenv("GRADE_NO_LANDLOCK")
    detect.cache_clear()


#: `grade submit` of a correct sample
SUBMIT = ("submit", str(SAMPLES / "correct_loops.py"), "-a", "backprop", "-s", "ada")


def test_this_machine_gives_every_layer() -> None:
    # CI installs bubblewrap and pyseccomp, and runs as root on a kernel with Landlock: the
    # tests run under full isolation, and the fallback path is there to test too
    result = CliRunner().invoke(main, ["doctor"])
    assert result.exit_code == 0
    assert "level: namespaces+seccomp" in result.output and "path: namespaces" in result.output
    assert "landlock    yes" in result.output and "uid         yes" in result.output
    assert detect().bubblewrap is not None and detect().landlock >= 1


def test_results_record_the_isolation_level(course: Path, db_url: str) -> None:
    out = submitted(course, "correct_loops.py")
    assert out["isolation"] == "namespaces+seccomp"
    with Gradebook(db_url) as gradebook:
        stored = gradebook.get(out["submission_id"])
    assert stored is not None and stored.isolation == "namespaces+seccomp"


def test_without_bubblewrap_strict_grading_takes_the_landlock_path(course: Path, db_url: str, without_bubblewrap: None) -> None:
    result = run(course, *SUBMIT, "--json")  # strict, the default
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    out = json.loads(result.stdout)
    assert out["score"] == 100 and out["isolation"] == "landlock+seccomp+uid"
    with Gradebook(db_url) as gradebook:
        stored = gradebook.get(out["submission_id"])
    assert stored is not None and stored.isolation == "landlock+seccomp+uid"
    text = run(course, *SUBMIT)
    assert text.exit_code == 0 and "Isolation: landlock+seccomp+uid." in text.output


@pytest.mark.parametrize("strict", [(), ("--isolation", "strict")])
def test_strict_mode_refuses_without_namespaces_or_landlock_and_records_nothing(
    course: Path, db_url: str, without_any_sandbox: None, strict: tuple[str, ...]
) -> None:
    result = run(course, *SUBMIT, *strict)  # strict is the default of grade submit too
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "Error: strict isolation needs namespaces or Landlock, but GRADE_NO_BWRAP is set, and no Landlock: "
        "GRADE_NO_LANDLOCK is set; install bubblewrap, or grade unisolated with --isolation none."
    ]
    assert not Path(db_url.removeprefix("sqlite:///")).exists()
    batch = run(course, "batch", str(SAMPLES), "-a", "backprop")
    assert batch.exit_code == 2 and len(batch.output.strip().splitlines()) == 1
    assert "strict isolation needs namespaces or Landlock" in batch.output


@pytest.mark.parametrize("how", ["option", "setting"])
def test_isolation_none_grades_unisolated_with_a_loud_warning_and_records_it(
    course: Path, db_url: str, without_any_sandbox: None, how: str
) -> None:
    result = run(course, *SUBMIT, "--json", *(["--isolation", "none"] if how == "option" else []),
                 env={"GRADE_ISOLATION": "none"} if how == "setting" else None)
    assert result.exit_code == 0, result.output
    assert "WARNING: grading without isolation (level process+seccomp" in result.stderr
    out = json.loads(result.stdout)
    assert out["score"] == 100 and out["isolation"] == "process+seccomp"
    with Gradebook(db_url) as gradebook:
        stored = gradebook.get(out["submission_id"])
    assert stored is not None and stored.isolation == "process+seccomp"


def test_the_old_permissive_mode_is_refused_in_one_line_naming_none(course: Path, db_url: str) -> None:
    result = run(course, *SUBMIT, "--isolation", "permissive")
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "Error: --isolation permissive is now called --isolation none (it grades even without isolation); use strict or none."
    ]
    setting = run(course, *SUBMIT, env={"GRADE_ISOLATION": "permissive"})
    assert setting.exit_code == 2 and len(setting.output.strip().splitlines()) == 1
    assert "GRADE_ISOLATION='permissive' is now called 'none'" in setting.output
    assert not Path(db_url.removeprefix("sqlite:///")).exists()


def test_the_help_says_what_none_gives_up() -> None:
    result = CliRunner().invoke(main, ["submit", "--help"], terminal_width=1000)
    assert "none: grade even where neither is available" in result.output
    assert "GRADE_DB_URL passwords" in result.output and ".pth" in result.output


def test_doctor_reports_the_landlock_path(without_bubblewrap: None) -> None:
    result = CliRunner().invoke(main, ["doctor"])
    assert "namespaces  no   GRADE_NO_BWRAP is set" in result.output
    assert "landlock    yes  ABI " in result.output and "uid         yes" in result.output
    assert "path: landlock" in result.output and "level: landlock+seccomp+uid" in result.output


def test_doctor_says_what_is_missing(without_any_sandbox: None) -> None:
    result = CliRunner().invoke(main, ["doctor"])
    assert "namespaces  no" in result.output and "landlock    no   GRADE_NO_LANDLOCK is set" in result.output
    assert "strict isolation will refuse to grade" in result.output
    assert "level: process+seccomp" in result.output


#: what a child on the Landlock path may do, as 1.0 (it could) or 0.0 (it could not)
CONFINED = """\
import ctypes, os, socket, statistics
import numpy as np

def _opens(path, flags=os.O_RDONLY):
    try:
        os.close(os.open(path, flags, 0o644))
    except OSError:
        return 0.0
    return 1.0

def _works(call):
    try:
        call()
    except OSError:
        return 0.0
    return 1.0

def _connect(family, kind, address):
    with socket.socket(family, kind) as s:
        s.connect(address)

def facts():
    header, data = (ctypes.c_uint32 * 2)(0x20080522, 0), (ctypes.c_uint32 * 6)()
    ctypes.CDLL(None).capget(header, data)
    own = os.getuid() == UID_BASE + os.getpid() and os.getgid() == os.getuid() and not os.getgroups()
    return np.array([
        float(own), float(any(data)),
        _opens(f"/proc/{GRADER}/environ"), _opens(f"/proc/{GRADER}/cmdline"), _opens("/proc/self/status"),
        _opens(COURSE), _opens(VENV), _opens(SITE + "/hostile-marker.pth", os.O_WRONLY | os.O_CREAT),
        _opens("/etc/hostname"), _works(lambda: os.kill(GRADER, 0)),
        _works(lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM).close()),
        _works(lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW).close()),
        _works(lambda: _connect(socket.AF_UNIX, socket.SOCK_STREAM, ABSTRACT)),
        _works(lambda: socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).close()),
        _opens("scratch.txt", os.O_WRONLY | os.O_CREAT), _works(lambda: socket.socketpair()[0].close()),
        float(np.random.default_rng(0).random() < 1.0 and statistics.mean([1.0, 3.0]) == 2.0),
    ])
"""
#: each fact above as it must be: its own uid and no capability, nothing of the grader's or the
#: course's, no network, only its scratch directory and socketpairs, the usual modules
EXPECTED = [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1]


def test_the_landlock_path_confines_each_child(without_bubblewrap: None, tmp_path: Path) -> None:
    import numpy

    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    abstract = f"\0grader-test-{uuid.uuid4().hex}"
    listener.bind(abstract)
    listener.listen()
    site = Path(numpy.__file__).parent.parent
    source = CONFINED.replace("UID_BASE", str(UID_BASE)).replace("GRADER", str(os.getpid())).replace("ABSTRACT", repr(abstract))
    source = source.replace("COURSE", repr(str(ROOT / "reference" / "backprop.py"))).replace("SITE", repr(str(site)))
    source = source.replace("VENV", repr(str(site / "click" / "__init__.py")))
    try:
        with Sandbox(Program((Cell("probe.py", source),)), ["facts"], Limits(load_timeout=10.0, call_timeout=10.0)) as box:
            assert box.load().status == "ok"
            [facts] = box.run("facts", [], [[]])
            assert box.isolation == "landlock+seccomp+uid"
    finally:
        listener.close()
    assert facts.status == "ok", facts.error
    assert facts.value["array"].tolist() == EXPECTED
    assert not (site / "hostile-marker.pth").exists()


DAEMON = """\
import os, time

def start():
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            os.execv("/bin/sleep", ["sleep", "4242.789"])
        os._exit(0)
    os.wait()
    return 1.0
"""


def test_on_the_landlock_path_nothing_a_submission_started_outlives_it(without_bubblewrap: None) -> None:
    # without a PID namespace a double-forked daemon leaves the process group; it keeps the
    # child's uid, and every process of that uid is killed when the child ends
    def sleepers() -> list[int]:
        found = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                if b"4242.789" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    found.append(int(pid))
            except OSError:
                pass
        return found

    for kill_the_zygote in (False, True):  # the child ends, or its zygote is killed under it
        with Sandbox(Program((Cell("daemon.py", DAEMON),)), ["start"], Limits(processes=4)) as box:
            assert box.load().status == "ok"
            [started] = box.run("start", [], [[]])
            assert started.status == "ok", started.error
            deadline = time.monotonic() + 5
            while not sleepers() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert sleepers(), "the daemon did not start"
            if kill_the_zygote:
                zygote_control.discard("killed by the test")
        deadline = time.monotonic() + 5
        while sleepers() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not sleepers()


LOCKED = """\
import os
os.makedirs("locked/inner")
open("locked/inner/answers", "w").write("for whoever comes next")
os.chmod("locked/inner", 0)
os.chmod("locked", 0)
def f():
    return 1.0
"""


def test_on_the_landlock_path_scratch_goes_with_the_submission_and_with_a_killed_zygote(without_bubblewrap: None) -> None:
    with Sandbox(Program((Cell("locked.py", LOCKED),)), ["f"]) as box:
        assert box.load().status == "ok"
        zygote = zygote_control._zygote
        assert zygote is not None and zygote.scratch is not None
        base = Path(zygote.scratch)
        [scratch] = base.iterdir()
        assert scratch.stat().st_uid >= UID_BASE and base.stat().st_mode & 0o777 == 0o711
        assert os.path.ismount(base)  # a sized tmpfs: the test runs as root
    deadline = time.monotonic() + 5
    while any(base.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(base.iterdir())
    with Sandbox(Program((Cell("locked.py", LOCKED),)), ["f"]) as box:
        assert box.load().status == "ok"
        zygote_control.discard("killed by the test")  # SIGKILL: the zygote cleans nothing up
    assert not base.exists() and str(base) not in Path("/proc/self/mountinfo").read_text()
