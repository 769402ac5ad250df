"""Naming a student's mistake, and the partial credit the rubric gives it.

Two kinds of diagnosis:

- *value* diagnoses, for failed checks: the student's answer is matched (shape and value, with
  the rubric's tolerance) against the assignment's mistake variants (``reference/NAME_mistakes.py``:
  ``MISTAKES``, and ``answer(function, inputs, mistakes)`` giving one answer per form the
  mistakes can take in code), one mistake at a time, then in pairs, on the same inputs; a form
  must match on every case, and only a form that differs from the reference is evidence (see
  ``_values``). A new assignment brings its own variants; nothing here knows backprop.
- *conduct* diagnoses, from how the function behaved: ``mutates-input`` (it changed an input
  array in place) and ``numerical-gradient`` (a gradient function that costs as much as
  differencing its loss: finite differences instead of backpropagation). The latter rests on
  what the grader measures itself, the cost probe of ``checks/probe.py`` on the case a gradcheck
  names as its ``probe``; the calls of the loss the child reports counting are only quoted. A
  check whose answer is right but whose conduct costs points ends ``deducted``, not ``failed``.

A correct answer never matches a variant (that would need a failed check), and a correct
function neither mutates its inputs nor costs more than a few loss evaluations, so it is never
diagnosed.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from grader.checks.compare import as_expected, raw_array, relative_error
from grader.checks.context import Context, pick
from grader.checks.probe import probe
from grader.results import CheckResult, CheckStatus, Diagnosis
from grader.rubric import Check

#: calls of the loss per gradient call, as the child reports them, quoted in the explanation
#: of a numerical gradient (never its evidence: the child can hide them)
QUOTED_CALLS = 4


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
        share = combined_credit(credit, codes) if values else None
        score = share * check.points if share is not None else 0.0
    else:
        share = combined_credit(credit, [c for c in codes if c in credit])
        if share is not None:
            score = share * check.points
            # right values, points deducted for how they were computed: not a failure
            status = CheckStatus.DEDUCTED if score < check.points else status
    diagnoses = tuple(Diagnosis(code, text, credit.get(code)) for code, text in found)
    return replace(result, status=status, score=score, diagnoses=diagnoses)


def combined_credit(credit: dict[str, float], codes: list[str]) -> float | None:
    """The share of a check's points that ``codes``, diagnosed together, still earn: what the
    part's credit table gives the combination (``"missing-reg-grad+sign-flip"``, codes sorted),
    else the product of each code's share (two mistakes cost what each costs alone); None when
    a code has no credit (or there is no code)."""
    if not codes:
        return None
    combination = "+".join(sorted(set(codes)))
    if combination in credit:
        return credit[combination]
    if not all(c in credit for c in codes):
        return None
    share = 1.0
    for code in set(codes):
        share *= credit[code]
    return share


def _values(ctx: Context, check: Check) -> list[tuple[str, str]]:
    """The named mistakes whose variant the failed answer matches, on evidence only.

    One error measure throughout, the checks' own: the relative error against each case's
    tolerance (``Context.tolerance``). A form of a mistake is evidence on a case only where it
    differs from the reference there (an unguarded softmax equals the reference on unshifted
    logits: those cases say nothing about it), and it matches when the answer equals it on every
    answered case, it differs from the reference on at least one case, and the answer differs
    from the reference on at least one of those cases. A form equal to the reference on every
    answered case never matches: an answer near the reference is not a mistake's evidence."""
    module = ctx.assignment.mistakes
    if module is None:
        return []
    answered = []
    for case in check.cases:
        outcome = ctx.answer(check.function, case)
        got = raw_array(outcome.value, check.path) if outcome.status == "ok" else None
        if got is not None:
            answered.append((case, got, np.asarray(pick(ctx.expected(check.function, case), check.path), dtype=np.float64)))
    if not answered:
        return []
    mistakes: list[Callable[..., Any]] = module.MISTAKES
    combos = [[m] for m in mistakes] + [list(pair) for pair in itertools.combinations(mistakes, 2)]
    for combo in combos:
        forms = [_variants(ctx, check, case, combo) for case, _, _ in answered]
        for i in range(min(len(f) for f in forms)):
            variants = [f[i] for f in forms]
            if not all(_same(ctx, check, case, got, variant) for (case, got, _), variant in zip(answered, variants, strict=True)):
                continue
            evidence = [
                (case, got, reference)
                for (case, got, reference), variant in zip(answered, variants, strict=True)
                if variant is not None and not _same(ctx, check, case, variant, reference)
            ]
            if any(not _same(ctx, check, case, got, reference) for case, got, reference in evidence):
                name = ctx.rubric.name_of(check.function, *check.path)
                return [(_code(m), (m.__doc__ or "").strip().format(name=name)) for m in combo]
    return []


