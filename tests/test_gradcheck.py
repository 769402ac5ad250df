"""Finite-difference gradient checks: cheap, safe at ReLU kinks, and telling loss from gradient."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from helpers import SAMPLES

from grader.checks.gradcheck import H_OWN
from grader.course import Course
from grader.grading import grade
from grader.loading import Submission
from grader.results import CheckResult

# Half of the hidden units get their first sample within 1e-7 of the ReLU kink: a step of
# H_OWN along those units' coordinates crosses it, where finite differences are meaningless.
NEAR_KINK = '''

_make_inputs = make_inputs


def make_inputs(rng, **case):
    inputs = _make_inputs(rng, **case)
    params, X = inputs["params"], inputs["X"]
    half = params["b1"].shape[0] // 2
    params["b1"][:half] = -(X @ params["W1"])[0, :half] + 1e-7
    inputs["z3"] = forward(params, X)[2]
    return inputs
'''


def checks_of(course: Path, source: str, seed: int = 7) -> dict[str, CheckResult]:
    assignment = Course(course).assignment("backprop")
    result = grade(assignment, Submission("student.py", source.encode(), "python"), seed=seed)
    assert result.status == "graded", result.message
    return {c.id: c for c in result.checks}


def gradchecks(checks: dict[str, CheckResult]) -> dict[str, CheckResult]:
    return {k: v for k, v in checks.items() if k.endswith("_gradcheck")}


def test_a_check_costs_a_few_directions_not_every_coordinate(course: Path, correct_source: str) -> None:
    checks = gradchecks(checks_of(course, correct_source))
    # samples = 6 coordinates (all 3 when b2 has only 3) plus 2 random directions, per case:
    # dW2, dW1 and db1 are checked on 'basic' and 'large' (added so that a clipped gradient
    # fails on every draw), db2 on 'basic' only
    assert {k: c.errors["directions"] for k, c in checks.items()} == {
        "q2b_dW2_gradcheck": 8 + 8,  # W2: (7, 3), (8, 5)
        "q2c_dW1_gradcheck": 8 + 8,  # W1: (5, 7), (3, 8)
        "q2c_db1_gradcheck": 8 + 8,  # b1: (7,), (8,)
        "q2c_db2_gradcheck": 5,  # b2: (3,)
    }
    for check in checks.values():
        assert check.status == "passed"
        assert check.errors["rel_error"] < 1e-7
        # the student's loss equals J, so it is not differenced again in the sandbox
        assert check.errors["loss_is_reference"] is True and check.errors["own_loss_rel_error"] is None


def near_kink_reference(course: Path) -> ModuleType:
    """Give the course's reference the near-kink inputs; return that module."""
    reference = course / "reference" / "backprop.py"
    reference.write_text(reference.read_text() + NEAR_KINK)
    spec = importlib.util.spec_from_file_location(f"near_kink_{id(course)}", reference)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_kinks_are_skipped_never_failed(course: Path, correct_source: str) -> None:
    module = near_kink_reference(course)
    inputs = module.make_inputs(np.random.default_rng(0), N=8, D=5, H=7, C=3, reg=0.1)
    assert np.abs(module.kinks(inputs["params"], inputs["X"])).min() < 1e-6  # the case is real

    checks = checks_of(course, correct_source)
    for key in ("q2c_dW1_gradcheck", "q2c_db1_gradcheck"):
        assert checks[key].status == "passed", checks[key].message
        assert checks[key].errors["skipped_at_kinks"] > 0
        assert checks[key].errors["directions"] > 0
    # W2 and b2 do not move z2: nothing to skip there
    assert checks["q2b_dW2_gradcheck"].errors["skipped_at_kinks"] == 0


