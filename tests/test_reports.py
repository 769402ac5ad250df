"""`grade report` (text, Markdown, self-contained HTML with pictures), `grade report --all` and
`grade summary`, on the shipped samples graded afresh; and `Gradebook.latest_per_student`."""

from __future__ import annotations

import base64
import fnmatch
import importlib.resources
import json
import re
import statistics
import struct
import tomllib
import zlib
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from helpers import ROOT, SAMPLES, rename_student, run, submitted
from jinja2 import UndefinedError

from grader.cli import REPORT_FORMATS
from grader.course import Course
from grader.db import Gradebook, default_url
from grader.leases import Lease
from grader.reports import FORMATS, Header, build, file_name
from grader.reports.html import html
from grader.reports.pictures import gradient_png, histogram_png
from grader.reports.summary import ClassSummary, DiagnosisCount, PartAverage, summary_html
from grader.reports.templates import environment
from grader.results import CheckResult, Diagnosis, GradingResult

ATTACKS = Path(__file__).parent / "hostile"
#: a lease of this test's process: a submission it holds is being graded, not an orphan
HELD = Lease.mine("test", 3600)


def report(course: Path, student: str, fmt: str, tmp_path: Path) -> str:
    out = tmp_path / f"report.{fmt}"
    result = run(course, "report", "-s", student, "-a", "backprop", "--format", fmt, "-o", str(out))
    assert result.exit_code == 0, result.output
    return out.read_text(encoding="utf-8")


