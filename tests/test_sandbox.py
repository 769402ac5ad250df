"""The child-process boundary: failures become outcomes, and only plain numbers come back."""

from __future__ import annotations

import ast
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from grader.sandbox import cgroups, zygote_control
from grader.sandbox.inside import zygote
from grader.sandbox.interface import Cell, Limits, Program
from grader.sandbox.process import Sandbox

FAST = Limits(load_timeout=1.0, call_timeout=1.0)


def sandbox(source: str, functions: list[str], *, strict: bool = True) -> Sandbox:
    return Sandbox(Program((Cell("student.py", source),), strict_syntax=strict), functions, FAST)


def test_calls_return_plain_arrays_and_note_mutation() -> None:
    source = "def double(x):\n    x *= 2\n    return x\n"
    with sandbox(source, ["double"]) as box:
        assert box.load().functions == {"double": "ok"}
        [outcome] = box.run("double", ["x"], [[np.arange(3.0)]])
    assert outcome.status == "ok"
    assert type(outcome.value["array"]) is np.ndarray
    np.testing.assert_array_equal(outcome.value["array"], [0.0, 2.0, 4.0])
    assert outcome.mutated == ("x",)


def test_syntax_error_of_a_python_file_is_a_load_error_with_its_line() -> None:
    with sandbox("x = 1\n\ndef f(:\n    pass\n", ["f"]) as box:
        report = box.load()
    assert report.status == "error"
    assert "SyntaxError" in report.message and "line 3" in report.message


def test_missing_and_uncallable_functions_are_reported_by_name() -> None:
    with sandbox("g = 3\n", ["f", "g"]) as box:
        assert box.load().functions == {"f": "missing", "g": "not callable"}


def test_a_statement_that_raises_is_a_warning_and_later_definitions_still_happen() -> None:
    with sandbox("def f():\n    return 1.0\nraise RuntimeError('boom')\ndef g():\n    return 2.0\n", ["f", "g"]) as box:
        report = box.load()
    assert report.status == "ok"
    assert report.functions == {"f": "ok", "g": "ok"}
    assert report.warnings == ("student.py line 3 raised RuntimeError: boom (line 3)",)


def test_future_imports_apply_to_the_whole_file() -> None:
    source = "from __future__ import annotations\n\ndef f(x: NotYetDefined) -> float:\n    return 1.0\n"
    with sandbox(source, ["f"]) as box:
        report = box.load()
    assert report.warnings == () and report.functions == {"f": "ok"}


@pytest.mark.slow
def test_a_statement_that_hangs_is_skipped_and_the_rest_loads() -> None:
    source = "def f():\n    return 1.0\n\nwhile True:\n    pass\n\ndef g():\n    return 2.0\n"
    with sandbox(source, ["f", "g"]) as box:
        report = box.load()
        [g] = box.run("g", [], [[]])
    assert report.status == "ok"
    assert report.functions == {"f": "ok", "g": "ok"}
    assert report.warnings == ("student.py line 4 ran for more than 1 s and was skipped",)
    assert float(g.value["array"]) == 2.0  # a restarted child skips it too


@pytest.mark.slow
def test_a_notebook_cell_that_hangs_is_skipped() -> None:
    cells = (Cell("cell 1", "def f():\n    return 1.0\n"), Cell("cell 2", "import time\ntime.sleep(60)\n"), Cell("cell 3", "def g():\n    return f() + 1\n"))
    program = Program(cells, module="__main__", strict_syntax=False, by_statement=False)
    with Sandbox(program, ["f", "g"], FAST) as box:
        report = box.load()
        [g] = box.run("g", [], [[]])
    assert report.warnings == ("cell 2 ran for more than 1 s and was skipped",)
    assert float(g.value["array"]) == 2.0


@pytest.mark.slow
def test_a_hanging_function_costs_only_its_own_calls() -> None:
    source = "def hang(x):\n    while True:\n        pass\n\ndef ok(x):\n    return x + 1\n"
    with sandbox(source, ["hang", "ok"]) as box:
        box.load()
        first = box.run("hang", ["x"], [[1.0], [2.0]])
        again = box.run("hang", ["x"], [[3.0]])
        fine = box.run("ok", ["x"], [[1.0]])
    assert [o.status for o in first] == ["timeout", "timeout"]
    assert again[0].status == "timeout"  # not run again: the limit is paid once
    assert fine[0].status == "ok" and float(fine[0].value["array"]) == 2.0


