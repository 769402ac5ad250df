"""What a report says, independent of its format: parts, checks, diagnoses, figures, arrays.

Every renderer (text, Markdown, HTML) draws the same ``Report``, so a hidden check is redacted
once, here: it keeps its score, its diagnosis and its relative error, and loses its case, its
worst element and its arrays, even when the rubric made it hidden only after it was graded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt

from grader.results import CheckResult
from grader.rubric import Check, Rubric

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
    message: str  # what the check found, without the diagnosis
    diagnosis: str  # the named mistake's explanation ("" if none, or if it could not be split off)
    codes: tuple[str, ...]
    facts: tuple[str, ...]  # measured figures: worst element, relative error
    hidden: bool = False
    arrays: Arrays | None = None


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
    mistakes: ModuleType | None = None,
) -> Report:
    """The report of one submission; ``rubric`` gives titles and hidden flags, ``mistakes`` the
    diagnoses' explanations (to set them apart from the message)."""
    specs = {c.id: c for c in rubric.checks} if rubric else {}
    titles = {p.id: p.title for p in rubric.parts} if rubric else {}
    grouped: dict[str, list[CheckView]] = {}
    for result in checks:
        grouped.setdefault(result.part, []).append(_view(result, specs.get(result.id), rubric, mistakes))
    parts = tuple(
        PartView(part, titles.get(part, ""), sum(c.score for c in views), sum(c.max_score for c in views), tuple(views))
        for part, views in grouped.items()
    )
    return Report(header, rubric.title if rubric else header.assignment, parts, warnings)


def _view(result: CheckResult, spec: Check | None, rubric: Rubric | None, mistakes: ModuleType | None) -> CheckView:
    hidden = bool(spec and spec.hidden)
    name = rubric.name_of(spec.function, spec.key) if rubric and spec else result.id
    message, diagnosis = split_diagnosis(result.message, result.diagnoses, name, mistakes)
    if hidden and rubric:
        message = redact(message, rubric)
    errors = result.errors if result.status != "passed" else {}
    return CheckView(
        id=result.id,
        name=name,
        status=result.status,
        score=result.score,
        max_score=result.max_score,
        message=message,
        diagnosis=diagnosis,
        codes=result.diagnoses,
        # The checks' messages state these figures already; they are added only when missing.
        facts=tuple(f for f in _facts(errors, hidden) if f not in message),
        hidden=hidden,
        arrays=None if hidden else _arrays(errors),
    )


def split_diagnosis(message: str, codes: tuple[str, ...], name: str, mistakes: ModuleType | None) -> tuple[str, str]:
    """(what the check found, the diagnosis' explanation); the explanation is appended to the
    message by grader.diagnosis, and starts with a mistake variant's docstring."""
    starts = []
    for code in codes:
        doc = getattr(getattr(mistakes, code.replace("-", "_"), None), "__doc__", None)
        if doc:
            at = message.find(doc.strip().format(name=name))
            if at > 0:
                starts.append(at)
    if not starts:
        return message, ""
    return message[: min(starts)].rstrip(), message[min(starts) :]


# How grader.checks describe a case and a worst element; a hidden check's message loses both.
_ELEMENT = re.compile(r"; (?:worst element \[[^\]]*\]: )?expected \S+, got \S+?(?=\.(?:\s|$))")


def redact(message: str, rubric: Rubric) -> str:
    """``message`` without case inputs or elements, for a check the rubric marks hidden."""
    for case in rubric.cases:
        message = re.sub(rf"case '{re.escape(case)}' \((?:[^()]|\([^()]*\))*\)", "a hidden case", message)
    return _ELEMENT.sub("", message)


def _facts(errors: dict[str, Any], hidden: bool) -> list[str]:
    """The worst element and the relative error, worded as grader.checks words them."""
    facts = []
    if not hidden and "expected" in errors and "got" in errors:
        index = errors.get("worst_index") or []
        where = f"worst element {list(index)}: " if index else ""
        facts.append(f"{where}expected {_number(errors['expected'])}, got {_number(errors['got'])}")
    if isinstance(errors.get("rel_error"), (int, float)):
        facts.append(f"relative error {errors['rel_error']:.2g} (tolerance {errors.get('tolerance', 0):g})")
    return facts


def _number(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, (int, float)) else "non-finite"


def _arrays(errors: dict[str, Any]) -> Arrays | None:
    expected, got = _array(errors.get("expected_array")), _array(errors.get("got_array"))
    if expected is None or got is None:
        return None
    index = errors.get("worst_index")
    worst = tuple(int(i) for i in index) if isinstance(index, list) and len(index) == got.ndim == expected.ndim else None
    return Arrays(expected, got, worst, str(errors.get("case", "")))


def _array(stored: Any) -> npt.NDArray[np.float64] | None:
    """``{"shape": [...], "values": [...]}`` (nulls for non-finite values) as an array, or None."""
    if not isinstance(stored, dict):
        return None
    try:
        values = [np.nan if v is None else float(v) for v in stored["values"]]
        return np.array(values, dtype=np.float64).reshape([int(n) for n in stored["shape"]])
    except (KeyError, TypeError, ValueError):
        return None
