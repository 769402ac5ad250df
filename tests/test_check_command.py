"""`grade check NAME`: the assignment's self-test, on the shipped course and on copies broken in
the ways it must catch; and the TrustedSandbox its simulated students answer through."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result
from test_authoring import edit

from grader.authoring import TrustedSandbox, check_assignment, simulate
from grader.cli import main
from grader.course import Course
from grader.grading import grade
from grader.loading import Submission
from grader.sandbox.interface import Handle

FEW = ("--seeds", "3", "--mistake-seeds", "2")


def check(course: Path, *args: str) -> Result:
    result = CliRunner().invoke(main, ["--course", str(course), "check", "backprop", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def problems(result: Result) -> list[str]:
    return [line[2:] for line in result.stdout.splitlines() if line.startswith("- ")]


def test_the_shipped_assignment_passes_its_self_test(course: Path) -> None:
    result = check(course)
    assert result.exit_code == 0, result.stdout
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["mistake", *map(str, range(1, 14))]
    # sign-flip has two forms, each a row, missing-reg-loss three (all of the penalty, W1's
    # term, W2's term); a row shows the points its mistake loses per check: 15 rows
    rows = {line.split()[0]: line.split()[1:] for line in lines[1:16]}
    assert set(rows) >= {"sign-flip#1", "sign-flip#2", "bias-not-summed", "unstable-softmax", "transposed", "missing-reg-loss#3", "mean-over-classes"}
    # bias-not-summed: dJ/db1 and dJ/db2 only (checks 10-13), at half credit
    assert rows["bias-not-summed"] == ["."] * 9 + ["5", "2.5", "3", "2"]
    # unstable-softmax: the three stability checks only, each of 5 points, at no credit
    assert rows["unstable-softmax"] == [".", "5", ".", "5", ".", ".", "5", ".", ".", ".", ".", ".", "."]
    assert " 1 q1_loss_reference: rtol 0.001, reference 0, float32 " in result.stdout
    assert lines[-1].startswith("backprop: no problems (")
    assert problems(result) == []
    assert "reference: 200/200" in result.stderr and "reference in float32: 200/200" in result.stderr
    assert "mistakes: 300/300" in result.stderr  # 15 rows, 20 seeds each


@pytest.mark.slow
@pytest.mark.parametrize("name", ["softmax", "layers"])
def test_the_other_shipped_assignments_pass_their_self_test(course: Path, name: str) -> None:
    result = CliRunner().invoke(main, ["--course", str(course), "check", name])
    assert result.exit_code == 0, result.stdout
    assert result.stdout.splitlines()[-1].startswith(f"{name}: no problems (")
    # every mistake of the assignment is a row (a row per form) that loses points somewhere
    table = result.stdout.split("\n\n")[0].splitlines()[1:]
    rows = {line.split()[0].split("#")[0]: line.split()[1:] for line in table}
    mistakes = Course(course).assignment(name).mistakes
    assert mistakes is not None
    assert set(rows) == {m.__name__.replace("_", "-") for m in mistakes.MISTAKES}
    assert all(any(cell != "." for cell in cells) for cells in rows.values()), rows


def test_a_mistake_that_changes_nothing(course: Path) -> None:
    mistakes = course / "reference" / "backprop_mistakes.py"
    edit(mistakes, "MISTAKES: list[Callable[[], list[Form]]] = [\n", textwrap.dedent('''
        def transposed_square() -> list[Form]:
            """{name} is transposed where it is square (never, in these cases)."""
            return [{"transpose": False}]


        MISTAKES: list[Callable[[], list[Form]]] = [
            transposed_square,
    ''').lstrip("\n"))
    result = check(course, *FEW)
    assert result.exit_code == 1, result.stdout
    found = problems(result)
    assert "mistake transposed-square loses no points on 2 of 2 seeds (seed 0)" in found
    assert "mistake transposed-square gives the reference's answers on every checked output (seed 0): it changes nothing the checks see" in found
    [row] = [line.split() for line in result.stdout.splitlines() if line.startswith("transposed-square ")]
    assert row == ["transposed-square"] + ["."] * 13


def test_two_mistakes_the_grader_cannot_tell_apart(course: Path) -> None:
    mistakes = course / "reference" / "backprop_mistakes.py"
    edit(mistakes, "MISTAKES: list[Callable[[], list[Form]]] = [\n", textwrap.dedent('''
        def negated() -> list[Form]:
            """{name} is negated."""
            return [{"sign": -1.0}]


        MISTAKES: list[Callable[[], list[Form]]] = [
    ''').lstrip("\n"))
    edit(mistakes, "    transposed,\n]\n", "    transposed,\n    negated,\n]\n")
    result = check(course, *FEW)
    assert result.exit_code == 1
    found = problems(result)
    assert "mistakes sign-flip#1 and negated give the same answers on every checked output (seed 0): the grader cannot tell them apart" in found
    # the grader names the first that matches: negated's failed checks are diagnosed as sign-flip
    assert any(p.startswith("mistake negated fails q2a_dz3_reference diagnosed as sign-flip, not negated (seed 0: ") for p in found)
    row = next(line for line in result.stdout.splitlines() if line.startswith("negated "))
    assert row.split()[1:4] == [".", ".", "5*"]


def test_a_tolerance_too_tight_for_float32(course: Path) -> None:
    edit(course / "rubrics" / "backprop.toml", "rtol = 1e-3\n", "rtol = 1e-7\n")
    result = check(course, *FEW)
    assert result.exit_code == 1
    found = problems(result)
    # each case's tolerance is widened to what float32 costs the reference there, so float32
    # loses no points; but the rubric's rtol is no tolerance for float32, and that is reported
    assert not any(p.startswith("the reference in float32 loses points") for p in found), found
    assert any(p.startswith("q2a_dz3_reference: the reference in float32 is off by up to ") and "within 10x of the tolerance 1e-07" in p for p in found)
    # float64 is exact on the reference checks: they are not reported for the reference itself
    assert not any(p.startswith("the reference loses points on q1_loss_reference") for p in found)


def test_missing_notation(course: Path) -> None:
    edit(course / "rubrics" / "backprop.toml", '"gradients.b1" = "dJ/db1"\n', "")
    edit(course / "rubrics" / "backprop.toml", 'softmax_grad = "dJ/dz3"\n', "")
    result = check(course, *FEW)
    assert result.exit_code == 1
    assert problems(result) == [
        '[notation] has no name for "softmax_grad" (checked by q2a_dz3_reference): add "softmax_grad" = "..." so that messages can name it',
        '[notation] has no name for "gradients.b1" (checked by q2c_db1_reference): add "gradients.b1" = "..." so that messages can name it',
    ]


def test_a_broken_assignment_is_a_one_line_error(course: Path) -> None:
    edit(course / "rubrics" / "backprop.toml", "[cases.basic]\nN = 8\n", "[cases.basic]\nN = 8\nwidth = 2\n")
    result = check(course, *FEW)
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"Error: {course / 'rubrics' / 'backprop.toml'}: case 'basic': make_inputs(N=8, width=2, D=5, H=7, C=3, reg=0.1) fails: "
        "TypeError: make_inputs() got an unexpected keyword argument 'width'."
    ]


# --- the simulated students -------------------------------------------------------------------


def test_simulated_students_are_graded_like_real_ones(course: Path) -> None:
    loaded = Course(course).assignment("backprop")
    assert simulate(loaded, 5).score == 100
    assert simulate(loaded, 5, float32=True).score == 100
    # as the shipped sample seed_db2_not_summed.py is graded (tests/test_cli.py): half of q2c_db2
    bias = next(m for m in loaded.mistakes.MISTAKES if m.__name__ == "bias_not_summed")  # type: ignore[union-attr]
    result = simulate(loaded, 5, mistakes=[bias])
    lost = {c.id: (c.max_score - c.score, c.codes) for c in result.checks if c.score < c.max_score}
    assert lost == {
        "q2c_db1_reference": (5.0, ("bias-not-summed",)),
        "q2c_db1_gradcheck": (2.5, ("bias-not-summed",)),
        "q2c_db2_reference": (3.0, ("bias-not-summed",)),
        "q2c_db2_gradcheck": (2.0, ("bias-not-summed",)),
    }


def test_the_trusted_sandbox_answers_as_the_child_exports(course: Path) -> None:
    loaded = Course(course).assignment("backprop")
    inputs = loaded.function("make_inputs")(np.random.default_rng(1), N=3, D=2, H=4, C=2, reg=0.1)
    names = loaded.parameters("gradients")
    args = [inputs[n] for n in names]
    with TrustedSandbox(loaded, float32=True) as sandbox:
        assert sandbox.load().functions == {"loss": "ok", "softmax_grad": "ok", "gradients": "ok"}
        [outcome] = sandbox.run("gradients", names, [args])
        [loss] = sandbox.run("loss", loaded.parameters("loss"), [[inputs[n] for n in loaded.parameters("loss")]])
    assert outcome.status == "ok" and outcome.mutated == ()
    assert set(outcome.value["dict"]) == {"W1", "b1", "W2", "b2"}
    assert outcome.value["dict"]["W1"]["array"].dtype == np.float32
    assert np.allclose(outcome.value["dict"]["W1"]["array"], loaded.reference.gradients(*args)["W1"], rtol=1e-5)
    assert loss.value["array"].dtype == np.float32 and loss.value["array"].shape == ()
    sign = next(m for m in loaded.mistakes.MISTAKES if m.__name__ == "sign_flip")  # type: ignore[union-attr]
    with TrustedSandbox(loaded, mistakes=[sign], form=0) as sandbox:
        [flipped] = sandbox.run("gradients", names, [args])
    assert np.allclose(flipped.value["dict"]["b2"]["array"], -loaded.reference.gradients(*args)["b2"], rtol=1e-12, atol=0)


AFFINE = '''
import numpy as np

def affine_forward(x, w):
    return x @ w, (x, w)

def affine_backward(dout, cache):
    x, w = cache
    return dout @ w.T, x.T @ dout

def make_inputs(rng, n):
    return {"x": rng.standard_normal((n, 3)), "w": rng.standard_normal((3, 2))}
'''

AFFINE_MISTAKES = '''
def no_transpose():
    """{name} forgets a transpose."""
    return [{}]

MISTAKES = [no_transpose]

def answer(function, inputs, mistakes):
    if function != "affine_backward":
        return []
    x, w, dout = inputs["x"], inputs["w"], inputs["dout"]
    return [{"dx": dout @ w.T, "dw": 2 * x.T @ dout}]
'''

AFFINE_RUBRIC = '''
[assignment]
name = "affine"
reference = "affine"
functions = ["affine_forward", "affine_backward"]
mistakes = "affine_mistakes"

[functions.affine_forward]
returns = ["out", "cache"]
opaque = ["cache"]

[functions.affine_backward]
returns = ["dx", "dw"]

[cases.basic]
n = 4

[[parts]]
id = "q1"

[[parts.checks]]
id = "q1_forward"
kind = "reference"
function = "affine_forward"
output = "out"
cases = ["basic"]
points = 1
'''


def test_handles_cross_as_the_spec_says(tmp_path: Path) -> None:
    """A forward's opaque element stays inside under its keep name; a backward called with its
    handle gets the reference's real cache, and the mistakes module the forward's inputs."""
    (tmp_path / "reference").mkdir()
    (tmp_path / "rubrics").mkdir()
    (tmp_path / "reference" / "affine.py").write_text(AFFINE)
    (tmp_path / "reference" / "affine_mistakes.py").write_text(AFFINE_MISTAKES)
    (tmp_path / "rubrics" / "affine.toml").write_text(AFFINE_RUBRIC)
    loaded = Course(tmp_path).assignment("affine")
    rng = np.random.default_rng(3)
    x, w, dout = rng.standard_normal((4, 3)), rng.standard_normal((3, 2)), rng.standard_normal((4, 2))
    for mistakes, dw in (([], x.T @ dout), (loaded.mistakes.MISTAKES, 2 * x.T @ dout)):  # type: ignore[union-attr]
        with TrustedSandbox(loaded, mistakes=mistakes) as sandbox:
            [forward] = sandbox.run("affine_forward", ["x", "w"], [[x, w]], opaque=1, keep=["c0"])
            assert forward.value["tuple"][1] == {"kept": True}
            assert np.array_equal(forward.value["tuple"][0]["array"], x @ w)
            [backward, lost] = sandbox.run("affine_backward", ["dout", "cache"], [[dout, Handle("c0")], [dout, Handle("c9")]])
        assert np.allclose(backward.value["tuple"][0]["array"], dout @ w.T)
        assert np.allclose(backward.value["tuple"][1]["array"], dw)
        assert lost.status == "error" and lost.error == "its cache was not kept: c9 was not kept"


def test_findings_without_a_mistakes_module(tmp_path: Path) -> None:
    (tmp_path / "reference").mkdir()
    (tmp_path / "rubrics").mkdir()
    (tmp_path / "reference" / "double.py").write_text(
        "def double(x):\n    return 2 * x\n\n\ndef make_inputs(rng, n):\n    return {'x': rng.standard_normal(n)}\n"
    )
    rubric = (
        '[assignment]\nname = "double"\nfunctions = ["double"]\n\n[cases.basic]\nn = 4\n\n[[parts]]\nid = "q1"\n\n'
        '[[parts.checks]]\nid = "q1_forward"\nkind = "reference"\nfunction = "double"\ncases = ["basic"]\npoints = 1\n'
    )
    (tmp_path / "rubrics" / "double.toml").write_text(rubric)
    loaded = Course(tmp_path).assignment("double")
    found = check_assignment(loaded, seeds=3, mistake_seeds=1)
    assert found.rows == []
    assert found.problems == ['[notation] has no name for "double" (checked by q1_forward): add "double" = "..." so that messages can name it']
    assert found.reference_error == {"q1_forward": 0.0}
    assert 0 < found.float32_error["q1_forward"] < 1e-6


def test_grade_new_writes_an_assignment_that_passes_its_self_test_and_grades(tmp_path: Path) -> None:
    course = tmp_path / "fresh"
    course.mkdir()
    made = CliRunner().invoke(main, ["--course", str(course), "new", "linear"])
    assert made.exit_code == 0, made.output
    assert made.stdout.splitlines() == [f"wrote {course / p}" for p in ("reference/linear.py", "reference/linear_mistakes.py", "rubrics/linear.toml")]
    checked = CliRunner().invoke(main, ["--course", str(course), "check", "linear"])
    assert checked.exit_code == 0, checked.stdout
    # a student's own linear layer, its cache a dict: full marks; without the bias in out: the
    # rubric's credit for missing-bias, 0.5 of the forward's 4 points
    student = (
        "import numpy as np\n\n"
        "def linear_forward(x, w, b):\n    return x @ w + b, {'x': x, 'w': w}\n\n"
        "def linear_backward(dout, cache):\n    return dout @ cache['w'].T, cache['x'].T @ dout, dout.sum(axis=0)\n"
    )
    loaded = Course(course).assignment("linear")
    for source, score in ((student, 10.0), (student.replace("x @ w + b,", "x @ w,"), 8.0)):
        result = grade(loaded, Submission("s.py", source.encode(), "python"), seed=4)
        assert sum(c.score for c in result.checks) == score, [(c.id, c.message) for c in result.checks]


@pytest.mark.parametrize(("name", "message"), [
    ("linear", "already exist: grade new writes only new files; pick another name."),
    ("2nd", "'2nd' cannot name an assignment: use letters, digits and _, starting with a letter (it is also a module's name)."),
    ("../x", "'../x' cannot name an assignment"),
])
def test_grade_new_refuses_a_name_it_cannot_use(tmp_path: Path, name: str, message: str) -> None:
    CliRunner().invoke(main, ["--course", str(tmp_path), "new", "linear"])
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    result = CliRunner().invoke(main, ["--course", str(tmp_path), "new", name])
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1 and message in result.output, result.output
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before  # nothing written


def test_a_mistake_whose_detection_depends_on_the_draw(tmp_path: Path) -> None:
    """Clipping 2x to [-1, 1] is caught only on draws where some |2x| > 1: with x ~ N(0, 0.3)
    and n = 3 that is about one draw in ten, so the mistake's score changes from seed to seed."""
    (tmp_path / "reference").mkdir()
    (tmp_path / "rubrics").mkdir()
    (tmp_path / "reference" / "double.py").write_text(
        "def double(x):\n    return 2 * x\n\n\ndef make_inputs(rng, n):\n    return {'x': 0.3 * rng.standard_normal(n)}\n"
    )
    (tmp_path / "reference" / "double_mistakes.py").write_text(
        "import numpy as np\n\n\ndef clipped():\n    '''{name} is clipped to [-1, 1].'''\n    return [{}]\n\n\nMISTAKES = [clipped]\n\n\n"
        "def answer(function, inputs, mistakes):\n    return [np.clip(2 * inputs['x'], -1, 1)] if mistakes else []\n"
    )
    (tmp_path / "rubrics" / "double.toml").write_text(
        '[assignment]\nname = "double"\nfunctions = ["double"]\nmistakes = "double_mistakes"\n\n[notation]\ndouble = "2x"\n\n'
        '[cases.basic]\nn = 3\n\n[[parts]]\nid = "q1"\n\n[[parts.checks]]\nid = "q1_double"\nkind = "reference"\nfunction = "double"\n'
        'cases = ["basic"]\npoints = 1\n'
    )
    found = check_assignment(Course(tmp_path).assignment("double"), seeds=3, mistake_seeds=40)
    [line] = [p for p in found.problems if "depends on the draw" in p]
    assert line.startswith("mistake clipped scores differently from draw to draw (0 on ") and " of 40 seeds)" in line
