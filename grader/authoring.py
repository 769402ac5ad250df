"""``grade check NAME``: an assignment's self-test, for its authors.

It grades simulated students in this process, with the real grading (``grading.run_checks``: the
same checks, diagnoses and credit) and a ``TrustedSandbox`` in place of the sandbox: the
students are the instructor's own trusted code, which answers every call with

- the reference (optionally computed in float32: every input array cast to float32, and every
  output array too), or
- the mistakes module's answer for one mistake and one of its forms (where it does not change
  a function, ``answer`` gives [] and the reference answers),

and checks that

- the reference scores full marks on every seed, in float64 and in float32;
- every form of every mistake loses points on every seed, and every check it fails is
  diagnosed with exactly its code;
- no two mistakes, and no mistake and the reference, give the same answers on every checked
  output (the grader could not tell them apart);
- on each check, the largest float32 error and the smallest error of a mistake sit at least
  MARGIN times below and above the check's tolerance;
- every contract function and checked output has a name in ``[notation]``.

(make_inputs accepting every case, and the mistakes module answering, are tried whenever the
assignment is loaded: ``grader.course.try_assignment``.)
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from grader import arrays
from grader.arrays import fresh
from grader.checks.compare import as_expected, raw_array, relative_error
from grader.checks.context import UNKEPT, Context
from grader.course import Assignment, code, contract
from grader.errors import AssignmentFault
from grader.grading import run_checks
from grader.results import CheckResult, GradingResult
from grader.rubric import Check
from grader.sandbox.inside.child import changed, export, snapshot
from grader.sandbox.interface import Handle, LoadReport, Outcome, RunStatus, Timed

#: how far, as a factor, float32's largest error and the mistakes' smallest must sit from a tolerance
MARGIN = 10.0
#: seeds the reference is graded on, in float64 and in float32
SEEDS = 200
#: seeds every form of every mistake is graded on
MISTAKE_SEEDS = 20
#: what a simulated student's result records as its isolation
TRUSTED = "trusted (grade check)"

Progress = Callable[[str, int, int], None]


# --- the simulated student --------------------------------------------------------------------


@dataclass
class _Kept:
    """What a forward call left inside the sandbox: its inputs by name (for the mistakes module)
    and the reference's own opaque element (for the reference's backward)."""

    inputs: dict[str, Any]
    value: Any


class TrustedSandbox:
    """The surface of ``grader.sandbox.process.Sandbox`` that grading uses, answered in this
    process by the reference or by a mistake variant: no child, no limits (the code is the
    instructor's)."""

    isolation = TRUSTED
    output = ""
    out_of_time = False

    def __init__(
        self,
        assignment: Assignment,
        functions: Iterable[str] | None = None,
        *,
        float32: bool = False,
        mistakes: Iterable[Callable[..., Any]] = (),
        form: int = 0,
    ) -> None:
        self.assignment = assignment
        self.functions = list(assignment.rubric.functions if functions is None else functions)
        self.float32 = float32
        self.mistakes = list(mistakes)
        self.form = form
        self._kept: dict[str, _Kept] = {}

    def __enter__(self) -> TrustedSandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._kept.clear()

    def load(self) -> LoadReport:
        return LoadReport(RunStatus.OK, "", (), dict.fromkeys(self.functions, "ok"))

    def run(
        self,
        function: str,
        names: list[str],
        calls: list[list[Any]],
        *,
        opaque: int | None = None,
        keep: list[str | None] | None = None,
        updates: tuple[str, ...] = (),
    ) -> list[Outcome]:
        """One Outcome per call, exported as the child exports a return value."""
        return [
            self._call(function, names, args, opaque, keep[i] if keep and i < len(keep) else None, tuple(updates))
            for i, args in enumerate(calls)
        ]

    def timed(self, function: str, names: list[str], args: list[Any], *, budget: float, deadline: float) -> Timed:
        """The call, its CPU time measured here; past the budget it counts as stopped, as the
        sandbox would have stopped it."""
        start, wall = time.process_time(), time.monotonic()
        [outcome] = self.run(function, names, [args])
        cost, took = time.process_time() - start, time.monotonic() - wall
        if cost >= budget:
            return Timed(None, cost, took, "budget")
        return Timed(outcome, cost, took)

    # -- answers -----------------------------------------------------------------------------

    def _call(self, function: str, names: list[str], args: list[Any], opaque: int | None, keep_as: str | None, updates: tuple[str, ...]) -> Outcome:
        handles = [a for a in args if _is_handle(a)]
        for handle in handles:
            if handle.name not in self._kept:
                return Outcome(RunStatus.ERROR, error=f"{UNKEPT}: {handle.name} was not kept")
        inputs: dict[str, Any] = {}
        for handle in handles:
            inputs.update(fresh(self._kept[handle.name].inputs))
        inputs.update({n: fresh(a) for n, a in zip(names, args, strict=False) if not _is_handle(a)})
        reference_args = [fresh(self._kept[a.name].value) if _is_handle(a) else self._cast(fresh(a)) for a in args]
        start = time.perf_counter()
        given = snapshot(inputs) if self.mistakes else {}
        answers = self.assignment.variants(function, inputs, self.mistakes) if self.mistakes else []
        if answers:
            if self.form >= len(answers):
                raise AssignmentFault(f"mistakes module's answer for {function}", f"it gave {len(answers)} answers, fewer than the forms")
            value, updated = self._as_returned(function, answers[self.form], updates)
            mutated = [m for n in names if n in given and n not in updates for m in changed(given[n], inputs.get(n), n)]
            cache = self._reference(function, reference_args)[0] if opaque is not None and keep_as else None
        else:
            before = [snapshot(a) for a in reference_args]
            value = cache = self._reference(function, reference_args)[0]
            updated = {u: reference_args[names.index(u)] for u in updates if u in names}
            mutated = [
                m for n, old, new in zip(names, before, reference_args, strict=False) if n not in updates for m in changed(old, new, n)
            ]
        seconds = time.perf_counter() - start
        if keep_as is not None and opaque is not None:
            element = cache[opaque] if isinstance(cache, (tuple, list)) and opaque < len(cache) else None
            self._kept[keep_as] = _Kept(inputs, element)
        fields: dict[str, Any] = {"mutated": tuple(mutated)}
        if "updated" in getattr(Outcome, "__dataclass_fields__", {}):
            fields["updated"] = {u: export(self._output(v)) for u, v in updated.items()}
        return Outcome(RunStatus.OK, _export(self._output(value), opaque), "", seconds, **fields)

    def _reference(self, function: str, args: list[Any]) -> tuple[Any]:
        return (self.assignment.function(function)(*args),)

    def _as_returned(self, function: str, answer: Any, updates: tuple[str, ...]) -> tuple[Any, dict[str, Any]]:
        """A mistake's answer as the function would return it: a tuple in ``returns`` order (from
        a tuple, or a dict by output names), and the updated arguments it names."""
        returns, _, _ = contract(self.assignment.rubric, function)
        updated = {u: answer[u] for u in updates if isinstance(answer, dict) and u in answer}
        if returns and isinstance(answer, dict):
            answer = tuple(answer.get(name) for name in returns)
        return answer, updated

    def _cast(self, value: Any) -> Any:
        return arrays.float32(value) if self.float32 else value

    def _output(self, value: Any) -> Any:
        return arrays.float32(value) if self.float32 else value


def _is_handle(value: Any) -> bool:
    return isinstance(value, Handle)


def _export(value: Any, opaque: int | None) -> Any:
    """As the child exports a return value (``child.call``): a tuple element by element, its
    opaque element kept inside."""
    if isinstance(value, tuple) and opaque is not None and opaque < len(value):
        return {"tuple": [{"kept": True} if i == opaque else export(v) for i, v in enumerate(value)]}
    return export(value)


def simulate(assignment: Assignment, seed: int, **student: Any) -> GradingResult:
    """The grading of a simulated student (``TrustedSandbox``'s keywords) on ``seed``."""
    with TrustedSandbox(assignment, **student) as sandbox:
        return run_checks(assignment, sandbox, seed, TRUSTED)


# --- the self-test ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One simulated wrong student: a mistake in one of its forms."""

    label: str
    mistake: Callable[..., Any]
    form: int

    @property
    def code(self) -> str:
        return code(self.mistake)


@dataclass
class Findings:
    """What ``check_assignment`` found."""

    checks: tuple[Check, ...]
    rows: list[Row]
    #: points lost, the most over the seeds, by row label and check id
    lost: dict[str, dict[str, float]] = field(default_factory=dict)
    #: checks a row failed without exactly its code, by row label
    misdiagnosed: dict[str, set[str]] = field(default_factory=dict)
    #: by check id: the reference's largest relative error, in float64 and float32
    reference_error: dict[str, float] = field(default_factory=dict)
    float32_error: dict[str, float] = field(default_factory=dict)
    #: by check id: the smallest relative error of a mistake that fails it, and whose
    mistake_error: dict[str, tuple[float, str]] = field(default_factory=dict)
    #: by check id: the largest relative error of a mistake that passes it, and whose
    near_pass: dict[str, tuple[float, str]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    seeds: int = 0
    mistake_seeds: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems


def tolerance(assignment: Assignment, check: Check) -> float:
    """The check's rtol, else the rubric's."""
    return assignment.rubric.tolerance(check)[0]


def floor(assignment: Assignment, check: Check) -> float:
    return assignment.rubric.tolerance(check)[1]


def rows_of(assignment: Assignment) -> list[Row]:
    """A row per form of every mistake: ``code`` alone, or ``code#1``, ``code#2``... for several."""
    rows = []
    for mistake in getattr(assignment.mistakes, "MISTAKES", []) if assignment.mistakes else []:
        forms = len(mistake())
        for form in range(forms):
            rows.append(Row(code(mistake) + (f"#{form + 1}" if forms > 1 else ""), mistake, form))
    return rows


def check_assignment(
    assignment: Assignment, *, seeds: int = SEEDS, mistake_seeds: int = MISTAKE_SEEDS, progress: Progress | None = None
) -> Findings:
    """Grade the simulated students and say what is wrong with the assignment (``Findings.problems``)."""
    started = time.monotonic()
    checks = assignment.rubric.checks
    found = Findings(checks, rows_of(assignment), seeds=seeds, mistake_seeds=mistake_seeds)
    tell = progress or (lambda phase, done, total: None)
    for label, float32, store in (("reference", False, found.reference_error), ("reference in float32", True, found.float32_error)):
        failures: dict[str, list[int]] = {}
        examples: dict[str, str] = {}
        for seed in range(seeds):
            result = simulate(assignment, seed, float32=float32)
            for check in result.checks:
                store[check.id] = max(store.get(check.id, 0.0), _error(check))
                if check.score < check.max_score:
                    failures.setdefault(check.id, []).append(seed)
                    examples.setdefault(check.id, _said(check))
            tell(label, seed + 1, seeds)
        for check_id, failed in failures.items():
            found.problems.append(
                f"the {label} loses points on {check_id} on {len(failed)} of {seeds} seeds (seed {failed[0]}: {examples[check_id]})"
            )
    results = _mistakes(assignment, found, tell)
    answers = _distinct(assignment, found)
    _mistake_errors(assignment, found, results, answers)
    _margins(assignment, found)
    found.problems += notation_problems(assignment)
    found.seconds = time.monotonic() - started
    return found


def _mistakes(assignment: Assignment, found: Findings, tell: Progress) -> dict[tuple[str, int], GradingResult]:
    """Grade every row on every mistake seed: the points each loses, and how it is diagnosed."""
    results: dict[tuple[str, int], GradingResult] = {}
    total = len(found.rows) * found.mistake_seeds
    done = 0
    for row in found.rows:
        lost = found.lost.setdefault(row.label, {})
        silent: list[int] = []
        wrong: dict[str, str] = {}
        for seed in range(found.mistake_seeds):
            result = results[row.label, seed] = simulate(assignment, seed, mistakes=[row.mistake], form=row.form)
            if result.score >= result.max_score:
                silent.append(seed)
            for check in result.checks:
                if check.score < check.max_score:
                    lost[check.id] = max(lost.get(check.id, 0.0), check.max_score - check.score)
                    if check.codes != (row.code,) and check.id not in wrong:
                        named = "+".join(check.codes) or "nothing"
                        wrong[check.id] = f"mistake {row.label} fails {check.id} diagnosed as {named}, not {row.code} (seed {seed}: {_said(check)})"
            done += 1
            tell("mistakes", done, total)
        found.misdiagnosed[row.label] = set(wrong)
        found.problems += wrong.values()
        if silent:
            found.problems.append(f"mistake {row.label} loses no points on {len(silent)} of {found.mistake_seeds} seeds (seed {silent[0]})")
        scores: dict[float, list[int]] = {}
        for seed in range(found.mistake_seeds):
            scores.setdefault(round(results[row.label, seed].score, 6), []).append(seed)
        if len(scores) > 1:
            seen = ", ".join(f"{score:g} on {len(seeds)} (seed {seeds[0]})" for score, seeds in sorted(scores.items()))
            found.problems.append(
                f"mistake {row.label} scores differently from draw to draw ({seen} of {found.mistake_seeds} seeds): "
                "its detection depends on the draw; give it a case that exposes it every time"
            )
    return results


def _error(check: CheckResult) -> float:
    error = check.errors.get("rel_error")
    return float(error) if isinstance(error, (int, float)) else 0.0


def _said(check: CheckResult) -> str:
    return " ".join(check.message.replace("{case}", f"case '{check.case}'").replace("{student}", check.student_text).split())[:200]


def _margins(assignment: Assignment, found: Findings) -> None:
    for check in found.checks:
        rtol = tolerance(assignment, check)
        worst = found.float32_error.get(check.id, 0.0)
        if worst > rtol / MARGIN:
            found.problems.append(
                f"{check.id}: the reference in float32 is off by up to {worst:.2g}, within {MARGIN:g}x of the tolerance {rtol:g}: "
                "loosen rtol (or make the cases better conditioned)"
            )
        least = found.mistake_error.get(check.id)
        if least is not None and least[0] < rtol * MARGIN:
            found.problems.append(
                f"{check.id}: mistake {least[1]} fails it by a relative error of only {least[0]:.2g}, within {MARGIN:g}x of the "
                f"tolerance {rtol:g}: a slightly different student could pass; choose cases where the mistake shows more"
            )
        near = found.near_pass.get(check.id)
        if near is not None and near[0] > rtol / MARGIN:
            found.problems.append(
                f"{check.id}: mistake {near[1]} passes it with a relative error of {near[0]:.2g}, within {MARGIN:g}x of the "
                f"tolerance {rtol:g}: a slightly different student could fail, or the mistake go unseen"
            )


def _mistake_errors(
    assignment: Assignment,
    found: Findings,
    results: dict[tuple[str, int], GradingResult],
    answers: dict[int, dict[str, dict[tuple[str, str], np.ndarray | None]]],
) -> None:
    """Per check, the smallest error of a mistake that fails it, and the largest of one that
    passes it. A reference check's error is the largest over its cases (it fails when any
    does), against the reference's answer; another kind's is what the check measured."""
    for (label, seed), result in results.items():
        for check, graded in zip(found.checks, result.checks, strict=True):
            if check.kind == "reference":
                error = max(
                    (_distance(assignment, check, answers[seed][label].get((check.id, c)), answers[seed][""].get((check.id, c))) for c in check.cases),
                    default=0.0,
                )
            else:
                error = _error(graded)
            if graded.status == "failed" and 0 < error < found.mistake_error.get(check.id, (np.inf, ""))[0]:
                found.mistake_error[check.id] = (error, label)
            if graded.status == "passed" and error > found.near_pass.get(check.id, (0.0, ""))[0]:
                found.near_pass[check.id] = (error, label)


def _distance(assignment: Assignment, check: Check, got: np.ndarray | None, want: np.ndarray | None) -> float:
    """The relative error of one answer, infinite where it cannot be compared (no answer, another
    shape, not finite)."""
    shaped = as_expected(got, want.shape) if got is not None and want is not None else None
    if shaped is None or want is None or not (np.isfinite(shaped).all() and np.isfinite(want).all()):
        return float("inf")
    return relative_error(shaped, want, floor(assignment, check))


# --- telling the mistakes apart -----------------------------------------------------------------


def _distinct(assignment: Assignment, found: Findings) -> dict[int, dict[str, dict[tuple[str, str], np.ndarray | None]]]:
    """Each mistake's answers on every checked output of a seed, against each other mistake's
    and the reference's: the same answers everywhere cannot be told apart."""
    alike: dict[tuple[str, str], int] = {}
    every: dict[int, dict[str, dict[tuple[str, str], np.ndarray | None]]] = {}
    for seed in range(found.mistake_seeds):
        reference = checked_answers(assignment, seed, None)
        answers = {row.label: checked_answers(assignment, seed, row) for row in found.rows}
        every[seed] = {"": reference, **answers}
        labels = list(answers)
        for i, first in enumerate(labels):
            if _alike(assignment, answers[first], reference):
                alike.setdefault((first, ""), seed)
            for second in labels[i + 1 :]:
                same_mistake = found.rows[i].mistake is next(r for r in found.rows if r.label == second).mistake
                if not same_mistake and _alike(assignment, answers[first], answers[second]):
                    alike.setdefault((first, second), seed)
    for (first, second), seed in alike.items():
        if second:
            found.problems.append(f"mistakes {first} and {second} give the same answers on every checked output (seed {seed}): the grader cannot tell them apart")
        else:
            found.problems.append(f"mistake {first} gives the reference's answers on every checked output (seed {seed}): it changes nothing the checks see")
    return every


def checked_answers(assignment: Assignment, seed: int, row: Row | None) -> dict[tuple[str, str], np.ndarray | None]:
    """The answer of ``row`` (None: the reference) at every check's output on each of its cases,
    on the inputs grading draws for ``seed``, named as grading names it (``Context``: tuples,
    kept caches, updated arguments)."""
    sandbox = TrustedSandbox(assignment, mistakes=[row.mistake] if row else [], form=row.form if row else 0)
    ctx = Context(assignment, sandbox, sandbox.load(), seed)
    ctx.prefetch(assignment.rubric.checks)
    return {
        (check.id, case): raw_array(ctx.answer(check.function, case).value, check.path)
        for check in assignment.rubric.checks
        for case in check.cases
    }


def _alike(assignment: Assignment, first: dict[tuple[str, str], np.ndarray | None], second: dict[tuple[str, str], np.ndarray | None]) -> bool:
    checks = {c.id: c for c in assignment.rubric.checks}
    for (check_id, case), a in first.items():
        b = second.get((check_id, case))
        if a is None or b is None:
            if a is not b:
                return False
            continue
        shaped = as_expected(a, b.shape)  # the shape rule: axes of length 1 apart
        if shaped is None:
            return False
        a = shaped
        bad_a, bad_b = ~np.isfinite(a), ~np.isfinite(b)
        if bad_a.any() or bad_b.any():
            if not np.array_equal(bad_a, bad_b):
                return False
            a, b = np.where(bad_a, 0.0, a), np.where(bad_b, 0.0, b)
        check = checks[check_id]
        if relative_error(a, b, floor(assignment, check)) > tolerance(assignment, check):
            return False
    return True


def _rng(seed: int, label: str) -> np.random.Generator:
    """As ``Context.rng`` draws a grading's inputs."""
    return np.random.default_rng([seed, zlib.crc32(label.encode())])


# --- notation ---------------------------------------------------------------------------------


def notation_problems(assignment: Assignment) -> list[str]:
    """Every contract function, and every output a check checks, needs a name in [notation]: a
    function by itself or by every output of it that is checked; an element of a tuple return by
    itself or by every key of it that is checked."""
    rubric = assignment.rubric
    notation = rubric.notation
    needed: dict[str, str] = {}
    checked: dict[str, list[str]] = {}  # function -> its checked outputs' notation keys
    for check in rubric.checks:
        output = check.output
        parts = [check.function, *([output] if output else []), *([check.key] if check.key else [])]
        name = ".".join(parts)
        needed.setdefault(name, f"checked by {check.id}")
        checked.setdefault(check.function, []).append(name)
    for function in rubric.functions:
        returns, opaque, _ = contract(rubric, function)
        for element in returns:
            if element in opaque:
                continue
            key = f"{function}.{element}"
            named_keys = [k for k in checked.get(function, []) if k.startswith(key + ".")]
            if key not in notation and not (named_keys and all(k in notation for k in named_keys)):
                needed.setdefault(key, f"an output of {function}")
        if function not in checked:
            needed.setdefault(function, "a contract function")
    problems = []
    for key, why in needed.items():
        if key not in notation:
            problems.append(f'[notation] has no name for "{key}" ({why}): add "{key}" = "..." so that messages can name it')
    return problems


# --- the report -------------------------------------------------------------------------------


def render(found: Findings, assignment: Assignment) -> str:
    """The mistake x check table (lost points; '.' for none; '*' where a failed check is not
    diagnosed with exactly the mistake's code), its legend, and one line per problem."""
    numbers = {check.id: str(n + 1) for n, check in enumerate(found.checks)}
    table: dict[str, list[str]] = {}
    for row in found.rows:
        cells = []
        for check in found.checks:
            lost = found.lost.get(row.label, {}).get(check.id)
            cell = "." if not lost else f"{lost:g}"
            cells.append(cell + ("*" if check.id in found.misdiagnosed.get(row.label, ()) else ""))
        table[row.label] = cells
    width = max([len(n) for n in numbers.values()] + [len(c) for cells in table.values() for c in cells]) + 1
    label_width = max([len(label) for label in table] + [len("mistake")])
    lines = [f"{'mistake':<{label_width}}" + "".join(f"{numbers[c.id]:>{width}}" for c in found.checks)]
    lines += [f"{label:<{label_width}}" + "".join(f"{cell:>{width}}" for cell in cells) for label, cells in table.items()]
    if not found.rows:
        lines.append("(no mistakes module: no mistakes to simulate)")
    lines.append("")
    lines.append(f"checks (relative errors: reference and float32 the largest of {found.seeds} seeds, mistakes the smallest failing one of {found.mistake_seeds}):")
    for check in found.checks:
        least = found.mistake_error.get(check.id)
        mistakes = f"{least[0]:.1g} ({least[1]})" if least else "-"
        lines.append(
            f"{numbers[check.id]:>{len(str(len(numbers)))}} {check.id}: rtol {tolerance(assignment, check):g}, reference "
            f"{found.reference_error.get(check.id, 0.0):.1g}, float32 {found.float32_error.get(check.id, 0.0):.1g}, mistakes {mistakes}"
        )
    lines.append("")
    if found.problems:
        lines.append(f"{len(found.problems)} problem(s):")
        lines += [f"- {p}" for p in found.problems]
    else:
        lines.append(f"{assignment.name}: no problems ({found.seconds:.1f} s).")
    return "\n".join(lines)


