"""What reading a hostile notebook costs the grader: peak memory and time of ``to_program``.

    python benchmarks/hostile_notebook.py [--mb 50] [--cap-mb 4096] [--shape NAME ...]

Each notebook (about ``--mb`` MB, built in a temporary directory) is read in a fresh Python
process that has already imported the grader's loader and nbformat and read the file: what
is printed is what ``to_program`` alone adds to that process's peak resident memory
(``ru_maxrss``, its peak reset through /proc/self/clear_refs once the file is read), its wall
time, and how it ended. The process runs under an address-space cap
of ``--cap-mb`` MiB, so a loader that amplifies memory ends in a MemoryError instead of taking
the machine's memory.

Shapes: a flood of ``{}`` in the notebook's metadata (the red team's), of ``[]``, of short
strings and of zeros in a cell's outputs, one huge ASCII output, the same with one emoji (a
string of astral characters takes 4 bytes per character), nesting as deep as JSON allows,
a notebook just under the limits of what the loader parses (the most it accepts to parse),
and the shipped 8 MB sample notebook for comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "submissions" / "backprop" / "correct_notebook.ipynb"

CHILD = """
import json, resource, sys, time
import nbformat, nbformat.reader  # imported before measuring: the loader imports them anyway
from grader.loading import Submission, Unloadable, to_program
content = open(sys.argv[1], "rb").read()
open("/proc/self/clear_refs", "w").write("5")  # the peak starts afresh from the current RSS
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
try:
    program = to_program(Submission("hw.ipynb", content, "notebook"))
    outcome = f"Program of {len(program.cells)} cells"
except Unloadable as exc:
    outcome = f"Unloadable: {exc}"
except MemoryError:
    outcome = "MemoryError (the address-space cap)"
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "growth_kb": peak - before, "outcome": outcome}))
"""


def notebook(cells: list[dict], metadata: dict | None = None) -> dict:
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": metadata or {}, "cells": cells}


def code(source: str, outputs: list | None = None) -> dict:
    return {"cell_type": "code", "execution_count": 1, "id": "a", "metadata": {}, "outputs": outputs or [], "source": source}


def flood(item: bytes, size: int, where: str) -> bytes:
    """A notebook of about ``size`` bytes, ``item`` repeated in its metadata or a cell's outputs."""
    count = size // (len(item) + 1)
    body = b",".join([item] * count)
    if where == "metadata":
        head, tail = b'{"nbformat": 4, "nbformat_minor": 5, "metadata": {"x": [', b']}, "cells": [' + json.dumps(code("x = 1")).encode() + b"]}"
    else:
        cell = json.dumps(code("x = 1", [{"output_type": "execute_result", "execution_count": 1, "metadata": {}, "data": {"application/json": "HERE"}}]))
        before, after = cell.encode().split(b'"HERE"')
        head, tail = b'{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [' + before + b"[", b"]" + after + b"]}"
    return head + body + tail


def big_output(size: int, extra: str = "") -> bytes:
    text = "x" * size + extra
    output = {"output_type": "stream", "name": "stdout", "text": text}
    return json.dumps(notebook([code("print('x' * 50_000_000)", [output])]), ensure_ascii=False).encode()


def largest_accepted(size: int) -> bytes:
    """Just under the limits of what the loader parses (whatever ``size``): 13 MiB of plain
    strings short enough to be parsed, and as many empty objects as the count of values allows."""
    line = json.dumps("x" * 250).encode()
    strings = b",".join([line] * ((13 << 20) // (len(line) + 1)))
    count = (1_000_000 - 2 * len(strings) // len(line)) // 2 - 100  # a value and a comma each
    return flood(b"{}", 3 * count, "outputs").replace(b"[{}", b"[" + strings + b",{}", 1)


def deep(size: int) -> bytes:
    depth = size // 7
    return b'{"nbformat": 4, "nbformat_minor": 5, "metadata": ' + b'{"a": ' * depth + b"{}" + b"}" * depth + b', "cells": []}'


SHAPES: dict[str, Callable[[int], bytes]] = {
    "metadata {} flood": lambda size: flood(b"{}", size, "metadata"),
    "output [] flood": lambda size: flood(b"[]", size, "outputs"),
    'output "ab" flood': lambda size: flood(b'"ab"', size, "outputs"),
    "output 0 flood": lambda size: flood(b"0", size, "outputs"),
    "one huge ASCII output": lambda size: big_output(size),
    "one huge output + emoji": lambda size: big_output(size, "\N{GRINNING FACE}"),
    "deep nesting": deep,
    "largest parsed (~15 MB)": largest_accepted,
    "shipped sample (8 MB)": lambda size: SAMPLE.read_bytes(),
}


def measure(path: Path, cap_mb: int) -> dict:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (cap_mb << 20, cap_mb << 20))

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", CHILD, str(path)], env=env, capture_output=True, text=True, preexec_fn=limit, timeout=600)
    if done.returncode != 0:
        return {"seconds": float("nan"), "growth_kb": 0, "outcome": f"died ({done.stderr.strip().splitlines()[-1:]})"}
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=50.0, help="size of each hostile notebook (default 50)")
    parser.add_argument("--cap-mb", type=int, default=4096, help="address-space cap of the measuring process (default 4096)")
    parser.add_argument("--shape", nargs="*", choices=sorted(SHAPES), help="only these shapes")
    args = parser.parse_args()
    size = int(args.mb * 1e6)
    print(f"{'shape':26} {'file MB':>8} {'peak +MB':>9} {'x size':>7} {'seconds':>8}  outcome")
    with tempfile.TemporaryDirectory() as folder:
        for name in args.shape or SHAPES:
            path = Path(folder) / "hw.ipynb"
            path.write_bytes(SHAPES[name](size))
            mb = path.stat().st_size / 1e6
            figures = measure(path, args.cap_mb)
            growth = figures["growth_kb"] * 1024 / 1e6
            outcome = figures["outcome"] if len(figures["outcome"]) <= 90 else figures["outcome"][:89] + "…"
            print(f"{name:26} {mb:8.1f} {growth:9.1f} {growth / mb:7.2f} {figures['seconds']:8.2f}  {outcome}")


if __name__ == "__main__":
    main()
