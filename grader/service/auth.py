"""Who is calling: the ``Authorization: Bearer TOKEN`` header, checked against the gradebook.

A missing, malformed or unknown token is 401, the same answer for each, so that a caller learns
nothing about which tokens exist; the token is bounded before it is looked up, and compared in
constant time by ``Gradebook.authenticate``. Routes declare what they need as a dependency:
``Depends(caller)`` for anyone with a token, ``Depends(instructor)`` for the instructor's views
(403 for a student).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from starlette.concurrency import run_in_threadpool

from grader.identity import MAX_TOKEN_LENGTH, Identity
from grader.service.state import service_of

__all__ = ["caller", "instructor"]

UNAUTHORIZED = HTTPException(
    401, "a valid token is needed: send the header Authorization: Bearer TOKEN.", headers={"WWW-Authenticate": "Bearer"}
)


def bearer_token(header: str | None) -> str | None:
    """The token of an ``Authorization`` header, or None when it is not one bearer token."""
    if not header or len(header) > MAX_TOKEN_LENGTH + 16:
        return None
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or not token.isascii() or not token.isprintable() or " " in token:
        return None
    return token


async def caller(request: Request) -> Identity:
    """The identity the request's bearer token speaks for; 401 without one."""
    token = bearer_token(request.headers.get("authorization"))
    if token is None:
        raise UNAUTHORIZED
    identity = await run_in_threadpool(service_of(request).gradebook.authenticate, token)
    if identity is None:
        raise UNAUTHORIZED
    return identity


async def instructor(who: Annotated[Identity, Depends(caller)]) -> Identity:
    """The caller, who must be an instructor: 403 for a student."""
    if who.role != "instructor":
        raise HTTPException(403, "only an instructor may see this.")
    return who