@pytest.mark.parametrize(
    ("body", "status", "text"),
    [
        ("raise ValueError('bad shape')", "error", "ValueError: bad shape (line 2 in f)"),
        ("import sys; sys.exit(0)", "error", "SystemExit"),
        ("import os; os._exit(0)", "crashed", "exit code 0"),
        ("import os, signal; os.kill(os.getpid(), signal.SIGSEGV)", "crashed", "SIGSEGV"),
        ("import numpy; return numpy.ones(10**10)", "memory", "MemoryError"),
    ],
)
def test_failures_inside_a_call_become_outcomes(body: str, status: str, text: str) -> None:
    with sandbox(f"def f(x):\n    {body}\n\ndef g(x):\n    return 1.0\n", ["f", "g"]) as box:
        box.load()
        [outcome] = box.run("f", ["x"], [[0.0]])
        [after] = box.run("g", ["x"], [[0.0]])
    assert outcome.status == status
    assert text in outcome.error
    assert after.status == "ok"  # the child is restarted for the other functions


@pytest.mark.slow
def test_load_that_keeps_hanging_times_out() -> None:
    source = "while True:\n    pass\n" * 3
    with Sandbox(Program((Cell("s.py", source),)), ["f"], Limits(load_timeout=0.5)) as box:
        report = box.load()
    assert report.status == "timeout"
    assert "s.py line 5 was running" in report.message


@pytest.mark.slow
def test_a_slow_drip_stops_at_the_total_time() -> None:
    # Every call stays under the call limit (1 s); together they would take 3 s.
    source = "import time\n\ndef slow(x):\n    time.sleep(0.3)\n    return x\n\ndef fast(x):\n    return x\n"
    limits = Limits(load_timeout=1.0, call_timeout=1.0, total_timeout=1.0)
    start = time.monotonic()
    with Sandbox(Program((Cell("student.py", source),)), ["slow", "fast"], limits) as box:
        assert box.load().status == "ok"
        drip = box.run("slow", ["x"], [[float(i)] for i in range(10)])
        later = box.run("fast", ["x"], [[1.0]])
        assert box.out_of_time
    elapsed = time.monotonic() - start
    statuses = [o.status for o in drip]
    answered = statuses.count("ok")
    assert 1 <= answered <= 3 and statuses == ["ok"] * answered + ["timeout"] * (10 - answered)
    assert drip[answered].error == "the submission used its total time of 1 s; slow was stopped"
    assert [o.status for o in later] == ["timeout"] and later[0].error == "the submission used its total time of 1 s; fast was not run"
    assert elapsed < 2.5, f"{elapsed:.1f} s"


def test_a_load_past_the_total_time_is_a_timeout_without_skipping() -> None:
    source = "import time\n\ndef f():\n    return 1.0\n\ntime.sleep(0.9)\ntime.sleep(0.9)\n"
    start = time.monotonic()
    with Sandbox(Program((Cell("s.py", source),)), ["f"], Limits(load_timeout=1.0, total_timeout=0.5)) as box:
        report = box.load()
    assert report.status == "timeout" and report.warnings == ()
    assert report.message == "the submission used its total time of 0.5 s while loading (s.py line 6 was running)"
    assert time.monotonic() - start < 1.5


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("[1.0, 2.0]", {"unsupported": "a list"}),
        ("(None, 'x')", {"tuple": [{"unsupported": "None"}, {"unsupported": "a str"}]}),
        ("tuple([None] * 17)", {"unsupported": "a tuple of 17 values"}),
        ("None", {"unsupported": "None"}),
        ("numpy.array([1 + 2j])", {"unsupported": "an array of dtype complex128"}),
        ("numpy.array(['a'], dtype=object)", {"unsupported": "an array of dtype object"}),
        ("numpy.broadcast_to(numpy.float64(1.0), (10**6, 10**6))", {"unsupported": "an array of shape (1000000, 1000000), too large to be an answer"}),
        ("{1: 2.0}", {"unsupported": "a dict with a key of type int"}),
    ],
)
def test_only_plain_numbers_cross_the_boundary(expression: str, expected: dict[str, str]) -> None:
    with sandbox(f"import numpy\ndef f():\n    return {expression}\n", ["f"]) as box:
        box.load()
        [outcome] = box.run("f", [], [[]])
    assert outcome.status == "ok"
    assert outcome.value == expected


#: a submission's helper that writes a hand-made reply frame into the grader's pipe, then waits
FORGE = (
    "import json, os, struct, time\n"
    "def forge(body, sizes, payload=b''):\n"
    "    text = json.dumps({'body': body, 'buffers': sizes}).encode()\n"
    "    for fd in range(3, 10):  # the requests pipe refuses writes; the replies pipe takes them\n"
    "        try:\n"
    "            os.write(fd, struct.pack('>I', len(text)) + text + payload)\n"
    "        except OSError:\n"
    "            pass\n"
    "    time.sleep(30)\n"
    "def reply(value, status='ok'):\n"
    "    return {'status': status, 'value': value, 'error': '', 'seconds': 0.0, 'mutated': [], 'inner_calls': {}, 'updated': {}}\n"
    "def array(index, size):\n"
    "    return {'array': {'__nd__': index, 'dtype': '|u1', 'shape': [size]}}\n"
)


