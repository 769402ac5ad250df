"""The optional parts of the grader and the extra of ``pyproject.toml`` that installs each: a
command that needs a missing one says so in one line (exit 2), never with a traceback."""

from __future__ import annotations

from grader.errors import GraderError

#: top-level modules of the optional dependencies, and the extra that installs them
EXTRAS = {
    **dict.fromkeys(("celery", "kombu", "billiard", "vine", "amqp", "redis"), "celery"),
    **dict.fromkeys(("fastapi", "starlette", "uvicorn", "multipart", "python_multipart"), "serve"),
    "psycopg": "postgres",
}


def require(exc: ImportError, command: str) -> GraderError:
    """The one-line error for ``command`` when an import failed with ``exc``; ``exc`` itself is
    re-raised (a fault of the grader's own) when no extra installs what is missing."""
    top = (exc.name or "").split(".")[0]
    extra = EXTRAS.get(top)
    if extra is None:
        raise exc
    return GraderError(f"{command} needs {top}: install the {extra} extra (pip install -e '.[{extra}]' in the grader's directory).")
