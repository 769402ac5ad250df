"""A failed visible check on a small case shows the code that reproduces it (``errors["inputs"]``,
``grader/checks/reproduce.py``): the literals give back exactly what the student's function was
given, the code run beside the submission gives back exactly its wrong answer, large cases store
nothing, and a hidden check shows none of it anywhere."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import ROOT, SAMPLES, run, submitted

from grader.checks.context import Context
from grader.course import Course
from grader.db import Gradebook, StoredSubmission
from grader.literals import MAX_ARRAY, MAX_NUMBERS, MAX_STRING, literal, small
from grader.reports import FORMATS
from grader.reports.api import header
from grader.reports.html import picture
from grader.reports.model import build
from grader.reports.templates import render
from grader.results import CheckResult
from grader.sandbox.interface import Handle
from grader.service.views import submission as api_submission
from grader.visibility import reproduction
from grader.workspace import Workspace

#: a submission right everywhere but on one sample, where it leaves out dJ/dW1's regularization
N1_MISTAKE = (SAMPLES / "correct_vectorized.py").read_text() + '''

_right = gradients


def gradients(params, X, y, reg):
    grads = _right(params, X, y, reg)
    if X.shape[0] == 1:  # one sample: "no need" for the penalty's gradient
        grads["W1"] = grads["W1"] - 2 * reg * params["W1"]
    return grads
'''


# --- literals ------------------------------------------------------------------------------------


def same(a: Any, b: Any) -> bool:
    """Equal in type, dtype, shape and every bit (NaN and -0.0 included), recursively."""
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return isinstance(b, list) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        return type(b) is float and np.float64(a).tobytes() == np.float64(b).tobytes()
    return type(a) is type(b) and a == b


def awkward_floats(rng: np.random.Generator, shape: tuple[int, ...], dtype: type = np.float64) -> np.ndarray:
    """Floats of every scale, with -0.0, subnormals, the extremes, NaN and infinities among them."""
    info = np.finfo(dtype)
    specials = np.array([0.0, -0.0, info.tiny, info.smallest_subnormal, -info.smallest_subnormal, info.max, -info.max, np.nan, np.inf, -np.inf], dtype=dtype)
    with np.errstate(over="ignore"):  # float16 overflows to infinity: one more special
        values = (rng.standard_normal(shape) * 10.0 ** rng.integers(-30, 30, shape)).astype(dtype)
    flat = values.reshape(-1)
    chosen = rng.random(flat.size) < 0.3
    flat[chosen] = rng.choice(specials, chosen.sum())
    return values


@pytest.mark.parametrize("seed", range(12))
def test_a_literal_gives_back_exactly_what_the_function_was_given(seed: int) -> None:
    rng = np.random.default_rng(seed)
    values = {
        "params": {
            "W1": awkward_floats(rng, (int(rng.integers(1, 8)), int(rng.integers(1, 8)))),
            "b1": awkward_floats(rng, (int(rng.integers(0, 6)),)),
            "x32": awkward_floats(rng, (2, 3, 2), np.float32),
            "x16": awkward_floats(rng, (3,), np.float16),
        },
        "X": rng.standard_normal((int(rng.integers(1, 9)), 5)),
        "y": rng.integers(-(2**62), 2**62, size=int(rng.integers(1, 9))),
        "labels": rng.integers(0, 3, size=4).astype(np.int32),
        "pixels": rng.integers(0, 256, size=(2, 3)).astype(np.uint8),
        "mask": rng.random((2, 4)) < 0.5,
        "scalar": np.array(rng.standard_normal()),
        "empty": np.zeros((0, int(rng.integers(1, 4)))),
        "reg": float(rng.choice([0.0, -0.0, 1e-300, 0.1, 1e300])),
        "count": int(rng.integers(-5, 5)),
        "flag": bool(rng.integers(0, 2)),
        "nothing": None,
        "mode": "train \"quoted\" \\ \n é",
        "dims": [3, 5.5, [1, 2]],
    }
    for name, value in values.items():
        source = literal(value)
        assert same(value, eval(source, {"np": np})), (name, source)
    assert small(values.values())


def test_tuples_are_lists_as_the_wire_delivers_them() -> None:
    assert literal((1, 2.5)) == "[1, 2.5]"


def test_the_size_bound_holds() -> None:
    assert small([np.zeros(MAX_ARRAY)]) and not small([np.zeros(MAX_ARRAY + 1)])
    assert small([np.zeros((10, 10)), {"a": np.zeros(MAX_NUMBERS - 100)[:MAX_ARRAY]}])
    full = [np.zeros(MAX_ARRAY) for _ in range(MAX_NUMBERS // MAX_ARRAY)] + [np.zeros(MAX_NUMBERS % MAX_ARRAY)]
    assert small(full) and not small([*full, 1.0])
    assert small(["x" * MAX_STRING]) and not small(["x" * (MAX_STRING + 1)])
    assert not small([Handle("affine_forward:case")]) and not small([object()]) and not small([np.zeros(2, dtype=complex)])
    assert not small([[[[[[1]]]]]])  # nested deeper than MAX_DEPTH
    # the largest case written out stays bounded
    worst = [awkward_floats(np.random.default_rng(0), (MAX_ARRAY,)) for _ in range(MAX_NUMBERS // MAX_ARRAY)]
    assert small(worst) and sum(len(literal(a)) for a in worst) < 16_000


# --- a graded submission ---------------------------------------------------------------------------


def latest(db_url: str, assignment: str = "backprop") -> StoredSubmission:
    with Gradebook(db_url) as book:
        stored = book.latest("ada", assignment)
    assert stored is not None
    return stored


def stored_array(stored: dict[str, Any]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in stored["values"]], dtype=np.float64).reshape(stored["shape"])


def reproduced(source: str, inputs: dict[str, Any]) -> Any:
    """The graded value the shown code computes with the submission's functions defined."""
    namespace: dict[str, Any] = {"__name__": "submission"}
    exec(compile(source, "submission.py", "exec"), namespace)
    exec(compile(inputs["code"], "reproduce.py", "exec"), namespace)
    return eval(inputs["shows"].split("  #")[0], namespace)


