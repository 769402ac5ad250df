"""The values grading produces: what is stored, reported and printed as JSON.

A check result carries its findings as separate fields, never folded into one string:

- ``message``: the grader's own sentence, in the assignment's notation. It may hold the slots
  ``{case}`` (where the case is named) and ``{student}`` (where the submission's own text goes);
  every output fills them through ``grader.visibility``, which also redacts hidden checks.
- ``case``: the name of the case the finding is about (None when it is about every case).
- ``student_text``: text the submission produced (an exception's message, a load failure), kept
  verbatim and apart, so no renderer ever mistakes it for the grader's words.
- ``diagnoses``: the named mistakes, each with its explanation and the share of credit it earns.
- ``errors``: the measured figures (relative error, tolerance, worst element, arrays), plain JSON.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class CheckStatus(StrEnum):
    """How a single check ended."""

    PASSED = "passed"
    FAILED = "failed"
    #: the right answer, with points deducted for how it was computed (a conduct diagnosis:
    #: mutates-input, numerical-gradient); a wrong answer is FAILED
    DEDUCTED = "deducted"
    ERROR = "error"
    TIMEOUT = "timeout"
    MEMORY = "memory"
    CRASHED = "crashed"


class SubmissionStatus(StrEnum):
    """Where a submission is: ``pending`` until stored, then ``graded`` once its checks ran, or
    what stopped the load."""

    PENDING = "pending"
    GRADED = "graded"
    ERROR = "error"
    TIMEOUT = "timeout"
    MEMORY = "memory"
    CRASHED = "crashed"


#: How the grader's own messages of a submission it failed start: a fault of the grader
#: (``grading.grader_failed``) or a grading that stopped (interrupted, killed, closed as an orphan).
GRADER_FAULTS = ("the grader failed", "grading was ")


def grader_fault(status: str, message: str, filename: str) -> bool:
    """Whether a finished submission ended in a failure of the grader's own, not of the student's
    file: status ``error`` with a message starting as the grader's (``GRADER_FAULTS``), unless
    it starts with the file's name, as a load failure of the student's does (a file named
    "the grader failed.py" gains nothing). Such a submission does not count as an upload."""
    return status == SubmissionStatus.ERROR and message.startswith(GRADER_FAULTS) and not (filename and message.startswith(filename))


#: Statuses a single check can end with.
CHECK_STATUSES = tuple(s.value for s in CheckStatus)
#: Statuses of a finished submission.
SUBMISSION_STATUSES = tuple(s.value for s in SubmissionStatus if s is not SubmissionStatus.PENDING)


@dataclass(frozen=True)
class Diagnosis:
    """A named mistake: its code (``missing-reg-grad``), its explanation in the assignment's
    notation, and the share of the check's points the rubric still gives it (None: no credit)."""

    code: str
    explanation: str = ""
    credit: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "explanation": self.explanation, "credit": self.credit}

    @classmethod
    def from_json(cls, value: Any) -> Diagnosis:
        """A stored diagnosis; a bare code (as older gradebooks hold) has no explanation."""
        if isinstance(value, str):
            return cls(value)
        credit = value.get("credit")
        return cls(str(value.get("code", "")), str(value.get("explanation") or ""), None if credit is None else float(credit))


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one rubric check (see the module docstring for its fields)."""

    id: str
    part: str
    status: str
    score: float
    max_score: float
    message: str
    diagnoses: tuple[Diagnosis, ...] = ()
    errors: dict[str, Any] = field(default_factory=dict)
    case: str | None = None
    student_text: str = ""
    #: the rubric marked the check hidden when it was graded (a later rubric may hide it too)
    hidden: bool = False

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(d.code for d in self.diagnoses)


@dataclass(frozen=True)
class GradingResult:
    """Everything grading learned about one submission, before it is stored."""

    status: str
    message: str
    seed: int
    checks: tuple[CheckResult, ...]
    max_score: float
    warnings: tuple[str, ...] = ()
    output: str = ""
    isolation: str = ""

    @property
    def score(self) -> float:
        return float(sum(c.score for c in self.checks))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
