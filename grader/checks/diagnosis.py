"""Naming a student's mistake, and the partial credit the rubric gives it.

Two kinds of diagnosis:

- *value* diagnoses, for failed checks: the student's answer is matched (shape and value, with
  the rubric's tolerance) against the assignment's mistake variants (``reference/NAME_mistakes.py``:
  ``MISTAKES``, and ``answer(function, inputs, mistakes)`` giving one answer per form the
  mistakes can take in code), one mistake at a time, then in pairs, on the same inputs; a form
  must match on every case. A new assignment brings its own variants; nothing here knows backprop.
- *conduct* diagnoses, from how the function behaved: ``mutates-input`` (it changed an input
  array in place) and ``numerical-gradient`` (a gradient function that calls the loss it is the
  gradient of many times per call, or costs many loss evaluations: finite differences instead of
  backpropagation).

A correct answer never matches a variant (that would need a failed check), and a correct
function neither mutates its inputs nor calls the loss repeatedly, so it is never diagnosed.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from grader.checks.compare import raw_array, relative_error
from grader.checks.context import Context
from grader.results import CheckResult, CheckStatus, Diagnosis
from grader.rubric import Check

#: a gradient function calling its loss this often per call is differencing it numerically
NUMERICAL_CALLS = 4
#: ... and so is one that calls a helper of the loss (a function the loss calls too) this many
#: times as often as the loss does, and at least NUMERICAL_HELPER_CALLS times: a per-sample
#: helper is called about as often by both
NUMERICAL_RATIO = 10
NUMERICAL_HELPER_CALLS = 16


def diagnose(ctx: Context, check: Check, result: CheckResult) -> CheckResult:
    """``result`` with its diagnoses (each with its explanation and credit) and the part's
    partial credit applied to its score; the message itself is left as the check wrote it."""
    if result.status not in (CheckStatus.PASSED, CheckStatus.FAILED):
        return result  # a crash or a hang is not a mathematical mistake
    conduct = _conduct(ctx, check)
    values = _values(ctx, check) if result.status == CheckStatus.FAILED else []
    found = values + conduct
    if not found:
        return result
    credit = next(p for p in ctx.rubric.parts if p.id == check.part).credit
    codes = [code for code, _ in found]
    score, status = result.score, result.status
    if status == CheckStatus.FAILED:
        # Only a named mistake earns partial credit: conduct alone (mutating the inputs of a
        # wrong answer) must not turn garbage into points.
        earned = values and all(c in credit for c in codes)
        score = min(credit[c] for c in codes) * check.points if earned else 0.0
    elif any(c in credit for c in codes):
        score = min(credit[c] for c in codes if c in credit) * check.points
        status = CheckStatus.FAILED if score < check.points else status
    diagnoses = tuple(Diagnosis(code, text, credit.get(code)) for code, text in found)
    return replace(result, status=status, score=score, diagnoses=diagnoses)


def _values(ctx: Context, check: Check) -> list[tuple[str, str]]:
    module = ctx.assignment.mistakes
    if module is None:
        return []
    answered = []
    for case in check.cases:
        outcome = ctx.answer(check.function, case)
        got = raw_array(outcome.value, check.key) if outcome.status == "ok" else None
        if got is not None:
            answered.append((case, got))
    if not answered:
        return []
    mistakes: list[Callable[..., Any]] = module.MISTAKES
    combos = [[m] for m in mistakes] + [list(pair) for pair in itertools.combinations(mistakes, 2)]
    for combo in combos:
        forms = [_variants(ctx, check, case, combo) for case, _ in answered]
        if any(all(_same(ctx, got, variants[i]) for (_, got), variants in zip(answered, forms, strict=True)) for i in range(len(forms[0]))):
            name = ctx.rubric.name_of(check.function, check.key)
            return [(_code(m), (m.__doc__ or "").strip().format(name=name)) for m in combo]
    return []


def _variants(ctx: Context, check: Check, case: str, combo: list[Callable[..., Any]]) -> list[np.ndarray | None]:
    """The answer of every form of ``combo`` on ``case`` (None where a form does not apply)."""
    # The checks of one function share the variants' answers (every key of gradients, say).
    cache = ctx.memo.setdefault("variants", {})
    key = (check.function, case, tuple(m.__name__ for m in combo))
    if key not in cache:
        try:
            cache[key] = ctx.assignment.mistakes.answer(check.function, ctx.inputs(case), combo)  # type: ignore[union-attr]
        except Exception:  # noqa: BLE001 - mistakes that do not apply to this function
            cache[key] = []
    return [_pick(value, check.key) for value in cache[key]] or [None]


def _pick(value: Any, key: str | None) -> np.ndarray | None:
    try:
        return np.asarray(value[key] if key else value, dtype=np.float64)
    except Exception:  # noqa: BLE001 - no such key in this variant
        return None


def _same(ctx: Context, got: np.ndarray, variant: np.ndarray | None) -> bool:
    if variant is None or got.shape != variant.shape:
        return False
    bad_got, bad_variant = ~np.isfinite(got), ~np.isfinite(variant)
    if bad_got.any() or bad_variant.any():
        return bool(bad_got.any() and bad_variant.any())  # both overflowed: the same instability
    return relative_error(got, variant, ctx.rubric.floor) <= ctx.rubric.rtol


def _conduct(ctx: Context, check: Check) -> list[tuple[str, str]]:
    if ctx.state(check.function) != "ok":
        return []
    outcomes = [ctx.answer(check.function, case) for case in check.cases]
    found = []
    mutated = sorted({name for o in outcomes for name in o.mutated})
    if mutated:
        found.append((
            "mutates-input",
            f"{check.function} changes its input {', '.join(mutated)} in place: work on a copy "
            f"(e.g. X = X.copy()) so that the caller's arrays stay as they were.",
        ))
    for loss in {str(c.loss) for c in ctx.rubric.checks if c.kind == "gradcheck" and c.function == check.function}:
        evaluations = _loss_evaluations(ctx, check, loss)
        if evaluations:
            name, calls = evaluations
            found.append((
                "numerical-gradient",
                f"{check.function} calls {name} {calls} times per call: it differences the loss numerically "
                f"instead of backpropagating. Derive the gradient with the chain rule, layer by layer.",
            ))
    return found


def _loss_evaluations(ctx: Context, check: Check, loss: str) -> tuple[str, int] | None:
    """The loss (or a helper of it) that ``check.function`` evaluates like a finite difference
    does, with its number of calls in one gradient call; None if it does not."""
    losses = ctx.answered(loss)
    for case, gradient in ctx.answered(check.function).items():
        inside_loss = losses[case].inner_calls if case in losses else {}
        for name, calls in gradient.inner_calls.items():
            if name == loss and calls >= NUMERICAL_CALLS:
                return name, calls
            if name != loss and inside_loss.get(name, 0) and calls >= max(NUMERICAL_HELPER_CALLS, NUMERICAL_RATIO * inside_loss[name]):
                return name, calls
    return None


def _code(mistake: Callable[..., Any]) -> str:
    return mistake.__name__.replace("_", "-")