def test_the_kinks_are_looked_at_only_for_a_parameter_that_moves_them(course: Path, correct_source: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """W2 and b2 come after the last ReLU: two evaluations of kinks per case tell it (at theta
    and at one nudge), instead of two per direction; W1 and b1 are still checked direction by
    direction, and every direction passes."""
    import grader.checks.gradcheck as gradcheck

    calls: dict[str, int] = {}
    real = gradcheck._directions

    def counted(ctx, check, inputs, rng):  # type: ignore[no-untyped-def]
        before = ctx.memo.setdefault("kinks calls", [0])
        reference = ctx.reference

        def reference_counting(function, arguments):  # type: ignore[no-untyped-def]
            before[0] += function == "kinks"
            return reference(function, arguments)

        ctx.reference = reference_counting
        try:
            start = before[0]
            found = real(ctx, check, inputs, rng)
            calls[check.id] = calls.get(check.id, 0) + before[0] - start
            return found
        finally:
            del ctx.reference

    monkeypatch.setattr(gradcheck, "_directions", counted)
    checks = gradchecks(checks_of(course, correct_source))
    assert all(c.status == "passed" for c in checks.values())
    assert calls["q2b_dW2_gradcheck"] == 2 * 2 and calls["q2c_db2_gradcheck"] == 2  # 2 cases, 1 case
    assert calls["q2c_dW1_gradcheck"] >= 2 * (2 + 2 * 8) and calls["q2c_db1_gradcheck"] >= 2 * (2 + 2 * 8)


def test_a_step_across_the_kink_would_have_given_a_false_failure(course: Path) -> None:
    """The reason for skipping: the centered difference across a kink is far from the gradient."""
    module = near_kink_reference(course)
    inputs = module.make_inputs(np.random.default_rng(0), N=8, D=5, H=7, C=3, reg=0.1)
    params, X, y = inputs["params"], inputs["X"], inputs["y"]
    analytic = module.gradients(params, X, y, 0.1)["b1"][0]
    shifted = []
    for step in (H_OWN, -H_OWN):
        moved = {**params, "b1": params["b1"].copy()}
        moved["b1"][0] += step
        shifted.append(module.loss(moved, X, y, 0.1))
    across = (shifted[0] - shifted[1]) / (2 * H_OWN)
    assert abs(across - analytic) > 1e-3 * max(abs(analytic), 1e-6)


def test_gradient_right_for_its_own_wrong_loss_is_told_apart(course: Path, correct_source: str) -> None:
    # lambda forgotten in both the loss and the gradients: the gradient follows the student's loss
    source = correct_source + (
        "\n_loss, _gradients = loss, gradients\n"
        "def loss(params, X, y, reg):\n    return _loss(params, X, y, 0.0)\n"
        "def gradients(params, X, y, reg):\n    return _gradients(params, X, y, 0.0)\n"
    )
    checks = gradchecks(checks_of(course, source))
    for key in ("q2b_dW2_gradcheck", "q2c_dW1_gradcheck"):
        assert checks[key].status == "failed"
        assert "It does agree with finite differences of your own loss()" in checks[key].message
        assert checks[key].errors["own_loss_rel_error"] < 1e-3
    for key in ("q2c_db1_gradcheck", "q2c_db2_gradcheck"):
        # biases are not regularized: along them the student's loss has J's slopes
        assert checks[key].status == "passed"
        assert "also agrees with finite differences of your own loss()" in checks[key].message


def test_float32_gradients_pass_and_their_float32_loss_counts_as_j(course: Path) -> None:
    checks = gradchecks(checks_of(course, (SAMPLES / "correct_float32.py").read_text()))
    for check in checks.values():
        assert check.status == "passed", check.message
        assert "Your loss() computes J here, so this is the gradient of your own loss() as well." in check.message


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_wrong_gradient_with_a_right_loss_is_blamed_on_the_gradient(course: Path, seed: int) -> None:
    checks = checks_of(course, (SAMPLES / "seed_db1_phi.py").read_text(), seed=seed)
    db1 = checks["q2c_db1_gradcheck"]
    assert db1.status == "failed"
    assert db1.errors["rel_error"] > 1e-2
    assert "Your loss() computes J here, so the mistake is in this gradient, not in the loss." in db1.message


def test_the_probe_times_the_reference_loss_once_per_unit_seconds(course: Path, correct_source: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The unit (the reference loss timed on the probe case) depends on the case's shapes, not on
    the draw: a grading process measures it again only after UNIT_SECONDS."""
    import grader.checks.probe as probe

    timed: list[int] = []
    real = probe._unit
    monkeypatch.setattr(probe, "_unit", lambda loss, args: timed.append(1) or real(loss, args))
    monkeypatch.setattr(probe, "_units", {})
    for seed in (1, 2, 3):
        checks = checks_of(course, correct_source, seed)
        assert all(c.status == "passed" for c in checks.values()), [c.message for c in checks.values() if c.status != "passed"]
    assert len(timed) == 1  # three gradings, one measurement
    [(key, (unit, measured))] = probe._units.items()
    probe._units[key] = (unit, measured - probe.UNIT_SECONDS)  # as if measured UNIT_SECONDS ago
    checks_of(course, correct_source, 4)
    assert len(timed) == 2
