"""The cost probe: does a gradient function backpropagate, or difference its loss?

A finite-difference gradient evaluates the loss about twice per parameter; backpropagation costs
a few evaluations in all, however many parameters there are. The grader measures this itself,
on the case a gradcheck names as its ``probe`` (many parameters, a cheap loss), from evidence it
controls:

- the unit, one evaluation of the loss, is the *reference* loss on that case, timed here in the
  grader (CPU time, the least of UNIT_RUNS runs, measured again after UNIT_SECONDS): the
  submission can neither slow it down nor speed it up;
- the student's gradient is called on fresh inputs of that case, and its cost is the CPU time
  the kernel accounts to the sandboxed child over the call (``Sandbox.timed``: every thread
  counts, and nothing the child reports is used). The call is stopped once it has cost BUDGET
  evaluations per parameter;
- its answer must agree with the reference wherever the function's answers on the graded cases
  do, so that a gradient cannot get through the probe by answering it cheaply and wrongly.

An attempt that answers right within the budget shows an analytic gradient and ends the probe.
Otherwise the probe tries again, on fresh inputs, ATTEMPTS times in all: ``slow`` if an attempt
cost the budget, else ``wrong`` if one gave a wrong answer (or none) where the graded cases were
right. A gradient that spot-checks a few coordinates by finite differences costs a few more
evaluations in all, not a few per parameter: it is analytic here.

Margins, in evaluations of the reference loss per parameter, as measured on the shipped
assignment's probe (24,700 parameters; figures in the README), idle and under load: correct
submissions 0.0005-0.015 (the most for one printing its arrays on every call), a debug spot check
of a few coordinates 0.001, an analytic gradient looping in Python over every entry of its largest
parameter 0.02; centered differences 1.6-4 however the loss is reached, forward differences of a
lean float32 copy of it 0.9. BUDGET sits between: 10 times the slowest analytic gradient, a
quarter of the cheapest differencing. CPU time does not grow with the load on the machine as wall
time does (and where memory or a shared core slows the child, it slows the unit alike); the
repeated attempts take care of the rest.
"""

from __future__ import annotations

import copy
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from grader.checks.compare import HUGE, raw_array, relative_error
from grader.checks.context import FLOAT32_MARGIN, Context, pick, rounding_of
from grader.sandbox.interface import Handle, Timed

#: the loss evaluations per parameter a gradient may cost on the probe before it counts as
#: differencing the loss
BUDGET = 0.2
#: attempts, each on fresh inputs, before a gradient that never answered right within the budget is reported
ATTEMPTS = 3
#: runs of the reference loss timed for the unit; the least counts
UNIT_RUNS = 9
#: how long a grading process reuses a unit it measured (the cost of the reference loss on a
#: probe case depends on its shapes, not on the draw): measuring costs UNIT_RUNS + 1 evaluations
UNIT_SECONDS = 30.0
#: the wall time an attempt may take: DEADLINE_FACTOR budgets, at least MIN_DEADLINE seconds. An
#: attempt is stopped as soon as it has cost the budget; this only ends one that waits (or a
#: machine too loaded to run it).
DEADLINE_FACTOR = 10.0
MIN_DEADLINE = 2.0

_FAILURES = {
    "error": "it raised an exception",
    "memory": "it ran out of memory",
    "crashed": "it ended its process",
    "timeout": "it did not return",
}


@dataclass(frozen=True)
class Probe:
    """What the probe of one gradient function found on one case."""

    #: analytic (answered right within the budget), slow (cost the budget), wrong (never
    #: answered right where the graded cases are right), or none (nothing to measure)
    verdict: str
    case: str
    parameters: int = 0
    #: CPU seconds of one evaluation of the reference loss
    unit: float = 0.0
    #: CPU seconds of the attempt that cost least (of the slow ones, for a slow verdict)
    cost: float = 0.0
    #: that attempt was stopped at the budget: it would have cost more
    stopped: bool = False
    #: for wrong: what was wrong, in the grader's words
    problem: str = ""

    @property
    def per_parameter(self) -> float:
        """The cost in evaluations of the loss per parameter."""
        return self.cost / (self.unit * self.parameters) if self.unit > 0 and self.parameters else math.inf


