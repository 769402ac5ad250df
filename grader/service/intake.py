"""Accepting an upload: the course's policy first, then the record, then the graders.

An upload is checked against the assignment's ``[policy]`` twice: before its body is read (a
refused upload costs the server nothing and the student nothing: it is never recorded, so it
uses up no submission and no rate), and again in the transaction that records it, under the
gradebook's lock per student and assignment, so that two uploads of one student racing each
other, on one server or several, cannot both take the last submission. What is accepted is recorded ``pending`` with the
server's receipt time as ``submitted_at`` and the late days the policy counts, leased to the
server, committed, and only then sent to the graders; the student gets its id at once.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from grader.course import Assignment
from grader.errors import GraderError
from grader.identity import Identity
from grader.leases import upload_key
from grader.loading import MAX_BYTES, Submission
from grader.service.state import Service
from grader.service.uploads import Refused, read_upload

#: characters of an assignment's name in a URL: past this, no rubric file has it
MAX_NAME = 200
#: KiB of an upload when the policy sets no max_upload_kb: what the grader reads at most
DEFAULT_UPLOAD_KB = MAX_BYTES // 1024


@dataclass(frozen=True)
class Accepted:
    submission_id: int
    submitted_at: datetime
    late_days: int


class Intake:
    def __init__(self, service: Service) -> None:
        self.service = service

    def assignment(self, name: str) -> Assignment:
        """The course's assignment ``name``; 404 when there is none (the course's own message
        names its directory: the student sees only the name)."""
        if len(name) > MAX_NAME:  # longer than a file name may be: no rubric has it
            raise Refused(404, "there is no such assignment.")
        try:
            return self.service.workspace.assignment(name)
        except GraderError:
            raise Refused(404, "there is no such assignment.") from None

    def upload_limit(self, assignment: Assignment) -> int:
        """The largest file the assignment accepts, in bytes: its policy's ``max_upload_kb``,
        never more than the grader reads (``grader.loading.MAX_BYTES``)."""
        kb = assignment.rubric.policy.max_upload_kb or DEFAULT_UPLOAD_KB
        return min(kb * 1024, MAX_BYTES)

    def check(self, student: str, assignment: Assignment, now: datetime) -> None:
        """Refuse (403 rostered, window, max_submissions; 429 rate) unless ``student`` may upload now."""
        standing = self.service.gradebook.standing(student, assignment.name)
        if not standing.rostered:
            raise Refused(403, "you are not on this course's roster; ask your instructor.")
        refusal = assignment.rubric.policy.refusal(now, extension_days=standing.extension_days, uploads=standing.uploads)
        if refusal is not None:
            raise Refused(refusal.status, refusal.message, refusal.retry_after)

    def accept(self, student: str, assignment: Assignment, submission: Submission, received: datetime) -> Accepted:
        """Record ``submission`` as ``student``'s upload received at ``received``, then send it
        to the graders; ``Refused`` if the policy no longer allows it. The check and the record
        are one transaction under the gradebook's lock per student and assignment
        (``Gradebook.record_upload``): servers sharing a gradebook cannot both accept the last
        upload a student may make."""
        dispatch = self.service.dispatch
        policy = assignment.rubric.policy

        decided: list[int] = []  # the late days admit counted (in its last attempt)

        def admit(uploads: list[datetime], extension_days: float) -> tuple[int, float]:
            refusal = policy.refusal(received, extension_days=extension_days, uploads=uploads)
            if refusal is not None:
                raise Refused(refusal.status, refusal.message, refusal.retry_after)
            decided[:] = [policy.late_days(received, extension_days)]
            return decided[0], policy.late_penalty_per_day

        claimed = self.service.gradebook.record_upload(
            batch_key=upload_key(),
            student=student,
            assignment=assignment.name,
            filename=submission.filename,
            content=submission.content,
            seed=secrets.randbits(63),
            rubric_version=assignment.version,
            lease=dispatch.lease,
            submitted_at=received,
            admit=admit,
        )
        dispatch.send(claimed.id)
        return Accepted(claimed.id, received, decided[0])


async def receive(request: Request, who: Identity, name: str) -> Accepted:
    """Take the upload of ``request`` (multipart field ``file``) as ``who``'s submission of
    ``name``: the policy is checked before a byte of the body is read, the body is read as it
    streams, then the upload is recorded and sent to the graders. ``Refused`` says why not."""
    received = datetime.now(UTC)
    if who.role != "student":
        raise Refused(403, "only a student on the roster submits; an instructor grades with grade submit.")
    take: Intake = request.app.state.intake
    assignment = await run_in_threadpool(take.assignment, name)
    await run_in_threadpool(take.check, who.subject, assignment, received)  # before a byte of the body is read
    upload = await read_upload(dict(request.headers), request.stream(), limit=take.upload_limit(assignment))
    return await run_in_threadpool(take.accept, who.subject, assignment, upload, received)
