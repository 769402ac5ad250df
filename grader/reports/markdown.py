"""Markdown: a table of the parts, then each part's checks with message, diagnosis and figures.

Messages hold student-controlled text (exception messages), so every piece of text is escaped:
no raw HTML, links or table breaks can come from a submission.
"""

from __future__ import annotations

import re
from html import escape

from grader.reports.model import CheckView, Report
from grader.terminal import printable

_LABEL = {"passed": "passed", "failed": "**FAILED**", "deducted": "**DEDUCTED**"}
_SPECIAL = re.compile(r"([\\`*_\[\]|~])")


def markdown(report: Report) -> str:
    header = report.header
    lines = [
        f"# {md(header.assignment)}: {md(header.student)}",
        "",
        f"{md(report.title)}. Submission {header.submission_id}"
        + (f" ({md(header.filename)})" if header.filename else "")
        + (f", submitted {header.submitted_at:%Y-%m-%d %H:%M} UTC" if header.submitted_at else "")
        + ".",
        "",
        f"**Score: {header.shown_score}** (status: {md(header.status)})"
        + (f" {header.lateness}" if header.lateness else ""),
    ]
    if header.status != "graded":
        lines += ["", f"> {md(header.message)}"]
    if report.parts:
        lines += ["", "| part | | score |", "|---|---|---:|"]
        lines += [f"| {code(p.id)} | {md(p.title)} | {p.score:g} / {p.max_score:g} |" for p in report.parts]
        lines.append(f"| **total** | | **{header.score:g} / {header.max_score:g}** |")
    for part in report.parts:
        title = f": {md(part.title)}" if part.title else ""
        lines += ["", f"## {code(part.id)}{title} ({part.score:g} / {part.max_score:g})", ""]
        for check in part.checks:
            lines += _check(check)
    if report.warnings:
        lines += ["", "## Warnings while loading", ""] + [f"- {md(w)}" for w in report.warnings]
    return "\n".join(lines) + "\n"


def _check(check: CheckView) -> list[str]:
    hidden = " (hidden check)" if check.hidden else ""
    label = _LABEL.get(check.status, f"**{check.status.upper()}**")
    lines = [f"- {label} {code(check.id)}{hidden}: {check.score:g} / {check.max_score:g}  ", f"  {md(check.message)}"]
    if check.diagnosis:
        lines[-1] += "  "
        lines.append(f"  *Diagnosis ({md(', '.join(check.codes))}):* {md(check.diagnosis)}")
    elif check.codes:
        lines[-1] += "  "
        lines.append(f"  *Diagnosis:* {md(', '.join(check.codes))}")
    if check.facts:
        lines[-1] += "  "
        lines.append("  " + "; ".join(md(f) for f in check.facts) + ".")
    if check.reproduce:
        lines += ["", "  To reproduce:", "", *(f"  {line}" if line else "" for line in fenced(check.reproduce, "python").split("\n")), ""]
    return lines


def fenced(source: str, language: str = "") -> str:
    """``source`` as a fenced code block, its fence longer than any run of backquotes in it."""
    text = printable(source)
    fence = "`" * max(3, 1 + max((len(run) for run in re.findall(r"`+", text)), default=0))
    return f"{fence}{language}\n{text}\n{fence}"


def md(text: str) -> str:
    """``text`` as literal Markdown on one line: punctuation that could mark up is escaped, and
    <, > and & become entities, which every Markdown renderer shows as text, never as HTML."""
    return _SPECIAL.sub(r"\\\1", escape(" ".join(printable(text).split()), quote=False))


def code(text: str) -> str:
    """An id as a code span, or escaped text if it holds a backquote or would break a table."""
    return md(text) if any(c in text for c in "`|\n") else f"`{printable(text)}`"
