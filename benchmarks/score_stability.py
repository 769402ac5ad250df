"""Score stability: every shipped sample graded many times, each with a fresh draw of its cases.

    python benchmarks/score_stability.py [--gradings 50] [--assignment NAME ...] [--workers 2]
                                         [--only correct|bug|all] [--first-seed S]

A grade must not depend on the draw: the same file must get the same score and the same
diagnoses on every seed, and a correct file full marks. Prints, per file, the distinct scores
seen (with how often), the diagnoses seen (with how often) and the seeds of the first few
gradings that differ from the most frequent score; then the totals: gradings, files with more
than one score, correct gradings that lost points (false failures). Exit 1 when a file has more
than one score or a correct file lost a point. No database: this measures grading alone.

Seeds are S, S + 1, ... (default S: drawn at random and printed), so a run is reproduced with
``--first-seed``.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_assignments: dict = {}


def _setup() -> None:
    from grader.course import Course

    course = Course(ROOT)
    for name in course.names():
        _assignments[name] = course.assignment(name)


def _grade(job: tuple[str, str, int]) -> tuple[str, int, float, tuple[str, ...], str]:
    from grader.grading import grade
    from grader.loading import KINDS, Submission

    assignment, path, seed = job
    file = ROOT / path
    result = grade(_assignments[assignment], Submission(file.name, file.read_bytes(), KINDS[file.suffix]), seed=seed)
    score = round(sum(c.score for c in result.checks), 6)
    codes = tuple(sorted({d.code for c in result.checks for d in c.diagnoses}))
    lost = ", ".join(f"{c.id} {c.score:g}/{c.max_score:g}" for c in result.checks if c.score < c.max_score)
    return path, seed, score, codes, lost if result.status == "graded" else f"{result.status}: {result.message}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gradings", type=int, default=50, help="gradings per file (default 50)")
    parser.add_argument("--assignment", nargs="*", default=None, help="assignments (default: every one shipped)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--only", choices=["correct", "bug", "all"], default="all", help="which samples: correct_*, the others, or all")
    parser.add_argument("--first-seed", type=int, default=None)
    args = parser.parse_args()
    from grader.course import Course

    names = args.assignment or Course(ROOT).names()
    first = random.randrange(1 << 40) if args.first_seed is None else args.first_seed
    files = []
    for name in names:
        for path in sorted((ROOT / "submissions" / name).iterdir()):
            correct = path.name.startswith("correct")
            if args.only == "all" or (args.only == "correct") == correct:
                files.append((name, str(path.relative_to(ROOT))))
    jobs = [(name, path, first + i) for name, path in files for i in range(args.gradings)]
    print(f"{len(files)} files x {args.gradings} gradings, seeds from {first}, {args.workers} workers", flush=True)
    start = time.perf_counter()
    seen: dict[str, list[tuple[int, float, tuple[str, ...], str]]] = {path: [] for _, path in files}
    with ProcessPoolExecutor(args.workers, initializer=_setup) as pool:
        for done, (path, seed, score, codes, lost) in enumerate(pool.map(_grade, jobs, chunksize=8), 1):
            seen[path].append((seed, score, codes, lost))
            if done % 500 == 0:
                print(f"  {done}/{len(jobs)} gradings, {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    wall = time.perf_counter() - start
    unstable = false_failures = correct_gradings = 0
    for path, rows in seen.items():
        scores = Counter(score for _, score, _, _ in rows)
        codes = Counter(code for _, _, found, _ in rows for code in found)
        usual = scores.most_common(1)[0][0]
        shown_scores = ", ".join(f"{s:g} x{n}" for s, n in sorted(scores.items(), reverse=True))
        shown_codes = ", ".join(f"{c} x{n}" for c, n in sorted(codes.items())) or "none"
        print(f"{path}\n    scores: {shown_scores}\n    diagnoses: {shown_codes}")
        odd = [(seed, score, lost) for seed, score, _, lost in rows if score != usual][:3]
        for seed, score, lost in odd:
            print(f"    seed {seed}: {score:g} ({lost})")
        unstable += len(scores) > 1
        if Path(path).name.startswith("correct"):
            correct_gradings += len(rows)
            false_failures += sum(n for s, n in scores.items() if s < 100)
    total = sum(len(rows) for rows in seen.values())
    print(
        f"\n{total} gradings in {wall:.0f} s ({total / wall:.1f}/s); files with more than one score: {unstable} of {len(seen)}; "
        f"correct gradings that lost points: {false_failures} of {correct_gradings}"
    )
    return 1 if unstable or false_failures else 0


if __name__ == "__main__":
    sys.exit(main())
