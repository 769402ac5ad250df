"""The ``gradcheck`` check: a student's gradient against centered finite differences.

Directional derivatives ``<g, v>`` along a few sampled coordinates and random unit directions
``v`` are compared with ``(J(theta + h v) - J(theta - h v)) / 2h`` of

- the reference J (graded: that is the truth), and
- the student's own J (reported: it tells "gradient wrong" from "loss wrong").

A check costs ``2 * (samples + directions)`` loss evaluations, not ``2 * size``. Where the loss
has kinks (ReLU), the reference's ``kinks(...)`` gives values whose signs must not change
between ``theta - h v`` and ``theta + h v``; a direction that crosses one is replaced by another.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import numpy.typing as npt

from grader.checks import reproduce
from grader.checks.compare import BadAnswer, answer_array, read_answer, relative_error, shape_note
from grader.checks.context import Context, pick
from grader.checks.verdicts import failed, passed, unanswered
from grader.results import CheckResult
from grader.rubric import Check

Array = npt.NDArray[np.float64]
#: step for the float64 reference: truncation ~h^2 and rounding ~1e-16/h both stay below 1e-9
H_REFERENCE = 1e-6
#: step for the student's loss, which may be float32: rounding 6e-8 * J / h stays near 1e-4
H_OWN = 1e-3
#: agreement with the student's own loss is judged loosely: it informs, it does not score
OWN_RTOL = 1e-2
#: the student's loss runs in the sandbox, so it is differenced along fewer directions (the
#: random ones and the last coordinates): 2 * OWN_DIRECTIONS calls per check
OWN_DIRECTIONS = 4
#: random directions tried per wanted direction before giving up on finding a kink-free one
_ATTEMPTS = 20


def gradcheck(ctx: Context, check: Check) -> CheckResult:
    name = ctx.rubric.name_of(check.function, *check.path)
    rtol, floor = ctx.rubric.tolerance(check)
    loss, _ = _spec(check)
    loss_name = ctx.rubric.name_of(loss, check.loss_output)
    worst, worst_own, count, skipped = 0.0, 0.0, 0, 0
    worst_case = check.cases[0]
    own_problem, own_text = "", ""
    note: dict[str, Any] = {}
    # Where the student's loss equals J, differencing it would only repeat the reference's
    # differences: skip those sandbox calls, most of a correct submission's.
    loss_is_j = all(_loss_is_reference(ctx, check, case) for case in check.cases)
    for case in check.cases:
        problem = unanswered(ctx, check, check.function, case)
        if problem is not None:
            return problem
        inputs = ctx.shared_inputs(case)
        theta = np.asarray(_theta(inputs, check), dtype=np.float64)
        try:
            grad, given = read_answer(ctx.answer(check.function, case).value, theta.shape, check.path)
        except BadAnswer as exc:
            return failed(check, f"{name} {exc.message} (on {{case}}).", case=case, student_text=exc.student_text)
        if given is not None and not note:
            note = {"shape_note": shape_note(name, given, theta.shape), "given_shape": list(given), "expected_shape": list(theta.shape)}
        directions, crossed = _directions(ctx, check, inputs, ctx.rng(f"{check.id}:{case}"))
        count += len(directions)
        skipped += crossed
        if not directions:
            continue
        slopes = np.array([np.sum(grad * v) for v in directions])
        truth = np.array([_difference(ctx, check, inputs, v) for v in directions])
        error = relative_error(slopes, truth, floor)
        case_rtol = ctx.judged_rtol(check, case, error)
        # the case that comes nearest its tolerance (each case's is widened by its own rounding)
        if error / case_rtol > worst / rtol:
            worst, rtol, worst_case = error, case_rtol, case
        if loss_is_j:
            continue
        differences, why, text = _own_differences(ctx, check, inputs, directions[-OWN_DIRECTIONS:])
        if differences is None:
            if not own_problem:
                own_problem, own_text = why, text
        else:
            worst_own = max(worst_own, relative_error(slopes[-OWN_DIRECTIONS:], differences, floor))
    errors: dict[str, Any] = {
        "rel_error": worst,
        "tolerance": rtol,
        "directions": count,
        "skipped_at_kinks": skipped,
        "own_loss_rel_error": None if own_problem or loss_is_j else worst_own,
        "loss_is_reference": loss_is_j,
        **note,
    }
    if count == 0:
        return passed(check, f"{name} could not be checked by finite differences: every direction crossed a kink of {loss_name}.", errors)
    along = f"along {count} directions"
    own = f"your own {loss}()"
    own_ok = not own_problem and worst_own <= OWN_RTOL
    if loss_is_j:
        tail = (
            f" Your {loss}() computes {loss_name} here, so this is the gradient of your own {loss}() as well."
            if worst <= rtol
            else f" Your {loss}() computes {loss_name} here, so the mistake is in this gradient, not in the loss."
        )
    elif own_problem:
        tail = f" {own[0].upper()}{own[1:]} could not be compared: {own_problem}."
    elif worst <= rtol:
        tail = (
            f" It also agrees with finite differences of {own}."
            if own_ok
            else f" It disagrees with finite differences of {own} (relative error {worst_own:.2g}), so {own} does not compute {loss_name}."
        )
    else:
        tail = (
            f" It does agree with finite differences of {own}: your gradient follows {own}, so the mistake is in both; compare {own} with {loss_name}."
            if own_ok
            else f" It disagrees with finite differences of {own} too (relative error {worst_own:.2g})."
        )
    tail += f" {note['shape_note']}" if note else ""
    if worst <= rtol:
        message = f"{name} agrees with finite differences of {loss_name} {along} (relative error {worst:.1g}).{tail}"
        return replace(passed(check, message, errors), student_text=own_text)
    message = f"{name} disagrees with finite differences of {loss_name} {along}: relative error {worst:.2g} (tolerance {rtol:g}).{tail}"
    return failed(check, message, errors | reproduce.inputs(ctx, check, worst_case), student_text=own_text)


def _spec(check: Check) -> tuple[str, str]:
    """(loss, wrt) of a gradcheck; the rubric's model guarantees both."""
    if check.loss is None or check.wrt is None:
        raise ValueError(f"check {check.id!r} is a gradcheck without loss and wrt")
    return check.loss, check.wrt