def _variants(ctx: Context, check: Check, case: str, combo: list[Callable[..., Any]]) -> list[np.ndarray | None]:
    """The answer of every form of ``combo`` on ``case`` (None where a form does not apply)."""
    # The checks of one function share the variants' answers (every key of gradients, say).
    cache = ctx.memo.setdefault("variants", {})
    key = (check.function, case, tuple(m.__name__ for m in combo))
    if key not in cache:
        # [] where the mistakes do not change the function; what the module raises is the
        # assignment's fault (AssignmentFault), which the check reports as such
        cache[key] = ctx.assignment.variants(check.function, ctx.variant_inputs(check.function, case), combo)
    returns = ctx.signature(check.function).returns
    return [_pick(value, returns, check.path) for value in cache[key]] or [None]


def _pick(value: Any, returns: tuple[str, ...], path: tuple[str, ...]) -> np.ndarray | None:
    """The place ``path`` of a variant's answer: a tuple in ``returns`` order, or a dict."""
    try:
        if isinstance(value, (tuple, list)) and len(returns) > 1:
            value = dict(zip(returns, value, strict=True))
        elif len(returns) == 1 and not isinstance(value, dict):
            value = {returns[0]: value}
        for step in path:
            value = value[step]
        return np.asarray(value, dtype=np.float64)
    except Exception:  # noqa: BLE001 - no such place in this variant
        return None


def _same(ctx: Context, check: Check, case: str, got: np.ndarray, variant: np.ndarray | None) -> bool:
    """Whether ``got`` equals ``variant`` by the checks' measure on ``case``: the shape rule
    (axes of length 1 apart), then the relative error within the case's tolerance; arrays that
    both hold inf or NaN are alike (the same instability)."""
    if variant is None:
        return False
    shaped = as_expected(got, variant.shape)
    if shaped is None:
        return False
    got = shaped
    bad_got, bad_variant = ~np.isfinite(got), ~np.isfinite(variant)
    if bad_got.any() or bad_variant.any():
        return bool(bad_got.any() and bad_variant.any())  # both overflowed: the same instability
    error = relative_error(got, variant, ctx.rubric.tolerance(check)[1])
    return error <= ctx.judged_rtol(check, case, error)


def _conduct(ctx: Context, check: Check) -> list[tuple[str, str]]:
    if ctx.state(check.function) != "ok":
        return []
    outcomes = [ctx.answer(check.function, case) for case in check.cases]
    found = []
    meant = ctx.signature(check.function).updates  # updated on purpose: not a mistake
    mutated = sorted({name for o in outcomes for name in o.mutated if not any(name == u or name.startswith(f"{u}[") for u in meant)})
    if mutated:
        found.append((
            "mutates-input",
            f"{check.function} changes its input {', '.join(mutated)} in place: work on a copy "
            f"(e.g. X = X.copy()) so that the caller's arrays stay as they were.",
        ))
    numerical = _numerical(ctx, check)
    if numerical:
        found.append(("numerical-gradient", numerical))
    return found


def _numerical(ctx: Context, check: Check) -> str:
    """Why ``check.function`` is a numerical gradient, from the probe of every gradcheck of it
    that names one; empty if no probe shows it."""
    probes = {
        (str(c.loss), c.loss_output or "", str(c.wrt), c.probe) if c.kind == "gradcheck" else (str(c.forward), "", "", c.probe)
        for c in ctx.rubric.checks
        if c.kind in ("gradcheck", "vjp") and c.function == check.function and c.probe
    }
    for loss, loss_output, wrt, case in sorted(probes):
        found = probe(ctx, check.function, loss, wrt, case)
        where = ctx.describe(case, check.hidden)
        advice = "Derive the gradient with the chain rule, layer by layer."
        what = "the loss" if wrt else f"{loss}"
        if found.verdict == "slow":
            calls = max((o.inner_calls.get(loss, 0) for o in ctx.answered(check.function).values()), default=0)
            quoted = f" It also called {loss}() {calls} times in one call on a graded case." if calls >= QUOTED_CALLS else ""
            took = f"was stopped after {found.cost:.2g} s" if found.stopped else f"took {found.cost:.2g} s"
            return (
                f"{check.function} {took} of CPU time on {where}: the time of {found.cost / found.unit:,.0f} evaluations of "
                f"{ctx.rubric.name_of(loss, loss_output or None)}, {found.per_parameter:.2g} per parameter for {found.parameters:,} parameters, where "
                f"backpropagation takes a few evaluations in all. It differences {what} numerically instead of "
                f"backpropagating.{quoted} {advice}"
            )
        if found.verdict == "wrong":
            return (
                f"{check.function} is right on the graded cases but not on {where}, where the grader times it to tell "
                f"backpropagation from finite differences: {found.problem}. {advice}"
            )
    return ""


def _code(mistake: Callable[..., Any]) -> str:
    return mistake.__name__.replace("_", "-")
