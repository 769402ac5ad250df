"""The ASGI app of ``grade serve``, built by ``create_app`` around a started ``Service``.

Besides the API (``grader.service.api``) it has ``/healthz`` for a proxy or a monitor, the
answers of refused requests (one sentence, JSON), headers that keep a browser from guessing
types or caching a student's results, and a background task that takes over what stopped
graders left (``Dispatch.sweep``), a few times per lease.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from functools import lru_cache
from importlib import resources
from typing import Any

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from grader.db.engine import POOL_SIZE
from grader.errors import GraderError
from grader.service import api, pages
from grader.service.intake import Intake
from grader.service.state import Service, service_of
from grader.service.uploads import Refused
from grader.service.watch import Watcher

log = logging.getLogger(__name__)


def create_app(service: Service) -> FastAPI:
    """The app serving ``service``'s course; the service outlives it (``Service.stop``)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # no more threads reach the gradebook at once than it keeps connections for
        anyio.to_thread.current_default_thread_limiter().total_tokens = POOL_SIZE
        sweeper = asyncio.create_task(_sweep_forever(service))
        try:
            yield
        finally:
            sweeper.cancel()
            await app.state.watcher.close()

    app = FastAPI(title="grader", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.service = service
    app.state.intake = Intake(service)
    app.state.watcher = Watcher(service.gradebook.finished_among)
    app.include_router(api.router, prefix="/api/v1")
    app.include_router(pages.router)
    app.add_api_route("/static/pages.js", _script, methods=["GET"], include_in_schema=False)
    app.add_exception_handler(pages.SignInNeeded, _sign_in)  # type: ignore[arg-type]
    app.add_exception_handler(pages.PageRefused, _page_refused)  # type: ignore[arg-type]
    app.add_api_route("/healthz", healthz, methods=["GET"])
    app.add_exception_handler(Refused, _refused)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _invalid)  # type: ignore[arg-type]
    app.add_exception_handler(GraderError, _failed)  # type: ignore[arg-type]
    app.add_exception_handler(ClientDisconnect, _gone)  # type: ignore[arg-type]
    app.add_middleware(_Headers)
    return app


async def healthz(request: Request) -> JSONResponse:
    """200 when the database answers and the graders are there (the queue reachable and a worker
    answering, for Celery; every grading process alive, here), else 503 saying what is wrong."""
    service = service_of(request)

    def check() -> dict[str, str]:
        found = {"database": "ok", "queue": "ok", "workers": "ok"}
        try:
            service.probe.revision()
        except GraderError:
            found["database"] = "the gradebook cannot be reached"
        found.update(service.dispatch.graders.problems())
        return found

    found = await run_in_threadpool(check)
    healthy = all(v == "ok" for v in found.values())
    return JSONResponse({"status": "ok" if healthy else "unavailable", "backend": service.backend, **found}, 200 if healthy else 503)


async def _sweep_forever(service: Service) -> None:
    while True:
        await asyncio.sleep(service.sweep_seconds)
        try:
            await run_in_threadpool(service.dispatch.sweep)
        except Exception:  # the database is away: the next sweep tries again
            log.exception("taking over stopped gradings failed")


async def _sign_in(request: Request, exc: pages.SignInNeeded) -> Response:
    return RedirectResponse("/signin", 303)


async def _page_refused(request: Request, exc: pages.PageRefused) -> Response:
    return pages.page(request, "refused.html", exc.status, message=exc.message)


@lru_cache(maxsize=1)
def _script_text() -> bytes:
    return (resources.files("grader") / "templates" / "web" / "pages.js").read_bytes()


async def _script(request: Request) -> Response:
    """The pages' one script (the CSP runs no other)."""
    return Response(_script_text(), media_type="text/javascript; charset=utf-8")


async def _refused(request: Request, exc: Refused) -> JSONResponse:
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else None
    return JSONResponse({"detail": exc.message}, exc.status, headers=headers)


async def _invalid(request: Request, exc: RequestValidationError) -> Response:
    """A parameter out of its range or choices: 422 and one sentence naming it and what it may
    be (never the value sent back, nor the validator's internals)."""
    message = invalid_sentence(exc.errors())
    if request.url.path.startswith("/api/"):
        return JSONResponse({"detail": message}, 422)
    return pages.page(request, "refused.html", 422, message=message)


def invalid_sentence(errors: Sequence[Any]) -> str:
    """One sentence for pydantic's first complaint about a request."""
    first = errors[0] if errors else {}
    where = [str(part) for part in first.get("loc", ()) if part not in ("query", "body", "path", "header", "cookie")]
    what = str(first.get("msg") or "is not valid").rstrip(".")
    what = what[0].lower() + what[1:] if what else what
    if where:
        kind = {"query": "the query parameter", "body": "the form field"}.get(str(first["loc"][0]), "the parameter")
        return f"{kind} '{where[-1]}' is not valid: {what}."
    return f"the request is not valid: {what}."


async def _failed(request: Request, exc: GraderError) -> JSONResponse:
    # The operator's message may name the database or the course's directory: logged, not shown.
    log.error("%s %s failed: %s", request.method, request.url.path, exc)
    return JSONResponse({"detail": "the grader cannot answer now; try again in a minute."}, 503, headers={"Retry-After": "60"})


async def _gone(request: Request, exc: ClientDisconnect) -> Response:
    return Response(status_code=400)  # nobody reads it: the client hung up mid-upload


class _Headers:
    """Headers on every answer: no type sniffing, no caching of a student's results, no referrer
    (a plain ASGI middleware, so that an upload's body still streams through untouched)."""

    EXTRA = [(b"x-content-type-options", b"nosniff"), (b"cache-control", b"no-store"), (b"referrer-policy", b"no-referrer")]

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *self.EXTRA]
            await send(message)

        await self.app(scope, receive, with_headers)
