"""Reading submission files and turning .py files and notebooks into the cells a sandbox runs."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbformat import v3, v4

import grader.loading
from grader.errors import SubmissionFileError
from grader.loading import Submission, Unloadable, read_submission, strip_magics, to_program
from grader.sandbox.interface import Cell


def notebook_submission(content: bytes | str) -> Submission:
    data = content.encode() if isinstance(content, str) else content
    return Submission("work.ipynb", data, "notebook")


# --- read_submission ------------------------------------------------------------------------


def test_read_submission_reads_a_python_file(tmp_path: Path) -> None:
    path = tmp_path / "hw.py"
    path.write_bytes(b"x = 1\n")
    submission = read_submission(path)
    assert submission == Submission("hw.py", b"x = 1\n", "python")
    # from `printf 'x = 1\n' | sha256sum`
    assert submission.sha256 == "9e26bf369911c45c243c684147b23fc9e1dcfcf257d299a1c632016a6fcd33f4"


def test_read_submission_recognizes_notebooks_case_insensitively(tmp_path: Path) -> None:
    path = tmp_path / "HW.IPYNB"
    path.write_bytes(b"{}")
    assert read_submission(path).kind == "notebook"


def test_read_submission_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.py"
    with pytest.raises(SubmissionFileError, match="does not exist") as info:
        read_submission(path)
    assert str(path) in str(info.value)


def test_read_submission_directory(tmp_path: Path) -> None:
    path = tmp_path / "looks_like_a_file.py"
    path.mkdir()
    with pytest.raises(SubmissionFileError, match="is not a file") as info:
        read_submission(path)
    assert str(path) in str(info.value)


def test_read_submission_unknown_extension(tmp_path: Path) -> None:
    path = tmp_path / "answers.txt"
    path.write_text("x = 1\n")
    with pytest.raises(SubmissionFileError, match=r"neither a \.py file nor a \.ipynb") as info:
        read_submission(path)
    assert str(path) in str(info.value)


def test_read_submission_too_large(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(grader.loading, "MAX_BYTES", 10)
    small, large = tmp_path / "small.py", tmp_path / "large.py"
    small.write_bytes(b"x = 12345\n")  # exactly 10 bytes: at the limit, accepted
    large.write_bytes(b"x = 123456\n")  # 11 bytes
    assert read_submission(small).content == b"x = 12345\n"
    with pytest.raises(SubmissionFileError, match="limit") as info:
        read_submission(large)
    assert str(large) in str(info.value)


# --- .py files ------------------------------------------------------------------------------


def test_python_file_is_one_strict_cell() -> None:
    program = to_program(Submission("hw.py", b"def f(x):\n    return 2 * x\n", "python"))
    assert program.cells == (Cell("hw.py", "def f(x):\n    return 2 * x\n"),)
    assert program.strict_syntax is True


def test_python_file_with_latin1_coding_cookie_decodes() -> None:
    content = b"# -*- coding: latin-1 -*-\nname = '\xe9t\xe9'\n"  # "été" in latin-1
    (cell,) = to_program(Submission("hw.py", content, "python")).cells
    assert cell.source == "# -*- coding: latin-1 -*-\nname = 'été'\n"


def test_python_file_with_utf8_bom_decodes_without_the_bom() -> None:
    (cell,) = to_program(Submission("hw.py", b"\xef\xbb\xbfx = 1\n", "python")).cells
    assert cell.source == "x = 1\n"


@pytest.mark.parametrize(
    "content",
    [
        b"x = '\xff\xfe'\n",  # invalid UTF-8 on the first line
        b"x = 1\ny = 2\nz = '\xc3('\n",  # invalid UTF-8 past the lines detect_encoding reads
        b"# coding: no-such-codec\nx = 1\n",
    ],
)
def test_python_file_that_is_not_text_is_unloadable(content: bytes) -> None:
    with pytest.raises(Unloadable, match="not readable Python text"):
        to_program(Submission("hw.py", content, "python"))


# --- notebooks --------------------------------------------------------------------------------


def test_v4_notebook_keeps_code_cells_named_by_position_among_all_cells(tmp_path: Path) -> None:
    notebook = v4.new_notebook(
        cells=[
            v4.new_markdown_cell("# Homework\nimport os  # prose, not code"),
            v4.new_code_cell("import numpy as np"),
            v4.new_markdown_cell("Question 1"),
            v4.new_code_cell("def f(x):\n    return x"),
        ]
    )
    path = tmp_path / "hw.ipynb"
    nbformat.write(notebook, path)
    program = to_program(read_submission(path))
    assert program.cells == (
        Cell("cell 2", "import numpy as np\n"),
        Cell("cell 4", "def f(x):\n    return x\n"),
    )
    assert program.module == "__main__"
    assert program.strict_syntax is False


def test_notebook_cell_source_as_list_of_lines_is_joined() -> None:
    data = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {},
        "cells": [{"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                   "source": ["x = 1\n", "y = 2"]}],
    }
    assert to_program(notebook_submission(json.dumps(data))).cells == (Cell("cell 1", "x = 1\ny = 2\n"),)


def test_notebook_magic_cells_are_dropped_but_numbering_is_kept() -> None:
    notebook = v4.new_notebook(
        cells=[v4.new_code_cell("%%bash\nls"), v4.new_code_cell("%matplotlib inline\nx = 1")]
    )
    program = to_program(notebook_submission(nbformat.writes(notebook)))
    assert program.cells == (Cell("cell 2", "pass\nx = 1\n"),)


def test_v3_notebook_is_upgraded(tmp_path: Path) -> None:
    notebook = v3.new_notebook(
        worksheets=[
            v3.new_worksheet(
                cells=[
                    v3.new_code_cell(input="x = 1"),
                    v3.new_text_cell("markdown", source="Some prose"),
                    v3.new_code_cell(input="y = x + 1"),
                ]
            )
        ]
    )
    path = tmp_path / "old.ipynb"
    path.write_text(v3.writes_json(notebook))
    assert json.loads(path.read_text())["nbformat"] == 3
    program = to_program(read_submission(path))
    assert program.cells == (Cell("cell 1", "x = 1\n"), Cell("cell 3", "y = x + 1\n"))


def test_v4_notebook_without_metadata_still_loads() -> None:
    data = {
        "nbformat": 4,
        "nbformat_minor": 2,
        "cells": [
            {"cell_type": "code", "source": "a = 1", "outputs": [], "execution_count": None},
            {"cell_type": "markdown", "source": "text"},
            {"cell_type": "code", "source": "b = 2", "outputs": [], "execution_count": 3},
        ],
    }
    program = to_program(notebook_submission(json.dumps(data)))
    assert program.cells == (Cell("cell 1", "a = 1\n"), Cell("cell 3", "b = 2\n"))


def test_huge_outputs_are_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    import nbformat.reader

    parsed: list[int] = []  # sizes of the JSON that nbformat is asked to parse
    reads = nbformat.reader.reads
    monkeypatch.setattr(nbformat.reader, "reads", lambda s, **kw: parsed.append(len(s)) or reads(s, **kw))
    marker = "OUTPUT-MARKER-"
    huge = marker + "x" * (20 << 20)
    cell = v4.new_code_cell(
        "print('hi')",
        outputs=[v4.new_output("stream", name="stdout", text=huge)],
        execution_count=1,
    )
    content = nbformat.writes(v4.new_notebook(cells=[cell])).encode()
    assert len(content) > 20 << 20
    program = to_program(notebook_submission(content))
    assert program.cells == (Cell("cell 1", "print('hi')\n"),)
    assert all(marker not in c.source and len(c.source) < 100 for c in program.cells)
    assert len(parsed) == 1 and parsed[0] < 10_000  # the 20 MB output never reached nbformat


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"nbformat": 4, "nbformat_minor": 5, "cells": [{"cell_ty', "not valid JSON"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not valid JSON"),
        (b"\xff\xfe\x00\xd8garbage", "not valid JSON"),
        (b"", "not valid JSON"),
        (b"[" * 100_000, "not valid JSON"),  # nested deeper than the JSON parser's recursion limit
    ],
    ids=["truncated", "png", "utf16-bom-garbage", "empty", "deeply-nested"],
)
def test_broken_notebook_is_unloadable_with_a_readable_message(content: bytes, message: str) -> None:
    with pytest.raises(Unloadable, match=message) as info:
        to_program(notebook_submission(content))
    text = str(info.value)
    assert "\n" not in text and text.isprintable()
    assert "save it again from Jupyter" in text


@pytest.mark.parametrize(
    "content",
    [
        "[1, 2]",
        '{"a": 1}',
        '"a string"',
        "3",
        '{"nbformat": "4"}',
        '{"nbformat": 4}',  # no cells
        '{"nbformat": 99, "cells": []}',
        '{"nbformat": 4, "nbformat_minor": 5, "cells": [1]}',
        '{"nbformat": 4, "nbformat_minor": 5, "cells": "abc"}',
        '{"nbformat": 3}',  # no worksheets
    ],
)
def test_json_that_is_not_a_notebook_is_unloadable(content: str) -> None:
    with pytest.raises(Unloadable) as info:
        to_program(notebook_submission(content))
    assert "notebook" in str(info.value)


# --- strip_magics -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("%matplotlib inline\nimport numpy as np", "pass\nimport numpy as np\n"),
        ("!pip install x\nx = 1", "pass\nx = 1\n"),
        ("for i in range(3):\n  %time f()\ny = 2", "for i in range(3):\n  pass\ny = 2\n"),
        ("np.sum?", "pass\n"),
        ("np.sum??\nx = 1", "pass\nx = 1\n"),
        ("%%time\nx = f()\ny = 2", "\nx = f()\ny = 2\n"),
        ("%%timeit -n 3\nf()", "\nf()\n"),
        ("%%bash\nls -l", None),
        ("%%html\n<b>hi</b>", None),
        ("%%\nx = 1", None),
        ('x = ("a=%d"\n     % 3)', 'x = ("a=%d"\n     % 3)\n'),
        ("y = x % 2 if x else -1", "y = x % 2 if x else -1\n"),
        ("z = a != b", "z = a != b\n"),
        ("", "\n"),
    ],
)
def test_strip_magics(source: str, expected: str | None) -> None:
    assert strip_magics(source) == expected


def test_strip_magics_preserves_line_count() -> None:
    source = "def f():\n    %time g()\n    !ls\n    return 1\n%who"
    stripped = strip_magics(source)
    assert stripped is not None
    assert stripped.splitlines() == ["def f():", "    pass", "    pass", "    return 1", "pass"]
    compile(stripped, "cell", "exec")  # the block still parses
