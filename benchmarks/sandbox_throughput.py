"""Sandbox throughput: how many backprop submissions per second the grader grades with the
isolation this machine gives (see `grade doctor`), and what the sandbox costs per submission.

    python benchmarks/sandbox_throughput.py [--submissions 200] [--workers 1 2]

Prints, per worker count: submissions/s and per-submission wall-time percentiles over the
shipped samples (cycled), then the per-submission cost of a fast correct submission (the
reference itself: all the grader's and the sandbox's work, almost none of the student's) beside a bare
`python -c "import numpy"`, which is what a fresh-process grader pays before any work.
No database is involved: this measures grading alone.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: a correct answer whose own computation takes microseconds: what grading it costs is the
#: grader's and the sandbox's work
FAST = (ROOT / "reference" / "backprop.py").read_bytes()

_assignment = None


def _setup() -> None:
    global _assignment
    from grader.course import Course

    _assignment = Course(ROOT).assignment("backprop")


def _grade(job: tuple[str, bytes, int]) -> tuple[float, str]:
    from grader.grading import grade
    from grader.loading import KINDS, Submission

    name, content, seed = job
    start = time.perf_counter()
    result = grade(_assignment, Submission(name, content, KINDS[Path(name).suffix]), seed=seed)
    return time.perf_counter() - start, result.isolation


def run(jobs: list[tuple[str, bytes, int]], workers: int) -> tuple[float, list[float], str]:
    with ProcessPoolExecutor(workers, initializer=_setup) as pool:
        list(pool.map(_grade, jobs[: workers * 2]))  # start every worker's zygote first
        start = time.perf_counter()
        results = list(pool.map(_grade, jobs))
        wall = time.perf_counter() - start
    return wall, [r[0] for r in results], results[0][1]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=200)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()

    samples = sorted((ROOT / "submissions" / "backprop").iterdir())
    jobs = [(p.name, p.read_bytes(), i) for i, p in zip(range(args.submissions), samples * (args.submissions // len(samples) + 1), strict=False)]
    print(f"{len(jobs)} submissions cycling {len(samples)} samples of submissions/backprop")
    for workers in args.workers:
        wall, times, level = run(jobs, workers)
        ms = [1000 * t for t in times]
        print(
            f"workers={workers}: {len(jobs) / wall:6.1f} submissions/s  "
            f"p50 {percentile(ms, 0.5):5.1f} ms  p90 {percentile(ms, 0.9):5.1f} ms  p99 {percentile(ms, 0.99):5.1f} ms  "
            f"isolation {level}"
        )

    fast = [("fast.py", FAST, i) for i in range(50)]
    _, times, _ = run(fast, 1)
    bare = []
    for _ in range(5):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import numpy"], check=True)
        bare.append(time.perf_counter() - start)
    print(
        f"per-submission cost of a fast correct submission (grader + sandbox): {1000 * statistics.median(times):.1f} ms; "
        f"bare `python -c 'import numpy'`: {1000 * statistics.median(bare):.1f} ms"
    )


if __name__ == "__main__":
    main()
