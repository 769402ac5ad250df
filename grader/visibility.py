"""What a reader may see of a check result, and how its message reads: one place for every output.

Reports (text, Markdown, HTML), exports (CSV, Canvas, Gradescope), ``grade submit --json`` and
any later API all pass stored results through ``redact`` and then read them with ``segments``
or ``sentence``. A check is hidden when the rubric hid it at grading time or hides it now. A
hidden check shows its status, score, relative error and diagnoses only: its message becomes a
sentence naming none of its inputs, and it loses its case, its worst element, its arrays, the
inputs that reproduce it (``errors["inputs"]``) and any text the submission produced on it (an
exception's message can carry the inputs' values and shapes, and the submission chooses what it
says).

Every text renderer also passes what it prints through ``grader.terminal.printable``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace
from enum import StrEnum
from typing import Any

from grader.results import CheckResult
from grader.rubric import Rubric

#: measured figures a hidden check keeps: how far off the answer was, never where or on what
#: (so never ``inputs``, the case's values as code: ``grader.checks.reproduce``)
HIDDEN_KEEPS = frozenset(
    {"rel_error", "tolerance", "directions", "skipped_at_kinks", "own_loss_rel_error", "loss_is_reference", "assignment_failed"}
)
HIDDEN_CASE = "a hidden case"
_SLOT = re.compile(r"\{(case|student)\}")


class Segment(StrEnum):
    """Whose words a piece of a message is: renderers may set the submission's apart."""

    GRADER = "grader"
    CASE = "case"
    STUDENT = "student"


def is_hidden(check: CheckResult, rubric: Rubric | None) -> bool:
    return check.hidden or bool(rubric and any(c.hidden for c in rubric.checks if c.id == check.id))


#: what a hidden check says, by status: nothing about its inputs
HIDDEN_MESSAGES = {
    "passed": "{name} passes this hidden check.",
    "failed": "{name} is wrong on a hidden case.",
    "deducted": "{name} is right on the hidden cases, with points deducted for how it was computed.",
    "error": "{name}: your code raised an exception on a hidden case.",
    "timeout": "{name}: your code ran out of time on a hidden case.",
    "memory": "{name}: your code ran out of memory on a hidden case.",
    "crashed": "{name}: your code ended its process on a hidden case.",
}

#: what a hidden check the assignment's own code failed on says
ASSIGNMENT_FAILED_HIDDEN = (
    "{name}: the assignment failed on this hidden check: not a mistake of yours; your instructor has to fix the "
    "assignment, then grade again."
)


def redact(check: CheckResult, rubric: Rubric | None) -> CheckResult:
    """``check`` as a student may see it under ``rubric`` (the course's current one, or None
    when the course no longer has the assignment: then the flags stored with it decide)."""
    if not is_hidden(check, rubric):
        return check
    spec = next((c for c in rubric.checks if c.id == check.id), None) if rubric else None
    name = rubric.name_of(spec.function, *spec.path) if rubric and spec else check.id
    message = HIDDEN_MESSAGES.get(check.status, "{name}: " + check.status + " on a hidden case.")
    if check.errors.get("assignment_failed"):  # grader.checks.registry.assignment_failed
        message = ASSIGNMENT_FAILED_HIDDEN
    return replace(
        check,
        hidden=True,
        message=message.replace("{name}", name),
        case=None,
        student_text="",
        errors={k: v for k, v in check.errors.items() if k in HIDDEN_KEEPS},
    )


def redact_all(checks: Iterable[CheckResult], rubric: Rubric | None) -> tuple[CheckResult, ...]:
    return tuple(redact(c, rubric) for c in checks)


def case_text(check: CheckResult, rubric: Rubric | None) -> str:
    """How the message names its case: ``case 'basic' (N=8, ...)``, or "a hidden case"."""
    if check.hidden or check.case is None:
        return HIDDEN_CASE
    if rubric is not None and check.case in rubric.cases:
        return rubric.describe_case(check.case)
    return f"case '{check.case}'"


