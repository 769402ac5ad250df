"""Grading a whole class: ``grade batch``.

``run_batch`` grades every submission in a class directory (``directory``: one file or folder
per student) with one of two backends, imported only when chosen:

``local`` (``grader.batch.local``)
    a pool of ``workers`` processes on this machine, one sandbox each;
``celery`` (``grader.batch.celery_backend``)
    the Celery workers listening on ``GRADE_BROKER_URL`` (``grade worker``), on any number of
    machines sharing the gradebook database.

Both claim every submission in the gradebook before grading it (``grader.batch.claims``), so
a batch is resumable and idempotent whichever backend runs it. The backends depend on
``claims`` and ``directory`` only: never on each other, nor on this package's ``__init__``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from grader import environment
from grader.batch.claims import Done, Summary, Unfinished, batch_key
from grader.batch.directory import Job, Skipped, discover
from grader.course import Assignment
from grader.errors import GraderError
from grader.loading import read_submission
from grader.sandbox.isolation import require
from grader.workspace import Workspace

BACKENDS = ("local", "celery")

__all__ = ["BACKENDS", "Done", "Job", "Skipped", "Summary", "Unfinished", "discover", "run_batch"]


def run_batch(
    directory: Path | str,
    *,
    assignment: str,
    course: Path | str = ".",
    workers: int | None = None,
    backend: str = "local",
    db_url: str | None = None,
    isolation: str = "strict",
    progress: Callable[[Done, int, int], None] | None = None,
    timeout: float | None = None,
    canvas_names: bool = False,
) -> Summary:
    """Grade every submission in ``directory``: with ``workers`` parallel sandboxes here
    (``local``), or by the Celery workers listening on ``GRADE_BROKER_URL`` (``celery``), which
    the batch follows for at most ``timeout`` seconds (None: until every submission is
    finished or no worker is left to finish them; ``Summary.unfinished`` names the rest).
    With ``canvas_names`` the files are Canvas's bulk download, each a rostered student's by
    the Canvas user ID in its name (``grader.batch.directory``)."""
    if backend not in BACKENDS:
        raise GraderError(f"backend {backend!r} is not one of {', '.join(BACKENDS)}.")
    if timeout is not None and backend != "celery":
        raise GraderError("--timeout bounds a batch of the celery backend; the local backend ends when its workers do.")
    workspace = Workspace(course, db_url)
    loaded = workspace.assignment(assignment)  # usage errors before anything starts
    require(isolation)
    environment.require(loaded.rubric)
    found = discover(Path(directory), canvas_users(workspace) if canvas_names else None)
    url = workspace.db_url
    if backend == "celery":
        from grader import extras

        try:
            from grader.batch.celery_backend import run_celery_batch
        except ImportError as exc:
            raise extras.require(exc, "grade batch --backend celery") from None
        return run_celery_batch(
            found, assignment=assignment, workspace=workspace, isolation=isolation, progress=progress, timeout=timeout
        )
    from grader.batch.local import run_local_batch

    # The schema, created or upgraded once before any worker writes; what stopped graders left
    # is tidied, except this batch's own orphans, which its workers take over.
    with workspace.gradebook(tidy=False) as gradebook:
        workspace.tidy(gradebook, spare=claim_keys(found[0], loaded))
    return run_local_batch(found, assignment=assignment, course=course, db_url=url, workers=workers, isolation=isolation, progress=progress)


def canvas_users(workspace: Workspace) -> dict[str, list[str]]:
    """Each Canvas user ID on the roster, with the ids of the students who have it (one, unless
    the roster kept a student's old id); GraderError if the roster has none."""
    with workspace.gradebook(tidy=False) as gradebook:
        roster = gradebook.roster()
    users: dict[str, list[str]] = {}
    for entry in roster:
        if entry.canvas_id is not None:
            users.setdefault(entry.canvas_id, []).append(entry.id)
    if not users:
        raise GraderError(
            "--canvas-names finds students by their Canvas user ID, and the roster has none: "
            "import Canvas's gradebook export first (grade roster import FILE.csv)."
        )
    return users


def claim_keys(jobs: list[Job], assignment: Assignment) -> list[str]:
    """The batch keys ``jobs`` are claimed under (files that cannot be read have none: the
    batch reports them)."""
    keys = []
    for job in jobs:
        try:
            submission = read_submission(job.path)
        except GraderError:
            continue
        keys.append(batch_key(assignment.name, job.student, submission.sha256, assignment.version))
    return keys
