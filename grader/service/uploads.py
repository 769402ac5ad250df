"""Reading an uploaded submission from a request body, bounded while it streams.

A student's upload is hostile input. Its size is decided on the bytes that actually arrive, as
they arrive: the body is fed chunk by chunk to python-multipart's streaming parser, and the
request is refused with 413 as soon as the file passes the limit, before the rest of the body
is read, whatever ``Content-Length`` claims (a chunked body has none; a small one that lies
only cuts the body short). Only the ``file`` part is kept, and only up to the limit; every
other part counts toward a small allowance for the form's framing, and nothing of the
student's ever becomes a path: the file name is kept as text for reports, its last component
only, checked like a student id.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import PurePath

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from grader.loading import KINDS, Submission
from grader.students import problem

__all__ = ["FIELD", "Refused", "read_upload"]

#: the form field that carries the submission
FIELD = "file"
#: bytes of the body beyond the file itself: boundaries, part headers, small fields
FRAMING_BYTES = 64 * 1024
#: characters of a file name
MAX_NAME = 255


class Refused(Exception):
    """A request refused: its HTTP status, one sentence for the student, and for 429 the
    seconds until the next try may succeed."""

    def __init__(self, status: int, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after


@dataclass
class _Part:
    headers: dict[bytes, bytes]
    name: bytes = b""
    header_name: bytes = b""
    header_value: bytes = b""
    filename: str | None = None


class _Reader:
    """The parser's callbacks: they keep the ``file`` part and refuse what breaks the rules."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.part = _Part({})
        self.filename: str | None = None
        self.content = bytearray()
        self.files = 0
        self.ended = False

    def on_part_begin(self) -> None:
        self.part = _Part({})

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.part.header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.part.header_value += data[start:end]

    def on_header_end(self) -> None:
        self.part.headers[self.part.header_name.strip().lower()] = self.part.header_value
        self.part.header_name = self.part.header_value = b""

    def on_headers_finished(self) -> None:
        disposition, options = parse_options_header(self.part.headers.get(b"content-disposition", b""))
        if disposition != b"form-data" or b"name" not in options:
            raise Refused(400, "every part of the form needs a Content-Disposition: form-data header with a name.")
        self.part.name = options[b"name"]
        if self.part.name != FIELD.encode():
            return
        self.files += 1
        if self.files > 1:
            raise Refused(400, f"send one file in the form field {FIELD!r}, not several.")
        self.filename = file_name(options.get(b"filename"))

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.part.name != FIELD.encode():
            return  # counted toward the framing allowance of the whole body, then dropped
        if len(self.content) + (end - start) > self.limit:
            raise Refused(413, f"the file is larger than the {self.limit // 1024} KiB this assignment accepts.")
        self.content += data[start:end]

    def on_end(self) -> None:
        self.ended = True

    def callbacks(self) -> dict[str, object]:
        names = ("on_part_begin", "on_header_field", "on_header_value", "on_header_end", "on_headers_finished", "on_part_data", "on_end")
        return {name: getattr(self, name) for name in names}


def file_name(raw: bytes | None) -> str:
    """The upload's file name as text: its last component only (a client may send a path), at
    most ``MAX_NAME`` characters, no control character, ending in ``.py`` or ``.ipynb``."""
    if raw is None:
        raise Refused(400, f"the form field {FIELD!r} must be a file, with a file name.")
    text = raw.decode("utf-8", errors="replace")
    name = PurePath(text.replace("\\", "/")).name
    name = "" if name in (".", "..") else name
    why = problem(name) if len(name) <= MAX_NAME else f"is longer than {MAX_NAME} characters"
    if why is not None:
        raise Refused(400, f"the file name {why}.")
    if PurePath(name).suffix.lower() not in KINDS:
        raise Refused(415, "only a .py file or a .ipynb notebook can be submitted.")
    return name


async def read_upload(headers: dict[str, str], body: AsyncIterator[bytes], *, limit: int) -> Submission:
    """The submission in the ``multipart/form-data`` ``body`` (``headers`` are the request's,
    lower-case names), its file at most ``limit`` bytes; raise ``Refused`` (413 once the file or
    the body passes its bound, while streaming; 400, 415 for a malformed form or file)."""
    kind, options = parse_options_header(headers.get("content-type", ""))
    if kind != b"multipart/form-data":
        raise Refused(415, f"send the file as multipart/form-data, in the form field {FIELD!r}.")
    boundary = options.get(b"boundary", b"")
    if not 1 <= len(boundary) <= 70:  # RFC 2046: 1 to 70 characters
        raise Refused(400, "the multipart boundary is missing or longer than 70 characters.")
    bound = limit + FRAMING_BYTES
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > bound:  # refused unread; a smaller claim is not trusted
        raise Refused(413, f"the upload is larger than the {limit // 1024} KiB this assignment accepts.")
    reader = _Reader(limit)
    parser = MultipartParser(boundary, reader.callbacks())  # type: ignore[arg-type]
    received = 0
    try:
        async for chunk in body:
            received += len(chunk)
            if received > bound:
                raise Refused(413, f"the upload is larger than the {limit // 1024} KiB this assignment accepts.")
            parser.write(chunk)
    except MultipartParseError:
        raise Refused(400, "the multipart form is malformed.") from None
    if not reader.ended:
        raise Refused(400, "the multipart form ended before its closing boundary.")
    if reader.filename is None:
        raise Refused(400, f"the form has no file in the field {FIELD!r}.")
    if not reader.content.strip():  # a slip, not an attempt: it uses up nothing
        raise Refused(400, f"{reader.filename} is empty; nothing was recorded.")
    return Submission(reader.filename, bytes(reader.content), KINDS[PurePath(reader.filename).suffix.lower()])
