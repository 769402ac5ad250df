"""Reading an upload as it streams: the file kept up to its limit, the body refused (413) as soon
as it passes its bound whatever Content-Length says, hostile file names and forms refused."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from grader.service.uploads import FRAMING_BYTES, Refused, read_upload

BOUNDARY = "b0und4ry"


def form(filename: str | None, content: bytes, *, field: str = "file", extra: bytes = b"") -> bytes:
    """A multipart/form-data body with one part (plus ``extra`` raw parts before it)."""
    disposition = f'form-data; name="{field}"' + (f'; filename="{filename}"' if filename is not None else "")
    return (
        extra
        + f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\nContent-Type: text/x-python\r\n\r\n".encode()
        + content
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )


class Body:
    """A request body arriving in chunks; counts what the reader took."""

    def __init__(self, data: bytes, chunk: int = 1000) -> None:
        self.chunks = [data[i : i + chunk] for i in range(0, len(data), chunk)]
        self.read = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            self.read += len(chunk)
            yield chunk


def headers(**extra: str) -> dict[str, str]:
    return {"content-type": f"multipart/form-data; boundary={BOUNDARY}", **extra}


def read(body: Body, limit: int, **extra: str):
    return asyncio.run(read_upload(headers(**extra), body.__aiter__(), limit=limit))


def refusal(body: Body, limit: int, **extra: str) -> tuple[int, str]:
    with pytest.raises(Refused) as caught:
        read(body, limit, **extra)
    return caught.value.status, caught.value.message


def test_the_file_is_read_whole_in_any_chunking() -> None:
    content = b"def loss(params, X, y, reg):\n    return 0.0\n" * 100  # 4,500 bytes
    for chunk in (1, 7, 1000, 10**6):
        submission = read(Body(form("hw.py", content), chunk), limit=4500)
        assert (submission.filename, submission.content, submission.kind) == ("hw.py", content, "python")
    notebook = read(Body(form("HW 1.IPYNB", b"{}")), limit=10)
    assert (notebook.filename, notebook.kind) == ("HW 1.IPYNB", "notebook")


def test_a_file_past_the_limit_is_refused_while_it_streams() -> None:
    # 3 KiB limit, a 1 MiB file, no Content-Length (chunked): refused once the body passes the
    # 3 KiB + 64 KiB bound, that is after 68 chunks of 1,000 bytes, not after 1,049 of them.
    body = Body(form("hw.py", b"x" * 2**20))
    status, message = refusal(body, 3 * 1024)
    assert status == 413 and message == "the file is larger than the 3 KiB this assignment accepts."
    assert body.read <= 3 * 1024 + FRAMING_BYTES + 1000
    # one byte past the limit is refused, the limit itself is not
    assert refusal(Body(form("hw.py", b"x" * 3073)), 3072)[0] == 413
    assert len(read(Body(form("hw.py", b"x" * 3072)), 3072).content) == 3072


def test_content_length_decides_only_to_refuse() -> None:
    big = Body(form("hw.py", b"x" * 10))
    assert refusal(big, 1024, **{"content-length": str(10**9)})[0] == 413
    assert big.read == 0  # refused unread
    # a small claim is not believed: the bytes are counted
    lying = Body(form("hw.py", b"x" * 2**20))
    assert refusal(lying, 1024, **{"content-length": "10"})[0] == 413


def test_other_fields_count_toward_the_bound_and_are_dropped() -> None:
    other = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="note"\r\n\r\n'.encode() + b"n" * 2**20 + b"\r\n"
    assert refusal(Body(form("hw.py", b"ok", extra=other)), 1024)[0] == 413
    small = f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="note"\r\n\r\nhello\r\n'.encode()
    assert read(Body(form("hw.py", b"ok", extra=small)), 1024).content == b"ok"


@pytest.mark.parametrize(
    ("filename", "shown"),
    [
        ("../../etc/passwd.py", "passwd.py"),
        ("C:\\Users\\ada\\hw.py", "hw.py"),
        ("/tmp/x/hw.ipynb", "hw.ipynb"),
        ("Zoë's hw.py", "Zoë's hw.py"),
    ],
)
def test_a_file_name_is_its_last_component(filename: str, shown: str) -> None:
    assert read(Body(form(filename, b"x")), 10).filename == shown


@pytest.mark.parametrize(
    ("filename", "status", "message"),
    [
        ("hw.txt", 415, "only a .py file or a .ipynb notebook can be submitted."),
        ("hw", 415, "only a .py file or a .ipynb notebook can be submitted."),
        ("..", 400, "the file name is empty or only whitespace."),
        ("hw\x1b[2J.py", 400, "the file name holds the control character \\x1b."),
        ("\u202ecod.py", 400, "the file name holds the control character \\u202e."),
        ("a" * 300 + ".py", 400, "the file name is longer than 255 characters."),
        (None, 400, "the form field 'file' must be a file, with a file name."),
    ],
)
def test_hostile_file_names_are_refused(filename: str | None, status: int, message: str) -> None:
    assert refusal(Body(form(filename, b"x")), 10) == (status, message)


def test_malformed_forms_are_refused() -> None:
    assert refusal(Body(form("hw.py", b"x", field="other")), 10) == (400, "the form has no file in the field 'file'.")
    twice = form("a.py", b"x")[: -len(f"--{BOUNDARY}--\r\n")] + form("b.py", b"y")
    assert refusal(Body(twice), 10) == (400, "send one file in the form field 'file', not several.")
    cut = form("hw.py", b"x")[:-10]
    assert refusal(Body(cut), 10) == (400, "the multipart form ended before its closing boundary.")
    assert refusal(Body(b"garbage" * 10), 10)[0] == 400
    with pytest.raises(Refused) as caught:
        asyncio.run(read_upload({"content-type": "application/json"}, Body(b"{}").__aiter__(), limit=10))
    assert caught.value.status == 415
    with pytest.raises(Refused) as caught:
        asyncio.run(read_upload({"content-type": "multipart/form-data; boundary=" + "b" * 71}, Body(b"").__aiter__(), limit=10))
    assert caught.value.status == 400


@pytest.mark.parametrize("content", [b"", b"\n", b" \r\n\t\n"])
def test_an_empty_file_is_refused_and_recorded_nowhere(content: bytes) -> None:
    assert refusal(Body(form("hw.py", content)), 1024) == (400, "hw.py is empty; nothing was recorded.")
    assert read(Body(form("hw.py", b"x = 1\n")), 1024).content == b"x = 1\n"  # a line of code is not empty
