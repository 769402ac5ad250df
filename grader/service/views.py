"""The JSON the API answers with, built from the gradebook's records.

A submission reads exactly as ``grade submit --json`` prints it (``grader.submit.Submitted``:
hidden checks redacted by ``grader.visibility``, the submission's printed output never shown),
plus when it was received, how late, and its score before and after the late penalty. Every
value the student controls (a file name, an exception's message inside a check's sentence)
stays a JSON string: JSON escapes it, and nothing here builds HTML.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from grader.course import Assignment
from grader.db import StoredSubmission
from grader.results import GradingResult, SubmissionStatus
from grader.rubric import Rubric
from grader.submit import Submitted

#: what a pending submission says: a grader has it, or will soon
PENDING = "Received; it is being graded: ask again in a few seconds."


def when(moment: datetime | None) -> str | None:
    """An aware UTC time as ISO 8601, or None."""
    return moment.isoformat() if moment is not None else None


def submission(stored: StoredSubmission, rubric: Rubric | None) -> dict[str, Any]:
    """``stored`` as the API shows it: the ``grade submit --json`` contract, ``score`` being the
    penalized score, plus ``submitted_at``, ``late_days``, ``raw_score`` and ``penalty``; a late
    submission's message ends with what the lateness cost, as its report says."""
    pending = stored.status == SubmissionStatus.PENDING
    max_score = stored.max_score if stored.max_score is not None else (rubric.max_score if rubric else 0.0)
    result = GradingResult(
        stored.status, PENDING if pending else stored.message, stored.seed, stored.checks, max_score, stored.warnings, "", stored.isolation
    )
    shown = Submitted(stored.id, stored.student, stored.assignment, result, rubric).to_json()
    if not pending and stored.late_days:
        from grader.reports.api import header

        # "100 of 100 points." alone would contradict the penalized score beside it
        shown["message"] = f"{shown['message']} {header(stored, max_score).lateness}".strip()
    shown.update(
        score=None if pending else stored.final_score,
        raw_score=stored.score,
        penalty=None if pending else stored.penalty,
        submitted_at=when(stored.submitted_at),
        late_days=stored.late_days,
    )
    return shown


def history_entry(stored: StoredSubmission) -> dict[str, Any]:
    """One line of a history: which submission, when, how it went."""
    pending = stored.status == SubmissionStatus.PENDING
    return {
        "submission_id": stored.id,
        "student": stored.student,
        "filename": stored.filename,
        "status": stored.status,
        "score": None if pending else stored.final_score,
        "raw_score": stored.score,
        "penalty": None if pending else stored.penalty,
        "max_score": stored.max_score,
        "submitted_at": when(stored.submitted_at),
        "late_days": stored.late_days,
    }


def assignment(loaded: Assignment, uploads: int | None, extension_days: float = 0.0) -> dict[str, Any]:
    """An assignment as a student plans around it: its window and limits, and, for a student,
    the submissions used (``uploads``) and left (None without a limit); ``due`` and ``closes``
    are the caller's own, moved by their extension (``extension_days``)."""
    policy = loaded.rubric.policy
    limit = policy.max_submissions
    return {
        "name": loaded.name,
        "title": loaded.rubric.title,
        "max_score": loaded.rubric.max_score,
        "opens": when(policy.opens),
        "due": when(policy.due_for(extension_days)),
        "closes": when(policy.closes_for(extension_days)),
        "extension_days": extension_days,
        "max_submissions": limit,
        "max_upload_kb": policy.max_upload_kb,
        "late_penalty_per_day": policy.late_penalty_per_day,
        "submissions_used": uploads,
        "submissions_remaining": None if limit is None or uploads is None else max(0, limit - uploads),
    }
