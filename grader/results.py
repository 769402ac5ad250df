"""The values grading produces: what is stored, reported and printed as JSON."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class CheckStatus(StrEnum):
    """Statuses a single check can end with."""

    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"
    TIMEOUT = "timeout"
    MEMORY = "memory"
    CRASHED = "crashed"


class SubmissionStatus(StrEnum):
    """Statuses of a whole submission: ``pending`` until it is graded, then ``graded`` once its
    checks ran, otherwise what stopped the load."""

    PENDING = "pending"
    GRADED = "graded"
    ERROR = "error"
    TIMEOUT = "timeout"
    MEMORY = "memory"
    CRASHED = "crashed"


#: Statuses a single check can end with, as plain strings.
CHECK_STATUSES = tuple(s.value for s in CheckStatus)
#: Statuses a graded submission can end with (all but ``pending``), as plain strings.
SUBMISSION_STATUSES = tuple(s.value for s in SubmissionStatus if s is not SubmissionStatus.PENDING)


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one rubric check.

    ``errors`` holds the measured figures (relative errors, worst element, case name),
    plain JSON values only.
    """

    id: str
    part: str
    status: str
    score: float
    max_score: float
    message: str
    diagnoses: tuple[str, ...] = ()
    errors: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "score": self.score,
            "max_score": self.max_score,
            "message": self.message,
            "diagnoses": list(self.diagnoses),
        }


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
