"""The routes under ``/api/v1``: assignments, uploads, results, reports, and the instructor's views.

Each route names what its caller must be (``Depends(caller)``, ``Depends(instructor)``), and
reaches the gradebook in a worker thread (the gradebook is synchronous), never grading: an
upload is recorded and sent to the graders (``grader.service.intake``). A student sees only
their own submissions: any other id is 404, exactly as an id that does not exist, so ids tell
nothing. Student ids never appear in a URL: the token says who is asking.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from grader.db import StoredSubmission
from grader.identity import Identity
from grader.service import views
from grader.service.auth import caller, instructor
from grader.service.intake import Intake, receive
from grader.service.state import service_of
from grader.service.uploads import Refused
from grader.service.watch import MAX_WAIT

router = APIRouter()
Caller = Annotated[Identity, Depends(caller)]
Instructor = Annotated[Identity, Depends(instructor)]
#: an id in a URL past this is no submission's (SQLite's and PostgreSQL's integers are 64-bit)
MAX_ID = 2**63 - 1
#: what an HTML report may load: nothing from anywhere (its CSS and pictures are inline)
REPORT_POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"


def intake(request: Request) -> Intake:
    found: Intake = request.app.state.intake
    return found


@router.get("/assignments")
def list_assignments(request: Request, who: Caller) -> list[dict[str, Any]]:
    """Every assignment of the course, with the caller's submissions used and left, and their
    own due and closing times (an extension moves them)."""
    service = service_of(request)
    shown = []
    for name in service.workspace.course.names():
        loaded, _ = service.workspace.find(name)
        if loaded is None:
            continue  # a rubric that does not load is the instructor's to fix (grade commands say why)
        if who.role == "student":
            standing = service.gradebook.standing(who.subject, name)
            shown.append(views.assignment(loaded, len(standing.uploads), standing.extension_days))
        else:
            shown.append(views.assignment(loaded, None))
    return shown


@router.post("/assignments/{name}/submissions", status_code=202)
async def submit(name: str, request: Request, who: Caller) -> JSONResponse:
    """Accept an upload (multipart field ``file``) for grading; 202 with its id at once."""
    accepted = await receive(request, who, name)
    return JSONResponse(
        {
            "submission_id": accepted.submission_id,
            "status": "pending",
            "submitted_at": views.when(accepted.submitted_at),
            "late_days": accepted.late_days,
        },
        202,
    )


@router.get("/assignments/{name}/submissions")
def history(name: str, request: Request, who: Caller) -> list[dict[str, Any]]:
    """The caller's submissions of assignment ``name``, newest first; an instructor's: everyone's."""
    intake(request).assignment(name)
    student = None if who.role == "instructor" else who.subject
    return [views.history_entry(s) for s in service_of(request).gradebook.history(name, student)]


@router.get("/submissions/{submission_id}")
async def result(
    submission_id: str, request: Request, who: Caller, wait: Annotated[float, Query(ge=0, le=MAX_WAIT)] = 0
) -> JSONResponse:
    """One submission's result, as ``grade submit --json`` prints it (see ``views.submission``).

    With ``wait`` (seconds, at most ``MAX_WAIT``), a pending submission's answer waits until it
    is graded or that time has passed, whichever is first (``grader.service.watch``). The
    answer is plain JSON already: it is sent as it is, without FastAPI's encoder."""
    stored = await visible_once_graded(request, submission_id, who, wait)
    return JSONResponse(await run_in_threadpool(_shown, request, stored))


async def visible_once_graded(request: Request, submission_id: str, who: Identity, wait: float) -> StoredSubmission:
    """``visible``'s submission, read again once graded if it was pending: after at most ``wait``
    seconds (0: at once), held by the app's watcher without a thread."""
    stored = await run_in_threadpool(visible, request, submission_id, who)
    if stored.status == "pending" and wait > 0 and await request.app.state.watcher.until_finished(stored.id, wait):
        stored = await run_in_threadpool(visible, request, submission_id, who)
    return stored


