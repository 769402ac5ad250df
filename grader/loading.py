"""Reading a submission file and turning it into the cells a sandbox runs.

Only bytes are handled here: nothing of the student's is compiled or run in the grader.
``nbformat`` is imported only when a notebook is actually read (importing it costs time).
"""

from __future__ import annotations

import array
import codecs
import hashlib
import io
import json
import logging
import re
import tokenize
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grader.errors import SubmissionFileError
from grader.sandbox.inside.child import MAX_PROGRAM_BYTES
from grader.sandbox.interface import Cell, Program

log = logging.getLogger(__name__)

#: a submission file; a .py file in UTF-8 of this size is a program the sandbox reads
#: (MAX_PROGRAM_BYTES), one in another encoding may be more once decoded (refused by ``to_program``)
MAX_BYTES = MAX_PROGRAM_BYTES
KINDS = {".py": "python", ".ipynb": "notebook"}
#: Cell magics whose body is still Python; any other %% magic (bash, html, writefile, ...) is not.
_PYTHON_CELL_MAGICS = {"time", "timeit", "capture", "prun", "debug"}
#: ``%magic``, ``!shell`` and ``name?`` lines. ``% x`` (a space after %) is left alone: it is a
#: continuation of a %-formatted string, not a magic.
_MAGIC_LINE = re.compile(r"^(\s*)(?:%{1,2}[A-Za-z]|![A-Za-z/.~]|[\w.]+\?{1,2}\s*$)")


@dataclass(frozen=True)
class Submission:
    filename: str
    content: bytes
    kind: str  # python | notebook

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


class Unloadable(Exception):
    """The file was read but is not a usable program; the message is for the student."""


def read_submission(path: Path) -> Submission:
    """The file at ``path``; raise SubmissionFileError when it cannot be read at all."""
    kind = KINDS.get(path.suffix.lower())
    if kind is None:
        raise SubmissionFileError(f"{path} is neither a .py file nor a .ipynb notebook.")
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise SubmissionFileError(f"{path} is not a file.")
        if size > MAX_BYTES:
            raise SubmissionFileError(
                f"{path} is {size / 2**20:.1f} MiB, over the {MAX_BYTES / 2**20:g} MiB limit for a submission."
            )
        content = path.read_bytes()
    except FileNotFoundError:
        raise SubmissionFileError(f"{path} does not exist.") from None
    except OSError as exc:
        raise SubmissionFileError(f"{path} cannot be read: {exc.strerror}.") from None
    return Submission(path.name, content, kind)


def to_program(submission: Submission) -> Program:
    """The cells to run; raise Unloadable with a message for the student, and nothing else.

    Any bytes at all end here: a failure nobody foresaw is an Unloadable too (and logged), so
    that one file can never stop a ``grade submit`` or a batch.
    """
    try:
        if submission.kind == "python":
            program = Program((Cell(submission.filename, _decode_python(submission.content)),))
        else:
            program = Program(_notebook_cells(submission.content), module="__main__", strict_syntax=False, by_statement=False)
        return _fits(program)
    except Unloadable:
        raise
    except Exception as exc:  # see the docstring
        log.warning("reading %s failed unexpectedly", submission.filename, exc_info=True)
        raise Unloadable(f"the file cannot be read ({_reason(exc)}).") from None


def _fits(program: Program) -> Program:
    """``program``, if its text is no more than the sandbox reads (MAX_PROGRAM_BYTES of UTF-8);
    a .py file in another encoding may grow when decoded (a byte of cp1252 is up to 3 in UTF-8)."""
    size = sum(len(c.source) if c.source.isascii() else len(c.source.encode("utf-8", "surrogatepass")) for c in program.cells)
    if size > MAX_PROGRAM_BYTES:
        raise Unloadable(
            f"the code is {size / 2**20:.1f} MiB once decoded (in UTF-8), over the {MAX_PROGRAM_BYTES >> 20} MiB limit for a program."
        )
    return program