def test_a_reply_referring_to_one_buffer_many_times_is_refused() -> None:
    # 150 arrays over one 1 MiB buffer: the grader would allocate 150 MiB for 1 MiB read
    source = FORGE + "def f():\n    forge(reply({'dict': {f'k{n}': array(0, 1 << 20) for n in range(150)}}), [1 << 20], bytes(1 << 20))\n"
    with sandbox(source, ["f"]) as box:
        box.load()
        [outcome] = box.run("f", [], [[]])
    assert outcome.status == "crashed"
    assert outcome.error == "f broke the protocol (buffer 0 is referenced by more than one array)"


def test_a_reply_of_the_wrong_form_is_refused_before_its_buffers_are_read() -> None:
    # The 4 MiB buffer never comes: a grader reading it first would wait for the call's time limit.
    source = FORGE + "def f():\n    forge(reply(array(0, 4 << 20), status='bogus'), [4 << 20])\n"
    with sandbox(source, ["f"]) as box:
        box.load()
        [outcome] = box.run("f", [], [[]])
    assert outcome.status == "crashed"
    assert outcome.error == "f broke the protocol (a reply without a valid status)"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("dict(reply(None), extra=1)", "a reply without exactly the keys of a reply"),
        ("dict(reply(None), error=['x'])", "a reply whose error is not a string"),
        ("dict(reply(None), seconds=1e300)", "a reply whose seconds are not a plain number of seconds"),
        ("dict(reply(None), mutated=[1])", "a reply whose mutated names are not a list of strings"),
        ("dict(reply(None), inner_calls={'f': -1})", "a reply whose inner calls are not counts"),
        ("reply({'array': 1.5})", "a reply whose value is not an answer as the sandbox exports it"),
        ("reply({'tuple': [{'kept': 1}]})", "a reply whose value is not an answer as the sandbox exports it"),
        ("reply({'tuple': [None] * 17})", "a reply whose value is not an answer as the sandbox exports it"),
        ("dict(reply(None), updated=[1])", "a reply whose updated arguments are not answers as the sandbox exports them"),
        ("dict(reply(None), updated={'p': {'array': 2}})", "a reply whose updated arguments are not answers as the sandbox exports them"),
    ],
)
def test_every_field_of_a_reply_has_its_form(body: str, reason: str) -> None:
    with sandbox(FORGE + f"def f():\n    forge({body}, [])\n", ["f"]) as box:
        box.load()
        [outcome] = box.run("f", [], [[]])
    assert (outcome.status, outcome.error) == ("crashed", f"f broke the protocol ({reason})")


def test_a_frame_with_arrays_while_loading_is_refused_unread(caplog: pytest.LogCaptureFixture) -> None:
    # the buffer never comes; the statement that forged it is skipped like one that crashed
    source = FORGE + "forge({'running': 0, 'label': array(0, 4 << 20)}, [4 << 20])\n"
    with sandbox(source, ["forge"]) as box:
        report = box.load()
    assert report.status == "ok" and report.warnings[0].endswith("and was skipped")
    assert any(r.getMessage().endswith("broke the protocol while loading (4194304 bytes of arrays are over the 0-byte limit)") for r in caplog.records)


def test_a_lying_float_subclass_arrives_as_its_plain_value() -> None:
    source = (
        "class Liar(float):\n"
        "    def __eq__(self, other):\n        return True\n"
        "    def __sub__(self, other):\n        return 0.0\n"
        "def f():\n    return Liar(5.0)\n"
    )
    with sandbox(source, ["f"]) as box:
        box.load()
        [outcome] = box.run("f", [], [[]])
    value = outcome.value["array"]
    assert type(value) is np.ndarray and value.dtype == np.float64
    assert float(value) == 5.0
    assert not (value == 6.0)


def test_output_is_captured_and_capped() -> None:
    source = "print('hello from the student')\ndef f():\n    print('x' * 10_000_000)\n    return 1.0\n"
    with sandbox(source, ["f"]) as box:
        box.load()
        [outcome] = box.run("f", [], [[]])
        output = box.output
    assert outcome.status == "ok"
    assert output.startswith("hello from the student")
    assert len(output) <= 64 * 1024


def test_the_grader_is_not_importable_and_the_environment_is_empty() -> None:
    source = (
        "import os\n"
        "def env():\n    return float(len([k for k in os.environ if k not in ('PATH', 'HOME', 'TMPDIR', 'LANG') and not k.endswith('_THREADS') and not k.startswith('OPENBLAS_')]))\n"
        "def imports():\n"
        "    try:\n        import grader\n    except ImportError:\n        return 0.0\n    return 1.0\n"
    )
    with sandbox(source, ["env", "imports"]) as box:
        box.load()
        [env] = box.run("env", [], [[]])
        [imports] = box.run("imports", [], [[]])
    assert float(env.value["array"]) == 0.0
    assert float(imports.value["array"]) == 0.0


