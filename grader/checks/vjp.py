"""The ``vjp`` check: a backward pass against centered differences of its forward pass.

A layer's backward ``backward(dout, cache)`` returns the vector-Jacobian products of its forward
``forward(...) -> (out, cache)``: for an upstream gradient ``dout``, the gradient of the scalar
``f = sum(dout * out)`` with respect to each input. The check gives the student's backward the
cache of the student's own forward (kept in the sandbox; see ``checks/context.py``) and a random
``dout``, and compares the output it grades, the gradient with respect to the forward's argument
``wrt``, entry by entry with centered differences of ``f``

- through the reference forward (graded: every entry, differenced in float64 with a step of
  ``H_REFERENCE``, where truncation and rounding both stay below 1e-8 of the answer), and
- through the student's own forward (reported, along a few directions: it tells "backward wrong"
  from "forward wrong", as gradcheck does for a loss).

Where the forward has kinks (ReLU), the check names a reference function of the forward's
arguments (``kinks``) whose signs must not change between ``x - h e_i`` and ``x + h e_i``; an entry
whose step crosses one is left out of the comparison and counted.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import numpy.typing as npt

from grader.checks.compare import BadAnswer, answer_array, compare, raw_array, read_answer, relative_error, shape_note
from grader.checks.context import Context, pick
from grader.checks.reference import _pictures
from grader.checks.verdicts import failed, passed, unanswered
from grader.results import CheckResult
from grader.rubric import Check

Array = npt.NDArray[np.float64]
#: step for the float64 reference forward
H_REFERENCE = 1e-6
#: step for the student's own forward, which may compute in float32
H_OWN = 1e-3
#: agreement with the student's own forward is judged loosely: it informs, it does not score
OWN_RTOL = 1e-2
#: random directions along which the student's own forward is differenced (2 calls each)
OWN_DIRECTIONS = 3


def vjp_check(ctx: Context, check: Check) -> CheckResult:
    pairing = ctx.pairings[check.function]
    forward = pairing.forward
    rtol, floor = ctx.rubric.tolerance(check)
    name = ctx.rubric.name_of(check.function, *check.path)
    wrt = ctx.rubric.notation.get(f"{check.wrt}.{check.wrt_key}" if check.wrt_key else str(check.wrt), _argument(check))
    out = ctx.rubric.name_of(forward, *ctx.forward_path(check.function))
    upstream = ctx.rubric.notation.get(pairing.upstream, pairing.upstream)
    of = f"sum({upstream} * {out}) with respect to {wrt}"
    worst, worst_own, skipped, entries = 0.0, 0.0, 0, 0
    own_checked, own_problem, own_text = False, "", ""
    note: dict[str, Any] = {}
    for case in check.cases:
        problem = unanswered(ctx, check, forward, case)
        if problem is not None:
            return _needs_forward(check, forward, problem)
        problem = unanswered(ctx, check, check.function, case)
        if problem is not None:
            return problem
        inputs = ctx.shared_inputs(case)
        theta = np.asarray(_theta(inputs, check), dtype=np.float64)
        try:
            got, given = read_answer(ctx.answer(check.function, case).value, theta.shape, check.path)
        except BadAnswer as exc:
            raw = raw_array(ctx.answer(check.function, case).value, check.path)
            pictures = _pictures(check, truth_for(ctx, check, case)[0], raw) if raw is not None else {}
            return failed(check, f"{name} {exc.message} (on {{case}}).", pictures, case=case, student_text=exc.student_text)
        if given is not None and not note:
            note = {"shape_note": shape_note(name, given, theta.shape), "given_shape": list(given), "expected_shape": list(theta.shape)}
        truth, smooth = truth_for(ctx, check, case)
        skipped += int(smooth.size - smooth.sum())
        entries += int(smooth.sum())
        if not smooth.any():
            continue
        result = compare(got[smooth], truth[smooth], ctx.rubric.tolerance(check)[0], floor)
        rtol = ctx.judged_rtol(check, case, result.rel_error)
        worst = max(worst, result.rel_error)
        own, why, text = _own(ctx, check, case, got)
        if own is not None:
            own_checked = True
            worst_own = max(worst_own, own)
        elif why and not own_problem:
            own_problem, own_text = why, text
        if result.rel_error > rtol:
            errors: dict[str, Any] = {"rel_error": result.rel_error, "tolerance": rtol, "skipped_at_kinks": skipped}
            index = tuple(int(i) for i in np.argwhere(smooth)[result.worst[0]]) if got.ndim else ()
            errors.update(worst_index=list(index), expected=float(truth[index]), got=float(got[index]))
            errors.update(_pictures(check, truth, got))
            errors["own_forward_rel_error"] = own
            errors.update(note)
            message = (
                f"{name} is wrong on {{case}}: relative error {result.rel_error:.2g} against centered differences of {of} "
                f"(tolerance {rtol:.2g}).{_tail(check, forward, own, why, passed_check=False)}"
            ) + (f" {note['shape_note']}" if note else "")
            return failed(check, message, errors, case=case, student_text=text)
    errors = {"rel_error": worst, "tolerance": ctx.rubric.tolerance(check)[0], "entries": entries, "skipped_at_kinks": skipped}
    errors["own_forward_rel_error"] = worst_own if own_checked else None
    errors.update(note)
    if entries == 0:
        return passed(check, f"{name} could not be checked by centered differences: every entry crossed a kink of {forward}.", errors)
    count = len(check.cases)
    message = (
        f"{name} agrees with centered differences of {of} on {count} case{'s' if count > 1 else ''} "
        f"({entries} entries, largest relative error {worst:.1g})."
        f"{_tail(check, forward, worst_own if own_checked else None, own_problem, passed_check=True)}"
    ) + (f" {note['shape_note']}" if note else "")
    return replace(passed(check, message, errors), student_text=own_text)


def _argument(check: Check) -> str:
    return f"{check.wrt}[{check.wrt_key!r}]" if check.wrt_key else str(check.wrt)


def _needs_forward(check: Check, forward: str, problem: CheckResult) -> CheckResult:
    """The backward cannot run without the cache of the student's forward on the case."""
    return replace(problem, message=f"{check.function} needs the cache of your {forward}, but {problem.message[0].lower()}{problem.message[1:]}")


