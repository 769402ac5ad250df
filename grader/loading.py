"""Reading a submission file and turning it into the cells a sandbox runs.

Only bytes are handled here: nothing of the student's is compiled or run in the grader.
``nbformat`` is imported only when a notebook is actually read (importing it costs time).
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import tokenize
import warnings
from dataclasses import dataclass
from pathlib import Path

from grader.errors import SubmissionFileError
from grader.sandbox.interface import Cell, Program

MAX_BYTES = 64 << 20
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
    """The cells to run; raise Unloadable with a message for the student."""
    if submission.kind == "python":
        return Program((Cell(submission.filename, _decode_python(submission.content)),))
    return Program(_notebook_cells(submission.content), module="__main__", strict_syntax=False, by_statement=False)


def _decode_python(content: bytes) -> str:
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(content).readline)
        return content.decode(encoding)
    except (SyntaxError, UnicodeDecodeError, LookupError) as exc:
        raise Unloadable(f"the file is not readable Python text ({exc}).") from None


def _notebook_cells(content: bytes) -> tuple[Cell, ...]:
    try:
        data = json.loads(content)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:  # deep [[[[... nesting
        raise Unloadable(f"the notebook is not valid JSON ({exc}); save it again from Jupyter.") from None
    if not isinstance(data, dict) or not isinstance(data.get("nbformat"), int):
        raise Unloadable("the file is JSON but not a Jupyter notebook (no nbformat version).")
    _tidy(data)
    import nbformat  # imported here only: it is slow to import
    import nbformat.reader

    try:
        with warnings.catch_warnings():  # nbformat warns about harmless things (missing cell ids)
            warnings.simplefilter("ignore")
            notebook = nbformat.convert(nbformat.reader.reads(json.dumps(data)), 4)
        raw_cells = list(notebook.cells)
    except Exception as exc:  # noqa: BLE001 - nbformat raises many types on malformed notebooks
        raise Unloadable(f"the notebook cannot be read ({type(exc).__name__}: {exc}).") from None
    cells = []
    for number, cell in enumerate(raw_cells, start=1):
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else str(source)
        python = strip_magics(source)
        if python is not None:
            cells.append(Cell(f"cell {number}", python))
    return tuple(cells)


def _tidy(data: dict) -> None:
    """Drop outputs (huge embedded images must not slow grading) and add the metadata that
    editors sometimes leave out, so that nbformat can upgrade old notebooks."""
    data.setdefault("metadata", {})
    sheets = data.get("worksheets")
    groups = [data.get("cells")] + ([s.get("cells") for s in sheets if isinstance(s, dict)] if isinstance(sheets, list) else [])
    for cells in groups:
        for cell in cells if isinstance(cells, list) else []:
            if isinstance(cell, dict):
                cell.setdefault("metadata", {})
                if "outputs" in cell:
                    cell["outputs"] = []


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