def _shown(request: Request, stored: StoredSubmission) -> dict[str, Any]:
    loaded, _ = service_of(request).workspace.find(stored.assignment)
    return views.submission(stored, loaded.rubric if loaded else None)


@router.get("/submissions/{submission_id}/report")
def report(
    submission_id: str, request: Request, who: Caller, format: Annotated[Literal["text", "md", "html"], Query()] = "text"
) -> Response:
    """One submission's report: text, Markdown, or a self-contained HTML page."""
    from grader.reports.api import header, render
    from grader.reports.model import build

    stored = visible(request, submission_id, who)
    loaded, _ = service_of(request).workspace.find(stored.assignment)
    rubric = loaded.rubric if loaded else None
    top = header(stored, rubric.max_score if rubric else None)
    if stored.status == "pending":
        top = replace(top, message=views.PENDING)
    rendered = render(build(top, stored.checks, stored.warnings, rubric), format)
    if format == "html":
        return HTMLResponse(rendered, headers={"Content-Security-Policy": REPORT_POLICY})
    media = "text/markdown; charset=utf-8" if format == "md" else "text/plain; charset=utf-8"
    return PlainTextResponse(rendered, media_type=media)


@router.get("/assignments/{name}/summary")
def summary(name: str, request: Request, who: Instructor) -> dict[str, Any]:
    """The class at a glance: statuses, scores, each part's mean, the frequent diagnoses."""
    from dataclasses import asdict

    from grader.reports.summary import summarize

    loaded = intake(request).assignment(name)
    found = summarize(name, service_of(request).gradebook.latest_per_student(name), loaded.rubric)
    return {**asdict(found), "mean": found.mean, "median": found.median}


@router.get("/assignments/{name}/export")
def export(
    name: str,
    request: Request,
    who: Instructor,
    format: Annotated[Literal["csv", "canvas"], Query()] = "csv",
    policy: Annotated[Literal["latest", "best"], Query()] = "latest",
    canvas_assignment: Annotated[str | None, Query(max_length=400)] = None,
) -> Response:
    """Grades as a spreadsheet CSV or Canvas's import CSV, one submission per student; the
    latter fills the existing Canvas assignment ``canvas_assignment`` ("Name (ID)") if given."""
    from grader.errors import ExportError
    from grader.exports import canvas, canvas_column, choose, spreadsheet

    if canvas_assignment is not None:
        if format != "canvas":
            raise Refused(400, "canvas_assignment names the score column of Canvas's import: ask for format=canvas.")
        try:
            canvas_column(canvas_assignment)
        except ExportError as exc:
            raise Refused(400, str(exc)) from None
    loaded = intake(request).assignment(name)
    gradebook = service_of(request).gradebook
    chosen = choose(gradebook.finished(name), policy)
    if format == "csv":
        text = spreadsheet(chosen, loaded.rubric)
    else:
        text = canvas(chosen, loaded.rubric, gradebook.roster(), canvas_assignment)
    disposition = f'attachment; filename="{name}-{format}.csv"'  # the name matched [A-Za-z0-9_-]+
    return Response(text, media_type="text/csv; charset=utf-8", headers={"Content-Disposition": disposition})


def visible(request: Request, submission_id: str, who: Identity) -> StoredSubmission:
    """The submission, if the caller may see it: their own, or any for an instructor; 404
    otherwise, as for an id that does not exist."""
    missing = Refused(404, "there is no such submission.")
    if not submission_id.isdigit() or not submission_id.isascii() or len(submission_id) > 19 or not 0 < int(submission_id) <= MAX_ID:
        raise missing
    if str(int(submission_id)) != submission_id:  # one spelling per id: "01" is no id
        raise missing
    stored = service_of(request).gradebook.get(int(submission_id))
    if stored is None or (who.role != "instructor" and stored.student != who.subject):
        raise missing
    return stored
