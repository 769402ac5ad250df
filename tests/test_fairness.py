"""Fair, stable, explainable scores (issue 14): one shape rule, diagnoses on evidence only, a
right answer with a conduct deduction labelled for what it is, partial credit that never
rewards the bigger mistake, and cases that force the edges a mistake hides behind.

Points come from ``rubrics/backprop.toml`` (see ``tests/test_diagnosis.py``'s table):
q1 15 + 5, q2a 10 + 5, q2b 10 + 5 + 5, q2c_dW1 12 + 8, q2c_db1 10 + 5, q2c_db2 6 + 4.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from helpers import FULL, SAMPLES, part_of, part_scores, run, submitted

from grader import environment
from grader.authoring import TrustedSandbox
from grader.checks.context import Context
from grader.checks.diagnosis import diagnose
from grader.checks.verdicts import failed
from grader.course import Course
from grader.grading import run_checks
from grader.loading import Submission, read_submission, to_program
from grader.sandbox.process import Sandbox

FAIRNESS = Path(__file__).resolve().parent / "fairness"
MISTAKES = Path(__file__).resolve().parent / "mistakes"
NOTE = "since they differ only by axes of length 1"

# ---------------------------------------------------------------- 1. one shape rule

KEEPDIMS = (SAMPLES / "correct_vectorized.py").read_text() + '''

_loss, _gradients = loss, gradients


def loss(params, X, y, reg):
    return np.array([[_loss(params, X, y, reg)]])  # (1, 1)


def gradients(params, X, y, reg):
    grads = dict(_gradients(params, X, y, reg))
    grads["b1"] = grads["b1"].reshape(1, -1)  # (1, H), as sum(axis=0, keepdims=True) gives
    grads["b2"] = grads["b2"].reshape(-1, 1)  # (C, 1)
    return grads
'''


def test_answers_differing_only_by_axes_of_length_one_are_accepted_with_a_note(course: Path, db_url: str, tmp_path: Path) -> None:
    """A (1, 1) loss and (1, H) bias gradients hold the right values: full marks everywhere (the
    biases got 0 before), each such check saying which shape it got; case 'basic' comes first
    (H = 7, C = 3)."""
    path = tmp_path / "keepdims.py"
    path.write_text(KEEPDIMS)
    out = submitted(course, path, "s", "--seed", "4")
    assert out["score"] == 100, [(c["id"], c["message"]) for c in out["checks"] if c["status"] != "passed"]
    messages = {c["id"]: c["message"] for c in out["checks"]}
    assert f"J has shape (1, 1) where () is expected; accepted, {NOTE}." in messages["q1_loss_reference"]
    for check in ("q2c_db1_reference", "q2c_db1_gradcheck"):
        assert f"dJ/db1 has shape (1, 7) where (7,) is expected; accepted, {NOTE}." in messages[check]
    assert f"dJ/db2 has shape (3, 1) where (3,) is expected; accepted, {NOTE}." in messages["q2c_db2_reference"]
    assert all(NOTE not in messages[c] for c in ("q2a_dz3_reference", "q2b_dW2_reference", "q2c_dW1_reference"))
    # any other difference of shape still fails: the same H values twice is not a (H,) gradient
    path.write_text(KEEPDIMS + '''

_kept = gradients


def gradients(params, X, y, reg):
    grads = dict(_kept(params, X, y, reg))
    grads["b1"] = np.concatenate([grads["b1"], grads["b1"]])
    return grads
''')
    out = submitted(course, path, "s", "--seed", "4")
    db1 = {c["id"]: c for c in out["checks"] if c["id"].startswith("q2c_db1")}
    assert [c["score"] for c in db1.values()] == [0, 0]
    assert "has shape (2, 7), but it must have shape (7,)" in db1["q2c_db1_reference"]["message"]


def test_the_shape_note_is_a_figure_of_its_own(course: Path) -> None:
    assignment = Course(course).assignment("backprop")
    program = replace(to_program(_submission_text(course, KEEPDIMS)), imports=environment.imports(assignment.rubric.packages))
    with Sandbox(program, list(assignment.rubric.functions), assignment.rubric.limits) as box:
        result = run_checks(assignment, box, 4)
    checks = {c.id: c for c in result.checks}
    assert checks["q2c_db1_reference"].errors["given_shape"] == [1, 7]
    assert checks["q2c_db1_reference"].errors["expected_shape"] == [7]
    assert checks["q2c_db1_reference"].errors["shape_note"].startswith("dJ/db1 has shape (1, 7) where (7,)")
    assert "shape_note" not in checks["q2c_dW1_reference"].errors


def _submission_text(course: Path, text: str) -> Submission:
    path = course / "student.py"
    path.write_text(text)
    return read_submission(path)


# ---------------------------------------------------------------- 2. diagnosis on evidence only


def test_a_variant_equal_to_the_reference_on_every_case_is_no_evidence(course: Path) -> None:
    """The issue's case: an answer that failed a gradcheck by a hair (here, the reference's own
    answer, with a failed result) was diagnosed unstable-softmax, whose variant equals the
    reference on the unshifted cases the gradcheck uses. No form that equals the reference on
    every answered case may name a mistake."""
    assignment = Course(course).assignment("backprop")
    check = next(c for c in assignment.rubric.checks if c.id == "q2b_dW2_gradcheck")
    with TrustedSandbox(assignment) as box:
        ctx = Context(assignment, box, box.load(), 5)
        result = diagnose(ctx, check, failed(check, "dJ/dW2 disagrees with finite differences (by a hair)."))
    assert (result.codes, result.score) == ((), 0.0)


# ---------------------------------------------------------------- 3. deducted, not failed


def test_a_right_answer_with_a_conduct_deduction_is_deducted_everywhere(course: Path, db_url: str, tmp_path: Path) -> None:
    """mutates_W1_accumulate_in_place.py: right values, params["W1"] overwritten: every gradient
    check earns 0.9 of its points (test_diagnosis), and is 'deducted', not 'failed'."""
    out = submitted(course, MISTAKES / "mutates_W1_accumulate_in_place.py", "s", "--seed", "1")
    gradient_parts = ("q2b_dW2", "q2c_dW1", "q2c_db1", "q2c_db2")
    for check in out["checks"]:
        if part_of(check["id"]) in gradient_parts:
            assert (check["status"], check["score"]) == ("deducted", pytest.approx(0.9 * check["max_score"])), check
            assert f"Deducted (right answer, points deducted for how it was computed): {0.9 * check['max_score']:g} of" in check["message"]
        else:
            assert check["status"] == "passed", check
    # stored and read back: the reports, the export and the summary read the gradebook
    text = run(course, "report", "-a", "backprop", "-s", "s").output
    assert "  DED  q2c_dW1_reference" in text and "FAIL" not in text
    md = run(course, "report", "-a", "backprop", "-s", "s", "-f", "md").output
    assert "- **DEDUCTED** `q2c_dW1_reference`: 10.8 / 12" in md
    html = run(course, "report", "-a", "backprop", "-s", "s", "-f", "html").output
    assert '<div class="check deducted">' in html and '<span class="badge">deducted</span>' in html
    exported = json.loads(run(course, "export", "-a", "backprop", "--format", "gradescope", "-s", "s").output)
    test = next(t for t in exported["tests"] if t["name"] == "q2c_dW1_reference")
    assert "Deducted (right answer, points deducted for how it was computed): 10.8 of 12." in test["output"]
    summary = run(course, "summary", "-a", "backprop").output
    # 13 checks: 4 of q1 and q2a passed, the 9 gradient checks deducted
    assert "Checks: 9 deducted (right answer, points deducted for how it was computed), 4 passed." in summary
    # a wrong answer that also mutates its input is failed, with no credit
    path = tmp_path / "wrong_and_mutating.py"
    path.write_text((SAMPLES / "correct_vectorized.py").read_text() + '''

_softmax_grad = softmax_grad


def softmax_grad(z3, y):
    g = 2.0 * _softmax_grad(z3, y)
    z3 *= 0.0
    return g
''')
    out = submitted(course, path, "s", "--seed", "1")
    dz3 = next(c for c in out["checks"] if c["id"] == "q2a_dz3_reference")
    assert (dz3["status"], dz3["score"], dz3["diagnoses"]) == ("failed", 0, ["mutates-input"])


# ---------------------------------------------------------------- 4. partial credit, the smaller mistake


@pytest.mark.parametrize(
    ("bigger", "smaller"),
    [
        # J without the whole penalty / without lambda ||W2||^2 only (which earned 0 before)
        (("reg_loss_missing_pipeline.py", "missing-reg-loss"), ("reg_loss_missing_W2_term.py", "missing-reg-loss")),
        # J summed over the batch / averaged over the N*C entries (which earned 0 before)
        (("batch_mean_missing_loss_sum.py", "missing-batch-mean"), ("mean_over_classes_loss.py", "mean-over-classes")),
    ],
)
def test_the_smaller_mistake_earns_no_less(course: Path, db_url: str, bigger: tuple[str, str], smaller: tuple[str, str]) -> None:
    """Each is diagnosed and earns half of q1: (15 + 5) * .5 = 10, the rest full marks."""
    for name, code in (bigger, smaller):
        out = submitted(course, MISTAKES / name, "s", "--seed", "3")
        assert part_scores(out["checks"]) == pytest.approx({**FULL, "q1_loss": 10.0}), name
        assert {tuple(c["diagnoses"]) for c in out["checks"] if c["id"].startswith("q1")} == {(code,)}, name


def test_a_failed_reference_check_says_where_it_was_right(course: Path, db_url: str) -> None:
    """Without lambda ||W2||^2, J is right exactly on the case with lambda = 0."""
    out = submitted(course, MISTAKES / "reg_loss_missing_W2_term.py", "s", "--seed", "3")
    message = next(c["message"] for c in out["checks"] if c["id"] == "q1_loss_reference")
    assert message.startswith("J is wrong on case 'basic' (N=8, D=5, H=7, C=3, lambda=0.1): relative error")
    assert (
        "It is right on case 'no_reg' (N=6, D=4, H=9, C=5, lambda=0), and wrong on 'basic', 'single', 'binary', 'skip_top' and 'large'"
        in message
    )


# ---------------------------------------------------------------- 5. the same grade on every draw

#: file -> its score on every draw, derived by hand:
#: - one-hot of y.max() + 1 columns: it raises on case skip_top, in every reference check of
#:   loss, softmax_grad and gradients (15 + 10 + 10 + 12 + 10 + 6 = 63 lost), and is right on
#:   every other case, whose labels include the top class: 100 - 63 = 37
#: - gradients clipped to [-1, 1]: dJ/dW1, dJ/db1 and dJ/dW2 have entries of magnitude 2 and
#:   more on cases large and stable_wide, so every check of them fails (q2b 20, q2c_dW1 20,
#:   q2c_db1 15); |dJ/db2| = |mean_i (psi - Delta)| <= 1 is never clipped: 100 - 55 = 45
STABLE = {"onehot_from_max_label.py": 37.0, "clipped_gradients.py": 45.0}
SEEDS = range(30)


@pytest.mark.parametrize("name", sorted(STABLE))
def test_a_mistake_that_hides_behind_the_draw_gets_one_score_on_every_draw(course: Path, name: str) -> None:
    assignment = Course(course).assignment("backprop")
    program = replace(to_program(read_submission(FAIRNESS / name)), imports=environment.imports(assignment.rubric.packages))
    scores = {}
    with Sandbox(program, list(assignment.rubric.functions), assignment.rubric.limits) as box:
        for seed in SEEDS:
            scores[seed] = run_checks(assignment, box, seed).score
    assert set(scores.values()) == {STABLE[name]}, scores
