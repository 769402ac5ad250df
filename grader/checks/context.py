"""What every check of one grading shares: the cases' inputs, the reference's answers, and
the student's answers, each computed once.

The reference runs here, in the grader, on its own deep copies of the inputs; the student's
functions run in the sandbox on serialized copies, so neither can disturb the other.

Answers are *named*: a function the rubric gives ``returns`` (``[functions.NAME]``) answers a
dict of its elements by name, and of the arguments it ``updates`` as they were after the call;
a check reads one place of it (``Check.path``). A forward pass's cache (its ``opaque`` element)
never leaves the sandbox: the student's is kept there under ``forward:case`` and its backward is
given a ``Handle`` to it, while the reference's backward gets the reference's own cache. A
backward's upstream gradient is drawn here, once per case (``upstream``).
"""

from __future__ import annotations

import zlib
from dataclasses import replace
from typing import Any

import numpy as np

from grader.arrays import float32, fresh
from grader.checks.compare import relative_error
from grader.course import Assignment
from grader.rubric import Check, Signature
from grader.sandbox.interface import Handle, LoadReport, Outcome, Runner, RunStatus, Timed

#: a case's tolerance is at least this many times the error the reference itself makes on it in
#: float32 (``Context.tolerance``). A float32 answer computed another way (a softmax through exp
#: where the reference goes through log-softmax, loops, another order of sums) rounds
#: differently: on a case that cancels (N = 1, a confident right prediction: dJ/dz3 ~ 1e-6 from
#: terms ~ 1) a shipped float32 sample was measured 10.7 times the reference's own error
FLOAT32_MARGIN = 100.0
#: a case whose answer float32 cannot resolve widens the tolerance to at most FLOAT32_MARGIN
#: times this: 1.0, under which a wrong sign or scale still fails
MAX_ROUNDING = 0.01

#: how the child's reply to a backward given a cache it no longer holds begins (``child.call``)
UNKEPT = "its cache was not kept"


class Pairing:
    """A backward pass and the forward pass whose cache it takes, as a vjp check names them."""

    def __init__(self, check: Check, parameters: list[str]) -> None:
        self.forward = str(check.forward)
        self.forward_output = check.forward_output
        self.upstream = check.upstream or parameters[0]
        others = [p for p in parameters if p != self.upstream]
        if self.upstream not in parameters or len(others) != 1:
            raise ValueError(
                f"check {check.id!r}: {check.function}({', '.join(parameters)}) must take the upstream gradient "
                f"{self.upstream!r} and one cache"
            )
        self.cache = others[0]


