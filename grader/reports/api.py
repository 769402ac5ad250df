"""Reports from the gradebook: the API behind ``grade report`` and ``grade summary``.

Student ids are arbitrary text (slashes, quotes, "..", any script), so a report file is named by
``file_name``: an ASCII slug of the id plus a hash of it, inside the output directory; the
index file maps each id to its file.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from pathlib import Path
from typing import NamedTuple

from grader.course import Assignment
from grader.db import StoredSubmission
from grader.errors import GraderError, NotFound
from grader.reports.markdown import markdown, md
from grader.reports.model import PENDING_MESSAGE, Header, Report, build
from grader.reports.text import text
from grader.results import SubmissionStatus
from grader.workspace import Workspace

FORMATS = ("text", "md", "html")
SUFFIX = {"text": ".txt", "md": ".md", "html": ".html"}


def report(
    student: str,
    assignment: str,
    *,
    course: Path | str = ".",
    db_url: str | None = None,
    format: str = "text",
    output: Path | None = None,
) -> str:
    """One student's latest submission as ``format``; also written to ``output`` when given."""
    workspace = Workspace(course, db_url)
    loaded, problem = workspace.find(assignment)
    with workspace.gradebook() as gradebook:
        stored = gradebook.latest(student, assignment)
    if stored is None:
        raise problem or NotFound(f"no submission of {student!r} for {assignment!r} in the gradebook.")
    rendered = render(_report(stored, loaded), format)
    if output is not None:
        _write(output, rendered)
    return rendered


def report_all(
    assignment: str,
    output: Path,
    *,
    course: Path | str = ".",
    db_url: str | None = None,
    format: str = "text",
) -> list[Path]:
    """A report per student (latest submission) in ``output``, plus an index; returns the files."""
    workspace = Workspace(course, db_url)
    loaded, problem = workspace.find(assignment)
    with workspace.gradebook() as gradebook:
        latest = gradebook.latest_per_student(assignment)
    if not latest:
        raise problem or NotFound(f"no submissions for {assignment!r} in the gradebook.")
    _mkdir(output)
    written = []
    for stored in latest:
        path = output / file_name(stored.student, format)
        _write(path, render(_report(stored, loaded), format))
        written.append(path)
    index = output / f"index{SUFFIX[format]}"
    _write(index, _index(assignment, latest, format))
    return [*written, index]


def class_summary(
    assignment: str,
    *,
    course: Path | str = ".",
    db_url: str | None = None,
    output: Path | None = None,
) -> str:
    """The class summary as text; with ``output``, also ``summary.html`` and ``histogram.png`` there."""
    from grader.reports.summary import summarize, summary_html, summary_text

    workspace = Workspace(course, db_url)
    loaded, problem = workspace.find(assignment)
    with workspace.gradebook() as gradebook:
        latest = gradebook.latest_per_student(assignment)
    if not latest:
        raise problem or NotFound(f"no submissions for {assignment!r} in the gradebook.")
    found = summarize(assignment, latest, loaded.rubric if loaded else None)
    if output is not None:
        from grader.reports.pictures import data_uri, histogram_png

        png = histogram_png(found.scores, found.max_score, f"{assignment}: {len(found.scores)} finished submissions")
        _mkdir(output)
        try:
            (output / "histogram.png").write_bytes(png)
        except OSError as exc:
            raise GraderError(f"cannot write {output / 'histogram.png'}: {exc.strerror}.") from None
        _write(output / "summary.html", summary_html(found, data_uri(png)))
    return summary_text(found) + "\n"


def render(report: Report, format: str = "text") -> str:
    if format == "html":
        # draws pictures: matplotlib only when needed
        from grader.reports.html import html

        return html(report)
    if format == "md":
        return markdown(report)
    if format == "text":
        return text(report) + "\n"
    raise GraderError(f"unknown report format {format!r}; use one of {', '.join(FORMATS)}.")


def file_name(student: str, format: str = "html") -> str:
    """A safe file name for ``student``'s report: ASCII letters, digits, '-' and '_' only, and
    a hash of the exact id, so different ids never share a file."""
    ascii_ = unicodedata.normalize("NFKD", student).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^A-Za-z0-9_]+", "-", ascii_).strip("-_")[:40].rstrip("-_") or "student"
    digest = hashlib.sha256(student.encode("utf-8")).hexdigest()[:10]
    return f"{slug}-{digest}{SUFFIX[format]}"


def header(stored: StoredSubmission, max_score: float | None = None) -> Header:
    pending = stored.status == SubmissionStatus.PENDING
    return Header(
        stored.id,
        stored.student,
        stored.assignment,
        stored.status,
        PENDING_MESSAGE if pending else stored.message,
        stored.score or 0.0,
        stored.max_score if stored.max_score is not None else max_score or 0.0,
        stored.submitted_at,
        stored.filename,
        stored.isolation,
        stored.late_days,
        stored.penalty,
    )


def _report(stored: StoredSubmission, loaded: Assignment | None) -> Report:
    rubric = loaded.rubric if loaded else None
    top = rubric.max_score if rubric else None
    return build(header(stored, top), stored.checks, stored.warnings, rubric)


class IndexRow(NamedTuple):
    student: str
    score: str  # "58.75 / 100", or "pending"
    status: str
    file: str  # the report's file name, beside the index


def _index(assignment: str, latest: list[StoredSubmission], format: str) -> str:
    rows = [
        IndexRow(s.student, "pending" if s.score is None else f"{s.score:g} / {s.max_score or 0:g}", s.status, file_name(s.student, format))
        for s in latest
    ]
    if format == "html":
        from grader.reports.templates import render

        return render("index.html", assignment=assignment, rows=rows)
    if format == "md":
        lines = [f"# {md(assignment)}: reports", "", "| student | score | status | report |", "|---|---:|---|---|"]
        return "\n".join(lines + [f"| {md(r.student)} | {r.score} | {md(r.status)} | [{r.file}]({r.file}) |" for r in rows]) + "\n"
    return "".join(f"{json.dumps(r.student, ensure_ascii=False)}\t{r.score}\t{r.status}\t{r.file}\n" for r in rows)


def _write(path: Path, content: str) -> None:
    try:
        path.write_text(content, encoding="utf-8")
    except OSError as exc:
        raise GraderError(f"cannot write {path}: {exc.strerror}; check that its directory exists and is writable.") from None


def _mkdir(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GraderError(f"cannot create the directory {directory}: {exc.strerror}.") from None
