"""Batch throughput: a generated class graded by `grade batch`, locally and through Celery.

    python benchmarks/batch_throughput.py [--submissions 1000] [--workers 1 2] [--celery 2]

Generates a class of N submissions cycling the shipped samples (correct and buggy; the
notebook with megabytes of embedded outputs is left out, it is a stress case rather than a
typical submission) with a unique comment each, and with --hostile three hostile ones (an
infinite loop, a fork bomb, a memory bomb), which cost their time limits. Grades it with full isolation into a fresh SQLite gradebook and
prints submissions/s, per-submission wall-time percentiles, and the peak memory of all the
grader's processes together, for the local backend with each worker count and for Celery
with the given number of single-process workers on the local Redis (GRADE_BROKER_URL, default
redis://127.0.0.1:6379/10; that database is emptied).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HOSTILE = {
    "hostile_loop.py": "def loss(params, X, y, reg):\n    while True:\n        pass\n",
    "hostile_forkbomb.py": "import os\nwhile True:\n    os.fork()\n",
    "hostile_memory.py": "blocks = []\nwhile True:\n    blocks.append(bytearray(1 << 26))\n",
}


def generate(directory: Path, count: int, hostile: bool) -> None:
    samples = [p for p in sorted((ROOT / "submissions" / "backprop").iterdir()) if p.name != "correct_notebook.ipynb"]
    for i in range(count - (len(HOSTILE) if hostile else 0)):
        sample = samples[i % len(samples)]
        content = sample.read_bytes()
        if sample.suffix == ".py":
            content += f"\n# student {i}\n".encode()
        (directory / f"student{i:04d}{sample.suffix}").write_bytes(content)
    for name, source in HOSTILE.items() if hostile else ():
        (directory / name).write_text(source)


class MemorySampler(threading.Thread):
    """Peak of the summed PSS of a process and all its descendants, sampled every 0.1 s."""

    def __init__(self, pids: list[int]) -> None:
        super().__init__(daemon=True)
        self.roots = pids
        self.peak = 0
        self.running = True

    def run(self) -> None:
        while self.running:
            self.peak = max(self.peak, sum(_pss(pid) for pid in _tree(self.roots)))
            time.sleep(0.1)


def _tree(roots: list[int]) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = set(), list(roots)
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo += children.get(pid, [])
    return found


def _pss(pid: int) -> int:
    """Proportional set size: shared pages (numpy in every forked child) counted once overall."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except (OSError, IndexError, ValueError):
        pass
    return 0


def grade_batch(directory: Path, env: dict[str, str], extra: list[str], helpers: list[subprocess.Popen[bytes]]) -> tuple[dict, int]:
    command = [sys.executable, "-m", "grader.cli", "--course", str(ROOT), "batch", str(directory), "-a", "backprop", "--json", *extra]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    sampler = MemorySampler([process.pid] + [h.pid for h in helpers])
    sampler.start()
    out, _ = process.communicate()
    sampler.running = False
    sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"grade batch failed with exit code {process.returncode}")
    return json.loads(out), sampler.peak


def report(label: str, summary: dict, peak: int) -> None:
    times = summary.get("seconds_per_submission") or {}
    latency = "  ".join(f"{k} {1000 * v:.0f} ms" for k, v in times.items()) or "(per-submission times not reported)"
    print(
        f"{label:<18} {summary['graded']} graded in {summary['wall_seconds']:.1f} s: "
        f"{summary['submissions_per_second']:.1f} submissions/s  {latency}  peak memory {peak / 2**20:.0f} MiB  counts {summary['counts']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=1000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--celery", type=int, default=2, help="Celery workers (0: skip Celery)")
    parser.add_argument("--hostile", action="store_true", help="Include the three hostile submissions (each costs its time limits).")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="grader-bench-"))
    try:
        directory = work / "class"
        directory.mkdir()
        generate(directory, args.submissions, args.hostile)
        print(f"class of {args.submissions} submissions ({len(HOSTILE) if args.hostile else 0} hostile) in {directory}")
        base = {**os.environ, "PYTHONPATH": str(ROOT)}
        for workers in args.workers:
            env = {**base, "GRADE_DB_URL": f"sqlite:///{work / f'local{workers}.db'}"}
            summary, peak = grade_batch(directory, env, ["--workers", str(workers)], [])
            report(f"local, {workers} worker{'s' if workers > 1 else ''}", summary, peak)
        if args.celery:
            broker = os.environ.get("GRADE_BROKER_URL", "redis://127.0.0.1:6379/10")
            env = {**base, "GRADE_DB_URL": f"sqlite:///{work / 'celery.db'}", "GRADE_BROKER_URL": broker}
            subprocess.run(["redis-cli", "-u", broker, "flushdb"], check=True, capture_output=True)
            subprocess.run([sys.executable, "-m", "grader.cli", "db", "upgrade"], env=env, check=True, capture_output=True)
            workers = [
                subprocess.Popen(
                    [sys.executable, "-m", "grader.cli", "--course", str(ROOT), "worker", "--concurrency", "1"],
                    env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                )
                for _ in range(args.celery)
            ]
            try:
                time.sleep(3)  # let the workers connect
                summary, peak = grade_batch(directory, env, ["--backend", "celery"], workers)
                report(f"celery, {args.celery} workers", summary, peak)
            finally:
                for worker in workers:
                    os.killpg(worker.pid, signal.SIGTERM)
                for worker in workers:
                    worker.wait()
                subprocess.run(["redis-cli", "-u", broker, "flushdb"], capture_output=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
