"""Plain text, as printed by ``grade submit`` and ``grade report``: a header, then each part with
its checks, their messages and diagnoses, wrapped to 100 columns."""

from __future__ import annotations

import textwrap

from grader.reports.model import Header, Report, build
from grader.results import CheckResult
from grader.rubric import Rubric
from grader.terminal import printable

_MARK = {"passed": "ok  ", "failed": "FAIL", "deducted": "DED "}
WIDTH = 100
_INDENT = " " * 9


def render_text(
    header: Header,
    checks: tuple[CheckResult, ...],
    warnings: tuple[str, ...] = (),
    rubric: Rubric | None = None,
) -> str:
    """The whole report; ``rubric`` (when the course is at hand) gives the parts their titles."""
    return text(build(header, checks, warnings, rubric))


def text(report: Report) -> str:
    header = report.header
    when = f", submitted {header.submitted_at:%Y-%m-%d %H:%M:%S %Z}".rstrip() if header.submitted_at else ""
    lines = [
        f"{header.assignment} / {header.student}: submission {header.submission_id}"
        f"{f' ({header.filename})' if header.filename else ''}{when}",
        f"Status: {header.status}. Score: {header.shown_score}."
        + (f" Isolation: {header.isolation}." if header.isolation else "")
        + (f" {header.lateness}" if header.lateness else ""),
    ]
    if header.status != "graded":
        lines.append(_wrap(header.message, "  "))
    for part in report.parts:
        title = f"  {part.title}" if part.title else ""
        lines += ["", f"{part.id}{title}".ljust(WIDTH - 12) + f"{part.score:g} / {part.max_score:g}".rjust(12)]
        for check in part.checks:
            mark = _MARK.get(check.status, check.status.upper()[:4].ljust(4))
            hidden = " (hidden)" if check.hidden else ""
            lines.append(f"  {mark} {check.id}{hidden}".ljust(WIDTH - 12) + f"{check.score:g} / {check.max_score:g}".rjust(12))
            lines.append(_wrap(check.message, _INDENT))
            if check.facts:
                lines.append(_wrap("; ".join(check.facts) + ".", _INDENT))
            if check.diagnosis:
                lines.append(_wrap(f"diagnosis ({', '.join(check.codes)}): {check.diagnosis}", _INDENT))
            elif check.codes:
                lines.append(_wrap("diagnosis: " + ", ".join(check.codes), _INDENT))
            if check.reproduce:
                # flush left, unwrapped: the lines paste into Python as they are
                lines += [f"{_INDENT}To reproduce:", "", check.reproduce, ""]
    if report.warnings:
        lines += ["", "Warnings while loading:"] + [_wrap(w, "  - ", "    ") for w in report.warnings]
    # Messages, warnings and ids may come from a submission: no terminal escapes get through.
    return printable("\n".join(lines))


def _wrap(text: str, first: str, rest: str | None = None) -> str:
    return textwrap.fill(text, WIDTH, initial_indent=first, subsequent_indent=rest if rest is not None else first)