def _theta(inputs: dict[str, Any], check: Check) -> Any:
    value = inputs[str(check.wrt)]
    return value[check.wrt_key] if check.wrt_key is not None else value


def _with(inputs: dict[str, Any], check: Check, theta: Array) -> dict[str, Any]:
    changed = dict(inputs)
    wrt = str(check.wrt)
    changed[wrt] = {**inputs[wrt], str(check.wrt_key): theta} if check.wrt_key is not None else theta
    return changed


def truth_for(ctx: Context, check: Check, case: str) -> tuple[Array, npt.NDArray[np.bool_]]:
    """The gradient of ``sum(dout * out)`` through the reference forward with respect to the
    checked argument, entry by entry, and which entries are clear of the kinks."""
    memo = ctx.memo.setdefault("vjp", {})
    key = (check.function, check.wrt, check.wrt_key, case)
    if key not in memo:
        memo[key] = _differences(ctx, check, case)
    result: tuple[Array, npt.NDArray[np.bool_]] = memo[key]
    return result


def _differences(ctx: Context, check: Check, case: str) -> tuple[Array, npt.NDArray[np.bool_]]:
    pairing = ctx.pairings[check.function]
    inputs = ctx.shared_inputs(case)
    dout = ctx.upstream(check.function, case)
    path = ctx.forward_path(check.function)
    theta = np.asarray(_theta(inputs, check), dtype=np.float64)
    signs = np.sign(ctx.reference(check.kinks, inputs)) if check.kinks else None

    def f(point: Array) -> float:
        out = np.asarray(pick(ctx.reference(pairing.forward, _with(inputs, check, point)), path), dtype=np.float64)
        return float(np.sum(dout * out))

    def smooth(point: Array) -> bool:
        return signs is None or bool(np.array_equal(np.sign(ctx.reference(str(check.kinks), _with(inputs, check, point))), signs))

    truth = np.zeros(theta.size)
    clear = np.ones(theta.size, dtype=bool)
    flat = theta.reshape(-1)
    for i in range(theta.size):
        step = np.zeros(theta.size)
        step[i] = H_REFERENCE
        plus, minus = (flat + step).reshape(theta.shape), (flat - step).reshape(theta.shape)
        if signs is not None and not (smooth(plus) and smooth(minus)):
            clear[i] = False
            continue
        truth[i] = (f(plus) - f(minus)) / (2 * H_REFERENCE)
    return truth.reshape(theta.shape), clear.reshape(theta.shape)