def _reason(exc: BaseException) -> str:
    """``Type: message`` of ``exc`` as one short printable line: the message may quote the file."""
    text = " ".join(f"{type(exc).__name__}: {exc}".split()).removesuffix(":")
    text = "".join(c if c.isprintable() else "?" for c in text)
    return text if len(text) <= 160 else text[:159] + "…"


def _decode_python(content: bytes) -> str:
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(content).readline)
        return content.decode(encoding)
    except Exception as exc:  # noqa: BLE001 - a codec a coding cookie names may raise anything (UnicodeError, ...)
        raise Unloadable(f"the file is not readable Python text ({_reason(exc)}).") from None


# --- notebooks ---------------------------------------------------------------------------------
#
# A notebook is hostile JSON parsed in the grader, so what is parsed, and the work per byte, are
# bounded. One pass over the JSON text's strings (a regular expression, and a loop per string:
# at most MAX_VALUES of them) sets aside, unparsed, every string that is long (outputs, images)
# or not plain ASCII (a string of one emoji and much text takes 4 bytes per character), leaving
# a short marker in its place. What remains, at most MAX_PARSED bytes of ASCII and MAX_VALUES
# values, is parsed by json.loads at about 70 bytes a value. Only the cells' types and code are
# kept (a set-aside string among them is parsed then, within MAX_TEXT), and nbformat upgrades
# that small notebook of at most MAX_CELLS cells. Reading a notebook so costs the grader at most
# ~100 MB besides the file, whatever its size, and about a second; what passes a limit is
# refused with a sentence for the student (benchmarks/hostile_notebook.py measures it).

#: a JSON string longer than this (in bytes, quotes included) is set aside unparsed
LONG_STRING = 256
#: bytes of JSON parsed once strings are set aside
MAX_PARSED = 16 << 20
#: JSON values a notebook may hold (counted as strings, commas, objects and arrays)
MAX_VALUES = 1_000_000
#: digits of an integer in a notebook (int() takes time quadratic in them)
MAX_DIGITS = 100
#: bytes of set-aside strings parsed for the cells: their code, and any key or type not plain
MAX_TEXT = 4 << 20
#: cells of a notebook (nbformat's work is some 0.1 ms a cell; a homework has a few hundred)
MAX_CELLS = 5_000
#: a JSON string: plain (printable ASCII, simple escapes: its str is no larger than its JSON),
#: any other valid one (``\uXXXX`` escapes, UTF-8), or a lone quote: an unclosed string, one
#: with a control character or an unknown escape
_STRING = re.compile(
    rb'"(?:((?:[\x20\x21\x23-\x5b\x5d-\x7f]++|\\["\\/bfnrt])*+)"'
    rb'|((?:[^"\\\x00-\x1f]++|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*+)"'
    rb'|)'
)
#: a set-aside string is the string "\x00#<its index>" in what is parsed
_MARKER = "\x00#"
_SAVE_AGAIN = "save it again from Jupyter"
_CLEAR = "clear its outputs (Kernel > Restart & Clear Output), save it and submit it again"