def probe(ctx: Context, function: str, loss: str, wrt: str, case: str) -> Probe:
    """The probe of ``function``, the gradient of ``loss`` with respect to the argument ``wrt``,
    on ``case``; run once per grading."""
    memo = ctx.memo.setdefault("probes", {})
    key = (function, loss, wrt, case)
    if key not in memo:
        memo[key] = _probe(ctx, function, loss, wrt, case)
    result: Probe = memo[key]
    return result


def _probe(ctx: Context, function: str, loss: str, wrt: str, case: str) -> Probe:
    graded = [c for check in ctx.rubric.checks if check.function == function for c in check.cases]
    if ctx.state(function) != "ok" or not graded:
        return Probe("none", case)
    pairing = ctx.pairings.get(function)
    if pairing is not None and ctx.state(pairing.forward) != "ok":
        return Probe("none", case)
    make = ctx.assignment.function("make_inputs")
    arguments = ctx.rubric.cases[case].arguments
    inputs = make(ctx.rng(f"probe:{case}:0"), **arguments)
    # a gradient differences its loss along each entry of ``wrt``; a backward pass its forward
    # along each entry of every floating-point input
    parameters = _size(inputs[wrt]) if pairing is None else sum(_floats(a) for a in ctx.arguments(loss, inputs))
    unit = _unit_of(ctx, loss, case, inputs)
    budget = BUDGET * parameters * unit
    deadline = max(MIN_DEADLINE, DEADLINE_FACTOR * budget)
    trusted = _trusted(ctx, function)
    slow: list[Timed] = []
    problems: list[str] = []
    for attempt in range(ATTEMPTS):
        if attempt:
            inputs = make(ctx.rng(f"probe:{case}:{attempt}"), **arguments)
        if pairing is None:
            # A call on a graded case first, so that the timed call is never the first in a new
            # child (the one before was stopped): imports inside the function are not counted.
            ctx.timed(function, ctx.shared_inputs(graded[0]), deadline, deadline)
            student, reference = inputs, inputs
        else:
            # the student's forward on the probe's inputs first (which also warms a new child),
            # its cache kept for the timed backward; the reference's backward gets its own
            student, reference = _backward_inputs(ctx, function, inputs, f"probe:{case}:{attempt}")
            if student is None:
                continue
        timed = ctx.timed(function, student, budget, deadline)
        if timed.cost >= budget:
            slow.append(timed)
            continue
        problem = _problem(ctx, function, reference, timed, trusted, deadline)
        if not problem:
            return Probe("analytic", case, parameters, unit, timed.cost)
        problems.append(problem)
    if slow:
        least = min(slow, key=lambda t: t.cost)
        return Probe("slow", case, parameters, unit, least.cost, least.stopped == "budget")
    if problems and trusted:
        return Probe("wrong", case, parameters, unit, problem=problems[0])
    return Probe("none", case, parameters, unit)


def _backward_inputs(ctx: Context, backward: str, inputs: dict[str, Any], label: str) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """A backward's inputs on the probe's ``inputs``: the student's (a handle to the cache their
    forward just left) or None where that forward failed, and the reference's (its own cache);
    both with the same upstream gradient."""
    pairing = ctx.pairings[backward]
    forward = ctx.reference(pairing.forward, inputs)
    out = np.asarray(pick(forward, ctx.forward_path(backward)))
    dout = ctx.rng(f"{label}:dout").standard_normal(out.shape)
    reference = {**inputs, pairing.upstream: dout, pairing.cache: forward[ctx.signature(pairing.forward).opaque]}
    [made] = ctx.call(pairing.forward, [inputs], keep=[label])
    if made.status != "ok":
        return None, reference
    return {**inputs, pairing.upstream: dout, pairing.cache: Handle(label)}, reference