def _own(ctx: Context, check: Check, case: str, got: Array) -> tuple[float | None, str, str]:
    """The relative error of ``got`` against centered differences of the student's own forward
    along a few random directions, or None with the reason (which may hold ``{student}``) and
    the submission's text for it. None and no reason where the student's forward computes the
    reference's output on the case (differencing it would repeat the graded check)."""
    pairing = ctx.pairings[check.function]
    forward, path = pairing.forward, ctx.forward_path(check.function)
    rtol, floor = ctx.rubric.tolerance(check)
    expected = np.asarray(pick(ctx.expected(forward, case), path), dtype=np.float64)
    try:
        mine = answer_array(ctx.answer(forward, case).value, expected.shape, path)
    except BadAnswer as exc:
        return None, f"{forward} {exc.message}", exc.student_text
    if relative_error(mine, expected, floor) <= rtol:
        return None, "", ""
    inputs = ctx.shared_inputs(case)
    theta = np.asarray(_theta(inputs, check), dtype=np.float64)
    rng = ctx.rng(f"{check.id}:{case}:own")
    directions = [v / np.linalg.norm(v) for v in (rng.standard_normal(theta.shape) for _ in range(OWN_DIRECTIONS))]
    batch = [_with(inputs, check, theta + s * H_OWN * v) for v in directions for s in (1.0, -1.0)]
    dout = ctx.upstream(check.function, case)
    values = []
    for outcome in ctx.call(forward, batch):
        if outcome.status != "ok":
            return None, f"{forward} failed ({{student}})", outcome.error
        try:
            values.append(float(np.sum(dout * answer_array(outcome.value, expected.shape, path))))
        except BadAnswer as exc:
            return None, f"{forward} {exc.message}", exc.student_text
    pairs = np.array(values).reshape(len(directions), 2)
    slopes = np.array([np.sum(got * v) for v in directions])
    return relative_error(slopes, (pairs[:, 0] - pairs[:, 1]) / (2 * H_OWN), floor), "", ""


def _tail(check: Check, forward: str, own: float | None, problem: str, *, passed_check: bool) -> str:
    """What differences of the student's own forward say."""
    mine = f"your own {forward}"
    if own is None:
        if problem:
            return f" {mine[0].upper()}{mine[1:]} could not be differenced: {problem}."
        return f" Your {forward} computes the reference's output here, so the mistake is in {check.function}." if not passed_check else ""
    if passed_check:
        if own <= OWN_RTOL:
            return f" It also agrees with differences of {mine}."
        return f" It disagrees with differences of {mine} (relative error {own:.2g}), so {mine} does not compute the reference's output."
    if own <= OWN_RTOL:
        return f" It does agree with differences of {mine}: {check.function} follows {mine}, so the mistake is in both; compare {mine} with the reference's."
    return f" It disagrees with differences of {mine} too (relative error {own:.2g})."