def _notebook_cells(content: bytes) -> tuple[Cell, ...]:
    content = content.removeprefix(codecs.BOM_UTF8)
    parsed, texts = _set_aside(content)
    data = _parse(parsed)
    small = _essentials(data, texts)
    import nbformat  # imported here only: it is slow to import
    import nbformat.reader

    try:
        with warnings.catch_warnings():  # nbformat warns about harmless things (missing cell ids)
            warnings.simplefilter("ignore")
            notebook = nbformat.convert(nbformat.reader.reads(json.dumps(small)), 4)
        raw_cells = list(notebook.cells)
    except Exception as exc:  # noqa: BLE001 - nbformat raises many types on malformed notebooks
        raise Unloadable(f"the notebook cannot be read ({_reason(exc)}).") from None
    cells = []
    for number, cell in enumerate(raw_cells, start=1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else source
        python = strip_magics(source) if isinstance(source, str) else None
        if python is not None:
            cells.append(Cell(f"cell {number}", python))
    return tuple(cells)


class _Texts:
    """The strings set aside from a notebook's JSON, parsed on demand within MAX_TEXT bytes."""

    def __init__(self, content: bytes) -> None:
        self.content = content
        self.spans = array.array("q")  # start, stop of each, in order
        self.left = MAX_TEXT

    def marker(self, start: int, stop: int) -> bytes:
        self.spans += array.array("q", (start, stop))
        return b'"\\u0000#%d"' % (len(self.spans) // 2 - 1)

    def resolve(self, value: Any) -> Any:
        """``value``, or the string set aside that it marks."""
        if not isinstance(value, str) or not value.startswith(_MARKER) or not value[len(_MARKER) :].isdigit():
            return value
        index = 2 * int(value[len(_MARKER) :])
        if index >= len(self.spans):
            return value
        start, stop = self.spans[index], self.spans[index + 1]
        self.left -= stop - start
        if self.left < 0:
            raise Unloadable(f"the notebook's cells hold more than {MAX_TEXT >> 20} MiB of code; {_CLEAR}.")
        try:
            return json.loads(self.content[start:stop].decode("utf-8"))
        except ValueError as exc:  # not UTF-8 (the expression checked the rest)
            raise Unloadable(f"the notebook is not valid JSON ({_reason(exc)}); {_SAVE_AGAIN}.") from None

    def fields(self, raw: dict[str, Any]) -> dict[str, Any]:
        """An object of the notebook with its keys as written (a key may be set aside)."""
        return {self.resolve(key): value for key, value in raw.items()}


def _set_aside(content: bytes) -> tuple[bytes, _Texts]:
    """The JSON text to parse: ``content`` with each string that is long or not plain replaced
    by a marker; raise Unloadable when it is too much to parse."""
    texts = _Texts(content)
    pieces: list[bytes] = []
    end = strings = 0
    for match in _STRING.finditer(content):
        strings += 1
        if strings > MAX_VALUES:
            raise Unloadable(f"the notebook holds more than {MAX_VALUES:,} strings; {_CLEAR}.")
        start, stop = match.span()
        if match.lastindex is None:
            raise Unloadable(
                f"the notebook is not valid JSON (the string at byte {start} is not closed, or holds a "
                f"control character or an unknown escape); {_SAVE_AGAIN}."
            )
        if match.lastindex == 2 or stop - start > LONG_STRING:
            pieces += [content[end:start], texts.marker(start, stop)]
            end = stop
    parsed = b"".join([*pieces, content[end:]]) if pieces else content
    if len(parsed) > MAX_PARSED:
        raise Unloadable(
            f"the notebook holds {len(parsed) / 2**20:.0f} MiB of JSON besides its texts and images, "
            f"over the {MAX_PARSED >> 20} MiB the grader reads; {_CLEAR}."
        )
    # an upper bound: a comma or a bracket in a string counts too
    values = strings + parsed.count(b",") + parsed.count(b"{") + parsed.count(b"[")
    if values > MAX_VALUES:
        raise Unloadable(f"the notebook holds more than {MAX_VALUES:,} JSON values; {_CLEAR}.")
    return parsed, texts


class _HugeInteger(ValueError):
    pass


def _parse(parsed: bytes) -> Any:
    def integer(text: str) -> int:
        if len(text.lstrip("-")) > MAX_DIGITS:
            raise _HugeInteger
        return int(text)

    if not parsed.isascii():  # outside strings, JSON is ASCII: every other string was set aside
        raise Unloadable(f"the notebook is not valid JSON (a byte outside its strings is not ASCII); {_SAVE_AGAIN}.")
    try:
        return json.loads(parsed.decode("ascii"), parse_int=integer)
    except _HugeInteger:
        raise Unloadable(f"the notebook holds an integer of more than {MAX_DIGITS} digits, which the grader does not read; {_SAVE_AGAIN}.") from None
    except (ValueError, RecursionError) as exc:  # not JSON, [[[[... too deep
        raise Unloadable(f"the notebook is not valid JSON ({_reason(exc)}); {_SAVE_AGAIN}.") from None


def _essentials(data: Any, texts: _Texts) -> dict[str, Any]:
    """The notebook with what grading needs and nbformat requires only: the cells, their types,
    the code of code cells (``source``, or ``input`` before version 4), and empty metadata and
    outputs. Raise Unloadable when the JSON is not a notebook."""
    data = texts.fields(data) if isinstance(data, dict) else None
    if data is None or type(data.get("nbformat")) is not int:
        raise Unloadable("the file is JSON but not a Jupyter notebook (no nbformat version).")
    version = data["nbformat"]
    small: dict[str, Any] = {"nbformat": version, "metadata": {}}
    if type(data.get("nbformat_minor")) is int:
        small["nbformat_minor"] = data["nbformat_minor"]
    count = 0

    def cells(raw: Any) -> list[dict[str, Any]]:
        if not isinstance(raw, list):
            raise Unloadable(f"the notebook's cells are not a list; {_SAVE_AGAIN}.")
        return [cell(item) for item in raw]

    def cell(raw: Any) -> dict[str, Any]:
        nonlocal count
        count += 1
        if count > MAX_CELLS:
            raise Unloadable(f"the notebook has more than {MAX_CELLS:,} cells, more than the grader reads.")
        fields = texts.fields(raw) if isinstance(raw, dict) else {}
        kind = texts.resolve(fields.get("cell_type"))
        if not isinstance(kind, str):
            raise Unloadable(f"cell {count} of the notebook is not a cell (an object with a cell_type); {_SAVE_AGAIN}.")
        small: dict[str, Any] = {"cell_type": kind, "metadata": {}}
        if kind != "code":
            small["source"] = ""
            level = fields.get("level")
            if kind == "heading":  # version 3: becomes a markdown cell
                small["level"] = level if type(level) is int and 1 <= level <= 6 else 1
        elif version >= 4:
            small.update(source=code(fields.get("source", "")), outputs=[], execution_count=None)
        else:
            small.update(input=code(fields.get("input", "")), outputs=[], language="python")
        return small

    def code(raw: Any) -> str | list[str]:
        """A cell's code: a string, or a list of strings (its lines)."""
        text = [texts.resolve(line) for line in raw] if isinstance(raw, list) else texts.resolve(raw)
        if isinstance(text, str) or (isinstance(text, list) and all(isinstance(line, str) for line in text)):
            return text
        raise Unloadable(f"the code of cell {count} is not text; {_SAVE_AGAIN}.")

    if "worksheets" in data:
        sheets = data["worksheets"]
        if not isinstance(sheets, list) or not all(isinstance(sheet, dict) for sheet in sheets):
            raise Unloadable(f"the notebook's worksheets are not a list of objects; {_SAVE_AGAIN}.")
        small["worksheets"] = [{"metadata": {}, "cells": cells(texts.fields(sheet).get("cells", []))} for sheet in sheets]
    if "cells" in data:
        small["cells"] = cells(data["cells"])
    return small


def strip_magics(source: str) -> str | None:
    """The cell's Python without IPython magics, shell escapes and help lines.

    A dropped line becomes ``pass`` at its own indentation, so blocks and line numbers
    survive. Returns None for a cell that is not Python at all (``%%bash``, ``%%html``...).
    """
    lines = source.splitlines()
    if lines and lines[0].lstrip().startswith("%%"):
        magic = lines[0].lstrip()[2:].split(maxsplit=1)
        if not magic or magic[0] not in _PYTHON_CELL_MAGICS:
            return None
        lines[0] = ""
    kept = []
    for line in lines:
        match = _MAGIC_LINE.match(line)
        kept.append(f"{match.group(1)}pass" if match else line)
    return "\n".join(kept) + "\n"
