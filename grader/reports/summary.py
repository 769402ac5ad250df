"""The instructor's view of a class: statuses, scores, per-part averages, frequent mistakes."""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field

from grader.db import StoredSubmission
from grader.reports.templates import render
from grader.rubric import Rubric
from grader.terminal import printable
from grader.visibility import DEDUCTED


@dataclass(frozen=True)
class PartAverage:
    id: str
    title: str
    points: float
    mean: float  # over the finished submissions

    @property
    def percent(self) -> float:
        return 100.0 * self.mean / self.points if self.points else 0.0


@dataclass(frozen=True)
class DiagnosisCount:
    code: str
    students: int  # students with this diagnosis on at least one check
    parts: tuple[str, ...]  # the parts it cost points in, in rubric order


@dataclass(frozen=True)
class ClassSummary:
    assignment: str
    title: str
    students: int
    statuses: dict[str, int]  # of each student's latest submission, "pending" included
    scores: tuple[float, ...]  # final (after late penalties) of the finished latest submissions (pending ones have none)
    max_score: float
    parts: tuple[PartAverage, ...]
    diagnoses: tuple[DiagnosisCount, ...]  # most frequent first
    #: the checks of the finished latest submissions, by status (passed, failed, deducted, ...)
    checks: dict[str, int] = field(default_factory=dict)

    @property
    def mean(self) -> float | None:
        return statistics.fmean(self.scores) if self.scores else None

    @property
    def median(self) -> float | None:
        return statistics.median(self.scores) if self.scores else None


def summarize(assignment: str, latest: list[StoredSubmission], rubric: Rubric | None = None) -> ClassSummary:
    """The summary of each student's latest submission (``Gradebook.latest_per_student``): its
    scores are final scores, after late penalties; the parts' averages are what the checks
    earned, before them (a penalty is of the whole score, not of a part)."""
    finished = [s for s in latest if s.score is not None]
    order = [p.id for p in rubric.parts] if rubric else list(dict.fromkeys(c.part for s in latest for c in s.checks))
    points = {p.id: p.points for p in rubric.parts} if rubric else {}
    titles = {p.id: p.title for p in rubric.parts} if rubric else {}
    for part in order:
        points.setdefault(part, max((sum(c.max_score for c in s.checks if c.part == part) for s in finished), default=0.0))
    parts = tuple(
        PartAverage(part, titles.get(part, ""), points[part],
                    statistics.fmean(sum(c.score for c in s.checks if c.part == part) for s in finished) if finished else 0.0)
        for part in order
    )
    students: Counter[str] = Counter()
    hit: dict[str, set[str]] = {}
    for submission in latest:
        codes = {code for c in submission.checks for code in c.codes}
        students.update(codes)
        for check in submission.checks:
            for code in check.codes:
                hit.setdefault(code, set()).add(check.part)
    rank = {part: i for i, part in enumerate(order)}
    diagnoses = tuple(
        DiagnosisCount(code, count, tuple(sorted(hit[code], key=lambda p: rank.get(p, len(rank)))))
        for code, count in sorted(students.items(), key=lambda item: (-item[1], item[0]))
    )
    top = rubric.max_score if rubric else max((s.max_score or 0.0 for s in finished), default=0.0)
    return ClassSummary(
        assignment=assignment,
        title=rubric.title if rubric else assignment,
        students=len(latest),
        statuses=dict(Counter(s.status for s in latest).most_common()),
        scores=tuple(float(s.final_score) for s in finished if s.final_score is not None),
        max_score=top,
        parts=parts,
        diagnoses=diagnoses,
        checks=dict(Counter(c.status for s in finished for c in s.checks).most_common()),
    )


def summary_text(summary: ClassSummary) -> str:
    statuses = ", ".join(f"{count} {status}" for status, count in summary.statuses.items())
    lines = [f"{summary.assignment}: {summary.title}", f"{summary.students} students (latest submission each): {statuses}."]
    if summary.mean is not None and summary.median is not None:
        lines.append(
            f"Score of {summary.max_score:g}: mean {_round(summary.mean)}, median {_round(summary.median)}, "
            f"lowest {min(summary.scores):g}, highest {max(summary.scores):g} ({len(summary.scores)} finished)."
        )
    if summary.checks:
        counts = ", ".join(f"{count} {status}" + (f" ({DEDUCTED})" if status == "deducted" else "") for status, count in summary.checks.items())
        lines.append(f"Checks: {counts}.")
    width = max([12, *(len(part.id) + 2 for part in summary.parts)])
    lines += ["", "part".ljust(width) + "mean".rjust(10) + "of".rjust(8) + "%".rjust(8) + "  title"]
    for part in summary.parts:
        lines.append(f"{part.id:<{width}}{_round(part.mean):>10}{part.points:>8g}{part.percent:>7.0f}%  {part.title}")
    lines += ["", "Most frequent diagnoses (students, parts):" if summary.diagnoses else "No diagnoses."]
    lines += [f"  {d.students:>4}  {d.code:<30} {', '.join(d.parts)}" for d in summary.diagnoses[:10]]
    return printable("\n".join(lines))


def summary_html(summary: ClassSummary, histogram_uri: str) -> str:
    """The summary as a self-contained page; ``histogram_uri`` is the histogram's data: URI."""
    return render("summary.html", summary=summary, histogram=histogram_uri)


def _round(value: float) -> str:
    """Two decimals at most: 17.27, 15, 9.09."""
    return f"{round(value, 2):g}"