class Context:
    def __init__(self, assignment: Assignment, sandbox: Runner, report: LoadReport, seed: int) -> None:
        self.assignment = assignment
        self.rubric = assignment.rubric
        self.sandbox = sandbox
        self.report = report
        self.seed = seed
        self._inputs: dict[str, dict[str, Any]] = {}
        self._expected: dict[tuple[str, str], Any] = {}
        self._answers: dict[tuple[str, str], Outcome] = {}
        self._parameters: dict[str, list[str]] = {}
        self._upstream: dict[tuple[str, str], np.ndarray] = {}
        self._signatures: dict[str, Signature] = {}
        #: backward -> its forward, from the vjp checks
        self.pairings: dict[str, Pairing] = {}
        for check in self.rubric.checks:
            if check.kind == "vjp" and check.function not in self.pairings:
                self.pairings[check.function] = Pairing(check, assignment.parameters(check.function))
        #: what other modules compute once per grading (diagnosis: the mistake variants' answers)
        self.memo: dict[str, Any] = {}

    def rng(self, label: str) -> np.random.Generator:
        """A generator determined by the stored seed and a label, so a regrade reproduces it."""
        return np.random.default_rng([self.seed, zlib.crc32(label.encode())])

    def inputs(self, case: str) -> dict[str, Any]:
        """The case's inputs; callers get a deep copy and may change it."""
        return fresh(self._case(case))

    def shared_inputs(self, case: str) -> dict[str, Any]:
        """The case's inputs, not copied (only the outer dict is new, so a caller may add
        entries): for code that reads them, or hands them to ``reference`` (which copies them)
        or to the sandbox (which serializes them); never change an array or inner dict of it."""
        return dict(self._case(case))

    def _case(self, case: str) -> dict[str, Any]:
        if case not in self._inputs:
            spec = self.rubric.cases[case]
            self._inputs[case] = self.assignment.function("make_inputs")(self.rng(f"case:{case}"), **spec.arguments)
        return self._inputs[case]

    def arguments(self, function: str, inputs: dict[str, Any]) -> list[Any]:
        if function not in self._parameters:
            self._parameters[function] = self.assignment.parameters(function)
        return [inputs[name] for name in self._parameters[function]]

    def signature(self, function: str) -> Signature:
        if function not in self._signatures:
            self._signatures[function] = self.rubric.signature(function)
        return self._signatures[function]

    def reference(self, function: str, inputs: dict[str, Any]) -> Any:
        """The reference's answer on fresh copies of ``inputs``, named (see the module's doc)."""
        args = [fresh(a) for a in self.arguments(function, inputs)]
        value = self.assignment.function(function)(*args)
        return named(value, self.signature(function), dict(zip(self._parameters[function], args, strict=True)))

    def expected(self, function: str, case: str) -> Any:
        """The reference's named answer on ``case`` (a backward's: on the reference's cache)."""
        if (function, case) not in self._expected:
            self._expected[function, case] = self.reference(function, self.reference_inputs(function, case))
        return self._expected[function, case]

    def upstream(self, backward: str, case: str) -> np.ndarray:
        """The upstream gradient a backward is given on ``case``: standard normal, shaped like its
        forward's output on the case, the same for every check of that backward."""
        if (backward, case) not in self._upstream:
            pairing = self.pairings[backward]
            out = pick(self.expected(pairing.forward, case), self.forward_path(backward))
            shape = np.shape(out)
            self._upstream[backward, case] = self.rng(f"dout:{backward}:{case}").standard_normal(shape)
        return self._upstream[backward, case]

    def forward_path(self, backward: str) -> tuple[str, ...]:
        """Where the forward's output is in its named answer: its ``forward_output``, else the
        first element that is not the cache."""
        pairing = self.pairings[backward]
        signature = self.signature(pairing.forward)
        if pairing.forward_output is not None:
            return (pairing.forward_output,)
        names = [n for n in signature.returns if n != signature.opaque]
        return (names[0],) if names else ()

    def reference_inputs(self, function: str, case: str) -> dict[str, Any]:
        """What the reference's ``function`` is given on ``case``: the case's inputs, and for a
        backward, the upstream gradient and the reference forward's own cache."""
        inputs = self.shared_inputs(case)
        pairing = self.pairings.get(function)
        if pairing is not None:
            forward = self.reference(pairing.forward, inputs)
            inputs[pairing.upstream] = self.upstream(function, case)
            inputs[pairing.cache] = forward[self.signature(pairing.forward).opaque]
        return inputs

    def student_inputs(self, function: str, case: str) -> dict[str, Any]:
        """What the student's ``function`` is given on ``case``: for a backward, the upstream
        gradient and a handle to the cache the student's own forward left on the case."""
        inputs = self.shared_inputs(case)
        pairing = self.pairings.get(function)
        if pairing is not None:
            inputs[pairing.upstream] = self.upstream(function, case)
            inputs[pairing.cache] = Handle(f"{pairing.forward}:{case}")
        return inputs

    def tolerance(self, check: Check, case: str) -> tuple[float, float]:
        """(rtol, floor) of ``check`` on ``case``: the rubric's, widened to FLOAT32_MARGIN times
        what the case itself costs an answer computed in float32 (``rounding``), so that a correct
        float32 answer never fails where the inputs make its rounding error large (a sum that
        cancels, N = 1), and is not widened where they do not."""
        rtol, floor = self.rubric.tolerance(check)
        return max(rtol, FLOAT32_MARGIN * self.rounding(check.function, case, check.path, floor)), floor

    def judged_rtol(self, check: Check, case: str, error: float) -> float:
        """The tolerance ``error`` on ``case`` is judged by: the rubric's when the error is
        within it, else the case's widened one (``tolerance``). The same verdicts as the widened
        tolerance everywhere, which is never narrower; the float32 reference runs only for an
        answer the rubric's tolerance alone would fail."""
        rtol = self.rubric.tolerance(check)[0]
        return rtol if error <= rtol else self.tolerance(check, case)[0]

    def rounding(self, function: str, case: str, path: tuple[str, ...], floor: float) -> float:
        """The relative error of the reference's own answer at ``path`` on ``case`` when every
        input (and, for a backward, the upstream gradient and its forward) and the answer are
        float32: the error a correct float32 answer cannot avoid on these inputs. 0 where the
        reference cannot run in float32. The float32 answer is computed once per case."""
        key = (function, case, path, floor)
        memo = self.memo.setdefault("rounding", {})
        if key not in memo:
            singles = self.memo.setdefault("single", {})
            if (function, case) not in singles:
                singles[function, case] = self.single(function, self.shared_inputs(case), case)
            memo[key] = rounding_of(singles[function, case], self.expected(function, case), path, floor)
        result: float = memo[key]
        return result

    def single(self, function: str, inputs: dict[str, Any], case: str = "") -> Any:
        """The reference's named answer when every input (for a backward: the upstream gradient
        given, else the case's, and the cache its float32 forward makes) is float32; None where
        the reference cannot run in float32."""
        try:
            pairing = self.pairings.get(function)
            if pairing is not None:
                dout = inputs[pairing.upstream] if pairing.upstream in inputs else self.upstream(function, case)
                inputs = float32({k: v for k, v in inputs.items() if k != pairing.cache})
                forward = self.reference(pairing.forward, inputs)
                inputs[pairing.upstream] = np.asarray(dout).astype(np.float32)
                inputs[pairing.cache] = forward[self.signature(pairing.forward).opaque]
            else:
                inputs = float32(inputs)
            with np.errstate(all="ignore"):
                return self.reference(function, inputs)
        except Exception:  # noqa: BLE001 - a reference that cannot run in float32: no widening
            return None

    def variant_inputs(self, function: str, case: str) -> dict[str, Any]:
        """What a mistakes module's ``answer`` is given: the case's inputs, and for a backward
        the upstream gradient (the variant runs its own forward)."""
        inputs = self.inputs(case)
        pairing = self.pairings.get(function)
        if pairing is not None:
            inputs[pairing.upstream] = self.upstream(function, case)
        return inputs

    def state(self, function: str) -> str:
        """ok, missing or not callable: how the submission defines ``function``."""
        return self.report.functions.get(function, "missing")

    def prefetch(self, checks: tuple[Check, ...]) -> None:
        """Ask the sandbox for every (function, case) answer the checks need, one batch per
        function, a forward's before its backward's."""
        wanted: dict[str, list[str]] = {}
        for check in checks:
            functions = [check.forward, check.function] if check.kind == "vjp" and check.forward else [check.function]
            for function in functions:
                for case in check.cases:
                    if case not in wanted.setdefault(function, []):
                        wanted[function].append(case)
        # Each backward right after its forward: a restarted child has kept no cache.
        forwards = {self.pairings[f].forward for f in wanted if f in self.pairings}
        order = [f for f in wanted if f not in self.pairings and f not in forwards]
        for backward in [f for f in wanted if f in self.pairings]:
            order += [f for f in (self.pairings[backward].forward, backward) if f not in order]
        order += [f for f in wanted if f not in order]
        for function in order:
            self._fetch(function, wanted[function])

    def answer(self, function: str, case: str) -> Outcome:
        if (function, case) not in self._answers:
            self._fetch(function, [case])
        return self._answers[function, case]

    def answered(self, function: str) -> dict[str, Outcome]:
        """The answers of ``function`` fetched so far, by case (nothing new is run)."""
        return {case: outcome for (name, case), outcome in self._answers.items() if name == function}

    def call(self, function: str, inputs: list[dict[str, Any]], keep: list[str | None] | None = None) -> list[Outcome]:
        """Run a student function once per set of inputs (used for finite differences); answers
        named. A forward's cache is kept under ``keep[i]`` (by default, dropped)."""
        if self.state(function) != "ok":
            return [Outcome(RunStatus.ERROR, error=f"{function} is not defined")] * len(inputs)
        args = [self.arguments(function, i) for i in inputs]
        signature = self.signature(function)
        outcomes = self.sandbox.run(
            function, self._parameters[function], args, opaque=signature.opaque_index, keep=keep, updates=signature.updates
        )
        return [replace(o, value=exported_named(o, signature)) if o.status == "ok" else o for o in outcomes]

    def timed(self, function: str, inputs: dict[str, Any], budget: float, deadline: float) -> Timed:
        """Run a student function once, its cost measured by the grader (see ``Sandbox.timed``)."""
        args = self.arguments(function, inputs)
        timed = self.sandbox.timed(function, self._parameters[function], args, budget=budget, deadline=deadline)
        if timed.outcome is not None and timed.outcome.status == "ok":
            timed = replace(timed, outcome=replace(timed.outcome, value=exported_named(timed.outcome, self.signature(function))))
        return timed

    def describe(self, case: str, hidden: bool = False) -> str:
        """``case 'basic' (N=8, D=5, H=7, C=3, lambda=0.1)`` in the assignment's notation."""
        return self.rubric.describe_case(case, hidden)

    def _fetch(self, function: str, cases: list[str]) -> None:
        if self.state(function) != "ok":
            return
        keep: list[str | None] | None = [f"{function}:{c}" for c in cases] if self.signature(function).opaque is not None else None
        outcomes = self.call(function, [self.student_inputs(function, c) for c in cases], keep)
        self._answers.update({(function, c): o for c, o in zip(cases, outcomes, strict=True)})
        pairing = self.pairings.get(function)
        lost = [c for c, o in zip(cases, outcomes, strict=True) if o.status == "error" and o.error.startswith(UNKEPT)]
        if pairing is not None and lost and self.state(pairing.forward) == "ok":
            # the child was restarted since the forward ran (another function crashed it): run
            # the forward again on those cases, then the backward once more
            self.call(pairing.forward, [self.student_inputs(pairing.forward, c) for c in lost], [f"{pairing.forward}:{c}" for c in lost])
            again = self.call(function, [self.student_inputs(function, c) for c in lost])
            self._answers.update({(function, c): o for c, o in zip(lost, again, strict=True)})