def _floats(value: Any) -> int:
    """How many floating-point numbers ``value`` (an array, or a dict or list of them) holds."""
    if isinstance(value, dict):
        return sum(_floats(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(_floats(v) for v in value)
    return int(np.size(value)) if np.asarray(value).dtype.kind == "f" else 0


def _size(value: Any) -> int:
    """How many numbers ``value`` (an array, or a dict or list of them) holds."""
    if isinstance(value, dict):
        return sum(_size(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(_size(v) for v in value)
    return int(np.size(value))


#: (assignment, rubric version, loss, case) -> (unit, when it was measured: time.monotonic)
_units: dict[tuple[str, str, str, str], tuple[float, float]] = {}
_units_lock = threading.Lock()


def _unit_of(ctx: Context, loss: str, case: str, inputs: dict[str, Any]) -> float:
    """The unit of ``loss`` on the probe ``case``: measured on ``inputs``, or the one this
    process measured within UNIT_SECONDS."""
    key = (ctx.assignment.name, ctx.assignment.version, loss, case)
    now = time.monotonic()
    with _units_lock:
        known = _units.get(key)
    if known is not None and now - known[1] < UNIT_SECONDS:
        return known[0]
    unit = _unit(ctx.assignment.function(loss), ctx.arguments(loss, inputs))
    with _units_lock:
        _units[key] = (unit, now)
    return unit


def _unit(loss: Callable[..., Any], args: list[Any]) -> float:
    """CPU seconds of one evaluation of the reference loss: the least of UNIT_RUNS runs (the
    first warms up), each on its own copies of the arguments, made outside the timing."""
    best = math.inf
    for _ in range(UNIT_RUNS + 1):
        copies = copy.deepcopy(args)
        start = time.process_time()
        loss(*copies)
        best = min(best, time.process_time() - start)
    return max(best, 1e-9)


def _trusted(ctx: Context, function: str) -> list[tuple[tuple[str, ...], float]]:
    """The places of ``function``'s answer (``Check.path``), with their tolerance, that agree
    with the reference on every case of every check of them: the probe's answer must agree
    there too."""
    cases: dict[tuple[str, ...], dict[str, None]] = {}
    tolerance: dict[tuple[str, ...], float] = {}
    for check in ctx.rubric.checks:
        if check.function == function:
            cases.setdefault(check.path, {}).update(dict.fromkeys(check.cases))
            tolerance[check.path] = min(tolerance.get(check.path, math.inf), ctx.rubric.tolerance(check)[0])
    return [(path, tolerance[path]) for path, names in cases.items() if all(_agrees(ctx, function, path, tolerance[path], c) for c in names)]


def _agrees(ctx: Context, function: str, path: tuple[str, ...], rtol: float, case: str) -> bool:
    outcome = ctx.answer(function, case)
    if outcome.status != "ok":
        return False
    error = _error(ctx, outcome.value, ctx.expected(function, case), path)
    return error <= rtol or error <= FLOAT32_MARGIN * ctx.rounding(function, case, path, ctx.rubric.floor)


def _error(ctx: Context, value: Any, expected: Any, path: tuple[str, ...]) -> float:
    """The relative error of the answer ``value`` at ``path``; infinite if it has none or the wrong shape."""
    got = raw_array(value, path)
    try:
        want = np.asarray(pick(expected, path), dtype=np.float64)
    except Exception:  # noqa: BLE001 - the reference has no such place
        return math.inf
    if got is None or got.shape != want.shape:
        return math.inf
    return relative_error(got, want, ctx.rubric.floor)


def _problem(ctx: Context, function: str, inputs: dict[str, Any], timed: Timed, trusted: list[tuple[tuple[str, ...], float]], deadline: float) -> str:
    """What is wrong with the probe's answer, in the grader's words; empty if it is right."""
    outcome = timed.outcome
    if outcome is None:
        return f"it did not answer within {deadline:.2g} s"
    if outcome.status != "ok":
        return _FAILURES.get(outcome.status, "it failed")
    expected = ctx.reference(function, inputs) if trusted else None
    singles: list[Any] = []  # the float32 answer, once one path needs it
    for path, rtol in trusted:
        error = _error(ctx, outcome.value, expected, path)
        if error > rtol:
            # widened, as a graded case's is, by what float32 costs the reference on these inputs
            singles = singles or [ctx.single(function, inputs)]
            rtol = max(rtol, FLOAT32_MARGIN * rounding_of(singles[0], expected, path, ctx.rubric.floor))
        if error > rtol:
            name = ctx.rubric.name_of(function, *path)
            if math.isinf(error):
                return f"{name} is missing or has the wrong shape"
            return f"{name} is not finite" if error >= HUGE else f"{name} is off by a relative error of {error:.2g}"
    return ""
