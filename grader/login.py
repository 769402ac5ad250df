"""Where the student's client finds its server and token: ``grade login`` writes them to
``$XDG_CONFIG_HOME/grade/config.toml`` (mode 0600, readable by its owner only);
``GRADE_SERVER`` and ``GRADE_TOKEN`` override the file. Kept apart from ``grader.client`` so
that local commands learn whether a server is configured without loading an HTTP client.
"""

from __future__ import annotations

import json
import os
import tomllib
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.errors import GraderError


class ServiceRefusal(GraderError):
    """The server refused the request (4xx), or the login is unusable: one line, exit code 2."""


class ServerUnreachable(GraderError):
    """The server could not be reached, or failed (5xx): one line, exit code 1; try again later."""

    exit_code = 1


@dataclass(frozen=True)
class Login:
    server: str
    token: str


def config_path(environ: Mapping[str, str] | None = None) -> Path:
    """Where ``grade login`` keeps the server and token: ``$XDG_CONFIG_HOME/grade/config.toml``."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME") or Path.home()) / ".config")
    return Path(base) / "grade" / "config.toml"


def _server_url(server: str) -> str:
    server = server.strip().rstrip("/")
    refused = ServiceRefusal(f"the server address {server[:80]!r} is not an http:// or https:// URL; give e.g. https://grader.example.edu.")
    if not server.startswith(("http://", "https://")) or len(server) > 2000 or any(c.isspace() for c in server):
        raise refused
    try:  # the host and port must make sense before any request: "http://[::1", ":abc", "a..b"
        parts = urllib.parse.urlsplit(server)
        port = parts.port
        host = parts.hostname or ""
        host.encode("idna")
    except (ValueError, UnicodeError):
        raise refused from None
    if not host or (port is not None and not 0 < port < 65536) or parts.query or parts.fragment:
        raise refused
    return server


def save_login(server: str, token: str, path: Path | None = None) -> Path:
    """Write the server and token to the config file, readable by its owner only."""
    token = token.strip()
    if not token or len(token) > 512 or not token.isascii() or any(not c.isprintable() or c.isspace() for c in token):
        raise ServiceRefusal("the token is empty or not a token; paste the token your instructor gave you.")
    login = Login(_server_url(server), token)
    path = path or config_path()
    text = f"server = {json.dumps(login.server)}\ntoken = {json.dumps(login.token)}\n"  # JSON strings are TOML strings
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as out:
            os.fchmod(out.fileno(), 0o600)  # an older file may have had a wider mode
            out.write(text)
    except OSError as exc:
        raise ServiceRefusal(f"cannot write {path} ({exc.strerror or exc}); set XDG_CONFIG_HOME to a directory of yours.") from None
    return path


def configured(server: str | None, token: str | None, path: Path | None = None) -> Login | None:
    """The login to use: ``GRADE_SERVER``/``GRADE_TOKEN`` (``server``, ``token``) over the config
    file; None when no server is configured (then commands work locally, as before)."""
    path = path or config_path()
    saved: dict[str, Any] = {}
    if path.is_file():
        try:
            saved = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeError, tomllib.TOMLDecodeError) as exc:
            raise ServiceRefusal(f"cannot read {path} ({exc}); run grade login again.") from None
    server = server or saved.get("server")
    if not server:
        return None
    token = token or saved.get("token")
    if not isinstance(server, str) or not isinstance(token, str) or not token:
        raise ServiceRefusal("a server is configured but no token; run grade login --server URL --token TOKEN (or set GRADE_TOKEN).")
    return Login(_server_url(server), token)