#: a submission that asks numpy's OpenBLAS how it was set up when numpy was loaded (in the
#: sandbox: by the zygote, from the environment it was started with)
OPENBLAS_SETUP = """
import ctypes, glob, os
import numpy as np

def _openblas():
    [path] = glob.glob(os.path.join(os.path.dirname(np.__file__), "..", "numpy.libs", "*openblas*"))
    return ctypes.CDLL(path)

def core():
    name = getattr(_openblas(), "scipy_openblas_get_corename64_")
    name.restype = ctypes.c_char_p
    return np.frombuffer(name(), dtype=np.uint8).astype(float)

def threads():
    return float(getattr(_openblas(), "scipy_openblas_get_num_threads64_")())
"""


def test_numpy_in_the_sandbox_computes_with_the_blas_set_up_as_the_graders() -> None:
    # OPENBLAS_CORETYPE (a machine's choice of kernels; some processors compute wrong results
    # without it) and one BLAS thread must reach the zygote that loads numpy: bubblewrap starts
    # it with no environment of its own. Otherwise the sandbox computes with other kernels than
    # the grader, and a reproduced answer differs from the graded one in its last bits.
    namespace: dict[str, Any] = {}
    exec(OPENBLAS_SETUP, namespace)
    here = namespace["_openblas"]()
    if not hasattr(here, "scipy_openblas_get_corename64_"):
        pytest.skip("numpy's OpenBLAS here is not scipy-openblas")
    with sandbox(OPENBLAS_SETUP, ["core", "threads"]) as box:
        assert box.load().status == "ok"
        [core] = box.run("core", [], [[]])
        [threads] = box.run("threads", [], [[]])
    inside = bytes(core.value["array"].astype(np.uint8)).decode()
    expected = namespace["core"]().astype(np.uint8).tobytes().decode()
    assert (inside, float(threads.value["array"])) == (expected, 1.0)


def test_scratch_is_private_and_gone_for_the_next_submission() -> None:
    first = "import os\nopen('left-behind.txt', 'w').write('x')\ndef where():\n    return float(len(os.getcwd()))\n"
    with sandbox(first, ["where"]) as box:
        assert box.load().status == "ok"
    second = (
        "import os, glob\n"
        "def look():\n    return float(len(glob.glob(os.path.join(os.path.dirname(os.getcwd()), '*', 'left-behind.txt'))))\n"
    )
    with sandbox(second, ["look"]) as box:
        box.load()
        [look] = box.run("look", [], [[]])
    assert float(look.value["array"]) == 0.0


def test_cleaning_the_private_tmp_leaves_other_file_systems_unwalked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A Python installation under /tmp is bind-mounted read-only inside the sandbox's own /tmp;
    # the zygote's cleanup after each submission walked all of it, in vain (45 ms a submission
    # for a venv). Here such a tree is mounted writable, at /tmp/outer/venv: a cleanup that
    # entered it would empty it. What the submission wrote beside it still goes.
    tree = tmp_path / "venv"
    for n in range(20):
        module = tree / "lib" / "site-packages" / f"pkg{n % 4}" / f"m{n}.py"
        module.parent.mkdir(parents=True, exist_ok=True)
        module.write_text("x = 1\n")
    files = sorted(str(p.relative_to(tree)) for p in tree.rglob("*"))
    command = zygote_control.bubblewrap_command

    def with_tree(bwrap: str, args: list[str], env: dict[str, str] | None = None) -> list[str]:
        full = command(bwrap, args, env)
        at = full.index("--remount-ro")
        return full[:at] + ["--bind", str(tree), "/tmp/outer/venv"] + full[at:]

    monkeypatch.setattr(zygote_control, "bubblewrap_command", with_tree)
    zygote_control.discard()
    first = (
        "import os\n"
        "for path in ('/tmp/stash', '/tmp/outer/stash'):\n    open(path, 'w').write('x')\n"
        "def f():\n    return float(len(os.listdir('/tmp/outer/venv/lib/site-packages')))\n"
    )
    second = "import os\ndef f():\n    return float(os.path.exists('/tmp/stash') + os.path.exists('/tmp/outer/stash'))\n"
    try:
        with sandbox(first, ["f"]) as box:
            box.load()
            [seen] = box.run("f", [], [[]])
        with sandbox(second, ["f"]) as box:  # forked after the first one's cleanup
            box.load()
            [stashes] = box.run("f", [], [[]])
    finally:
        monkeypatch.undo()
        zygote_control.discard()
    assert box.isolation.startswith("namespaces")
    assert float(seen.value["array"]) == 4.0  # the tree is there
    assert float(stashes.value["array"]) == 0.0
    assert sorted(str(p.relative_to(tree)) for p in tree.rglob("*")) == files


