"""Tuples, caches kept in the sandbox, backward passes (vjp), updated arguments, per-check
tolerances and combined credit, on a small assignment written here: a scaling layer
``out = x * w`` (elementwise over the rows), a loss returning ``(loss, dw)``, and a running mean.

Expected values are computed by hand from the math in each test, never from the grader.
"""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from grader.course import Course
from grader.grading import grade
from grader.loading import Submission
from grader.results import CheckResult
from grader.sandbox.interface import Cell, Handle, Program
from grader.sandbox.process import Sandbox

REFERENCE = '''
import numpy as np


def scale_forward(x, w):
    """out[i, j] = x[i, j] * w[j]"""
    return x * w, (x.copy(), w.copy())


def scale_backward(dout, cache):
    x, w = cache
    return dout * w, (dout * x).sum(axis=0)


def relu_forward(x):
    return np.maximum(x, 0.0), x


def relu_backward(dout, cache):
    return dout * (cache > 0)


def relu_kinks(x):
    return x


def sq_loss(w, x):
    """L = 0.5 * mean_i ||x_i * w||^2 and dL/dw"""
    out = x * w
    return 0.5 * np.sum(out ** 2) / x.shape[0], (out * x).sum(axis=0) / x.shape[0]


def track(x, state):
    """out = x - mean(x); state["mean"] = 0.9 * state["mean"] + 0.1 * mean(x)"""
    mean = x.mean(axis=0)
    state["mean"] = 0.9 * state["mean"] + 0.1 * mean
    return x - mean


def make_inputs(rng, N, D, near_kink=False):
    x = rng.standard_normal((N, D))
    x = np.where(np.abs(x) < 0.2, 0.2 * np.sign(x) + 0.2 * (x == 0), x)
    if near_kink:
        x[0, 0] = 1e-8
    return {"x": x, "w": rng.standard_normal(D) + 2.0, "state": {"mean": rng.standard_normal(D)}}
'''

MISTAKES = '''
import scaling as ref
import numpy as np


def dw_not_summed():
    """{name} has one row per sample: sum it over the batch."""
    return [{"sum": False}]


def sign_flip():
    """{name} has the wrong sign."""
    return [{"sign": -1.0}]


MISTAKES = [dw_not_summed, sign_flip]


def answer(function, inputs, mistakes):
    knobs = {"sum": True, "sign": 1.0}
    for mistake in mistakes:
        knobs.update(mistake()[0])
    if function == "scale_backward":
        x, w, dout = inputs["x"], inputs["w"], inputs["dout"]
        dw = dout * x
        return [(knobs["sign"] * dout * w, knobs["sign"] * (dw.sum(axis=0) if knobs["sum"] else dw))]
    return []
'''

