"""Reading submission files and turning .py files and notebooks into the cells a sandbox runs."""

from __future__ import annotations

import codecs
import encodings.aliases
import json
import os
import random
import resource
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from helpers import ROOT, SAMPLES
from nbformat import v3, v4

import grader.loading
from grader.errors import SubmissionFileError
from grader.loading import Submission, Unloadable, read_submission, strip_magics, to_program
from grader.sandbox.interface import Cell, Program


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


def test_code_that_grows_past_the_program_limit_once_decoded_is_unloadable_naming_it() -> None:
    # a file under the size limit: 22 MiB of cp1252's euro sign, 3 bytes each in UTF-8
    content = b"# -*- coding: cp1252 -*-\nEUROS = '" + b"\x80" * (22 << 20) + b"'\n"
    assert len(content) < grader.loading.MAX_BYTES
    with pytest.raises(Unloadable) as info:
        to_program(Submission("euros.py", content, "python"))
    assert str(info.value) == "the code is 66.0 MiB once decoded (in UTF-8), over the 64 MiB limit for a program."


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


# --- any bytes at all: a Program, or Unloadable with one sentence -------------------------------


def loaded(submission: Submission) -> Program | Unloadable:
    """What ``to_program`` makes of ``submission``: a Program, or the Unloadable it raised, whose
    message is one printable line. Anything else it raises fails the test."""
    try:
        return to_program(submission)
    except Unloadable as exc:
        text = str(exc)
        assert text and text.isprintable() and len(text) < 400, text
        return exc


@pytest.mark.parametrize(
    "cookie",
    [b"undefined", b"punycode", b"idna", b"utf-7", b"unicode_escape", b"raw_unicode_escape", b"utf-16", b"utf-32", b"cp037", b"rot13", b"zlib"],
)
@pytest.mark.parametrize("body", [b"x = 1\n", b"x = '\\N{nope}\xff\xfe\x00\n'\n", b"\x80\xff" * 40])
def test_a_coding_cookie_naming_any_codec_is_a_program_or_unloadable(cookie: bytes, body: bytes) -> None:
    content = b"# -*- coding: " + cookie + b" -*-\n" + body
    result = loaded(Submission("hw.py", content, "python"))
    assert isinstance(result, Program | Unloadable)


@pytest.mark.parametrize("cookie", [b"undefined", b"punycode"])
def test_a_codec_that_fails_to_decode_is_unloadable(cookie: bytes) -> None:
    content = b"# -*- coding: " + cookie + b" -*-\ndef loss(params, X, y, reg):\n    return 0.0\n\xff\n"
    result = loaded(Submission("hw.py", content, "python"))
    assert isinstance(result, Unloadable) and "not readable Python text" in str(result)


def notebook_json(cells: object, **top: object) -> bytes:
    return json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": cells, **top}).encode()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"nbformat": 4, "nbformat_minor": 5, "metadata": {"n": ' + b"7" * 5000 + b'}, "cells": []}', "integer of more than 100 digits"),
        (b'{"nbformat": 4, "nbformat_minor": 5, "cells": [{"cell_type": "code", "execution_count": -' + b"1" * 101 + b"}]}", "integer of more than 100 digits"),
        (notebook_json(5), "cells are not a list"),
        (notebook_json({"0": {"cell_type": "code"}}), "cells are not a list"),
        (notebook_json([{"cell_type": "code", "source": 5}]), "code of cell 1 is not text"),
        (notebook_json([{"cell_type": "code", "source": ["x = 1\n", 2]}]), "code of cell 1 is not text"),
        (notebook_json([{"cell_type": "code", "source": {"a": "b"}}]), "code of cell 1 is not text"),
        (notebook_json([{"cell_type": "markdown", "source": "x"}, {"source": "x = 1"}]), "cell 2 of the notebook is not a cell"),
        (notebook_json([{"cell_type": 4, "source": "x = 1"}]), "cell 1 of the notebook is not a cell"),
        (notebook_json([["code", "x = 1"]]), "cell 1 of the notebook is not a cell"),
        (notebook_json([], nbformat=10**90), "Unsupported nbformat version"),
        (notebook_json([], nbformat=-1), "Unsupported nbformat version"),
        (notebook_json([], nbformat=True), "not a Jupyter notebook"),
        (notebook_json([], nbformat=4.0), "not a Jupyter notebook"),
        (b'{"nbformat": 3, "nbformat_minor": 0, "worksheets": 5}', "worksheets are not a list"),
        (b'{"nbformat": 3, "nbformat_minor": 0, "worksheets": [{"cells": [{"cell_type": "code", "input": 7}]}]}', "code of cell 1 is not text"),
        (b'{"nbformat": 4, "nbformat_minor": 5, "cells": [], "metadata": ' + b'{"a": ' * 5000 + b"{}" + b"}" * 5001, "not valid JSON"),
        (b'{"nbformat": 4, "nbformat_minor": 5, "cells": [{"cell_type": "code", "source": "x = \x01"}]}', "not valid JSON"),
        (b'{"nbformat": 4, "nbformat_minor": 5, "cells": [{"cell_type": "code", "source": "x = \\q"}]}', "not valid JSON"),
        (b'{"nbformat": 4, "nbformat_minor": 5, "cells": [{"cell_type": "code", "source": "\xff\xfe = 1"}]}', "not valid JSON"),
        (b'{"nbformat": 4, "nbformat_minor": 5, "cells": [{"cell_type": "code", "source": "' + b"\xff" * 300 + b'"}]}', "not valid JSON"),
        (b'{"nbformat": 4, \xc3\xa9 "nbformat_minor": 5, "cells": []}', "not valid JSON"),
        (b'{"nbformat": 4, "nbformat_minor": 5, "cells": [], "x": "' + b"a" * 5000, "not valid JSON"),
    ],
    ids=lambda value: None if isinstance(value, str) else f"{len(value)}B",
)
def test_json_of_the_wrong_shape_is_unloadable_with_a_sentence_saying_why(content: bytes, message: str) -> None:
    result = loaded(notebook_submission(content))
    assert isinstance(result, Unloadable), result
    assert message in str(result)