def test_the_cleanup_removes_any_depth_of_folders_even_unreadable_ones(tmp_path: Path) -> None:
    top = deep = tmp_path / "scratch"
    top.mkdir()
    for _ in range(1200):  # deeper than Python's recursion limit
        deep = deep / "d"
        deep.mkdir()
    (deep / "file").write_text("x")
    locked = top / "locked"
    (locked / "inner").mkdir(parents=True)
    (locked / "inner" / "file").write_text("x")
    for folder in (locked / "inner", locked):
        folder.chmod(0)
    zygote.remove(str(top))
    assert os.listdir(tmp_path) == []


THREADS_AND_FORK = (
    "import os, threading\n"
    "def threads():\n"
    "    box = []\n"
    "    t = threading.Thread(target=lambda: box.append(2.0))\n"
    "    t.start(); t.join()\n"
    "    return box[0]\n"
    "def fork():\n"
    "    pid = os.fork()\n"
    "    if pid == 0:\n"
    "        os._exit(0)\n"
    "    os.waitpid(pid, 0)\n"
    "    return 1.0\n"
)


@pytest.mark.parametrize(("processes", "fork_status"), [(1, "error"), (4, "ok")])
def test_threads_start_and_processes_only_when_the_rubric_allows(processes: int, fork_status: str) -> None:
    limits = Limits(load_timeout=5.0, call_timeout=5.0, processes=processes)
    with Sandbox(Program((Cell("s.py", THREADS_AND_FORK),)), ["threads", "fork"], limits) as box:
        box.load()
        [threads] = box.run("threads", [], [[]])
        [fork] = box.run("fork", [], [[]])
    assert threads.status == "ok" and float(threads.value["array"]) == 2.0
    assert fork.status == fork_status
    if fork_status == "error":
        assert "BlockingIOError" in fork.error


#: what the machine gives for caps per submission (see grader.sandbox.cgroups): the tests of the
#: cgroup itself need one (root, or memory and pids delegated in cgroup v2)
PARENTS, NO_CGROUP = cgroups.detect()
needs_cgroup = pytest.mark.skipif(PARENTS is None, reason=f"no cgroup per submission on this machine: {NO_CGROUP}")

#: threads with the smallest stacks and one malloc arena, which the address-space cap does not stop
FLOOD = (
    "import _thread, ctypes, threading, time\n"
    "def flood():\n"
    "    ctypes.CDLL(None).mallopt(-8, 1)  # M_ARENA_MAX: no 64 MiB arena reserved per thread\n"
    "    threading.stack_size(32 << 10)\n"
    "    started = 0\n"
    "    while started < 3000:\n"
    "        try:\n"
    "            _thread.start_new_thread(time.sleep, (1.0,))\n"
    "        except RuntimeError:\n"
    "            break\n"
    "        started += 1\n"
    "    return float(started)\n"
)


@pytest.mark.parametrize("processes", [1, 3])
def test_threads_are_capped_whatever_their_stacks(processes: int) -> None:
    limits = Limits(load_timeout=5.0, call_timeout=5.0, processes=processes)
    with Sandbox(Program((Cell("s.py", FLOOD),)), ["flood"], limits) as box:
        box.load()
        [flood] = box.run("flood", [], [[]])
    assert flood.status == "ok"
    assert 1 <= float(flood.value["array"]) <= processes + limits.threads - 1  # the main thread is a task too


def test_memfd_create_is_refused() -> None:
    source = "import os\ndef f():\n    try:\n        os.memfd_create('hoard')\n    except PermissionError:\n        return 1.0\n    return 0.0\n"
    with sandbox(source, ["f"]) as box:
        box.load()
        [outcome] = box.run("f", [], [[]])
    assert float(outcome.value["array"]) == 1.0


def test_socket_buffers_cannot_be_enlarged() -> None:
    # a UNIX socket pair holds up to twice net.core.wmem_max (megabytes) unmapped
    source = (
        "import socket\n"
        "def f():\n"
        "    a, b = socket.socketpair()\n"
        "    refused = 0\n"
        "    for option in (socket.SO_SNDBUF, socket.SO_RCVBUF):\n"
        "        try:\n"
        "            a.setsockopt(socket.SOL_SOCKET, option, 1 << 22)\n"
        "        except PermissionError:\n"
        "            refused += 1\n"
        "    return float(refused)\n"
    )
    with sandbox(source, ["f"]) as box:
        box.load()
        [outcome] = box.run("f", [], [[]])
    assert float(outcome.value["array"]) == 2.0