RUBRIC = '''
[assignment]
name = "scaling"
functions = ["scale_forward", "scale_backward", "relu_forward", "relu_backward", "sq_loss", "track"]
mistakes = "scaling_mistakes"

[functions.scale_forward]
returns = ["out", "cache"]
opaque = ["cache"]

[functions.scale_backward]
returns = ["dx", "dw"]

[functions.relu_forward]
returns = ["out", "cache"]
opaque = ["cache"]

[functions.relu_backward]
returns = ["dx"]

[functions.sq_loss]
returns = ["loss", "dw"]

[functions.track]
returns = ["out"]
updates = ["state"]

[notation]
"scale_forward.out" = "y"
"scale_backward.dx" = "dL/dx"
"scale_backward.dw" = "dL/dw"
"sq_loss.loss" = "L"
"sq_loss.dw" = "dL/dw"
dout = "dL/dy"

[cases.small]
N = 4
D = 3

[cases.one]
N = 1
D = 5

[cases.kink]
N = 3
D = 2
near_kink = true

[[parts]]
id = "scale"
credit = { "dw-not-summed" = 0.5, "sign-flip" = 0.5, "dw-not-summed+sign-flip" = 0.125 }

[[parts.checks]]
id = "scale_forward_out_reference"
kind = "reference"
function = "scale_forward"
output = "out"
cases = ["small", "one"]
points = 2

[[parts.checks]]
id = "scale_backward_dx_vjp"
kind = "vjp"
function = "scale_backward"
forward = "scale_forward"
output = "dx"
wrt = "x"
cases = ["small", "one"]
points = 4

[[parts.checks]]
id = "scale_backward_dw_vjp"
kind = "vjp"
function = "scale_backward"
forward = "scale_forward"
output = "dw"
wrt = "w"
cases = ["small", "one"]
points = 8

[[parts]]
id = "relu"

[[parts.checks]]
id = "relu_backward_dx_vjp"
kind = "vjp"
function = "relu_backward"
forward = "relu_forward"
output = "dx"
wrt = "x"
kinks = "relu_kinks"
cases = ["kink"]
points = 3

[[parts]]
id = "loss"

[[parts.checks]]
id = "loss_sq_loss_dw_gradcheck"
kind = "gradcheck"
function = "sq_loss"
output = "dw"
loss = "sq_loss"
loss_output = "loss"
wrt = "w"
cases = ["small"]
points = 2

[[parts.checks]]
id = "loss_sq_loss_loss_reference"
kind = "reference"
function = "sq_loss"
output = "loss"
cases = ["small"]
points = 1
rtol = 0.2

[[parts]]
id = "track"

[[parts.checks]]
id = "track_running_mean"
kind = "reference"
function = "track"
output = "state"
key = "mean"
cases = ["small"]
points = 2
'''

CORRECT = '''
import numpy as np


class Saved:  # a cache no wire could carry: it stays in the sandbox
    def __init__(self, **arrays):
        self.__dict__.update(arrays)


def scale_forward(x, w):
    return x * w, Saved(x=x, w=w, printer=print)


def scale_backward(dout, cache):
    return dout * cache.w, np.einsum("ij,ij->j", dout, cache.x)


def relu_forward(x):
    return np.maximum(x, 0), {"mask": x > 0}


def relu_backward(dout, cache):
    return dout * cache["mask"]


def sq_loss(w, x):
    out = x * w
    n = x.shape[0]
    return float(0.5 * np.sum(out ** 2) / n), (out * x).sum(axis=0) / n


def track(x, state):
    mean = x.mean(axis=0)
    state["mean"] *= 0.9
    state["mean"] += 0.1 * mean
    return x - mean
'''


@pytest.fixture(scope="module")
def scaling(tmp_path_factory: pytest.TempPathFactory) -> Course:
    root = tmp_path_factory.mktemp("scaling_course")
    (root / "reference").mkdir()
    (root / "rubrics").mkdir()
    (root / "reference" / "scaling.py").write_text(REFERENCE)
    (root / "reference" / "scaling_mistakes.py").write_text(MISTAKES)
    (root / "rubrics" / "scaling.toml").write_text(RUBRIC)
    return Course(root)


def graded(course: Course, source: str, seed: int = 3) -> dict[str, CheckResult]:
    result = grade(course.assignment("scaling"), Submission("student.py", textwrap.dedent(source).encode(), "python"), seed=seed)
    assert result.status == "graded", result.message
    return {c.id: c for c in result.checks}


def variant(**functions: str) -> str:
    """CORRECT with some functions replaced."""
    source = CORRECT
    for name, body in functions.items():
        start = source.index(f"def {name}(")
        end = source.find("\ndef ", start + 1)
        source = source[:start] + textwrap.dedent(body).strip() + "\n\n" + (source[end + 1 :] if end != -1 else "")
    return source


def test_a_correct_layer_scores_every_check_with_its_own_unexportable_cache(scaling: Course) -> None:
    checks = graded(scaling, CORRECT)
    assert {k: c.status for k, c in checks.items()} == dict.fromkeys(checks, "passed")
    assert all(c.diagnoses == () for c in checks.values())  # track updates state on purpose
    vjp = checks["scale_backward_dw_vjp"]
    # every entry of dw (D = 3, then D = 5) is compared with differences of the reference
    assert vjp.errors["entries"] == 3 + 5 and vjp.errors["rel_error"] < 1e-7
    assert "dL/dw agrees with centered differences of sum(dL/dy * y) with respect to w" in vjp.message