def test_escaped_keys_non_ascii_and_long_lines_of_code_are_read_as_json_says() -> None:
    long_line = "x = " + "1 + " * 400 + "1\n"
    content = (
        b'{"nbformat": 4, "nbformat_minor": 5, "metadata": {"title": "\\u00e9t\\u00e9 \xf0\x9f\x98\x80"}, "cells": ['
        b'{"cell_\\u0074ype": "\\u0063ode", "sourc\\u0065": "name = \\"\xc3\xa9t\xc3\xa9\\"  # \xf0\x9f\x98\x80\\n"},'
        b'{"cell_type": "code", "source": [' + json.dumps(long_line).encode() + b', "y = 2"], "outputs": [{"text": "' + b"z" * 5000 + b'"}]},'
        b'{"cell_type": "markdown", "source": "\xf0\x9f\x98\x80 ' + b"w" * 3000 + b'"}'
        b"]}"
    )
    assert to_program(notebook_submission(content)).cells == (
        Cell("cell 1", 'name = "été"  # \N{GRINNING FACE}\n'),
        Cell("cell 2", long_line + "y = 2\n"),
    )


def test_a_notebook_past_a_limit_is_refused_asking_to_clear_its_outputs(monkeypatch: pytest.MonkeyPatch) -> None:
    cell = v4.new_code_cell("x = 1", outputs=[v4.new_output("stream", name="stdout", text=["line\n"] * 2000)])
    content = nbformat.writes(v4.new_notebook(cells=[cell])).encode()
    assert to_program(notebook_submission(content)).cells == (Cell("cell 1", "x = 1\n"),)
    monkeypatch.setattr(grader.loading, "MAX_VALUES", 1000)
    assert "more than 1,000 strings; clear its outputs" in str(loaded(notebook_submission(content)))
    monkeypatch.setattr(grader.loading, "MAX_VALUES", 3000)
    assert "more than 3,000 JSON values; clear its outputs" in str(loaded(notebook_submission(content.replace(b'"line\\n"', b"[]"))))
    monkeypatch.setattr(grader.loading, "MAX_PARSED", 10_000)
    assert "over the 0 MiB the grader reads; clear its outputs" in str(loaded(notebook_submission(content)))
    monkeypatch.setattr(grader.loading, "MAX_TEXT", 100)
    big = nbformat.writes(v4.new_notebook(cells=[v4.new_code_cell("x = '" + "a" * 500 + "'")])).encode()
    assert "cells hold more than 0 MiB of code" in str(loaded(notebook_submission(big)))


# A seeded fuzz: the same few thousand cases every run. Each is a notebook (v4 or v3, valid)
# changed in its structure (a value of another type anywhere, keys dropped, deep nesting, huge
# numbers) or in its bytes (truncated, bytes flipped, inserted or repeated), or random bytes as
# a notebook or a .py file.

FUZZ_SEED = 20240517
FUZZ_CASES = 3000


def _base_notebooks() -> list[object]:
    v4_notebook = v4.new_notebook(
        cells=[
            v4.new_markdown_cell("# Homework \N{EM DASH} été"),
            v4.new_code_cell("%matplotlib inline\nimport numpy as np", outputs=[v4.new_output("stream", name="stdout", text="hi\n" * 50)]),
            v4.new_code_cell("def loss(params, X, y, reg):\n    return 0.0\n", execution_count=3),
            v4.new_raw_cell("raw"),
        ],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}, "x": [1, 2.5, None, True, "s" * 300]},
    )
    v3_notebook = json.loads((SAMPLES / "correct_notebook_v3.ipynb").read_text())
    return [json.loads(nbformat.writes(v4_notebook)), v3_notebook]