#: 208 MiB of files in the scratch tmpfs, then 80 MiB of arrays: within RLIMIT_AS, which sees only
#: what is mapped, but not within a cap of 256 MiB on all the submission holds
FILES_AND_ARRAYS = (
    "import numpy as np\n"
    "def hoard():\n"
    "    for n in range(13):\n"
    "        with open(f'hoard-{n}', 'wb') as f:\n"
    "            f.write(b'\\x01' * (16 << 20))\n"
    "    arrays = np.ones(80 << 17)\n"
    "    return float(arrays.sum())\n"
    "def fine():\n"
    "    return 1.0\n"
)


@needs_cgroup
def test_files_count_against_the_memory_cap() -> None:
    limits = Limits(load_timeout=5.0, call_timeout=5.0, memory_mb=256)
    with Sandbox(Program((Cell("s.py", FILES_AND_ARRAYS),)), ["hoard", "fine"], limits) as box:
        box.load()
        [hoard] = box.run("hoard", [], [[]])
        [fine] = box.run("fine", [], [[]])  # a new child: the files went with the last one
    assert hoard.status == "crashed"
    assert hoard.error == "hoard ended its process (killed by signal SIGKILL for holding more than its 256 MiB of memory)"
    assert fine.status == "ok"


@needs_cgroup
def test_each_child_is_alone_in_its_cgroup_with_the_rubrics_caps() -> None:
    limits = Limits(load_timeout=5.0, call_timeout=5.0, memory_mb=300, processes=3)
    with Sandbox(Program((Cell("s.py", "def f():\n    return 1.0\n"),)), ["f"], limits) as box:
        box.load()
        leaf = zygote_control.acquire().cgroup
        assert leaf is not None
        [task] = leaf.tasks()  # the child; the zygote stays outside
        with open(f"/proc/{task}/status") as f:
            nspid = next(line for line in f if line.startswith("NSpid:")).split()
        assert int(nspid[-1]) == box._pid  # its pid in the sandbox's PID namespace
        assert leaf.caps() == (300 << 20, 3 + limits.threads)
    deadline = time.monotonic() + 3
    while leaf.tasks() and time.monotonic() < deadline:  # the zygote ends it while the grader goes on
        time.sleep(0.05)
    assert leaf.tasks() == []


@needs_cgroup
def test_a_zygotes_cgroup_goes_with_it() -> None:
    with sandbox("def f():\n    return 1.0\n", ["f"]) as box:
        box.load()
    leaf = zygote_control.acquire().cgroup
    assert leaf is not None and all(os.path.isdir(f) for f in leaf.folders)
    zygote_control.discard()
    assert not any(os.path.exists(f) for f in leaf.folders)


@needs_cgroup
def test_a_child_that_cannot_enter_its_cgroup_does_not_run(monkeypatch: pytest.MonkeyPatch) -> None:
    prepare = cgroups.Leaf.prepare

    def then_removed(self: cgroups.Leaf, memory: int, tasks: int) -> None:
        prepare(self, memory, tasks)
        for folder in self.folders:  # the zygote's fds now name a removed cgroup
            os.rmdir(folder)

    monkeypatch.setattr(cgroups.Leaf, "prepare", then_removed)
    zygote_control.discard()
    try:
        with sandbox("import os\nos._exit(7)\n", ["f"]) as box:
            report = box.load()
    finally:
        monkeypatch.undo()
        zygote_control.discard()
    assert report.status == "crashed"
    assert report.message.startswith("the sandbox could not be started (the child could not be moved into its cgroup")


def test_without_a_cgroup_submissions_are_graded_and_threads_still_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    # RLIMIT_NPROC caps the tasks of a sandbox whose uid is not root outside; for one that is, the
    # zygote counts them (polling) and kills a submission over its budget
    monkeypatch.setattr(cgroups, "detect", lambda: (None, "none in this test"))
    zygote_control.discard()
    limits = Limits(load_timeout=5.0, call_timeout=5.0)
    try:
        with Sandbox(Program((Cell("s.py", FLOOD + "def f():\n    return 1.0\n"),)), ["f", "flood"], limits) as box:
            box.load()
            [outcome] = box.run("f", [], [[]])
            [flood] = box.run("flood", [], [[]])
            assert zygote_control.acquire().cgroup is None
    finally:
        monkeypatch.undo()
        zygote_control.discard()
    assert outcome.status == "ok"
    if flood.status == "ok":
        assert float(flood.value["array"]) <= limits.processes + limits.threads - 1
    else:
        assert flood.error == "flood ended its process (killed by signal SIGKILL)"


