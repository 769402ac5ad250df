"""The web pages of ``grade serve``: a student signs in with their token (or a one-time link),
uploads, watches the status turn into the report, and reads their history; an instructor reads
the class at a glance, the roster, issues and revokes tokens, gives extensions and downloads
the exports.

Server-rendered Jinja2 (``grader/templates/web/``) with one small script (``pages.js``), no
framework and no build step. A browser is signed in by a session cookie (HttpOnly, SameSite
Strict, Secure over HTTPS) naming a session the gradebook keeps (``grader.db.sessions``): a new
one at every sign-in, ended at sign-out or when the subject's tokens are revoked. Every form
posts back the session's CSRF token (the sign-in form, a token of its own in a cookie of its
own), checked in constant time before anything else is read. Pages answer with a
Content-Security-Policy that runs only this server's script and still renders a report's
inline CSS and ``data:`` pictures. A student sees only their own submissions: any other id is
404, as in the API.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from grader.db import StoredSubmission
from grader.db.sessions import SignedIn
from grader.errors import GraderError
from grader.identity import MAX_TOKEN_LENGTH, Identity
from grader.service.intake import receive
from grader.service.state import service_of
from grader.service.uploads import Refused
from grader.service.watch import MAX_WAIT

router = APIRouter()

#: the session cookie, and the sign-in form's own CSRF cookie
SESSION_COOKIE = "grader_session"
SIGNIN_COOKIE = "grader_signin"
#: what a page may load: this server's script and styles, inline CSS (reports), data: pictures
PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
PAGE_HEADERS = {"Content-Security-Policy": PAGE_POLICY, "X-Frame-Options": "DENY"}


class SignInNeeded(Exception):
    """A page asked for without a live session: the browser goes to the sign-in page."""


class PageRefused(Exception):
    """A page refused with a sentence (404, 403), shown as a page."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """The page ``web/template`` filled with ``context`` and the signed-in caller (if any)."""
    from grader.reports.templates import render

    signed: SignedIn | None = getattr(request.state, "signed_in", None)
    html = render(f"web/{template}", who=signed.identity if signed else None, csrf=signed.csrf if signed else "", **context)
    return HTMLResponse(html, status, headers=PAGE_HEADERS)


async def signed_in(request: Request) -> SignedIn:
    """The live session of the request's cookie; SignInNeeded otherwise."""
    found = await run_in_threadpool(service_of(request).gradebook.session, request.cookies.get(SESSION_COOKIE))
    if found is None:
        raise SignInNeeded
    request.state.signed_in = found
    return found


async def signed_in_instructor(found: Annotated[SignedIn, Depends(signed_in)]) -> SignedIn:
    if found.identity.role != "instructor":
        raise PageRefused(403, "Only an instructor may see this page.")
    return found


Signed = Annotated[SignedIn, Depends(signed_in)]
SignedInstructor = Annotated[SignedIn, Depends(signed_in_instructor)]


def require_csrf(signed: SignedIn, sent: str | None) -> None:
    """Refuse (403) a form that does not carry the session's CSRF token."""
    if not sent or not hmac.compare_digest(sent.encode(), signed.csrf.encode()):
        raise PageRefused(403, "This form has expired or did not come from this site; reload the page and try again.")


# -- signing in and out ---------------------------------------------------------------------


@router.get("/")
async def home(request: Request) -> Response:
    found = await run_in_threadpool(service_of(request).gradebook.session, request.cookies.get(SESSION_COOKIE))
    if found is None:
        return RedirectResponse("/signin", 303)
    return RedirectResponse("/class" if found.identity.role == "instructor" else "/assignments", 303)


@router.get("/signin")
def signin_form(request: Request, problem: str = "") -> HTMLResponse:
    return _signin_page(request, "signin.html", problem=problem)


@router.post("/signin")
async def signin(request: Request, token: Annotated[str, Form(max_length=MAX_TOKEN_LENGTH + 64)] = "", csrf: Annotated[str, Form(max_length=64)] = "") -> Response:
    if not _signin_csrf_ok(request, csrf):
        return _signin_page(request, "signin.html", 403, problem="The sign-in form expired; please try again.")
    identity = await run_in_threadpool(service_of(request).gradebook.authenticate, token.strip())
    if identity is None:
        return _signin_page(request, "signin.html", 401, problem="That token is not valid. Paste the whole token your instructor gave you.")
    return await _start(request, identity)


