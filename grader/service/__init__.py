"""``grade serve``: students submit over HTTP with a token of their own and read their results.

    app.py       the ASGI app (FastAPI): routes, /healthz, refusals as JSON, the takeover loop
    api.py       the routes under /api/v1
    auth.py      the bearer token: who is calling (401), and instructor-only routes (403)
    intake.py    accepting an upload: the course's policy, the record, then the graders
    uploads.py   the multipart body read as it streams, refused past its size (413)
    dispatch.py  graders (a local pool or Celery) and taking over what stopped graders left
    state.py     what a running server holds; started before it listens
    views.py     the JSON of assignments, submissions and histories

Only ``serve`` is imported here: the modules above import FastAPI, which the other commands
never need.
"""

from __future__ import annotations

from pathlib import Path

from grader.settings import Settings

__all__ = ["serve"]


def serve(
    settings: Settings,
    *,
    course: Path | str = ".",
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int | None = None,
    backend: str = "local",
    isolation: str = "strict",
) -> None:
    """Serve the course at ``course`` on ``host``:``port`` until stopped (Ctrl-C, SIGTERM).

    Operator mistakes (an unusable course, database or broker, no isolation) raise GraderError
    before the server listens."""
    try:
        import uvicorn

        from grader.service.app import create_app
    except ImportError as exc:
        from grader import extras

        raise extras.require(exc, "grade serve") from None
    from grader.service.state import Service

    service = Service.start(settings, course=course, workers=workers, backend=backend, isolation=isolation)
    try:
        level = settings.log_level.lower()
        # One process: the graders are its workers (or Celery's); several servers share a database.
        uvicorn.run(create_app(service), host=host, port=port, log_level=level, access_log=level in ("debug", "info"), server_header=False)
    finally:
        service.stop()
