"""The inputs of a failing case, as code a student can run to reproduce it: ``errors["inputs"]``.

When a check fails on a case (its answer wrong, malformed, or an exception) and the case is
small (``grader.literals.small``: at most 100 elements an array, 400 numbers in all), the result
stores what the student's function was given, exactly, as Python source::

    {"case": "single",
     "functions": ["gradients"],
     "arguments": [{"name": "params", "literal": "{...}", "note": ""}, ...],
     "calls": ["dJ = gradients(params, X, y, reg)"],
     "shows": "dJ[\\"W1\\"]  # dJ/dW1: your answer, which this check grades"}

For a backward pass (a vjp check), the arguments are its forward's and the upstream gradient
``dout`` the grader drew, and the calls run the student's own forward first, whose cache the
backward is given, as the grader does. ``grader.visibility.reproduction`` writes the code; a
hidden check never shows it (``visibility.HIDDEN_KEEPS`` does not hold ``inputs``).
"""

from __future__ import annotations

import keyword
import logging
import re
from dataclasses import replace
from typing import Any

from grader.checks.context import Context
from grader.literals import literal, small
from grader.results import CheckResult, CheckStatus
from grader.rubric import Check, Signature

log = logging.getLogger(__name__)

#: ``errors`` key of the inputs
INPUTS = "inputs"
#: characters of the arguments' source at most (the bounds of ``small`` keep it near 12,000)
MAX_SOURCE = 16_000
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def attach(ctx: Context, check: Check, result: CheckResult) -> CheckResult:
    """``result`` with the inputs of the case it failed on, when it failed on a small case (a
    result that already has them, passed, or is about no one case is returned as it is).
    Reproduction is an extra: whatever goes wrong here leaves the result without it."""
    if result.status == CheckStatus.PASSED or result.case is None or INPUTS in result.errors:
        return result
    return replace(result, errors={**result.errors, **inputs(ctx, check, result.case)})


def inputs(ctx: Context, check: Check, case: str) -> dict[str, Any]:
    """``{"inputs": {...}}`` for ``check`` on ``case``, or {} when they are too large to show."""
    try:
        found = _inputs(ctx, check, case)
    except Exception:  # see attach
        log.warning("no inputs to reproduce %s on %s", check.id, case, exc_info=True)
        return {}
    return {INPUTS: found} if found is not None else {}


def _inputs(ctx: Context, check: Check, case: str) -> dict[str, Any] | None:
    function = check.function
    pairing = ctx.pairings.get(function)
    if pairing is None:
        names = ctx.assignment.parameters(function)
        values = ctx.arguments(function, ctx.student_inputs(function, case))
        notes = [""] * len(names)
        functions = [function]
    else:
        forward = pairing.forward
        opaque = ctx.signature(forward).opaque
        if opaque is None:
            return None
        names = [*ctx.assignment.parameters(forward), pairing.upstream]
        values = [*ctx.arguments(forward, ctx.student_inputs(forward, case)), ctx.upstream(function, case)]
        notes = [""] * (len(names) - 1) + ["the upstream gradient the grader drew"]
        functions = [forward, function]
    if not small(values):
        return None
    arguments = [{"name": n, "literal": literal(v), "note": note} for n, v, note in zip(names, values, notes, strict=True)]
    if sum(len(a["literal"]) for a in arguments) > MAX_SOURCE:
        return None
    taken = set(functions) | {"np"}
    targets = _targets(ctx, function, taken)
    parameters = ctx.assignment.parameters(function)
    if pairing is None:
        calls = [_call(targets, function, names)]
    else:
        forward_targets = _targets(ctx, pairing.forward, taken)
        cache = forward_targets[ctx.signature(pairing.forward).returns.index(str(opaque))]
        given = {pairing.upstream: pairing.upstream, pairing.cache: cache}
        calls = [
            _call(forward_targets, pairing.forward, names[:-1]) + f"  # {cache}: your own {pairing.forward}'s, as the grader gives it",
            _call(targets, function, [given.get(p, p) for p in parameters]),
        ]
    shown = _expression(targets, ctx.signature(function), parameters, check.path)
    name = ctx.rubric.name_of(function, *check.path)
    if name != shown:
        shown += f"  # {name}: your answer, which this check grades"
    return {"case": case, "functions": functions, "arguments": arguments, "calls": calls, "shows": shown}


def _targets(ctx: Context, function: str, taken: set[str]) -> list[str]:
    """The names a call of ``function`` assigns: its ``returns``, else one name from the
    assignment's notation (``dJ`` for ``dJ/dW1``), else ``result``; never a function's or ``np``."""
    returns = list(ctx.signature(function).returns)
    if not returns:
        notation = ctx.rubric.notation
        written = [notation.get(function, ""), *(v for k, v in notation.items() if k.startswith(f"{function}."))]
        found = (_IDENTIFIER.match(w) for w in written)
        returns = [next((m.group(0) for m in found if m and not keyword.iskeyword(m.group(0))), "result")]
    return [f"{n}_" if n in taken else n for n in returns]


def _call(targets: list[str], function: str, arguments: list[str]) -> str:
    return f"{', '.join(targets)} = {function}({', '.join(arguments)})"


def _expression(targets: list[str], signature: Signature, parameters: list[str], path: tuple[str, ...]) -> str:
    """Where the graded value is after the calls: ``dJ["W1"]``, ``dx``, ``bn_param["running_mean"]``."""
    steps = list(path)
    variable = targets[0]
    if steps and steps[0] in signature.returns and len(targets) == len(signature.returns):
        variable = targets[signature.returns.index(steps.pop(0))]
    elif steps and steps[0] in signature.updates and steps[0] in parameters:
        variable = steps.pop(0)
    return variable + "".join(f"[{literal(step)}]" for step in steps)