def _random_value(rng: random.Random, depth: int = 0) -> object:
    kind = rng.randrange(12 if depth < 3 else 8)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.choice([0, -1, 3, 2**63, -(2**70), 10**99])
    if kind == 3:
        return rng.choice([0.5, -0.0, 1e308, float("nan"), float("inf")])
    if kind == 4:
        return rng.choice(["", "code", "markdown", "heading", "x = 1\n", "\x00#0", "\x00#999", "\ud800", "é" * 300, "%%bash\nls"])
    if kind == 5:
        return "".join(chr(rng.randrange(0x110000)) for _ in range(rng.randrange(20)))
    if kind == 6:
        return rng.choice([4, 3, 2, 1, 5, 0])
    if kind == 7:
        return rng.choice(["cells", "source", "input", "cell_type", "worksheets", "nbformat"])
    if kind < 10:
        return [_random_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {rng.choice(["cells", "source", "input", "cell_type", "metadata", "outputs", "level", "k"]): _random_value(rng, depth + 1) for _ in range(rng.randrange(4))}


def _mutate(rng: random.Random, node: object, depth: int = 0) -> object:
    """``node`` with one place in it changed (never the whole notebook: always a place inside)."""
    descend = depth == 0 or rng.random() < 0.85
    if isinstance(node, dict) and node and descend:
        key = rng.choice(list(node))
        action = rng.randrange(4)
        if action == 0 and (depth or rng.random() < 0.2):  # a notebook without nbformat says little
            return {k: v for k, v in node.items() if k != key}
        if action == 1:
            return {**node, key: _random_value(rng)}
        return {**node, key: _mutate(rng, node[key], depth + 1)}
    if isinstance(node, list) and node and descend:
        index = rng.randrange(len(node))
        action = rng.randrange(4)
        if action == 0:
            return node[:index] + node[index + 1 :]
        if action == 1:
            return node[:index] + [_random_value(rng)] + node[index + 1 :]
        return node[:index] + [_mutate(rng, node[index], depth + 1)] + node[index + 1 :]
    return _random_value(rng)


def _mutate_bytes(rng: random.Random, content: bytes) -> bytes:
    action = rng.randrange(6)
    at = rng.randrange(len(content) + 1)
    if action == 0:
        return content[:at]
    if action == 1:
        return content[:at] + bytes([rng.randrange(256)]) + content[at + 1 :]
    if action == 2:
        return content[:at] + rng.randbytes(rng.randrange(1, 8)) + content[at:]
    if action == 3:
        return content[:at] + rng.choice([b'"', b"\\", b"{", b"]", b"\\u", b"\\ud800", b"\x00", b"1" * 200, b"9" * 5000, b"[" * 3000, b"\xf0\x9f"]) + content[at:]
    if action == 4:
        end = min(len(content), at + rng.randrange(1, 200))
        return content[:end] + content[at:end] * rng.randrange(2, 5) + content[end:]
    return codecs.BOM_UTF8 + content


#: every codec Python knows by name, and a few that are no text encoding or always fail
CODECS = sorted({*encodings.aliases.aliases.values(), "undefined", "punycode", "idna", "rot13", "utf-7", "unicode_escape", "no-such-codec"})


def _fuzz_case(rng: random.Random, bases: list[object]) -> Submission:
    kind = rng.randrange(11)
    if kind == 0:
        return Submission("hw.py", rng.randbytes(rng.randrange(400)), "python")
    if kind == 10:
        body = rng.choice([b"x = 1\n", "é = '\N{GRINNING FACE}'\n".encode(), rng.randbytes(rng.randrange(100))])
        return Submission("hw.py", f"# -*- coding: {rng.choice(CODECS)} -*-\n".encode() + body, "python")
    if kind == 1:
        return notebook_submission(rng.randbytes(rng.randrange(400)))
    base = rng.choice(bases)
    if kind < 6:
        node = base
        for _ in range(rng.randrange(1, 4)):
            node = _mutate(rng, node)
        return notebook_submission(json.dumps(node, ensure_ascii=rng.random() < 0.5).encode("utf-8", "surrogatepass"))
    content = json.dumps(base, ensure_ascii=False).encode()
    for _ in range(rng.randrange(1, 3)):
        content = _mutate_bytes(rng, content)
    return notebook_submission(content)


def test_fuzz_any_bytes_make_a_program_or_unloadable(caplog: pytest.LogCaptureFixture) -> None:
    rng = random.Random(FUZZ_SEED)
    bases = _base_notebooks()
    outcomes = {"program": 0, "unloadable": 0}
    for _ in range(FUZZ_CASES):
        submission = _fuzz_case(rng, bases)
        result = loaded(submission)
        assert isinstance(result, Program | Unloadable), submission
        outcomes["program" if isinstance(result, Program) else "unloadable"] += 1
    assert min(outcomes.values()) > FUZZ_CASES // 10, outcomes  # both kinds are exercised
    # every failure was foreseen: none reached to_program's last resort
    assert not [r for r in caplog.records if r.name == "grader.loading"], caplog.records[0].getMessage()


def test_a_valid_notebook_gives_the_cells_json_says(tmp_path: Path) -> None:
    """The strings set aside unparsed change nothing: valid notebooks with strings of every kind
    give the code cells that json.loads reads in them."""
    rng = random.Random(FUZZ_SEED + 1)
    pieces = ["x = 1", "é", "\N{GRINNING FACE}", '"', "\\", "\n", "\t", "%time ", "#" * 300, "\u2028", "\x00", "\x7f"]
    for _ in range(200):
        cells = []
        for _ in range(rng.randrange(1, 5)):
            text = "".join(rng.choice(pieces) for _ in range(rng.randrange(1, 40)))
            source: str | list[str] = text if rng.random() < 0.5 else text.splitlines(keepends=True)
            kind = rng.choice(["code", "code", "markdown", "raw"])
            cells.append({"cell_type": kind, "id": "c", "metadata": {"tags": [text]}, "source": source, **({"outputs": [{"output_type": "stream", "name": "stdout", "text": text * rng.randrange(1, 30)}], "execution_count": 1} if kind == "code" else {})})
        content = json.dumps({"nbformat": 4, "nbformat_minor": 5, "metadata": {"k": text}, "cells": cells}, ensure_ascii=rng.random() < 0.5, indent=rng.choice([None, 1])).encode()
        expected = []
        for number, cell in enumerate(json.loads(content)["cells"], start=1):
            code = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            python = strip_magics(code)
            if cell["cell_type"] == "code" and python is not None:
                expected.append(Cell(f"cell {number}", python))
        assert to_program(notebook_submission(content)).cells == tuple(expected)


HOSTILE_RSS = """
import json, resource, sys
from grader.loading import Submission, Unloadable, to_program
content = open(sys.argv[1], "rb").read()
open("/proc/self/clear_refs", "w").write("5")  # the peak starts afresh from here
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    outcome = f"{len(to_program(Submission('hw.ipynb', content, 'notebook')).cells)} cells"
except Unloadable as exc:
    outcome = str(exc)
print(json.dumps({"growth": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) * 1024, "outcome": outcome}))
"""


@pytest.mark.slow
@pytest.mark.parametrize(
    ("body", "outcome"),
    [
        (b"{}", "over the 16 MiB the grader reads"),  # the red team's: 200 bytes of memory a byte
        (b'"ab"', "more than 1,000,000 strings"),
        (b'"' + b"x" * 50_000_000 + b'\xf0\x9f\x98\x80"', "1 cells"),  # one output of 4 bytes a character
    ],
    ids=["empty-objects", "short-strings", "one-huge-output"],
)
def test_a_50_mb_hostile_notebook_costs_the_grader_little_memory(tmp_path: Path, body: bytes, outcome: str) -> None:
    head = b'{"nbformat": 4, "nbformat_minor": 5, "cells": [{"cell_type": "code", "source": "x = 1", "outputs": [], "metadata": {}}], "metadata": {"x": ['
    items = body if len(body) > 1000 else b",".join([body] * (50_000_000 // (len(body) + 1)))
    path = tmp_path / "hostile.ipynb"
    path.write_bytes(head + items + b"]}}")
    size = path.stat().st_size

    def cap() -> None:  # the loader before this fix took 1.3 GB for 6 MB: keep such a bug off the machine
        resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))

    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", HOSTILE_RSS, str(path)], env=env, capture_output=True, text=True, preexec_fn=cap, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    figures = json.loads(done.stdout)
    assert outcome in figures["outcome"]
    assert figures["growth"] < 5 * size, f"reading {size / 1e6:.0f} MB took {figures['growth'] / 1e6:.0f} MB more memory"


def test_a_notebook_of_too_many_cells_is_unloadable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(grader.loading, "MAX_CELLS", 3)
    cells = [{"cell_type": "markdown", "source": "x"}] * 3
    assert to_program(notebook_submission(notebook_json(cells))).cells == ()
    sheets = [{"cells": [{"cell_type": "code", "input": "x"}] * 2}] * 2
    result = loaded(notebook_submission(json.dumps({"nbformat": 3, "nbformat_minor": 0, "worksheets": sheets}).encode()))
    assert isinstance(result, Unloadable) and "more than 3 cells" in str(result)