def report(course: Path, fmt: str, tmp_path: Path, assignment: str = "backprop") -> str:
    out = tmp_path / f"report.{fmt}"
    result = run(course, "report", "-s", "ada", "-a", assignment, "--format", fmt, "-o", str(out))
    assert result.exit_code == 0, result.output
    return out.read_text(encoding="utf-8")


def web_page(course: Path, db_url: str, stored: StoredSubmission) -> str:
    rubric = Workspace(course, db_url).assignment(stored.assignment).rubric
    shown = build(header(stored, rubric.max_score), stored.checks, stored.warnings, rubric)
    return render("web/submission.html", who=None, csrf="", stored=stored, report=shown, picture=picture, title=rubric.title)


def api_json(course: Path, db_url: str, stored: StoredSubmission) -> str:
    return json.dumps(api_submission(stored, Workspace(course, db_url).assignment(stored.assignment).rubric))


def test_a_wrong_answer_on_one_sample_is_reproduced_exactly_by_the_code_shown(course: Path, db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "one_sample.py"
    path.write_text(N1_MISTAKE)
    out = submitted(course, path)
    failed = {c["id"]: c for c in out["checks"] if c["status"] != "passed"}
    assert set(failed) == {"q2c_dW1_reference"}, failed
    inputs = failed["q2c_dW1_reference"]["inputs"]
    assert inputs["case"] == "single" and inputs["functions"] == ["gradients"]
    assert [a["name"] for a in inputs["arguments"]] == ["params", "X", "y", "reg"]
    assert inputs["calls"] == ["dJ = gradients(params, X, y, reg)"]
    assert inputs["shows"].startswith('dJ["W1"]')
    assert inputs["code"].startswith("# Run where your gradients is defined") and "\nimport numpy as np\n" in inputs["code"]
    assert "X = np.array([\n    [" in inputs["code"] and "y = np.array([" in inputs["code"] and "dtype=np.int64)" in inputs["code"]
    assert all(c["inputs"] is None for c in out["checks"] if c["status"] == "passed")

    # the literals are what the grader gave: the case's inputs as the context draws them
    stored = latest(db_url)
    check = next(c for c in stored.checks if c.id == "q2c_dW1_reference")
    assert check.errors["inputs"] == {k: v for k, v in inputs.items() if k != "code"}
    # the code, run beside the submission, gives its wrong answer bit for bit
    value = reproduced(N1_MISTAKE, inputs)
    assert np.array_equal(value, stored_array(check.errors["got_array"]))
    assert value[tuple(check.errors["worst_index"])] == check.errors["got"]
    assert not np.allclose(value, stored_array(check.errors["expected_array"]))
    # the reference on the same literals gives the expected answer
    namespace: dict[str, Any] = {"gradients": Workspace(course, db_url).assignment("backprop").function("gradients")}
    exec(compile(inputs["code"], "reproduce.py", "exec"), namespace)
    assert np.array_equal(namespace["dJ"]["W1"], stored_array(check.errors["expected_array"]))

    # every format shows the same code, copyable as a whole
    text = report(course, "text", tmp_path)
    assert "To reproduce:\n\n" + inputs["code"] + "\n" in text
    markdown = report(course, "md", tmp_path)
    block = re.search(r"  To reproduce:\n\n  ```python\n(.*?)\n  ```\n", markdown, re.S)
    assert block and "\n".join(line[2:] for line in block.group(1).split("\n")) == inputs["code"]
    for page in (report(course, "html", tmp_path), web_page(course, db_url, stored)):
        shown = re.findall(r'<div class="reproduce"><p>To reproduce:</p>\n<pre><code>(.*?)</code></pre></div>', page, re.S)
        assert [html.unescape(s) for s in shown] == [inputs["code"]]
        assert "&quot;W1&quot;" in page  # escaped, not raw
    assert json.loads(api_json(course, db_url, stored))["checks"] == out["checks"]
    tests = json.loads(run(course, "export", "-a", "backprop", "--format", "gradescope").stdout)["tests"]
    assert [t["name"] for t in tests if "To reproduce:\n\n" + inputs["code"] in t["output"]] == ["q2c_dW1_reference"]


@pytest.mark.slow
def test_a_backward_pass_is_reproduced_through_the_students_own_forward(course: Path, db_url: str) -> None:
    source = (ROOT / "submissions" / "layers" / "bug_param_grad_not_summed.py").read_text()
    out = submitted(course, ROOT / "submissions" / "layers" / "bug_param_grad_not_summed.py", assignment="layers")
    failed = [c for c in out["checks"] if c["status"] == "failed" and c["id"].endswith("_vjp")]
    assert failed
    stored = {c.id: c for c in latest(db_url, "layers").checks}
    for shown in failed:
        inputs = shown["inputs"]
        assert inputs is not None, shown
        forward, backward = inputs["functions"]
        assert inputs["arguments"][-1]["name"] == "dout" and inputs["arguments"][-1]["note"]
        assert inputs["calls"][0].startswith(f"out, cache = {forward}(") and "your own" in inputs["calls"][0]
        assert re.fullmatch(rf"\w+(, \w+)* = {backward}\(dout, cache\)", inputs["calls"][1])
        check = stored[shown["id"]]
        assert np.array_equal(reproduced(source, inputs), stored_array(check.errors["got_array"]))


def test_a_gradcheck_shows_its_worst_case(course: Path, db_url: str) -> None:
    out = submitted(course, "seed_db1_phi.py")
    checks = {c["id"]: c for c in out["checks"]}
    gradcheck = checks["q2c_db1_gradcheck"]
    assert gradcheck["status"] == "failed" and gradcheck["inputs"]["shows"].startswith('dJ["b1"]')
    case = gradcheck["inputs"]["case"]
    assert case in ("basic", "large")
    # the shown literals are the case's inputs exactly: the student's function on the inputs
    # the grader draws for that case and seed gives what the shown code gives
    stored = latest(db_url)
    assignment = Course(course).assignment("backprop")
    inputs = Context(assignment, None, None, stored.seed).inputs(case)  # type: ignore[arg-type]  # the inputs only
    source = (SAMPLES / "seed_db1_phi.py").read_text()
    namespace: dict[str, Any] = {}
    exec(compile(source, "submission.py", "exec"), namespace)
    direct = namespace["gradients"](inputs["params"], inputs["X"], inputs["y"], inputs["reg"])["b1"]
    assert np.array_equal(reproduced(source, gradcheck["inputs"]), direct)


def test_a_large_case_stores_no_inputs(course: Path, db_url: str, tmp_path: Path) -> None:
    rubric = course / "rubrics" / "backprop.toml"
    text = rubric.read_text().replace(
        'id = "q2c_db1_reference"\nkind = "reference"\nfunction = "gradients"\nkey = "b1"\ncases = ["basic", "no_reg", "single", "binary", "skip_top", "large"]',
        'id = "q2c_db1_reference"\nkind = "reference"\nfunction = "gradients"\nkey = "b1"\ncases = ["probe"]',
    )
    assert text != rubric.read_text()
    rubric.write_text(text)
    out = submitted(course, "seed_db1_phi.py")
    checks = {c["id"]: c for c in out["checks"]}
    assert checks["q2c_db1_reference"]["status"] == "failed" and "'probe'" in checks["q2c_db1_reference"]["message"]
    assert checks["q2c_db1_reference"]["inputs"] is None
    assert "inputs" not in next(c for c in latest(db_url).checks if c.id == "q2c_db1_reference").errors
    assert checks["q2c_db1_gradcheck"]["inputs"] is not None  # on a small case
    assert report(course, "text", tmp_path).count("To reproduce:") == 1


def hide(course: Path, part: str) -> None:
    rubric = course / "rubrics" / "backprop.toml"
    rubric.write_text(re.sub(rf'(id = "{part}_\w+"\n)', r"\1hidden = true\n", rubric.read_text()))


@pytest.mark.parametrize("hidden_when", ["before grading", "after grading"])
def test_a_hidden_check_never_shows_its_inputs(course: Path, db_url: str, tmp_path: Path, hidden_when: str) -> None:
    path = tmp_path / "one_sample.py"
    path.write_text(N1_MISTAKE)
    if hidden_when == "before grading":
        hide(course, "q2c_dW1")
    out = submitted(course, path)
    if hidden_when == "after grading":
        hide(course, "q2c_dW1")
        out = json.loads(api_json(course, db_url, latest(db_url)))  # what --json would print now
    stored = latest(db_url)
    check = next(c for c in stored.checks if c.id == "q2c_dW1_reference")
    assert check.status == "failed" and "inputs" in check.errors  # the gradebook keeps them
    # a number of the case's inputs, as the literals write it
    number = re.search(r"-?\d\.\d{12,}", check.errors["inputs"]["arguments"][1]["literal"])
    assert number
    outputs = [json.dumps(out), api_json(course, db_url, stored), web_page(course, db_url, stored)]
    outputs += [report(course, fmt, tmp_path) for fmt in FORMATS]
    outputs += [run(course, "export", "-a", "backprop", "--format", fmt).stdout for fmt in ("csv", "canvas", "gradescope")]
    for shown in outputs:
        assert "To reproduce" not in shown and "np.array" not in shown and number.group(0) not in shown, shown[:2000]
        assert "gradients(params, X, y, reg)" not in shown
    assert next(c for c in out["checks"] if c["id"] == "q2c_dW1_reference")["inputs"] is None


def test_reproduction_reads_only_a_stored_field_of_its_form() -> None:
    good = {"case": "c", "functions": ["f"], "arguments": [{"name": "x", "literal": "1", "note": ""}], "calls": ["r = f(x)"], "shows": "r"}
    check = CheckResult("id", "part", "failed", 0.0, 1.0, "m", errors={"inputs": good})
    assert reproduction(check).endswith("import numpy as np\n\nx = 1\n\nr = f(x)\nr")
    for broken in ({**good, "arguments": [{"name": 1}]}, {**good, "calls": "r = f(x)"}, "text", None):
        assert reproduction(CheckResult("id", "part", "failed", 0.0, 1.0, "m", errors={"inputs": broken})) == ""
    assert reproduction(CheckResult("id", "part", "failed", 0.0, 1.0, "m", errors={"inputs": good}, hidden=True)) == ""
    assert reproduction(CheckResult("id", "part", "passed", 1.0, 1.0, "m", errors={"inputs": good})) == ""