class Page(HTMLParser):
    """The <img> sources and alt texts of a page, with the id of the <section> each is in."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.images: list[tuple[str, str, str]] = []  # (section, src, alt)
        self.section = ""
        self.tags: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.tags.append(tag)
        if tag == "section":
            self.section = found.get("id") or ""
        if tag == "img":
            self.images.append((self.section, found.get("src") or "", found.get("alt") or ""))


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) of a PNG, after checking its signature, every chunk's CRC, and that the
    image data inflates to exactly height rows of width pixels."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    at, chunks = 8, []
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        (crc,) = struct.unpack(">I", data[at + 8 + length : at + 12 + length])
        assert zlib.crc32(kind + body) == crc, kind
        chunks.append((kind, body))
        at += 12 + length
    assert chunks[0][0] == b"IHDR" and chunks[-1][0] == b"IEND"
    width, height, depth, color = struct.unpack(">IIBB", chunks[0][1][:10])
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[color]
    pixels = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    assert len(pixels) == height * (1 + (width * channels * depth + 7) // 8)
    return width, height


def decoded(src: str) -> bytes:
    prefix = "data:image/png;base64,"
    assert src.startswith(prefix)
    return base64.b64decode(src[len(prefix) :], validate=True)


def test_cli_formats_are_the_reports_formats() -> None:
    assert REPORT_FORMATS == FORMATS


# --- one student ------------------------------------------------------------------------------


@pytest.mark.slow
def test_transposed_gradient_gets_a_picture_of_both_shapes(course: Path, db_url: str, tmp_path: Path) -> None:
    submitted(course, "seed_dW2_transposed.py", "ada")
    page = Page(report(course, "ada", "html", tmp_path))
    assert page.images, "no picture"
    assert {section for section, _, _ in page.images} == {"q2b_dW2"}
    shapes = [alt for _, _, alt in page.images]
    assert any("(7, 3)" in alt and "(3, 7)" in alt for alt in shapes), shapes
    for _, src, _ in page.images:
        width, height = png_size(decoded(src))
        assert 400 <= width <= 1100 and 150 <= height <= 700


def test_correct_submission_has_no_picture_and_no_diagnosis(course: Path, db_url: str, tmp_path: Path) -> None:
    submitted(course, "correct_vectorized.py", "ada")
    text = report(course, "ada", "html", tmp_path)
    assert Page(text).images == []
    assert "Diagnosis" not in text and "Score: 100 / 100" in text
    assert "Diagnosis" not in report(course, "ada", "md", tmp_path)


@pytest.mark.slow
def test_html_report_explains_each_mistake(course: Path, db_url: str, tmp_path: Path) -> None:
    submitted(course, "seed_answer.py", "ada")
    text = report(course, "ada", "html", tmp_path)
    page = Page(text)
    assert {section for section, _, _ in page.images} == {"q2b_dW2", "q2c_db1", "q2c_db2"}
    assert all(png_size(decoded(src)) for _, src, _ in page.images)
    for code in ("softmax-wrong-axis", "transposed", "wrong-activation-derivative", "bias-not-summed"):
        assert f"<code>{code}</code>" in text
    assert re.search(r"worst element \[\d\]: expected", text) and "Partial credit: 2.5 of 10." in text
    assert "Score: 58.75 / 100" in text


def test_markdown_has_the_part_table(course: Path, db_url: str, tmp_path: Path) -> None:
    submitted(course, "seed_dW2_transposed.py", "ada")
    text = report(course, "ada", "md", tmp_path)
    assert "| part | | score |\n|---|---|---:|\n" in text
    assert "| `q2b_dW2` | Question 2b: dJ/dW2 with regularization | 10 / 20 |" in text
    assert "| `q1_loss` | Question 1: the loss J | 20 / 20 |" in text
    assert "| **total** | | **90 / 100** |" in text
    assert "*Diagnosis (transposed):* dJ/dW2 is transposed" in text


def test_text_report_sets_the_diagnosis_apart(course: Path, db_url: str) -> None:
    submitted(course, "seed_db1_phi.py", "ada")
    out = run(course, "report", "-s", "ada", "-a", "backprop").stdout
    assert "Score: 88.75 / 100" in out
    assert re.search(r"worst element \[\d\]: expected \S+, got \S+", " ".join(out.split()))
    assert "diagnosis (wrong-activation-derivative): dJ/db1 matches (dz3 W2^T) * phi(z2)" in " ".join(out.split())


def test_student_text_is_escaped(course: Path, db_url: str, tmp_path: Path, correct_source: str) -> None:
    evil = '<img src=x onerror="alert(1)"> | **bold** [link](http://x)'
    source = tmp_path / "evil.py"
    source.write_text(correct_source + f"\ndef softmax_grad(z3, y):\n    raise ValueError({evil!r})\n")
    submitted(course, source, "<script>alert('id')</script>")
    text = report(course, "<script>alert('id')</script>", "html", tmp_path)
    assert "<script>" not in text and "<img src=x" not in text
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in text
    assert Page(text).images == []
    md = report(course, "<script>alert('id')</script>", "md", tmp_path)
    assert "<img" not in md and "<script>" not in md and "\\| \\*\\*bold\\*\\* \\[link\\]" in md


@pytest.mark.parametrize("fmt", FORMATS)
def test_pending_submission_says_grading_did_not_finish(course: Path, db_url: str, tmp_path: Path, fmt: str) -> None:
    with Gradebook(db_url) as gradebook:
        # held by this test's process, which is alive: still being graded, as far as anyone knows
        gradebook.begin_submission(student="ada", assignment="backprop", filename="a.py", content=b"", seed=1, rubric_version="v", lease=HELD)
    text = report(course, "ada", fmt, tmp_path)
    assert "Grading did not finish" in text and "pending" in text


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (["report", "-s", "nobody", "-a", "backprop"], "no submission of 'nobody' for 'backprop'"),
        (["report", "-s", "ada", "-a", "nosuch"], "no assignment 'nosuch'"),
        (["report", "--all", "-a", "nosuch", "-o", "{out}"], "no assignment 'nosuch'"),
        (["report", "-a", "backprop"], "give either --student ID or --all"),
        (["report", "-s", "ada", "--all", "-a", "backprop", "-o", "{out}"], "give either --student ID or --all"),
        (["report", "--all", "-a", "backprop"], "give the directory with -o DIR"),
        (["summary", "-a", "nosuch"], "no assignment 'nosuch'"),
        (["report", "-s", "ada", "-a", "backprop", "-o", "{out}/missing/r.txt"], "cannot write"),
    ],
)
def test_usage_errors_are_one_line(course: Path, db_url: str, tmp_path: Path, args: list[str], text: str) -> None:
    submitted(course, "correct_loops.py", "ada")
    result = run(course, *[a.format(out=tmp_path / "out") for a in args])
    assert result.exit_code == 2, result.output
    assert text in result.output and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


# --- hidden checks ----------------------------------------------------------------------------


def hide(course: Path, part: str) -> None:
    rubric = course / "rubrics" / "backprop.toml"
    text = re.sub(rf'(id = "{part}_\w+"\n)', r'\1hidden = true\n', rubric.read_text())
    assert text.count("hidden = true") >= 2
    rubric.write_text(text)


@pytest.mark.parametrize(("sample", "part", "score"), [("seed_dW2_transposed.py", "q2b_dW2", "10 / 20"), ("seed_db1_phi.py", "q2c_db1", "3.75 / 15")])
@pytest.mark.parametrize("hidden_when", ["before grading", "after grading"])
def test_hidden_checks_show_score_and_diagnosis_but_no_inputs(
    course: Path, db_url: str, tmp_path: Path, sample: str, part: str, score: str, hidden_when: str
) -> None:
    if hidden_when == "before grading":
        hide(course, part)
    submitted(course, sample, "ada")  # every other part is right, so only the hidden part fails
    if hidden_when == "after grading":
        hide(course, part)
    for fmt in FORMATS:
        text = report(course, "ada", fmt, tmp_path)
        assert "N=" not in text and "lambda=" not in text and "expected" not in text, text
        assert "worst element" not in text and "<img" not in text and "'basic'" not in text
        assert "hidden" in text and score in text
        assert ("transposed" if part == "q2b_dW2" else "wrong-activation-derivative") in text
        assert "Partial credit" in text
    for fmt in ("csv", "canvas", "gradescope"):
        result = run(course, "export", "-a", "backprop", "--format", fmt)
        assert result.exit_code == 0, result.output
        assert "N=" not in result.stdout and "'basic'" not in result.stdout and "worst element" not in result.stdout
    tests = {t["name"]: t for t in json.loads(run(course, "export", "-a", "backprop", "--format", "gradescope").stdout)["tests"]}
    hidden = [t for name, t in tests.items() if name.startswith(part)]
    assert hidden and all(t["visibility"] == "after_due_date" for t in hidden)
    assert any("Partial credit" in t["output"] for t in hidden)


def test_a_check_hidden_after_grading_keeps_its_case_in_the_gradebook(course: Path, db_url: str) -> None:
    """Redaction happens on the way out: the instructor's data keeps the case and the figures."""
    submitted(course, "seed_dW2_transposed.py", "ada")
    hide(course, "q2b_dW2")
    with Gradebook(db_url) as book:
        stored = book.latest("ada", "backprop")
    assert stored is not None
    failed = [c for c in stored.checks if c.id.startswith("q2b_dW2") and c.status == "failed"]
    assert failed and all(c.case in Course(course).assignment("backprop").rubric.cases and not c.hidden for c in failed)
    assert all("{case}" in c.message and "expected_array" in c.errors for c in failed if "reference" in c.id)