def named(value: Any, signature: Signature, arguments: dict[str, Any]) -> Any:
    """A reference's value as a dict of its elements and updated arguments, by name (the value
    itself for a function the rubric gives neither)."""
    if not signature.returns:
        return value
    if len(signature.returns) == 1:
        elements = {signature.returns[0]: value}
    else:
        if not isinstance(value, (tuple, list)) or len(value) != len(signature.returns):
            raise ValueError(f"the reference returned {type(value).__name__}, not a tuple ({', '.join(signature.returns)})")
        elements = dict(zip(signature.returns, value, strict=True))
    return {**elements, **{name: arguments[name] for name in signature.updates}}


def exported_named(outcome: Outcome, signature: Signature) -> Any:
    """A student's exported value, named like ``named``'s: ``{"dict": {element: exported}}``, or
    ``{"wrong_return": what it returned instead}`` when it is not the tuple the rubric says."""
    value = outcome.value
    if not signature.returns:
        return value
    if len(signature.returns) == 1:
        if isinstance(value, dict) and "tuple" in value and len(value["tuple"]) == 1:
            value = value["tuple"][0]  # a 1-tuple for a single value
        elements = {signature.returns[0]: value}
    elif isinstance(value, dict) and "tuple" in value and len(value["tuple"]) == len(signature.returns):
        elements = dict(zip(signature.returns, value["tuple"], strict=True))
    else:
        return {"wrong_return": value, "returns": list(signature.returns)}
    return {"dict": {**elements, **{name: outcome.updated.get(name) for name in signature.updates}}}


def rounding_of(single: Any, expected: Any, path: tuple[str, ...], floor: float) -> float:
    """The relative error at ``path`` of the float32 answer ``single`` (``Context.single``; None:
    no widening), rounded to float32 as a float32 answer arrives, against the float64 answer
    ``expected``; at most MAX_ROUNDING."""
    if single is None:
        return 0.0
    try:
        with np.errstate(all="ignore"):
            got = np.asarray(pick(single, path), dtype=np.float32).astype(np.float64)
        want = np.asarray(pick(expected, path), dtype=np.float64)
        error = relative_error(got, want, floor) if got.shape == want.shape and np.isfinite(got).all() else 0.0
    except Exception:  # noqa: BLE001 - an answer without that place, or not numbers: no widening
        error = 0.0
    return min(error, MAX_ROUNDING)


def pick(value: Any, path: tuple[str, ...]) -> Any:
    """The place ``path`` of a reference's named answer."""
    for step in path:
        value = value[step]
    return value