def fake_cgroup(folder: Path, controllers: str, enabled: str | None) -> None:
    """A cgroup v2 directory as the grader reads it; ``enabled`` None: one that refuses to
    enable controllers below it (as a cgroup holding processes does)."""
    folder.mkdir(parents=True)
    (folder / "cgroup.controllers").write_text(controllers + "\n")
    (folder / "cgroup.procs").write_text("")
    if enabled is None:
        (folder / "cgroup.subtree_control").symlink_to("/proc/version")  # read: words; written: EIO
    else:
        (folder / "cgroup.subtree_control").write_text(enabled + "\n")


def test_cgroup_v2_leaves_go_in_the_delegated_cgroup_above_the_grader(tmp_path: Path) -> None:
    # systemd's Delegate=yes with DelegateSubgroup=grader: the service's cgroup is delegated, the
    # grader runs in its leaf "grader", which holds processes and so cannot enable controllers
    root = tmp_path / "cgroup2"
    service = root / "system.slice" / "grade.service"
    fake_cgroup(service, "cpu memory pids", "memory pids")
    fake_cgroup(service / "grader", "memory pids", None)
    mounts = [(str(root), "/", "cgroup2", {"rw"})]
    own = {"": "/system.slice/grade.service/grader"}
    assert cgroups._candidate(2, mounts, own) == (cgroups.Parents(2, str(service), str(service)), "")
    (service / "cgroup.controllers").write_text("cpu memory\n")  # pids not delegated
    parents, reason = cgroups._candidate(2, mounts, own)
    assert parents is None
    assert f"cgroup v2 at {service / 'grader'}: memory and pids cannot be enabled below it (Input/output error)" in reason
    assert f"cgroup v2 at {service} lacks the pids controller" in reason


def test_where_a_process_finds_its_cgroups() -> None:
    hybrid = [
        ("/sys/fs/cgroup/memory", "/", "cgroup", {"rw", "memory"}),
        ("/sys/fs/cgroup/pids", "/", "cgroup", {"rw", "pids"}),
        ("/sys/fs/cgroup/unified", "/", "cgroup2", {"rw"}),
    ]
    own = {"memory": "/jobs/a b", "pids": "/", "": "/user.slice/grader.service"}
    assert cgroups._folder(hybrid, "cgroup", "memory", own) == "/sys/fs/cgroup/memory/jobs/a b"
    assert cgroups._folder(hybrid, "cgroup", "pids", own) == "/sys/fs/cgroup/pids"
    assert cgroups._folder(hybrid, "cgroup2", "", own) == "/sys/fs/cgroup/unified/user.slice/grader.service"
    assert cgroups._folder(hybrid, "cgroup", "cpu", own) is None
    # a container's view: its own cgroup mounted as the root of the hierarchy
    container = [("/sys/fs/cgroup", "/docker/abc", "cgroup2", {"rw"})]
    assert cgroups._folder(container, "cgroup2", "", {"": "/docker/abc/grader"}) == "/sys/fs/cgroup/grader"
    assert cgroups._folder(container, "cgroup2", "", {"": "/elsewhere"}) is None
    assert cgroups._unescape("/sys/fs/cgroup/a\\040b") == "/sys/fs/cgroup/a b"


def test_a_statement_that_ends_the_process_is_skipped_and_the_rest_loads() -> None:
    source = "def f():\n    return 1.0\n\nimport os\nos._exit(3)\n\ndef g():\n    return 2.0\n"
    with sandbox(source, ["f", "g"]) as box:
        report = box.load()
        [g] = box.run("g", [], [[]])
    assert report.status == "ok" and report.functions == {"f": "ok", "g": "ok"}
    assert report.warnings == ("student.py line 5 ended the process and was skipped",)
    assert float(g.value["array"]) == 2.0


def test_a_load_that_keeps_ending_the_process_is_a_crash() -> None:
    source = "import os\n" + "os._exit(3)\n" * 3
    with sandbox(source, ["f"]) as box:
        report = box.load()
    assert report.status == "crashed"
    assert "exit code 3; student.py line 4 was running" in report.message