def test_the_cache_never_crosses_the_boundary_and_a_handle_reaches_the_students_own() -> None:
    source = "def fwd(x):\n    return 2 * x, object()\n\ndef bwd(dout, cache):\n    return float(type(cache).__name__ == 'object') * dout\n"
    with Sandbox(Program((Cell("s.py", source),)), ["fwd", "bwd"]) as box:
        box.load()
        [forward] = box.run("fwd", ["x"], [[np.ones(2)]], opaque=1, keep=["fwd:a"])
        [backward, lost] = box.run("bwd", ["dout", "cache"], [[np.ones(2), Handle("fwd:a")], [np.ones(2), Handle("fwd:b")]])
    assert forward.value["tuple"][1] == {"kept": True}
    assert forward.value["tuple"][0]["array"].tolist() == [2.0, 2.0]
    assert backward.status == "ok" and backward.value["array"].tolist() == [1.0, 1.0]
    assert lost.status == "error" and lost.error.startswith("its cache was not kept")


def test_a_wrong_backward_fails_its_vjp_and_is_diagnosed(scaling: Course) -> None:
    # dw not summed over the batch: shape (N, D) instead of (D,)
    checks = graded(scaling, variant(scale_backward="def scale_backward(dout, cache):\n    return dout * cache.w, dout * cache.x\n"))
    dw = checks["scale_backward_dw_vjp"]
    assert dw.status == "failed" and [d.code for d in dw.diagnoses] == ["dw-not-summed"]
    assert dw.score == pytest.approx(0.5 * 8)
    assert "has shape (4, 3), but it must have shape (3,)" in dw.message
    assert checks["scale_backward_dx_vjp"].status == "passed"


def test_two_mistakes_earn_the_combination_the_rubric_names(scaling: Course) -> None:
    checks = graded(scaling, variant(scale_backward="def scale_backward(dout, cache):\n    return -dout * cache.w, -dout * cache.x\n"))
    dw = checks["scale_backward_dw_vjp"]
    assert sorted(d.code for d in dw.diagnoses) == ["dw-not-summed", "sign-flip"]
    assert dw.score == pytest.approx(0.125 * 8)  # the table's "dw-not-summed+sign-flip", not 0.5 * 0.5
    dx = checks["scale_backward_dx_vjp"]
    assert [d.code for d in dx.diagnoses] == ["sign-flip"] and dx.score == pytest.approx(0.5 * 4)


def test_a_backward_that_follows_a_wrong_forward_is_told_so(scaling: Course) -> None:
    # forward computes x * w * 3 and backward its true derivative: the backward is wrong against
    # the reference (by a factor 3), right against the student's own forward
    source = variant(
        scale_forward="def scale_forward(x, w):\n    return 3 * x * w, Saved(x=x, w=w)\n",
        scale_backward="def scale_backward(dout, cache):\n    return 3 * dout * cache.w, 3 * (dout * cache.x).sum(axis=0)\n",
    )
    checks = graded(scaling, source)
    dx = checks["scale_backward_dx_vjp"]
    assert dx.status == "failed"
    assert dx.errors["rel_error"] == pytest.approx(2.0, rel=1e-6)  # ||3g - g|| / ||g||
    assert dx.errors["own_forward_rel_error"] < 1e-2
    assert "follows your own scale_forward, so the mistake is in both" in dx.message


def test_a_backward_without_its_forward_says_why(scaling: Course) -> None:
    source = variant(scale_forward="def scale_forward(x, w):\n    raise ValueError('not yet')\n")
    checks = graded(scaling, source)
    dx = checks["scale_backward_dx_vjp"]
    assert dx.status == "error"
    assert dx.message.startswith("scale_backward needs the cache of your scale_forward, but scale_forward raised")