def segments(check: CheckResult, rubric: Rubric | None) -> list[tuple[Segment, str]]:
    """The message in pieces, each marked as the grader's words, the case, or the submission's
    own text. Call it on a redacted check."""
    values = {"case": (Segment.CASE, case_text(check, rubric)), "student": (Segment.STUDENT, check.student_text)}
    pieces: list[tuple[Segment, str]] = []
    at = 0
    for match in _SLOT.finditer(check.message):
        if match.start() > at:
            pieces.append((Segment.GRADER, check.message[at : match.start()]))
        pieces.append(values[match.group(1)])
        at = match.end()
    if at < len(check.message):
        pieces.append((Segment.GRADER, check.message[at:]))
    return pieces


def message(check: CheckResult, rubric: Rubric | None) -> str:
    """The message with its slots filled (one pass: text filled in is never read again)."""
    return "".join(text for _, text in segments(check, rubric))


def worst_element(errors: dict[str, Any]) -> str:
    """``worst element [1, 2]: expected 0.5, got 0.7``, or "" when not measured (or redacted)."""
    if "expected" not in errors or "got" not in errors:
        return ""
    index = errors.get("worst_index") or []
    where = f"worst element {list(index)}: " if index else ""
    return f"{where}expected {_number(errors['expected'])}, got {_number(errors['got'])}"


#: what a ``deducted`` check is, in every output's words
DEDUCTED = "right answer, points deducted for how it was computed"


def partial_credit(check: CheckResult) -> str:
    if check.status == "deducted":
        return f"Deducted ({DEDUCTED}): {check.score:g} of {check.max_score:g}."
    if check.diagnoses and 0 < check.score < check.max_score:
        return f"Partial credit: {check.score:g} of {check.max_score:g}."
    return ""


def explanation(check: CheckResult) -> str:
    """The named mistakes' explanations, then the partial credit they earn ("" if none)."""
    return " ".join(e for e in [*(d.explanation for d in check.diagnoses), partial_credit(check)] if e)


def sentence(check: CheckResult, rubric: Rubric | None) -> str:
    """Everything about ``check`` in one paragraph: its message, the worst element, the named
    mistakes and their partial credit. What ``--json`` and Gradescope show; call it on a
    redacted check."""
    text = message(check, rubric)
    element = worst_element(check.errors)
    if element:
        text = f"{text[:-1] if text.endswith('.') else text}; {element}."
    return " ".join(e for e in (text, explanation(check)) if e)


def reproduction(check: CheckResult) -> str:
    """The code that reproduces the case ``check`` failed on (``grader.checks.reproduce``): the
    numpy import, one assignment per argument, the calls, and the graded value; "" when there is
    none (a hidden or passed check, a large case, a stored field of another form). Call it on a
    redacted check."""
    found = check.errors.get("inputs")
    if check.hidden or check.status == "passed" or not isinstance(found, dict):
        return ""
    arguments, calls, shows, functions = found.get("arguments"), found.get("calls"), found.get("shows"), found.get("functions")
    if not (
        isinstance(arguments, list)
        and all(isinstance(a, dict) and isinstance(a.get("name"), str) and isinstance(a.get("literal"), str) for a in arguments)
        and isinstance(calls, list)
        and all(isinstance(c, str) for c in calls)
        and isinstance(shows, str)
        and isinstance(functions, list)
        and all(isinstance(f, str) for f in functions)
    ):
        return ""
    defined = " and ".join(functions)
    lines = [f"# Run where your {defined} {'is' if len(functions) == 1 else 'are'} defined (your notebook, or after your file's code).", "import numpy as np", ""]
    for argument in arguments:
        note = argument.get("note")
        lines.append(f"{argument['name']} = {argument['literal']}" + (f"  # {note}" if isinstance(note, str) and note else ""))
    return "\n".join([*lines, "", *calls, shows])


def _number(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, (int, float)) else "non-finite"
