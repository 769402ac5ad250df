"""What every check of one grading shares: the cases' inputs, the reference's answers, and
the student's answers, each computed once.

The reference runs here, in the grader, on its own deep copies of the inputs; the student's
functions run in the sandbox on serialized copies, so neither can disturb the other.
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np

from grader.course import Assignment
from grader.rubric import Check
from grader.sandbox.interface import LoadReport, Outcome, RunStatus, Timed
from grader.sandbox.process import Sandbox


class Context:
    def __init__(self, assignment: Assignment, sandbox: Sandbox, report: LoadReport, seed: int) -> None:
        self.assignment = assignment
        self.rubric = assignment.rubric
        self.sandbox = sandbox
        self.report = report
        self.seed = seed
        self._inputs: dict[str, dict[str, Any]] = {}
        self._expected: dict[tuple[str, str], Any] = {}
        self._answers: dict[tuple[str, str], Outcome] = {}
        self._parameters: dict[str, list[str]] = {}
        #: what other modules compute once per grading (diagnosis: the mistake variants' answers)
        self.memo: dict[str, Any] = {}

    def rng(self, label: str) -> np.random.Generator:
        """A generator determined by the stored seed and a label, so a regrade reproduces it."""
        return np.random.default_rng([self.seed, zlib.crc32(label.encode())])

    def inputs(self, case: str) -> dict[str, Any]:
        """The case's inputs; callers get a deep copy and may change it."""
        if case not in self._inputs:
            spec = self.rubric.cases[case]
            self._inputs[case] = self.assignment.function("make_inputs")(self.rng(f"case:{case}"), **spec.arguments)
        return _fresh(self._inputs[case])

    def arguments(self, function: str, inputs: dict[str, Any]) -> list[Any]:
        if function not in self._parameters:
            self._parameters[function] = self.assignment.parameters(function)
        return [inputs[name] for name in self._parameters[function]]

    def reference(self, function: str, inputs: dict[str, Any]) -> Any:
        """The reference's answer on fresh copies of ``inputs``."""
        return self.assignment.function(function)(*[_fresh(a) for a in self.arguments(function, inputs)])

    def expected(self, function: str, case: str) -> Any:
        if (function, case) not in self._expected:
            self._expected[function, case] = self.reference(function, self.inputs(case))
        return self._expected[function, case]

    def state(self, function: str) -> str:
        """ok, missing or not callable: how the submission defines ``function``."""
        return self.report.functions.get(function, "missing")

    def prefetch(self, checks: tuple[Check, ...]) -> None:
        """Ask the sandbox for every (function, case) answer the checks need, one batch per function."""
        wanted: dict[str, list[str]] = {}
        for check in checks:
            for case in check.cases:
                if case not in wanted.setdefault(check.function, []):
                    wanted[check.function].append(case)
        for function, cases in wanted.items():
            self._fetch(function, cases)

    def answer(self, function: str, case: str) -> Outcome:
        if (function, case) not in self._answers:
            self._fetch(function, [case])
        return self._answers[function, case]

    def answered(self, function: str) -> dict[str, Outcome]:
        """The answers of ``function`` fetched so far, by case (nothing new is run)."""
        return {case: outcome for (name, case), outcome in self._answers.items() if name == function}

    def call(self, function: str, inputs: list[dict[str, Any]]) -> list[Outcome]:
        """Run a student function once per set of inputs (used for finite differences)."""
        if self.state(function) != "ok":
            return [Outcome(RunStatus.ERROR, error=f"{function} is not defined")] * len(inputs)
        args = [self.arguments(function, i) for i in inputs]
        return self.sandbox.run(function, self._parameters[function], args)

    def timed(self, function: str, inputs: dict[str, Any], budget: float, deadline: float) -> Timed:
        """Run a student function once, its cost measured by the grader (see ``Sandbox.timed``)."""
        args = self.arguments(function, inputs)
        return self.sandbox.timed(function, self._parameters[function], args, budget=budget, deadline=deadline)

    def describe(self, case: str, hidden: bool = False) -> str:
        """``case 'basic' (N=8, D=5, H=7, C=3, lambda=0.1)`` in the assignment's notation."""
        return self.rubric.describe_case(case, hidden)

    def _fetch(self, function: str, cases: list[str]) -> None:
        if self.state(function) != "ok":
            return
        outcomes = self.call(function, [self.inputs(c) for c in cases])
        self._answers.update({(function, c): o for c, o in zip(cases, outcomes, strict=True)})


def _fresh(value: Any) -> Any:
    """A copy of every array in ``value`` (much faster than copy.deepcopy for these inputs)."""
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, dict):
        return {k: _fresh(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_fresh(v) for v in value)
    return value