def test_the_submissions_own_text_is_kept_apart_and_never_read_as_a_slot(course: Path, db_url: str, tmp_path: Path) -> None:
    source = (SAMPLES / "correct_loops.py").read_text() + (
        "\ndef gradients(params, X, y, reg):\n    raise ValueError('{case} <script>alert(1)</script>')\n"
    )
    path = tmp_path / "raises.py"
    path.write_text(source)
    out = submitted(course, path, "ada")
    raised = [c for c in out["checks"] if c["id"].startswith("q2") and c["id"] != "q2a_dz3_reference"]
    assert raised and all(
        re.match(r"gradients raised ValueError: \{case\} <script>alert\(1\)</script> \(line \d+ in gradients\) on case '\w+' \(N=", c["message"])
        for c in raised if c["status"] == "error"
    ), [c["message"] for c in raised]
    with Gradebook(db_url) as book:
        stored = book.latest("ada", "backprop")
    assert stored is not None
    errored = [c for c in stored.checks if c.status == "error"]
    assert errored and all(c.message == "gradients raised {student} on {case}." and "<script>" in c.student_text for c in errored)
    page = report(course, "ada", "html", tmp_path)
    assert "<script>alert" not in page and "{case} &lt;script&gt;" in page


def test_a_hidden_check_shows_nothing_of_its_inputs_nor_the_submissions_text_on_it(course: Path, db_url: str, tmp_path: Path) -> None:
    """The submission raises its inputs back (N, D, H, C, lambda, y, X) and answers with an array
    whose shape tells N: on a hidden check, no output shows either."""
    for part in ("q2a_dz3", "q2b_dW2", "q2c_dW1", "q2c_db1", "q2c_db2"):
        hide(course, part)
    out = submitted(course, ATTACKS / "leak_hidden_inputs.py", "ada")
    outputs = [json.dumps(out), *(report(course, "ada", fmt, tmp_path) for fmt in FORMATS)]
    outputs.append(run(course, "export", "-a", "backprop", "--format", "gradescope").stdout)
    outputs.append(run(course, "report", "-s", "ada", "-a", "backprop").stdout)
    for text in outputs:
        assert "LEAK" not in text and "N=" not in text and "1008" not in text and "shape" not in text, text
    checks = {c["id"]: c for c in out["checks"]}
    assert checks["q2b_dW2_reference"]["message"] == "dJ/dW2: your code raised an exception on a hidden case."
    assert checks["q2a_dz3_reference"]["message"] == "dJ/dz3 is wrong on a hidden case."
    assert checks["q1_loss_reference"]["status"] == "passed"


