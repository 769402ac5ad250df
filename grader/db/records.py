"""The values the gradebook returns, and their conversion from and to table rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from grader.db.models import Assignment, CheckRow, Student, Submission
from grader.results import CheckResult, Diagnosis


@dataclass(frozen=True)
class StoredSubmission:
    """One submission as the gradebook holds it; ``score`` is None until it is finished.

    ``score`` is the raw score the checks earned; ``penalty`` the points its lateness cost
    (``late_days`` started days after the due date, at the course's per-day fraction when it was
    submitted), and ``final_score`` what it counts for: what exports and summaries use."""

    id: int
    student: str
    assignment: str
    filename: str
    sha256: str
    submitted_at: datetime
    graded_at: datetime | None
    status: str
    message: str
    seed: int
    rubric_version: str
    score: float | None
    max_score: float | None
    warnings: tuple[str, ...]
    output: str
    isolation: str
    checks: tuple[CheckResult, ...]
    late_days: int = 0
    penalty: float = 0.0

    @property
    def final_score(self) -> float | None:
        """The score less the late penalty; None until it is finished."""
        return None if self.score is None else self.score - self.penalty


@dataclass(frozen=True)
class Recorded:
    """What grading a recorded submission needs: whose, the file, its seed, its status and the
    rubric version it was recorded under."""

    id: int
    student: str
    assignment: str
    filename: str
    content: bytes
    seed: int
    status: str
    rubric_version: str


def check_values(submission_id: int, check: CheckResult) -> dict[str, Any]:
    """The columns of ``check``'s row."""
    return {
        "submission_id": submission_id,
        "check_id": check.id,
        "part": check.part,
        "status": check.status,
        "score": check.score,
        "max_score": check.max_score,
        "message": check.message,
        "diagnoses": [d.to_json() for d in check.diagnoses],
        "errors": dict(check.errors),
        "case_name": check.case,
        "student_text": check.student_text,
        "hidden": check.hidden,
    }


#: what a StoredSubmission is read from (``stored``): the submission's columns, not its file
STORED_COLUMNS = (
    Submission.id, Student.external_id.label("student"), Assignment.name.label("assignment"), Submission.filename,
    Submission.sha256, Submission.submitted_at, Submission.graded_at, Submission.status, Submission.message, Submission.seed,
    Submission.rubric_version, Submission.score, Submission.max_score, Submission.warnings, Submission.output,
    Submission.isolation, Submission.late_days, Submission.penalty,
)
#: and each of its checks
CHECK_COLUMNS = (
    CheckRow.submission_id, CheckRow.check_id, CheckRow.part, CheckRow.status, CheckRow.score, CheckRow.max_score,
    CheckRow.message, CheckRow.diagnoses, CheckRow.errors, CheckRow.case_name, CheckRow.student_text, CheckRow.hidden,
)


def stored(row: Any, checks: list[Any]) -> StoredSubmission:
    """A submission read as STORED_COLUMNS, with its checks read as CHECK_COLUMNS, in order."""
    return StoredSubmission(
        id=row.id,
        student=row.student,
        assignment=row.assignment,
        filename=row.filename,
        sha256=row.sha256,
        submitted_at=row.submitted_at,
        graded_at=row.graded_at,
        status=row.status,
        message=row.message,
        seed=row.seed,
        rubric_version=row.rubric_version,
        score=row.score,
        max_score=row.max_score,
        warnings=tuple(row.warnings),
        output=row.output,
        isolation=row.isolation,
        checks=tuple(
            CheckResult(
                id=c.check_id,
                part=c.part,
                status=c.status,
                score=c.score,
                max_score=c.max_score,
                message=c.message,
                diagnoses=tuple(Diagnosis.from_json(d) for d in c.diagnoses),
                errors=c.errors,
                case=c.case_name,
                student_text=c.student_text,
                hidden=c.hidden,
            )
            for c in checks
        ),
        late_days=row.late_days,
        penalty=row.penalty,
    )
