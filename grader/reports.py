"""Readable text for a graded submission, part by part, as printed by ``grade submit`` and
``grade report``."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from datetime import datetime

from grader.results import CheckResult
from grader.rubric import Rubric

_MARK = {"passed": "ok  ", "failed": "FAIL"}
WIDTH = 100


@dataclass(frozen=True)
class Header:
    submission_id: int
    student: str
    assignment: str
    status: str
    message: str
    score: float
    max_score: float
    submitted_at: datetime | None = None
    filename: str = ""
    isolation: str = ""


def render_text(
    header: Header,
    checks: tuple[CheckResult, ...],
    warnings: tuple[str, ...] = (),
    rubric: Rubric | None = None,
) -> str:
    """The whole report; ``rubric`` (when the course is at hand) gives the parts their titles."""
    when = f", submitted {header.submitted_at:%Y-%m-%d %H:%M:%S %Z}".rstrip() if header.submitted_at else ""
    lines = [
        f"{header.assignment} / {header.student}: submission {header.submission_id}"
        f"{f' ({header.filename})' if header.filename else ''}{when}",
        f"Status: {header.status}. Score: {header.score:g} / {header.max_score:g}."
        + (f" Isolation: {header.isolation}." if header.isolation else ""),
    ]
    if header.status != "graded":
        lines.append(_wrap(header.message, "  "))
    titles = {p.id: p.title for p in rubric.parts} if rubric else {}
    parts: dict[str, list[CheckResult]] = {}
    for check in checks:
        parts.setdefault(check.part, []).append(check)
    for part, members in parts.items():
        score = sum(c.score for c in members)
        top = sum(c.max_score for c in members)
        title = f"  {titles[part]}" if part in titles else ""
        lines += ["", f"{part}{title}".ljust(WIDTH - 12) + f"{score:g} / {top:g}".rjust(12)]
        for check in members:
            mark = _MARK.get(check.status, check.status.upper()[:4].ljust(4))
            lines.append(f"  {mark} {check.id}".ljust(WIDTH - 12) + f"{check.score:g} / {check.max_score:g}".rjust(12))
            lines.append(_wrap(check.message, "         "))
            if check.diagnoses:
                lines.append(_wrap("diagnosis: " + ", ".join(check.diagnoses), "         "))
    if warnings:
        lines += ["", "Warnings while loading:"] + [_wrap(w, "  - ", "    ") for w in warnings]
    return "\n".join(lines)


def _wrap(text: str, first: str, rest: str | None = None) -> str:
    return textwrap.fill(text, WIDTH, initial_indent=first, subsequent_indent=rest if rest is not None else first)
