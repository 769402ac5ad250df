"""Diagnoses and partial credit, end to end, on a corpus the grader was not developed against.

``tests/mistakes/`` holds student submissions written from the math, each in its own style and
each with exactly one mistake (everything else right and numerically stable). Each was checked
numerically against ``reference/backprop.py``: it differs only where its mistake says. One has
none, and must not be taken for one: an analytic gradient that spot-checks itself by finite
differences (correct_spot_check_debug.py).

Points and credit come from ``rubrics/backprop.toml``:

    part      checks (points)                         credit (share of a check's points)
    q1_loss   reference 15, stability 5               missing-reg-loss .5, missing-batch-mean .5,
                                                      mean-over-classes .5, softmax-wrong-axis .25,
                                                      mutates-input .9
    q2a_dz3   reference 10, stability 5               missing-batch-mean .5, mean-over-classes .5,
                                                      sign-flip .5, transposed .5,
                                                      softmax-wrong-axis .25, mutates-input .9
    q2b_dW2   reference 10, gradcheck 5, stability 5  reg-grad-factor .5, missing-reg-grad .5,
                                                      missing-batch-mean .5, mean-over-classes .5,
                                                      sign-flip .5, transposed .5,
                                                      mutates-input .9, numerical-gradient 0
    q2c_dW1   reference 12, gradcheck 8               as q2b, plus wrong-activation-derivative .25
    q2c_db1   reference 10, gradcheck 5               wrong-activation-derivative .25, bias-not-summed .5,
                                                      missing-batch-mean .5, mean-over-classes .5, sign-flip .5,
                                                      mutates-input .9, numerical-gradient 0
    q2c_db2   reference 6, gradcheck 4                bias-not-summed .5, missing-batch-mean .5,
                                                      mean-over-classes .5, sign-flip .5, mutates-input .9,
                                                      numerical-gradient 0

A failed check whose diagnoses all have credit earns the smallest share times its points; a
diagnosis missing from the part's table earns 0. Conduct diagnoses (mutates-input,
numerical-gradient) also cut a check that passed on values, which then ends "deducted".
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from helpers import FULL, SAMPLES, part_of, part_scores, submitted

CORPUS = Path(__file__).resolve().parent / "mistakes"
#: the corpus is graded on these seeds: the cases, and so the numbers matched, differ on each
#: the first seed runs in the quick loop (-m "not slow"), the others in the full run
SEEDS = (1, pytest.param(2, marks=pytest.mark.slow))

AXIS = "softmax-wrong-axis"
UNSTABLE = "unstable-softmax"
MEAN = "missing-batch-mean"
MEAN_C = "mean-over-classes"
REG_LOSS = "missing-reg-loss"
REG_GRAD = "missing-reg-grad"
FACTOR = "reg-grad-factor"
PHI = "wrong-activation-derivative"
BIAS = "bias-not-summed"
SIGN = "sign-flip"
TRANSPOSED = "transposed"
MUTATES = "mutates-input"
NUMERICAL = "numerical-gradient"

# file -> {part: (expected part score, codes on each of that part's failing checks)};
# every part not listed keeps full points with no diagnosis.
EXPECTED: dict[str, dict[str, tuple[float, tuple[str, ...]]]] = {
    # a2 used as the ReLU mask: dz2 = (dz3 W2^T) * phi(z2), in dW1 and db1.
    # dW1: (12 + 8) * .25 = 5;  db1: (10 + 5) * .25 = 3.75
    "activation_a2_as_mask_class.py": {"q2c_dW1": (5.0, (PHI,)), "q2c_db1": (3.75, (PHI,))},
    # dJ/db1 = dz2, shape (N, H).  db1: (10 + 5) * .5 = 7.5
    "bias_per_sample_db1_einsum.py": {"q2c_db1": (7.5, (BIAS,))},
    # dW1 without 2 lambda W1 (dW2 has it).  dW1: (12 + 8) * .5 = 10
    "reg_grad_missing_dW1_outer_loops.py": {"q2c_dW1": (10.0, (REG_GRAD,))},
    # notebook; neither dW1 nor dW2 has 2 lambda W.  dW2: (10 + 5 + 5) * .5 = 10;  dW1: (12 + 8) * .5 = 10
    "reg_grad_missing_both.ipynb": {"q2b_dW2": (10.0, (REG_GRAD,)), "q2c_dW1": (10.0, (REG_GRAD,))},
    # column-vector convention, dW1 left as (H, D).  dW1: (12 + 8) * .5 = 10
    "transposed_dW1_column_vectors.py": {"q2c_dW1": (10.0, (TRANSPOSED,))},
    # one softmax helper normalized over axis 0, used by all three functions.
    # J: (15 + 5) * .25 = 5;  dz3: (10 + 5) * .25 = 3.75;  no credit for it in q2b, q2c: 0 each
    "softmax_axis0_shared_helper.py": {
        "q1_loss": (5.0, (AXIS,)),
        "q2a_dz3": (3.75, (AXIS,)),
        "q2b_dW2": (0.0, (AXIS,)),
        "q2c_dW1": (0.0, (AXIS,)),
        "q2c_db1": (0.0, (AXIS,)),
        "q2c_db2": (0.0, (AXIS,)),
    },
    # softmax_grad without 1/N; gradients computes its own dz3 with it.  dz3: (10 + 5) * .5 = 7.5
    "batch_mean_missing_softmax_grad_only.py": {"q2a_dz3": (7.5, (MEAN,))},
    # softmax_grad without 1/N, called by gradients: every gradient is N times its data term.
    # dz3: 15 * .5 = 7.5;  dW2: 20 * .5 = 10;  dW1: 20 * .5 = 10;  db1: 15 * .5 = 7.5;  db2: 10 * .5 = 5
    "batch_mean_missing_everywhere.py": {
        "q2a_dz3": (7.5, (MEAN,)),
        "q2b_dW2": (10.0, (MEAN,)),
        "q2c_dW1": (10.0, (MEAN,)),
        "q2c_db1": (7.5, (MEAN,)),
        "q2c_db2": (5.0, (MEAN,)),
    },
    # J sums the cross-entropy over the batch.  J: (15 + 5) * .5 = 10
    "batch_mean_missing_loss_sum.py": {"q1_loss": (10.0, (MEAN,))},
    # J without lambda (||W1||^2 + ||W2||^2).  J: (15 + 5) * .5 = 10
    "reg_loss_missing_pipeline.py": {"q1_loss": (10.0, (REG_LOSS,))},
    # J without lambda ||W2||^2 (W1's term is there): the same code and credit as the whole
    # penalty left out, never less.  J: (15 + 5) * .5 = 10
    "reg_loss_missing_W2_term.py": {"q1_loss": (10.0, (REG_LOSS,))},
    # J averages the cross-entropy over the N*C entries, -mean(onehot * log psi).  J: (15 + 5) * .5 = 10
    "mean_over_classes_loss.py": {"q1_loss": (10.0, (MEAN_C,))},
    # dW2 += lambda W2 (dW1 has 2 lambda W1).  dW2: (10 + 5 + 5) * .5 = 10
    "reg_grad_factor_dW2_layers.py": {"q2b_dW2": (10.0, (FACTOR,))},
    # delta = target - output carried with its minus sign everywhere but db2.  db2: (6 + 4) * .5 = 5
    "sign_flip_db2_error_term.py": {"q2c_db2": (5.0, (SIGN,))},
    # softmax_grad returns (Delta - psi)/N; gradients has its own, right dz3.  dz3: (10 + 5) * .5 = 7.5
    "sign_flip_softmax_grad_loglik.py": {"q2a_dz3": (7.5, (SIGN,))},
    # J from exp(z3) without the max: only the stability check fails, and q1 gives it no credit.
    # J: 15 + 5 * 0 = 15
    "unstable_softmax_loss_only.py": {"q1_loss": (15.0, (UNSTABLE,))},
    # J as log(sum(exp(z3))) - z3[y] without the max: inf rather than NaN, the same diagnosis.
    # J: 15 + 5 * 0 = 15
    "unstable_logsumexp_loss.py": {"q1_loss": (15.0, (UNSTABLE,))},
    # psi without the max, in softmax_grad and (through it) gradients: the stability checks fail,
    # with no credit.  dz3: 10 + 5 * 0 = 10;  dW2: 10 + 5 + 5 * 0 = 15 (only q2b has a stability check)
    "unstable_softmax_grad_shared.py": {"q2a_dz3": (10.0, (UNSTABLE,)), "q2b_dW2": (15.0, (UNSTABLE,))},
    # z3 -= z3.max(...) on softmax_grad's input: right values, mutated input.  dz3: (10 + 5) * .9 = 13.5
    "mutates_z3_max_subtraction.py": {"q2a_dz3": (13.5, (MUTATES,))},
    # grads["W1"] = params["W1"]; grads["W1"] *= 2 reg: right values, params["W1"] overwritten.
    # dW2: 20 * .9 = 18;  dW1: 20 * .9 = 18;  db1: 15 * .9 = 13.5;  db2: 10 * .9 = 9
    "mutates_W1_accumulate_in_place.py": {
        "q2b_dW2": (18.0, (MUTATES,)),
        "q2c_dW1": (18.0, (MUTATES,)),
        "q2c_db1": (13.5, (MUTATES,)),
        "q2c_db2": (9.0, (MUTATES,)),
    },
    # centered differences of the student's own loss() for every entry: right values, credit 0.
    "numerical_gradient_central_differences.py": {
        "q2b_dW2": (0.0, (NUMERICAL,)),
        "q2c_dW1": (0.0, (NUMERICAL,)),
        "q2c_db1": (0.0, (NUMERICAL,)),
        "q2c_db2": (0.0, (NUMERICAL,)),
    },
    # --- single mistakes in a less common form: a row-max shift, a sign error in dz3 only, a helper differenced ---
    # psi = exp(z3 - rowmax) / (sum over the samples) in J only.  J: (15 + 5) * .25 = 5
    "softmax_axis0_rowmax_shift_loss.py": {"q1_loss": (5.0, (AXIS,))},
    # softmax_grad returns (Delta - psi)/N and gradients reuses it: every data term is negated
    # (the 2 lambda W terms are not).  dz3: 15 * .5 = 7.5;  dW2: 20 * .5 = 10;  dW1: 20 * .5 = 10;
    # db1: 15 * .5 = 7.5;  db2: 10 * .5 = 5
    "sign_flip_softmax_grad_reused.py": {
        "q2a_dz3": (7.5, (SIGN,)),
        "q2b_dW2": (10.0, (SIGN,)),
        "q2c_dW1": (10.0, (SIGN,)),
        "q2c_db1": (7.5, (SIGN,)),
        "q2c_db2": (5.0, (SIGN,)),
    },
    # centered differences of a private _objective that loss() wraps: right values, credit 0.
    "numerical_gradient_private_objective.py": {
        "q2b_dW2": (0.0, (NUMERICAL,)),
        "q2c_dW1": (0.0, (NUMERICAL,)),
        "q2c_db1": (0.0, (NUMERICAL,)),
        "q2c_db2": (0.0, (NUMERICAL,)),
    },
    # --- no mistake ---
    # analytic gradients that also difference loss() at 5 entries of dW1 (a debug check left
    # in): 10 calls of the loss, not ~2 per parameter. Full points, no diagnosis.
    "correct_spot_check_debug.py": {},
}

#: real single mistakes (checked numerically against the reference) that the grader misses today

CATALOG = {AXIS, UNSTABLE, MEAN, MEAN_C, REG_LOSS, REG_GRAD, FACTOR, PHI, BIAS, SIGN, TRANSPOSED, MUTATES, NUMERICAL}


def test_the_corpus_covers_the_catalog_and_has_expectations() -> None:
    assert sorted(p.name for p in CORPUS.iterdir() if p.suffix in (".py", ".ipynb")) == sorted(EXPECTED)
    named = {code for parts in EXPECTED.values() for _, codes in parts.values() for code in codes}
    assert named == CATALOG


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(
    "name", sorted(EXPECTED)
)
def test_one_mistake_is_named_where_it_shows_with_the_rubrics_credit(course: Path, db_url: str, name: str, seed: int) -> None:
    out = submitted(course, CORPUS / name, "s", "--seed", str(seed))
    assert out["status"] == "graded", out["message"]
    expected = EXPECTED[name]
    for check in out["checks"]:
        part = part_of(check["id"])
        if part not in expected:
            assert check["status"] == "passed" and check["diagnoses"] == [], check
        elif check["status"] == "passed":
            assert check["diagnoses"] == [], check
        else:
            assert check["diagnoses"] == list(expected[part][1]), check
            # a conduct diagnosis alone means the values were right: deducted, not failed
            conduct = set(expected[part][1]) <= {MUTATES, NUMERICAL}
            assert check["status"] == ("deducted" if conduct else "failed"), check
    want = {**FULL, **{part: score for part, (score, _) in expected.items()}}
    assert part_scores(out["checks"]) == pytest.approx(want, abs=1e-9)
    assert out["score"] == pytest.approx(sum(want.values()), abs=1e-9)


@pytest.mark.parametrize("seed", [1, *(pytest.param(n, marks=pytest.mark.slow) for n in (2, 3, 4, 5))])
@pytest.mark.parametrize("name", sorted(p.name for p in SAMPLES.glob("correct_*")))
def test_a_correct_sample_is_never_diagnosed(course: Path, db_url: str, name: str, seed: int) -> None:
    out = submitted(course, name, "s", "--seed", str(seed))
    assert out["score"] == 100
    assert [(c["id"], c["diagnoses"]) for c in out["checks"] if c["diagnoses"] or c["status"] != "passed"] == []


# ---------------------------------------------------------------- numerical gradients: the cost probe

HOSTILE = Path(__file__).resolve().parent / "hostile"
GRADIENT_PARTS = ("q2b_dW2", "q2c_dW1", "q2c_db1", "q2c_db2")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "said"),
    [
        # differenced out of sight of the child's counters: timed, stopped at the budget
        ("numgrad_inline_copy.py", "gradients was stopped after"),
        # differenced on the graded cases, zeros at once on large inputs: wrong where it is timed
        ("numgrad_size_switch.py", "gradients is right on the graded cases but not on case 'probe'"),
    ],
)
def test_a_numerical_gradient_is_named_from_what_the_grader_measured(course: Path, db_url: str, name: str, said: str) -> None:
    out = submitted(course, HOSTILE / name, "s", "--seed", "3")
    for check in out["checks"]:
        if part_of(check["id"]) in GRADIENT_PARTS:
            # right on the graded cases, no points for how: "deducted" (it read "failed" before)
            assert (check["status"], check["score"], check["diagnoses"]) == ("deducted", 0, [NUMERICAL]), check
            assert said in check["message"] and "case 'probe' (N=8, D=1024, H=24, C=4" in check["message"], check["message"]
        else:
            assert check["status"] == "passed" and check["diagnoses"] == [], check


# ---------------------------------------------------------------- the mechanism, on a new assignment

SCALE_REFERENCE = '''
import numpy as np


def scale(x):
    """s(x) = 2 x.  x: (n,) -> (n,)"""
    return 2.0 * x


def make_inputs(rng, n):
    return {"x": rng.standard_normal(n)}
'''

SCALE_MISTAKES = '''
import itertools

import numpy as np
import scale as ref  # the variants import the reference by its own name


def forgot_factor():
    """{name} is x: the factor 2 is missing."""
    return [{"factor": 1.0}]


def sign_flip():
    """{name} has the wrong sign."""
    return [{"sign": -1.0}]


def squared():
    """{name} squares x."""
    return [{"power": 2}, {"power": 2, "factor": 1.0}]  # 2 x^2, or x^2


MISTAKES = [forgot_factor, sign_flip, squared]


def answer(function, inputs, mistakes):
    if function != "scale":
        raise KeyError(function)
    answers = []
    for forms in itertools.product(*(mistake() for mistake in mistakes)):
        k = {"factor": 2.0, "sign": 1.0, "power": 1}
        for form in forms:
            k.update(form)
        x = inputs["x"]
        assert np.array_equal(ref.scale(x), 2.0 * x)
        answers.append(k["sign"] * k["factor"] * x ** k["power"])
    return answers
'''

SCALE_RUBRIC = '''
[assignment]
name = "scale"
reference = "scale"
functions = ["scale"]
mistakes = "scale_mistakes"

[notation]
scale = "s(x)"

[cases.few]
n = 3

[cases.many]
n = 40

[[parts]]
id = "q1"
credit = { "forgot-factor" = 0.5, "sign-flip" = 0.25 }

[[parts.checks]]
id = "q1_scale"
kind = "reference"
function = "scale"
cases = ["few", "many"]
points = 8
'''


@pytest.fixture
def scale_course(tmp_path: Path) -> Path:
    """A course with one tiny assignment, its own reference, mistake variants and rubric."""
    root = tmp_path / "scale_course"
    (root / "reference").mkdir(parents=True)
    (root / "rubrics").mkdir()
    (root / "reference" / "scale.py").write_text(SCALE_REFERENCE)
    (root / "reference" / "scale_mistakes.py").write_text(SCALE_MISTAKES)
    (root / "rubrics" / "scale.toml").write_text(SCALE_RUBRIC)
    return root


@pytest.mark.parametrize(
    ("body", "codes", "score", "explained"),
    [
        # right: 8 points, no diagnosis
        ("return 2 * x", [], 8.0, None),
        # one variant: credit 0.5 -> 0.5 * 8 = 4
        ("return x", ["forgot-factor"], 4.0, "s(x) is x: the factor 2 is missing. Partial credit: 4 of 8."),
        # credit 0.25 -> 0.25 * 8 = 2
        ("return -2.0 * x", ["sign-flip"], 2.0, "s(x) has the wrong sign. Partial credit: 2 of 8."),
        # two mistakes compose; both are named, and each costs its share: .5 * .25 * 8 = 1
        ("return -x", ["forgot-factor", "sign-flip"], 1.0, "s(x) is x: the factor 2 is missing. s(x) has the wrong sign."),
        # a named mistake the credit table does not list earns nothing; either of its forms is named
        ("return 2 * x ** 2", ["squared"], 0.0, "s(x) squares x."),
        ("return x ** 2", ["squared"], 0.0, "s(x) squares x."),
        # wrong, but like no variant: no diagnosis, no credit
        ("return 3 * x", [], 0.0, None),
        ("return 2 * x + 1", [], 0.0, None),
    ],
)
def test_a_new_assignment_brings_its_own_variants_and_credit(
    scale_course: Path, db_url: str, tmp_path: Path, body: str, codes: list[str], score: float, explained: str | None
) -> None:
    path = tmp_path / "answer.py"
    path.write_text(f"def scale(x):\n    {body}\n")
    out = submitted(scale_course, path, "s", "--seed", "7", assignment="scale")
    (check,) = out["checks"]
    assert check["diagnoses"] == codes
    assert check["score"] == pytest.approx(score, abs=1e-12)
    assert check["status"] == ("passed" if score == 8 else "failed")
    if explained is not None:
        assert explained in check["message"]


def test_a_diagnosis_needs_every_case_to_match(scale_course: Path, db_url: str, tmp_path: Path) -> None:
    """Forgetting the factor only on long inputs matches the variant on one case, not both: no
    diagnosis; nor does one form on one case and another form on the other."""
    path = tmp_path / "answer.py"
    path.write_text(textwrap.dedent("""
        def scale(x):
            return x if len(x) > 10 else 2 * x
    """))
    out = submitted(scale_course, path, "s", "--seed", "7", assignment="scale")
    (check,) = out["checks"]
    assert check["status"] == "failed" and check["diagnoses"] == [] and check["score"] == 0


def test_one_form_must_explain_every_case(scale_course: Path, db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "answer.py"
    path.write_text("def scale(x):\n    return x ** 2 if len(x) > 10 else 2 * x ** 2\n")
    out = submitted(scale_course, path, "s", "--seed", "7", assignment="scale")
    (check,) = out["checks"]
    assert check["diagnoses"] == [] and check["score"] == 0