def test_terminal_escapes_from_a_submission_never_reach_a_text_output(course: Path, db_url: str, tmp_path: Path) -> None:
    result = run(course, "submit", str(ATTACKS / "terminal_escapes.py"), "-a", "backprop", "-s", "ada")
    assert result.exit_code == 0
    rename_student(db_url, "ada", "ada\x1b]0;x\x07")  # grade submit refuses control characters; a gradebook may hold them
    outputs = [result.stdout, run(course, "report", "-s", "ada\x1b]0;x\x07", "-a", "backprop").stdout]
    outputs += [report(course, "ada\x1b]0;x\x07", fmt, tmp_path) for fmt in FORMATS]
    for text in outputs:
        assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e]", text), repr(text[:300])
        assert "x1b" in text  # shown as an escape, so the reader sees what was attempted
    assert "Score: 20 / 100." in outputs[0]  # the honest loss only; no fake header


@pytest.mark.slow
def test_every_stored_answer_renders_and_the_index_is_written_every_time(course: Path, db_url: str, tmp_path: Path) -> None:
    submitted(course, ATTACKS / "empty_answer.py", "ada")
    submitted(course, "seed_answer.py", "bob")
    for _rerun in range(2):
        out = tmp_path / "all"
        result = run(course, "report", "--all", "-a", "backprop", "-f", "html", "-o", str(out))
        assert result.exit_code == 0, result.output
        assert (out / "index.html").is_file() and (out / file_name("ada")).is_file()
        assert "Score: 20 / 100" in (out / file_name("ada")).read_text()
        assert Page((out / file_name("bob")).read_text()).images, "pictures still drawn for the others"


# --- a whole class ----------------------------------------------------------------------------

HOSTILE = ["../../etc/passwd", "Zoë O'Brien/2", "ada", ".", "<b>x</b>\"'"]


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["html", "md"])
def test_all_writes_one_file_per_student_and_an_index(course: Path, db_url: str, tmp_path: Path, fmt: str) -> None:
    for student in HOSTILE:
        submitted(course, "seed_db2_not_summed.py" if student == "ada" else "correct_loops.py", student)
    before = {p for p in tmp_path.rglob("*")}
    out = tmp_path / "reports" / "backprop"
    result = run(course, "report", "--all", "-a", "backprop", "-f", fmt, "-o", str(out))
    assert result.exit_code == 0, result.output
    written = {p for p in tmp_path.rglob("*")} - before - {out.parent}
    assert all(p.resolve().is_relative_to(out.resolve()) for p in written), written
    assert sorted(p.name for p in out.iterdir()) == sorted([f"index.{fmt}", *(file_name(s, fmt) for s in HOSTILE)])
    assert len({file_name(s, fmt) for s in HOSTILE}) == len(HOSTILE)
    for student in HOSTILE:
        assert re.fullmatch(rf"[A-Za-z0-9_-]+-[0-9a-f]{{10}}\.{fmt}", file_name(student, fmt))
    index = (out / f"index.{fmt}").read_text(encoding="utf-8")
    for student in HOSTILE:
        assert file_name(student, fmt) in index
    ada = (out / file_name("ada", fmt)).read_text(encoding="utf-8")
    assert "95 / 100" in ada
    if fmt == "html":
        assert "Zoë O&#x27;Brien/2" in index and "&lt;b&gt;x&lt;/b&gt;" in index and "<b>x" not in index
        assert all(png_size(decoded(src)) for _, src, _ in Page(ada).images)
        assert Page(ada).images and Page((out / file_name("Zoë O'Brien/2", fmt)).read_text()).images == []


# --- the class summary ------------------------------------------------------------------------

