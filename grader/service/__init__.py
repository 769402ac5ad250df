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

import os
import signal
import socket
import sys
from pathlib import Path

from grader.errors import GraderError
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

    listening = _listen(host, port)  # before anything starts: a port in use is one line
    try:
        service = Service.start(settings, course=course, workers=workers, backend=backend, isolation=isolation)
    except BaseException:
        listening.close()
        raise
    try:
        level = settings.log_level.lower()
        count = workers or os.cpu_count() or 1
        graders = f"{count} grading process{'es' if count != 1 else ''}" if backend == "local" else "the Celery workers"
        shown = f"[{host}]" if ":" in host else host
        print(f"grade serve: the course at {Path(course).resolve()} on http://{shown}:{port}, graded by {graders}; "
              "Ctrl-C stops it.", file=sys.stderr, flush=True)
        # One process: the graders are its workers (or Celery's); several servers share a database.
        config = uvicorn.Config(create_app(service), log_level=level, access_log=level in ("debug", "info"), server_header=False)
        # uvicorn shuts down gracefully on SIGTERM, then raises it again for the handler it found:
        # this one ends the command through the ``finally`` below, so that the service stops in
        # order (its graders, the gradings they cut short, its heartbeat) and the exit code is 0.
        previous = signal.signal(signal.SIGTERM, _stopped)
        try:
            uvicorn.Server(config).run(sockets=[listening])
        finally:
            signal.signal(signal.SIGTERM, previous)
    finally:
        listening.close()
        service.stop()


def _stopped(signum: int, frame: object) -> None:
    raise SystemExit(0)


def _listen(host: str, port: int) -> socket.socket:
    """A socket listening on ``host``:``port``, or a one-line error saying why there is none."""
    try:
        family, kind, protocol, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
        listening = socket.socket(family, kind, protocol)
    except (OSError, UnicodeError) as exc:
        raise GraderError(f"cannot listen on {host}:{port} ({getattr(exc, 'strerror', None) or exc}); check --host.") from None
    try:
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listening.bind(address)
        listening.listen(2048)
    except OSError as exc:
        listening.close()
        raise GraderError(f"cannot listen on {host}:{port} ({exc.strerror or exc}); choose another --port, or stop what uses it.") from None
    return listening
