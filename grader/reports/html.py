"""HTML: one self-contained file per report (CSS inline, pictures as data: URIs), readable in
any browser without a network, rendered from ``grader/templates/report.html``.

The templates escape every value they print: messages carry student-controlled text such as
exception messages, and student ids are arbitrary.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from grader.reports.model import CheckView, Report
from grader.reports.templates import render

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Figure:
    """A check's picture: a wrong gradient beside the reference (see ``macros.html``)."""

    src: str  # a data: URI of the PNG
    name: str  # the checked output, e.g. dJ/dW2
    case: str  # the case it failed on ("" if unknown)
    expected: tuple[int, ...]  # the reference's shape
    got: tuple[int, ...]  # the answer's shape


def html(report: Report) -> str:
    return render("report.html", report=report, picture=picture)


def picture(check: CheckView) -> Figure | None:
    """The picture of ``check``'s arrays, or None if it has none (passed, hidden, or no arrays)."""
    if check.arrays is None:
        return None
    # pictures.py imports matplotlib (~0.5 s): only when a picture is drawn
    from grader.reports.pictures import data_uri, gradient_png

    arrays = check.arrays
    try:
        png = gradient_png(arrays.expected, arrays.got, check.name, arrays.worst)
    except Exception:  # a stored answer of any form must not stop its report
        log.warning("no picture for %s: drawing it failed", check.id, exc_info=True)
        return None
    return Figure(data_uri(png), check.name, arrays.case, tuple(arrays.expected.shape), tuple(arrays.got.shape))
