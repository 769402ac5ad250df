"""The student's side of the service: with a server configured (``grader.login``), ``grade
submit``, ``grade report`` and ``grade history`` go to the HTTP API of ``grade serve``.

The student needs neither the course directory (it holds the reference solutions) nor the
gradebook: only the server's address and their own token. The token names the student;
nothing here takes a student id.

Every failure is one line: a refusal by the server (a wrong token, a closed assignment, a
file too large, too many uploads) is a ``ServiceRefusal`` (exit 2) carrying the server's own
sentence; a server that cannot be reached or fails is ``ServerUnreachable`` (exit 1).
"""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from grader.login import Login, ServerUnreachable, ServiceRefusal

#: how long ``grade submit`` waits for its grading before it says where to look later
WAIT_SECONDS = 600.0
#: how long the server holds one look at a pending submission (a long poll) before it answers
HOLD_SECONDS = 5.0
#: pauses between two looks at a server that answers at once: short at first, then at most this
FIRST_PAUSE, LONGEST_PAUSE = 0.2, 2.0
#: the most of a server's error body quoted in a message
QUOTED_CHARS = 300
API = "/api/v1"


class Client:
    """Calls to one server with one token."""

    def __init__(self, login: Login, *, timeout: float = 30.0, transport: httpx.BaseTransport | None = None) -> None:
        self.login = login
        self._http = httpx.Client(
            base_url=login.server + API,
            headers={"Authorization": f"Bearer {login.token}", "Accept": "application/json"},
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.close()

    def upload(self, path: Path, assignment: str) -> dict[str, Any]:
        """Send the file; the server's receipt ({submission_id, status, submitted_at, late_days})."""
        try:
            content = path.read_bytes()
        except OSError as exc:
            raise ServiceRefusal(f"cannot read {path}: {exc.strerror or exc}.") from None
        files = {"file": (path.name, content, "application/octet-stream")}
        receipt = self._json("POST", f"/assignments/{_segment(assignment)}/submissions", files=files)
        identified = isinstance(receipt, dict) and isinstance(receipt.get("submission_id"), int) and not isinstance(receipt["submission_id"], bool)
        if not identified:
            raise ServerUnreachable(f"{self.login.server} answered the upload without a submission id; is it a grader server?")
        return dict(receipt)

    def assignments(self) -> list[dict[str, Any]]:
        found = self._json("GET", "/assignments")
        items = found.get("assignments", found) if isinstance(found, dict) else found
        if not isinstance(items, list):
            raise ServerUnreachable("the server's answer is not a list of assignments; is it a grader server?")
        return items

    def submission(self, submission_id: int) -> dict[str, Any]:
        return self._result(self._json("GET", f"/submissions/{int(submission_id)}"))

    def _result(self, found: Any) -> dict[str, Any]:
        if not isinstance(found, dict):
            raise ServerUnreachable(f"{self.login.server} answered with something that is not a submission; is it a grader server?")
        return found

    def wait(
        self, submission_id: int, *, seconds: float = WAIT_SECONDS, progress: Callable[[float], None] | None = None
    ) -> dict[str, Any]:
        """The submission once it is no longer pending; after ``seconds``, the pending one.

        Each look is a long poll (``?wait=``): the server answers as soon as the grading ends,
        or after ``HOLD_SECONDS``, when ``progress`` hears how long it has been. A server that
        answers a pending look at once (one that does not hold requests) is asked again after a
        pause that grows from ``FIRST_PAUSE`` to ``LONGEST_PAUSE``."""
        start = time.monotonic()
        pause = FIRST_PAUSE
        while True:
            asked = time.monotonic()
            hold = min(HOLD_SECONDS, max(0.0, seconds - (asked - start)))
            found = self._result(self._json("GET", f"/submissions/{int(submission_id)}", params={"wait": f"{hold:.1f}"}))
            waited = time.monotonic() - start
            if found.get("status") != "pending" or waited >= seconds:
                return found
            if progress:
                progress(waited)
            if time.monotonic() - asked < hold / 2:
                time.sleep(min(pause, max(0.0, seconds - waited)))
                pause = min(pause * 2, LONGEST_PAUSE)

    def report(self, submission_id: int, format: str = "text") -> str:
        return self._request("GET", f"/submissions/{int(submission_id)}/report", params={"format": format}).text

    def history(self, assignment: str) -> list[dict[str, Any]]:
        found = self._json("GET", f"/assignments/{_segment(assignment)}/submissions")
        items = found.get("submissions", found) if isinstance(found, dict) else found
        if not isinstance(items, list):
            raise ServerUnreachable("the server's answer is not a list of submissions; is it a grader server?")
        return items

    def latest(self, assignment: str, student: str | None = None) -> dict[str, Any]:
        """The caller's newest submission of ``assignment`` (an instructor: ``student``'s)."""
        items = self.history(assignment)
        if student is not None:
            items = [item for item in items if item.get("student") == student]
            if not items:
                raise ServiceRefusal(f"no submission of {assignment} by {student} that your token may see.")
        elif len({str(item.get("student")) for item in items}) > 1:
            raise ServiceRefusal("your token sees every student's submissions (an instructor's): name one with --student ID.")
        if not items:
            raise ServiceRefusal(f"you have no submission of {assignment} yet; submit with grade submit FILE --assignment {assignment}.")
        return max(items, key=lambda item: (str(item.get("submitted_at", "")), int(item.get("submission_id", 0))))

    def _json(self, method: str, url: str, **options: Any) -> Any:
        response = self._request(method, url, **options)
        try:
            return response.json()
        except ValueError:
            raise ServerUnreachable(f"{self.login.server} answered {method} {url} with something that is not JSON; is it a grader server?") from None

    def _request(self, method: str, url: str, **options: Any) -> httpx.Response:
        try:
            response = self._http.request(method, url, **options)
        except httpx.TimeoutException:
            raise ServerUnreachable(f"{self.login.server} did not answer in time; try again later.") from None
        except (httpx.HTTPError, httpx.InvalidURL, UnicodeError) as exc:
            raise ServerUnreachable(f"cannot reach {self.login.server} ({_first_line(exc)}); check the address and your network.") from None
        if response.status_code >= 500:
            raise ServerUnreachable(f"{self.login.server} failed ({response.status_code}); try again later.")
        if response.status_code == 401:
            raise ServiceRefusal("the server does not accept your token; run grade login again with the token your instructor gave you.")
        if response.status_code >= 400:
            raise ServiceRefusal(_refusal(response))
        return response


def _segment(name: str) -> str:
    """An assignment name as one URL path segment (it never becomes a path of its own)."""
    return urllib.parse.quote(name, safe="")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:QUOTED_CHARS] if text else type(exc).__name__


def _refusal(response: httpx.Response) -> str:
    """The server's sentence for a 4xx, with when to try again if it said."""
    try:
        body = response.json()
        detail = body.get("detail", body) if isinstance(body, dict) else body
        message = detail if isinstance(detail, str) else json.dumps(detail)
    except ValueError:
        message = response.text
    message = " ".join(message.split())[:QUOTED_CHARS] or f"refused ({response.status_code})"
    retry = response.headers.get("Retry-After", "")
    if response.status_code == 429 and retry.isdigit() and "try again" not in message:
        message += f" (try again in {int(retry)} s)"
    return message
