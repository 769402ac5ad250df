"""What a report says, independent of its format: parts, checks, diagnoses, figures, arrays.

Every renderer (text, Markdown, HTML) draws the same ``Report``, built from results that went
through ``grader.visibility.redact``: a hidden check keeps its score, its diagnosis and its
relative error, and loses its case, its worst element, its arrays and the code that reproduces
its case, even when the rubric made it hidden only after it was graded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from grader.results import CheckResult
from grader.rubric import Check, Rubric
from grader.visibility import Segment, explanation, redact_all, reproduction, segments, worst_element

#: the message of a submission whose grading never completed
PENDING_MESSAGE = "Grading did not finish: the submission is still pending; if no grader is working on it, submit again."


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
    late_days: int = 0
    penalty: float = 0.0  # points the lateness cost; ``score`` is before it

    @property
    def shown_score(self) -> str:
        """"80 / 100"; a pending submission has none yet ("- / 100")."""
        return f"{'-' if self.status == 'pending' else f'{self.score:g}'} / {self.max_score:g}"

    @property
    def lateness(self) -> str:
        """The sentence a report adds for a late submission, or ""."""
        if not self.late_days:
            return ""
        days = f"{self.late_days} day{'s' if self.late_days != 1 else ''}"
        return f"Late by {days}: {self.penalty:g} points off, {self.score - self.penalty:g} of {self.max_score:g}."


@dataclass(frozen=True)
class Arrays:
    """A failed answer and the reference, non-finite values as NaN, for a picture."""

    expected: npt.NDArray[np.float64]
    got: npt.NDArray[np.float64]
    worst: tuple[int, ...] | None
    case: str


@dataclass(frozen=True)
class CheckView:
    id: str
    name: str  # the checked output in the assignment's notation, e.g. dJ/dW2
    status: str
    score: float
    max_score: float
    message: str  # what the check found, slots filled, without the diagnosis
    diagnosis: str  # the named mistakes' explanations and partial credit ("" if none)
    codes: tuple[str, ...]
    facts: tuple[str, ...]  # measured figures: worst element, relative error
    hidden: bool = False
    arrays: Arrays | None = None
    #: the message in pieces marked grader / case / student, for renderers that set them apart
    segments: tuple[tuple[Segment, str], ...] = ()
    #: code that reproduces the failing case (``visibility.reproduction``), "" if none
    reproduce: str = ""


@dataclass(frozen=True)
class PartView:
    id: str
    title: str
    score: float
    max_score: float
    checks: tuple[CheckView, ...]


@dataclass(frozen=True)
class Report:
    header: Header
    title: str  # the assignment's title
    parts: tuple[PartView, ...]
    warnings: tuple[str, ...] = ()


def build(
    header: Header,
    checks: tuple[CheckResult, ...],
    warnings: tuple[str, ...] = (),
    rubric: Rubric | None = None,
) -> Report:
    """The report of one submission; ``rubric`` (the course's current one, when it still has the
    assignment) gives titles, notation and hidden flags. Every check passes through
    ``grader.visibility.redact`` first."""
    specs = {c.id: c for c in rubric.checks} if rubric else {}
    titles = {p.id: p.title for p in rubric.parts} if rubric else {}
    grouped: dict[str, list[CheckView]] = {}
    for result in redact_all(checks, rubric):
        grouped.setdefault(result.part, []).append(_view(result, specs.get(result.id), rubric))
    parts = tuple(
        PartView(part, titles.get(part, ""), sum(c.score for c in views), sum(c.max_score for c in views), tuple(views))
        for part, views in grouped.items()
    )
    return Report(header, rubric.title if rubric else header.assignment, parts, warnings)


def _view(result: CheckResult, spec: Check | None, rubric: Rubric | None) -> CheckView:
    name = rubric.name_of(spec.function, *spec.path) if rubric and spec else result.id
    pieces = tuple(segments(result, rubric))
    text = "".join(t for _, t in pieces)
    errors = result.errors if result.status not in ("passed", "deducted") else {}
    return CheckView(
        id=result.id,
        name=name,
        status=result.status,
        score=result.score,
        max_score=result.max_score,
        message=text,
        diagnosis=explanation(result),
        codes=result.codes,
        # The checks' messages state some figures already; they are added only when missing.
        facts=tuple(f for f in _facts(errors) if f not in text),
        hidden=result.hidden,
        arrays=None if result.hidden else _arrays(errors, result.case),
        segments=pieces,
        reproduce=reproduction(result),
    )


def _facts(errors: dict[str, Any]) -> list[str]:
    """The worst element and the relative error (a redacted check has no worst element)."""
    facts = []
    element = worst_element(errors)
    if element:
        facts.append(element)
    if isinstance(errors.get("rel_error"), (int, float)):
        facts.append(f"relative error {errors['rel_error']:.2g} (tolerance {errors.get('tolerance', 0):g})")
    return facts


def _arrays(errors: dict[str, Any], case: str | None) -> Arrays | None:
    expected, got = _array(errors.get("expected_array")), _array(errors.get("got_array"))
    if expected is None or got is None or expected.size == 0 or got.size == 0:
        return None  # an empty answer has nothing to draw: the message says its shape
    index = errors.get("worst_index")
    worst = tuple(int(i) for i in index) if isinstance(index, list) and len(index) == got.ndim == expected.ndim else None
    return Arrays(expected, got, worst, case or "")


def _array(stored: Any) -> npt.NDArray[np.float64] | None:
    """``{"shape": [...], "values": [...]}`` (nulls for non-finite values) as an array, or None."""
    if not isinstance(stored, dict):
        return None
    try:
        values = [np.nan if v is None else float(v) for v in stored["values"]]
        return np.array(values, dtype=np.float64).reshape([int(n) for n in stored["shape"]])
    except (KeyError, TypeError, ValueError):
        return None