def test_a_tuple_of_the_wrong_length_is_named(scaling: Course) -> None:
    checks = graded(scaling, variant(scale_forward="def scale_forward(x, w):\n    return x * w\n"))
    out = checks["scale_forward_out_reference"]
    assert out.status == "failed"
    assert out.message == "y is missing: the function must return the tuple (out, cache), but it returned an array (on {case})."


def test_relu_entries_at_a_kink_are_left_out(scaling: Course) -> None:
    checks = graded(scaling, CORRECT)
    relu = checks["relu_backward_dx_vjp"]
    # x[0, 0] = 1e-8 is within a step of the kink: 1 of 3 * 2 entries is skipped
    assert relu.status == "passed" and relu.errors["skipped_at_kinks"] == 1 and relu.errors["entries"] == 5
    # a mask taken from dout is wrong wherever dout and x differ in sign
    wrong = graded(scaling, variant(relu_backward="def relu_backward(dout, cache):\n    return dout * (dout > 0)\n"))
    assert wrong["relu_backward_dx_vjp"].status == "failed"


def test_gradcheck_of_an_array_argument_and_a_tuple_output(scaling: Course) -> None:
    checks = graded(scaling, CORRECT)
    assert checks["loss_sq_loss_dw_gradcheck"].status == "passed"
    half = graded(scaling, variant(sq_loss="def sq_loss(w, x):\n    out = x * w\n    n = x.shape[0]\n    return 0.5 * (out ** 2).sum() / n, 0.5 * (out * x).sum(axis=0) / n\n"))
    check = half["loss_sq_loss_dw_gradcheck"]
    assert check.status == "failed" and check.errors["rel_error"] == pytest.approx(0.5, rel=1e-4)


def test_a_check_uses_its_own_tolerance(scaling: Course) -> None:
    # the loss 10 % too large passes the check whose rtol is 0.2, and fails rtol 1e-3 elsewhere
    source = variant(sq_loss="def sq_loss(w, x):\n    out = x * w\n    n = x.shape[0]\n    return 1.1 * 0.5 * (out ** 2).sum() / n, (out * x).sum(axis=0) / n\n")
    checks = graded(scaling, source)
    loss = checks["loss_sq_loss_loss_reference"]
    assert loss.status == "passed" and loss.errors["tolerance"] == 0.2
    assert loss.errors["rel_error"] == pytest.approx(0.1, rel=1e-6)


@pytest.mark.parametrize(
    "body",
    [
        # in place (CORRECT), or a new array under the same key
        "mean = x.mean(axis=0)\n    state['mean'] = 0.9 * state['mean'] + 0.1 * mean\n    return x - mean",
    ],
)
def test_an_argument_meant_to_be_updated_is_read_back_either_way(scaling: Course, body: str) -> None:
    for source in (CORRECT, variant(track=f"def track(x, state):\n    {body}\n")):
        check = graded(scaling, source)["track_running_mean"]
        assert check.status == "passed" and check.diagnoses == ()


def test_an_argument_not_updated_fails_and_a_swapped_momentum_is_measured(scaling: Course) -> None:
    stale = graded(scaling, variant(track="def track(x, state):\n    return x - x.mean(axis=0)\n"))["track_running_mean"]
    assert stale.status == "failed"
    swapped = variant(track="def track(x, state):\n    mean = x.mean(axis=0)\n    state['mean'] = 0.1 * state['mean'] + 0.9 * mean\n    return x - mean\n")
    check = graded(scaling, swapped)["track_running_mean"]
    assert check.status == "failed"
    # recompute the inputs the grader drew (seed 3, case 'small') to check the error by hand
    course = scaling
    from grader.checks.context import Context

    rng = Context.__new__(Context)
    rng.seed = 3
    inputs = course.assignment("scaling").function("make_inputs")(rng.rng("case:small"), N=4, D=3)
    x, m = inputs["x"], inputs["state"]["mean"]
    right, wrong = 0.9 * m + 0.1 * x.mean(axis=0), 0.1 * m + 0.9 * x.mean(axis=0)
    assert check.errors["rel_error"] == pytest.approx(np.linalg.norm(wrong - right) / np.linalg.norm(right), rel=1e-9)