# each sample's mistakes, by part; the rubric's credit table says what each still earns
CLASS = {
    "correct": ("correct_loops.py", {}),
    "db2": ("seed_db2_not_summed.py", {"q2c_db2": "bias-not-summed"}),
    "dW2": ("seed_dW2_transposed.py", {"q2b_dW2": "transposed"}),
    "all": ("seed_answer.py", {"q1_loss": "softmax-wrong-axis", "q2b_dW2": "transposed", "q2c_db1": "wrong-activation-derivative", "q2c_db2": "bias-not-summed"}),
}


def test_summary_numbers_for_a_known_class(course: Path, db_url: str, tmp_path: Path) -> None:
    for student, (sample, _) in CLASS.items():
        submitted(course, sample, student)
    broken = tmp_path / "broken.py"
    broken.write_text("def loss(:\n")
    submitted(course, broken, "broken")  # recorded as an error, score 0
    with Gradebook(db_url) as gradebook:  # never finished
        gradebook.begin_submission(student="pending", assignment="backprop", filename="p.py", content=b"", seed=1, rubric_version="v", lease=HELD)

    rubric = Course(course).assignment("backprop").rubric
    parts = {p.id: p for p in rubric.parts}
    scores = {s: {p: parts[p].points * parts[p].credit[mistakes[p]] if p in mistakes else parts[p].points for p in parts} for s, (_, mistakes) in CLASS.items()}
    scores["broken"] = {p: 0.0 for p in parts}
    assert [sum(s.values()) for s in scores.values()] == [100, 95, 90, 58.75, 0]
    totals = [sum(s.values()) for s in scores.values()]

    out = tmp_path / "summary"
    result = run(course, "summary", "-a", "backprop", "-o", str(out))
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "6 students (latest submission each): 4 graded, 1 error, 1 pending." in text
    assert f"mean {statistics.fmean(totals):g}, median {statistics.median(totals):g}, lowest 0, highest 100 (5 finished)" in text
    for part in parts.values():
        mean = statistics.fmean(s[part.id] for s in scores.values())
        row = re.search(rf"^{part.id}\s+(\S+)\s+(\S+)\s+(\d+)%", text, re.M)
        assert row is not None, text
        assert float(row[1]) == pytest.approx(mean, abs=0.005) and float(row[2]) == part.points
        assert int(row[3]) == round(100 * mean / part.points)
    diagnoses = re.findall(r"^\s+(\d+)\s+(\S+)\s+(.+)$", text.split("Most frequent diagnoses")[1], re.M)
    assert diagnoses == [("2", "bias-not-summed", "q2c_db2"), ("2", "transposed", "q2b_dW2"), ("1", "softmax-wrong-axis", "q1_loss"), ("1", "wrong-activation-derivative", "q2c_db1")]

    assert sorted(p.name for p in out.iterdir()) == ["histogram.png", "summary.html"]
    png = (out / "histogram.png").read_bytes()
    assert png_size(png) == (700, 360)
    page = Page((out / "summary.html").read_text(encoding="utf-8"))
    assert [decoded(src) for _, src, _ in page.images] == [png]


def test_summary_of_an_assignment_without_submissions(course: Path, db_url: str) -> None:
    result = run(course, "summary", "-a", "backprop")
    assert result.exit_code == 2 and "no submissions for 'backprop'" in result.output


# --- pictures ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expected", "got"),
    [
        (np.ones((4, 3)), -np.ones((4, 3))),  # sign flip
        (np.arange(12.0).reshape(4, 3), np.arange(12.0).reshape(3, 4)),  # transposed
        (np.arange(5.0), np.array([0.0, np.nan, 2.0, np.inf, 4.0])),  # non-finite
        (np.zeros((2, 3, 4)), np.ones((2, 3, 4))),  # 3-D, all-zero reference
        (np.random.default_rng(0).standard_normal((60, 50)), np.zeros((60, 50))),  # large
    ],
)
def test_gradient_pictures_are_pngs(expected: np.ndarray, got: np.ndarray) -> None:
    width, height = png_size(gradient_png(expected, got, "dJ/dW1", (0,) * got.ndim))
    assert width >= 600 and height >= 200


def test_histogram_of_no_scores() -> None:
    assert png_size(histogram_png([], 0.0)) == (700, 360)


def test_non_finite_stored_values_reach_the_picture() -> None:
    stored = {"shape": [2, 2], "values": [1.0, None, 3.0, 4.0]}
    check = CheckResult("q_x", "q", "failed", 0.0, 1.0, "dJ/dW1 is wrong.", (), {"expected_array": {"shape": [2, 2], "values": [1.0, 2.0, 3.0, 4.0]}, "got_array": stored})
    page = Page(html(build(Header(1, "ada", "hw", "graded", "", 0.0, 1.0), (check,))))
    assert len(page.images) == 1 and png_size(decoded(page.images[0][1]))