def test_the_code_inside_imports_only_the_standard_library_numpy_pyseccomp_and_itself() -> None:
    allowed = set(sys.stdlib_module_names) | {"numpy", "pyseccomp"}
    for name in zygote_control.INSIDE_MODULES:
        tree = ast.parse(resources.files("grader.sandbox.inside").joinpath(f"{name}.py").read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                assert {a.name.split(".")[0] for a in node.names} <= allowed, (name, ast.unparse(node))
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                assert node.module is not None and node.module.split(".")[0] in allowed, (name, ast.unparse(node))


def test_importing_the_code_inside_runs_nothing() -> None:
    modules = ", ".join(f"grader.sandbox.inside.{name}" for name in zygote_control.INSIDE_MODULES)
    done = subprocess.run([sys.executable, "-c", f"import {modules}"], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_the_bootstrap_fits_in_one_command_line_argument() -> None:
    # Linux refuses an execve argument over MAX_ARG_STRLEN (128 KiB): the zygote would not start
    size = len(zygote_control.bootstrap().encode())
    assert size < zygote_control.MAX_ARGUMENT // 2, f"the bootstrap is {size} bytes, near the {zygote_control.MAX_ARGUMENT}-byte limit"


@pytest.mark.parametrize(
    ("broken", "reason"),
    [
        (lambda boot: boot.replace("main(sys.argv[1:])", "main(['not-a-fd', 'shared'])"), "ValueError: invalid literal for int() with base 10: 'not-a-fd'"),
        (lambda boot: "raise RuntimeError('no zygote today')", "RuntimeError: no zygote today"),
    ],
)
def test_a_zygote_that_fails_to_start_is_a_crash_that_says_why(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, broken: Callable[[str], str], reason: str
) -> None:
    caplog.set_level(logging.INFO, logger="grader.sandbox")
    bootstrap = broken(zygote_control.bootstrap())
    assert bootstrap != zygote_control.bootstrap()
    zygote_control.discard()
    monkeypatch.setattr(zygote_control, "bootstrap", lambda: bootstrap)
    try:
        with sandbox("def f():\n    return 1.0\n", ["f"]) as box:
            report = box.load()
    finally:
        monkeypatch.undo()
        zygote_control.discard()
    assert report.status == "crashed"
    assert f"the zygote closed its control channel (stderr: {reason})" in report.message
    assert f"the zygote failed to start (the zygote closed its control channel (stderr: {reason}))" in [
        r.getMessage() for r in caplog.records if r.levelno == logging.WARNING
    ]


def test_a_zygote_that_died_is_logged_and_restarted(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="grader.sandbox")
    with sandbox("def f():\n    return 1.0\n", ["f"]) as box:
        assert box.load().status == "ok"
    zygote = zygote_control.acquire()
    os.killpg(zygote.process.pid, signal.SIGKILL)
    zygote.process.wait()
    with sandbox("def f():\n    return 1.0\n", ["f"]) as box:
        assert box.load().status == "ok"
        [outcome] = box.run("f", [], [[]])
    assert outcome.status == "ok"
    messages = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert (logging.WARNING, f"zygote {zygote.process.pid} died (killed by signal SIGKILL)") in messages
    assert (logging.INFO, "restarting the zygote after the last one died (killed by signal SIGKILL)") in messages
    assert any(level == logging.INFO and text.startswith("zygote started: pid ") for level, text in messages)


def test_the_zygote_stderr_kept_and_logged_is_bounded(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="grader.sandbox.zygote_control")
    read_end, write_end = os.pipe()
    tail = zygote_control.StderrTail(read_end, 0)
    with os.fdopen(write_end, "wb") as stream:
        for n in range(5000):
            stream.write(b"x" * 1000 + b"\n" if n % 2 else f"line {n}\n".encode())
        stream.write(b"\n  Traceback ...\nValueError: " + b"y" * 5_000 + b"\n\n")
    assert tail.wait(10)
    assert len(tail._tail) <= zygote_control.TAIL_BYTES
    assert tail.last_line() == "ValueError: " + "y" * (zygote_control.LINE_CHARS - len("ValueError: "))
    logged = [r.getMessage() for r in caplog.records if r.name == "grader.sandbox.zygote_control"]
    assert len(logged) == zygote_control.LOGGED_LINES + 1
    assert logged[0] == "zygote 0 stderr: line 0"
    assert logged[-1] == "zygote 0 stderr: further lines are not logged"
    assert max(len(m) for m in logged) <= len("zygote 0 stderr: ") + zygote_control.LINE_CHARS


SOCKETS = """\
import errno, socket
import numpy as np

def families():
    refused = []
    for family in (socket.AF_INET, socket.AF_INET6, socket.AF_NETLINK, socket.AF_PACKET, 29, 38, 40, 44):  # CAN, ALG, VSOCK, XDP
        try:
            socket.socket(family, socket.SOCK_RAW if family in (socket.AF_NETLINK, socket.AF_PACKET, 29) else socket.SOCK_SEQPACKET).close()
        except OSError as exc:
            refused.append(float(exc.errno == errno.EPERM))
        else:
            refused.append(0.0)
    a, b = socket.socketpair()
    a.close(), b.close()
    return np.array(refused)
"""


def test_every_socket_family_but_unix_is_refused() -> None:
    with sandbox(SOCKETS, ["families"]) as box:
        box.load()
        [families] = box.run("families", [], [[]])
    assert families.status == "ok", families.error
    assert families.value["array"].tolist() == [1.0] * 8