@router.get("/signin/link/{secret}")
def link_form(secret: str, request: Request) -> HTMLResponse:
    # A GET never uses the link up (a mail scanner may open it): the page posts it back.
    return _signin_page(request, "link.html", secret=secret)


@router.post("/signin/link/{secret}")
async def link_signin(secret: str, request: Request, csrf: Annotated[str, Form(max_length=64)] = "") -> Response:
    if not _signin_csrf_ok(request, csrf):
        return _signin_page(request, "link.html", 403, secret=secret, problem="The sign-in form expired; please try again.")
    identity = await run_in_threadpool(service_of(request).gradebook.redeem_link, secret)
    if identity is None:
        return _signin_page(request, "signin.html", 401, problem="That sign-in link has been used or has expired. Ask your instructor for a new one, or sign in with your token.")
    return await _start(request, identity)


@router.post("/signout")
async def signout(request: Request, signed: Signed, csrf: Annotated[str, Form(max_length=64)] = "") -> Response:
    require_csrf(signed, csrf)
    await run_in_threadpool(service_of(request).gradebook.end_session, request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/signin", 303)
    response.delete_cookie(SESSION_COOKIE, path="/", secure=_secure(request), httponly=True, samesite="strict")
    return response


async def _start(request: Request, identity: Identity) -> Response:
    """A new session (never the one the browser may have brought: no fixation)."""
    gradebook = service_of(request).gradebook
    await run_in_threadpool(gradebook.end_session, request.cookies.get(SESSION_COOKIE))
    secret = await run_in_threadpool(gradebook.start_session, identity)
    response = RedirectResponse("/class" if identity.role == "instructor" else "/assignments", 303)
    response.set_cookie(SESSION_COOKIE, secret, path="/", secure=_secure(request), httponly=True, samesite="strict")
    response.delete_cookie(SIGNIN_COOKIE, path="/", secure=_secure(request), httponly=True, samesite="strict")
    return response


def _signin_page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    token = secrets.token_urlsafe(32)
    response = page(request, template, status, signin_csrf=token, **{"problem": "", **context})
    response.set_cookie(SIGNIN_COOKIE, token, path="/", secure=_secure(request), httponly=True, samesite="strict", max_age=3600)
    return response


def _signin_csrf_ok(request: Request, sent: str) -> bool:
    kept = request.cookies.get(SIGNIN_COOKIE, "")
    return bool(sent) and bool(kept) and hmac.compare_digest(sent.encode(), kept.encode())


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


# -- students -------------------------------------------------------------------------------


@router.get("/assignments")
def assignments(request: Request, signed: Signed) -> HTMLResponse:
    service = service_of(request)
    now = datetime.now(UTC)
    shown = []
    for name in service.workspace.course.names():
        loaded, _ = service.workspace.find(name)
        if loaded is None:
            continue
        shown.append(_assignment_view(service, loaded, signed.identity, now)[0])
    return page(request, "assignments.html", assignments=shown, now=now)


@router.get("/assignments/{name}")
def assignment_page(name: str, request: Request, signed: Signed) -> HTMLResponse:
    return _assignment_page(request, signed, name)


@router.post("/assignments/{name}/upload")
async def upload(name: str, request: Request, signed: Signed, csrf: Annotated[str | None, Query(max_length=64)] = None) -> Response:
    require_csrf(signed, csrf)  # before a byte of the body is read
    try:
        accepted = await receive(request, signed.identity, name)
    except Refused as refused:
        if refused.status == 404:
            raise PageRefused(404, "There is no such assignment.") from None
        return await run_in_threadpool(_assignment_page, request, signed, name, refused.status, refused.message, refused.retry_after)
    return RedirectResponse(f"/submissions/{accepted.submission_id}", 303)


@router.get("/submissions/{submission_id}")
def submission_page(submission_id: str, request: Request, signed: Signed) -> HTMLResponse:
    from grader.reports.api import header
    from grader.reports.html import picture
    from grader.reports.model import build

    stored = _visible(request, submission_id, signed.identity)
    loaded, _ = service_of(request).workspace.find(stored.assignment)
    rubric = loaded.rubric if loaded else None
    report = None
    if stored.status != "pending":
        report = build(header(stored, rubric.max_score if rubric else None), stored.checks, stored.warnings, rubric)
    return page(request, "submission.html", stored=stored, report=report, picture=picture, title=rubric.title if rubric else stored.assignment)


@router.get("/submissions/{submission_id}/status")
async def submission_status(
    submission_id: str, request: Request, signed: Signed, wait: Annotated[float, Query(ge=0, le=MAX_WAIT)] = 0
) -> JSONResponse:
    """The submission's status for the page's script: held until graded, at most ``wait`` s."""
    from grader.service.api import visible_once_graded

    try:
        stored = await visible_once_graded(request, submission_id, signed.identity, wait)
    except Refused:
        raise PageRefused(404, "There is no such submission.") from None
    return JSONResponse({"status": stored.status})


@router.get("/submissions/{submission_id}/history")
def history_page(submission_id: str, request: Request, signed: Signed) -> HTMLResponse:
    """Every submission of the same student and assignment as this one (the caller's own, for a student)."""
    stored = _visible(request, submission_id, signed.identity)
    entries = service_of(request).gradebook.history(stored.assignment, stored.student)
    return page(request, "history.html", student=stored.student, assignment=stored.assignment, entries=entries)


# -- instructors ----------------------------------------------------------------------------


@router.get("/class")
def class_index(request: Request, signed: SignedInstructor) -> HTMLResponse:
    service = service_of(request)
    names = [name for name in service.workspace.course.names() if service.workspace.find(name)[0] is not None]
    return page(request, "class_index.html", names=names)


@router.get("/class/{name}")
def class_view(name: str, request: Request, signed: SignedInstructor) -> HTMLResponse:
    from grader.exports import choose
    from grader.reports.summary import summarize

    service = service_of(request)
    loaded, _ = service.workspace.find(name)
    if loaded is None:
        raise PageRefused(404, "There is no such assignment.")
    latest = service.gradebook.latest_per_student(name)
    every = service.gradebook.history(name)
    best = choose([s for s in every if s.status != "pending"], "best")
    counts: dict[str, int] = {}
    for stored in every:
        counts[stored.student] = counts.get(stored.student, 0) + 1
    rows = [
        {"latest": s, "best": best.get(s.student), "submissions": counts.get(s.student, 0)}
        for s in sorted(latest, key=lambda s: s.student)
    ]
    summary = summarize(name, latest, loaded.rubric) if latest else None
    histogram = ""
    if summary is not None and summary.scores:
        from grader.reports.pictures import data_uri, histogram_png

        histogram = data_uri(histogram_png(summary.scores, summary.max_score, f"{name}: {len(summary.scores)} finished submissions"))
    return page(request, "class.html", assignment=name, title=loaded.rubric.title, summary=summary, histogram=histogram, rows=rows)


@router.get("/class/{name}/export")
def class_export(
    name: str,
    request: Request,
    signed: SignedInstructor,
    format: Annotated[Literal["csv", "canvas"], Query()] = "csv",
    policy: Annotated[Literal["latest", "best"], Query()] = "latest",
) -> Response:
    """The API's export (``GET /api/v1/assignments/{name}/export``), for a signed-in instructor."""
    from grader.service.api import export

    return export(name, request, signed.identity, format=format, policy=policy)


@router.get("/roster")
def roster_page(request: Request, signed: SignedInstructor) -> HTMLResponse:
    return _roster_page(request)


@router.post("/roster/tokens")
def roster_token(
    request: Request,
    signed: SignedInstructor,
    subject: Annotated[str, Form(max_length=200)],
    role: Annotated[Literal["student", "instructor"], Form()] = "student",
    csrf: Annotated[str, Form(max_length=64)] = "",
) -> HTMLResponse:
    require_csrf(signed, csrf)
    try:
        token = service_of(request).gradebook.issue_token(subject, "instructor" if role == "instructor" else "student")
    except GraderError as exc:
        return _roster_page(request, 400, problem=str(exc))
    return _roster_page(request, issued=(subject, role, token))


@router.post("/roster/revoke")
def roster_revoke(
    request: Request, signed: SignedInstructor, subject: Annotated[str, Form(max_length=200)], csrf: Annotated[str, Form(max_length=64)] = ""
) -> HTMLResponse:
    require_csrf(signed, csrf)
    count = service_of(request).gradebook.revoke_tokens(subject)
    return _roster_page(request, done=f"Revoked {count} token{'s' if count != 1 else ''} of {subject}; their browsers are signed out.")


@router.post("/roster/extensions")
def roster_extend(
    request: Request,
    signed: SignedInstructor,
    subject: Annotated[str, Form(max_length=200)],
    assignment: Annotated[str, Form(max_length=200)],
    days: Annotated[float, Form(ge=0, le=3650)],
    csrf: Annotated[str, Form(max_length=64)] = "",
) -> HTMLResponse:
    require_csrf(signed, csrf)
    if service_of(request).workspace.find(assignment)[0] is None:
        return _roster_page(request, 400, problem=f"There is no assignment named {assignment}.")
    try:
        service_of(request).gradebook.extend(subject, assignment, days)
    except GraderError as exc:
        return _roster_page(request, 400, problem=str(exc))
    return _roster_page(request, done=f"{subject} has {days:g} more days on {assignment}.")


def _roster_page(request: Request, status: int = 200, **context: Any) -> HTMLResponse:
    service = service_of(request)
    names = [name for name in service.workspace.course.names() if service.workspace.find(name)[0] is not None]
    defaults: dict[str, Any] = {"issued": None, "done": "", "problem": ""}
    return page(request, "roster.html", status, roster=service.gradebook.roster(), names=names, **{**defaults, **context})


# -- shared ---------------------------------------------------------------------------------


def _assignment_page(
    request: Request, signed: SignedIn, name: str, status: int = 200, problem: str = "", retry_after: int | None = None
) -> HTMLResponse:
    service = service_of(request)
    loaded, _ = service.workspace.find(name) if len(name) <= 200 else (None, None)
    if loaded is None:
        raise PageRefused(404, "There is no such assignment.")
    view, mine = _assignment_view(service, loaded, signed.identity, datetime.now(UTC))
    again = None
    if retry_after is not None:
        again = {"seconds": retry_after, "at": datetime.fromtimestamp(datetime.now(UTC).timestamp() + retry_after, UTC)}
    upload_action = f"/assignments/{quote(name, safe='')}/upload?csrf={quote(signed.csrf, safe='')}"
    return page(request, "assignment.html", status, a=view, entries=mine, problem=problem, again=again, upload_action=upload_action)


def _assignment_view(service: Any, loaded: Any, who: Identity, now: datetime) -> tuple[dict[str, Any], list[StoredSubmission]]:
    """The assignment as ``who`` sees it (their due date, their submissions used), and their
    submissions of it, newest first (none for an instructor)."""
    student = who.role == "student"
    mine = service.gradebook.history(loaded.name, who.subject) if student else []
    extension_days = service.gradebook.extension_days(who.subject, loaded.name) if student else 0.0
    policy = loaded.rubric.policy
    due = policy.due_for(extension_days)
    closes = policy.closes_for(extension_days)
    counted = [s for s in mine if not _grader_fault(s)]
    latest = mine[0] if mine else None
    return {
        "name": loaded.name, "title": loaded.rubric.title, "max_score": loaded.rubric.max_score, "due": due,
        "closes": closes, "due_in": _relative(due, now) if due else "", "max_submissions": policy.max_submissions,
        "used": len(counted), "latest": latest, "max_upload_kb": policy.max_upload_kb,
    }, mine


def _grader_fault(stored: StoredSubmission) -> bool:
    from grader.results import grader_fault

    return grader_fault(stored.status, stored.message, stored.filename)


def _relative(moment: datetime, now: datetime) -> str:
    """``in 2 days``, ``3 hours late``: how far ``moment`` (a due date) is from ``now``."""
    seconds = (moment - now).total_seconds()
    amount = abs(seconds)
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if amount >= size:
            count = int(amount // size)
            text = f"{count} {unit}{'s' if count != 1 else ''}"
            break
    else:
        text = "less than a minute"
    return f"in {text}" if seconds >= 0 else f"{text} late"


def _visible(request: Request, submission_id: str, who: Identity) -> StoredSubmission:
    from grader.service.api import visible

    try:
        return visible(request, submission_id, who)
    except Refused:
        raise PageRefused(404, "There is no such submission.") from None
