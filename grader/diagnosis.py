"""Naming a student's mistake, and the partial credit the rubric gives it.

Two kinds of diagnosis:

- *value* diagnoses, for failed checks: the student's answer is matched (shape and value, with
  the rubric's tolerance) against the assignment's mistake variants (``reference/NAME_mistakes.py``:
  ``MISTAKES`` and ``answer(function, inputs, mistakes)``), one mistake at a time, then in pairs,
  on the same inputs. A new assignment brings its own variants; nothing here knows backprop.
- *conduct* diagnoses, from how the function behaved: ``mutates-input`` (it changed an input
  array in place) and ``numerical-gradient`` (a gradient function that calls the loss it is the
  gradient of many times per call: finite differences instead of backpropagation).

A correct answer never matches a variant (that would need a failed check), and a correct
function neither mutates its inputs nor calls the loss repeatedly, so it is never diagnosed.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from typing import Any, Callable

import numpy as np

from grader.checks.compare import raw_array, relative_error
from grader.checks.context import Context
from grader.results import CheckResult
from grader.rubric import Check

#: a gradient function calling its loss this often per call is differencing it numerically
NUMERICAL_CALLS = 4


def diagnose(ctx: Context, check: Check, result: CheckResult) -> CheckResult:
    """``result`` with its diagnoses, their explanations and the part's partial credit."""
    if result.status not in ("passed", "failed"):
        return result  # a crash or a hang is not a mathematical mistake
    found: list[tuple[str, str]] = _conduct(ctx, check)
    if result.status == "failed":
        found = _values(ctx, check) + found
    if not found:
        return result
    codes = tuple(code for code, _ in found)
    credit = next(p for p in ctx.rubric.parts if p.id == check.part).credit
    score, status = result.score, result.status
    if status == "failed":
        score = min(credit[c] for c in codes) * check.points if all(c in credit for c in codes) else 0.0
    elif any(c in credit for c in codes):
        score = min(credit[c] for c in codes if c in credit) * check.points
        status = "failed" if score < check.points else status
    explanation = " ".join(text for _, text in found)
    if score and score < check.points:
        explanation += f" Partial credit: {score:g} of {check.points:g}."
    return replace(result, status=status, score=score, diagnoses=codes, message=f"{result.message} {explanation}")


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
    mistakes: list[Callable[..., None]] = module.MISTAKES
    combos = [[m] for m in mistakes] + [list(pair) for pair in itertools.combinations(mistakes, 2)]
    for combo in combos:
        if all(_same(ctx, got, _variant(ctx, check, case, combo)) for case, got in answered):
            name = ctx.rubric.name_of(check.function, check.key)
            return [(_code(m), (m.__doc__ or "").strip().format(name=name)) for m in combo]
    return []


def _variant(ctx: Context, check: Check, case: str, combo: list[Callable[..., None]]) -> np.ndarray | None:
    try:
        value = ctx.assignment.mistakes.answer(check.function, ctx.inputs(case), combo)  # type: ignore[union-attr]
        value = value[check.key] if check.key else value
        return np.asarray(value, dtype=np.float64)
    except Exception:  # noqa: BLE001 - a variant that does not apply to this function or key
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
    for loss in {c.loss for c in ctx.rubric.checks if c.kind == "gradcheck" and c.function == check.function}:
        calls = max((o.inner_calls.get(str(loss), 0) for o in outcomes), default=0)
        if calls >= NUMERICAL_CALLS:
            found.append((
                "numerical-gradient",
                f"{check.function} calls {loss} {calls} times per call: it differences {loss} numerically "
                f"instead of backpropagating. Derive the gradient with the chain rule, layer by layer.",
            ))
    return found


def _code(mistake: Callable[..., Any]) -> str:
    return mistake.__name__.replace("_", "-")