# --- templates: escaping, package data, self-contained pages ---------------------------------

#: student-controlled text that would run a script if it reached a page unescaped
EVIL = "<script>alert(1)</script>\" onmouseover=\"alert(2)\" ' onmouseover='alert(3)"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;&quot; onmouseover=&quot;alert(2)&quot; &#x27; onmouseover=&#x27;alert(3)"
TEMPLATES = ("base.html", "report.css", "macros.html", "report.html", "summary.html", "index.html")


class Elements(HTMLParser):
    """Every start tag of a page with its attributes, and the text of its <style> elements."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.styles: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        if self.elements and self.elements[-1][0] == "style":
            self.styles.append(data)


def assert_harmless(text: str, evil: bool = True) -> None:
    """No script and no event handler anywhere in the page; the evil text, if expected, escaped."""
    found = Elements(text)
    assert "script" not in [tag for tag, _ in found.elements]
    assert not [name for _, attrs in found.elements for name in attrs if name.startswith("on")]
    assert "<script" not in text and '" onmouseover=' not in text and "' onmouseover=" not in text
    if evil:
        assert ESCAPED in text


def assert_self_contained(text: str) -> None:
    """A page that needs no network: styles inline, pictures as data: URIs, links to files beside it."""
    found = Elements(text)
    tags = [tag for tag, _ in found.elements]
    assert "link" not in tags and "script" not in tags and tags.count("style") == 1
    for tag, attrs in found.elements:
        for name in ("src", "href"):
            value = attrs.get(name)
            if value is not None:
                assert not re.match(r"\s*(https?:)?//", value, re.I), (tag, name, value)
                assert value.startswith("data:image/png;base64,") if name == "src" else "://" not in value
    css = "".join(found.styles)
    assert ".check" in css and ".bar" in css and "url(" not in css and "@import" not in css


def test_student_text_is_escaped_in_every_page(course: Path, db_url: str, tmp_path: Path, correct_source: str) -> None:
    source = tmp_path / "evil.py"
    source.write_text(correct_source + f"\ndef softmax_grad(z3, y):\n    raise ValueError({EVIL!r})\n\nraise ValueError({EVIL!r})\n")
    submitted(course, source, EVIL)
    text = report(course, EVIL, "html", tmp_path)
    assert text.count(ESCAPED) >= 3  # the student id, the check's message and the warning
    assert "Warnings while loading" in text
    assert_harmless(text)
    out = tmp_path / "all"
    assert run(course, "report", "--all", "-a", "backprop", "-f", "html", "-o", str(out)).exit_code == 0
    index = (out / "index.html").read_text(encoding="utf-8")
    assert_harmless(index)
    assert_harmless((out / file_name(EVIL)).read_text(encoding="utf-8"))
    assert run(course, "summary", "-a", "backprop", "-o", str(tmp_path / "summary")).exit_code == 0
    assert_harmless((tmp_path / "summary" / "summary.html").read_text(encoding="utf-8"), evil=False)


def test_every_field_of_a_report_is_escaped() -> None:
    arrays = {"expected_array": {"shape": [2], "values": [1.0, 2.0]}, "got_array": {"shape": [2], "values": [1.0, 3.0]}}
    checks = (
        CheckResult(EVIL, EVIL, "failed", 0.5, 1.0, EVIL + " {student} on {case}", (Diagnosis(EVIL, EVIL, 0.5),), {**arrays, "expected": 2.0, "got": 3.0, "worst_index": [1]}, case=EVIL, student_text=EVIL),
        CheckResult("q_ok", EVIL, EVIL, 1.0, 1.0, EVIL),
    )
    header = Header(1, EVIL, EVIL, EVIL, EVIL, 1.0, 2.0, filename=EVIL)
    text = html(build(header, checks, (EVIL,)))
    assert_harmless(text)
    # the student, the assignment (title and heading), the status and the not-graded note, the
    # part (link, cell, section id and heading), the check (id, status, message, code), the
    # figure's caption, the diagnosis' explanation, the case, the submission's text and the warning
    assert text.count(ESCAPED) >= 17
    assert len(Page(text).images) == 1


def test_every_field_of_the_summary_is_escaped() -> None:
    summary = ClassSummary(EVIL, EVIL, 3, {EVIL: 2, "graded": 1}, (1.0, 2.0), 4.0, (PartAverage(EVIL, EVIL, 2.0, 1.0),), (DiagnosisCount(EVIL, 2, (EVIL, EVIL)),))
    text = summary_html(summary, "data:image/png;base64,AAAA")
    assert_harmless(text)
    assert text.count(ESCAPED) >= 7 and f"{ESCAPED}, {ESCAPED}" in text
    assert Page(text).images == [("", "data:image/png;base64,AAAA", "histogram of the scores")]


@pytest.mark.slow
def test_pages_are_self_contained(course: Path, db_url: str, tmp_path: Path) -> None:
    submitted(course, "seed_answer.py", "ada")  # pictures on three parts
    out = tmp_path / "all"
    assert run(course, "report", "--all", "-a", "backprop", "-f", "html", "-o", str(out)).exit_code == 0
    assert run(course, "summary", "-a", "backprop", "-o", str(out)).exit_code == 0
    pages = sorted(out.glob("*.html"))
    assert [p.name for p in pages] == sorted([file_name("ada"), "index.html", "summary.html"])
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert text.startswith("<!DOCTYPE html>\n<html lang=\"en\">") and '<meta charset="utf-8">' in text
        assert_self_contained(text)
    assert len(Page((out / file_name("ada")).read_text(encoding="utf-8")).images) >= 3


def test_templates_are_package_data() -> None:
    folder = importlib.resources.files("grader").joinpath("templates")
    for name in TEMPLATES:
        assert folder.joinpath(name).is_file(), name
        environment().get_template(name)
    shipped = [pattern.removeprefix("templates/") for pattern in tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["grader"] if pattern.startswith("templates/")]
    root = Path(str(folder))
    for entry in root.rglob("*"):
        if entry.is_file() and "__pycache__" not in entry.parts:
            relative = entry.relative_to(root).as_posix()
            # as setuptools globs: each part of the path against the same part of the pattern
            assert any(
                len(relative.split("/")) == len(pattern.split("/")) and all(map(fnmatch.fnmatch, relative.split("/"), pattern.split("/")))
                for pattern in shipped
            ), f"{relative} is not shipped"


def test_templates_escape_and_reject_missing_values() -> None:
    env = environment()
    assert env.from_string("{{ x }}").render(x=EVIL) == EVIL.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&#34;").replace("'", "&#39;")
    assert env.get_template("index.html").render(assignment="x", rows=[]).count("<tr>") == 1
    with pytest.raises(UndefinedError):
        env.get_template("index.html").render(assignment="x")


# --- the gradebook ----------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def book_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return default_url(tmp_path) if request.param == "sqlite" else str(request.getfixturevalue("postgres_url"))


def test_latest_per_student(book_url: str) -> None:
    result = GradingResult("graded", "done", 1, (), 1.0)

    def submit_to(book: Gradebook, student: str, assignment: str = "hw1", finish: bool = True) -> int:
        sid = book.begin_submission(student=student, assignment=assignment, filename="a.py", content=b"x", seed=1, rubric_version="v")
        if finish:
            book.finish_submission(sid, result)
        return sid

    with Gradebook(book_url) as book:
        assert book.latest_per_student("hw1") == []
        submit_to(book, "zoë")
        newest_zoe = submit_to(book, "zoë")
        submit_to(book, "ada")
        pending_ada = submit_to(book, "ada", finish=False)  # the newest counts, graded or not
        submit_to(book, "bob", assignment="hw2")
        latest = book.latest_per_student("hw1")
        assert book.latest_per_student("nosuch") == []
    assert [(s.student, s.id, s.status) for s in latest] == [("ada", pending_ada, "pending"), ("zoë", newest_zoe, "graded")]


def test_a_pending_submission_shows_no_score_yet_in_every_format() -> None:
    from grader.reports.api import render

    pending = build(Header(7, "ada", "backprop", "pending", "being graded", 0.0, 100.0), ())
    assert "Score: - / 100." in render(pending, "text")
    assert "**Score: - / 100**" in render(pending, "md")
    assert "Score: - / 100</p>" in render(pending, "html")
    graded = build(Header(7, "ada", "backprop", "graded", "", 0.0, 100.0), ())
    assert "Score: 0 / 100." in render(graded, "text")  # a real zero is shown as one