def _loss_path(check: Check) -> tuple[str, ...]:
    return (check.loss_output,) if check.loss_output else ()


def _theta(inputs: dict[str, Any], check: Check) -> Any:
    """The parameter: the argument ``wrt``, or its entry ``key`` when the argument is a dict
    (``params["W1"]``)."""
    value = inputs[_spec(check)[1]]
    if isinstance(value, dict):
        if check.key is None:
            raise ValueError(f"check {check.id!r}: argument {check.wrt!r} is a dict; name its entry with key")
        return value[check.key]
    return value


def _loss_is_reference(ctx: Context, check: Check, case: str) -> bool:
    """Whether the student's loss gave J's value (within the tolerance) on ``case``."""
    loss = _spec(check)[0]
    rtol, floor = ctx.rubric.tolerance(check)
    if ctx.state(loss) != "ok" or ctx.answer(loss, case).status != "ok":
        return False
    try:
        got = answer_array(ctx.answer(loss, case).value, (), _loss_path(check))
    except BadAnswer:
        return False
    expected = np.asarray(pick(ctx.expected(loss, case), _loss_path(check)), dtype=np.float64)
    return relative_error(got, expected, floor) <= rtol


def _with(inputs: dict[str, Any], check: Check, theta: Array) -> dict[str, Any]:
    """``inputs`` with the checked parameter replaced (the rest shared, read-only use)."""
    changed = dict(inputs)
    wrt = _spec(check)[1]
    changed[wrt] = {**inputs[wrt], str(check.key): theta} if isinstance(inputs[wrt], dict) else theta
    return changed


def _directions(ctx: Context, check: Check, inputs: dict[str, Any], rng: np.random.Generator) -> tuple[list[Array], int]:
    """Unit directions, coordinates first, none crossing a kink within +-H_OWN; and how many were skipped."""
    theta = np.asarray(_theta(inputs, check), dtype=np.float64)
    kinks = "kinks" if callable(getattr(ctx.assignment.reference, "kinks", None)) else None
    at = np.asarray(ctx.reference(kinks, inputs)) if kinks else np.zeros(0)
    if kinks and theta.size:
        # a parameter the kinks do not depend on (after the last kink: W2, b2) crosses none
        nudge = ctx.rng(f"{check.id}:kinks").standard_normal(theta.shape)
        moved = np.asarray(ctx.reference(kinks, _with(inputs, check, theta + H_OWN * nudge / np.linalg.norm(nudge))))
        kinks = kinks if not np.array_equal(moved, at) else None
    signs = np.sign(at)

    def smooth(v: Array) -> bool:
        if kinks is None:
            return True
        return all(
            np.array_equal(np.sign(ctx.reference(kinks, _with(inputs, check, theta + s * H_OWN * v))), signs)
            for s in (1.0, -1.0)
        )

    chosen: list[Array] = []
    skipped = 0
    for index in rng.permutation(theta.size):
        if len(chosen) == min(check.samples, theta.size):
            break
        v: Array = np.zeros(theta.size)
        v[index] = 1.0
        v = v.reshape(theta.shape)
        if smooth(v):
            chosen.append(v)
        else:
            skipped += 1
    wanted = len(chosen) + check.directions
    for _ in range(check.directions * _ATTEMPTS):
        if len(chosen) == wanted:
            break
        v = rng.standard_normal(theta.shape)
        v /= np.linalg.norm(v)
        if smooth(v):
            chosen.append(v)
        else:
            skipped += 1
    return chosen, skipped


def _difference(ctx: Context, check: Check, inputs: dict[str, Any], v: Array) -> float:
    loss = _spec(check)[0]
    theta = _theta(inputs, check)
    plus = pick(ctx.reference(loss, _with(inputs, check, theta + H_REFERENCE * v)), _loss_path(check))
    minus = pick(ctx.reference(loss, _with(inputs, check, theta - H_REFERENCE * v)), _loss_path(check))
    return (float(plus) - float(minus)) / (2 * H_REFERENCE)


def _own_differences(ctx: Context, check: Check, inputs: dict[str, Any], directions: list[Array]) -> tuple[Array | None, str, str]:
    """Finite differences of the student's own loss, or None, the reason (which may hold the
    slot ``{student}``) and the submission's own text for it."""
    loss = _spec(check)[0]
    if ctx.state(loss) != "ok":
        return None, f"{loss} is not defined", ""
    theta = _theta(inputs, check)
    batch = [_with(inputs, check, theta + s * H_OWN * v) for v in directions for s in (1.0, -1.0)]
    values = []
    for outcome in ctx.call(loss, batch):
        if outcome.status != "ok":
            return None, f"{loss} failed ({{student}})", outcome.error
        try:
            values.append(float(answer_array(outcome.value, (), _loss_path(check))))
        except BadAnswer as exc:
            return None, f"{loss} {exc.message}", exc.student_text
    pairs = np.array(values).reshape(len(directions), 2)
    return (pairs[:, 0] - pairs[:, 1]) / (2 * H_OWN), "", ""
