"""A course directory: ``rubrics/NAME.toml`` and ``reference/MODULE.py`` for each assignment."""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import inspect
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from grader.arrays import fresh
from grader.errors import AssignmentFault, CourseError, RubricError, UnknownAssignment
from grader.rubric import Check, Rubric, load_rubric

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")  # used with fullmatch: "^...$" accepts "name\n"


@dataclass(frozen=True)
class Assignment:
    rubric: Rubric
    reference: ModuleType
    #: changes whenever the rubric, the reference or its mistakes change: results carry it
    version: str
    #: the mistake variants (``MISTAKES`` and ``answer``), when the rubric names a module
    mistakes: ModuleType | None = None

    @property
    def name(self) -> str:
        return self.rubric.name

    def function(self, name: str) -> Callable[..., Any]:
        """The reference's function ``name``; whatever it raises comes out as an AssignmentFault,
        so that a broken reference is never taken for a student's failure."""
        return _guarded_reference(self.reference, name)

    def parameters(self, name: str) -> list[str]:
        """The argument names of a contract function, in order, from the reference."""
        return list(inspect.signature(getattr(self.reference, name)).parameters)

    def variants(self, function: str, inputs: dict[str, Any], mistakes: list[Callable[..., Any]]) -> list[Any]:
        """The mistakes module's answers of ``function`` on ``inputs`` with ``mistakes``, one per
        combination of their forms; [] where they do not change ``function`` (or there is no
        module). Whatever ``answer`` raises, or an answer that is not a list, is an AssignmentFault."""
        if self.mistakes is None:
            return []
        what = f"mistakes module's answer for {function} with {'+'.join(code(m) for m in mistakes)}"
        try:
            answers = self.mistakes.answer(function, inputs, mistakes)
        except (Exception, SystemExit) as exc:  # any failure of the author's code
            raise AssignmentFault.of(what, exc) from exc
        if not isinstance(answers, list):
            raise AssignmentFault(what, f"it returned a {type(answers).__name__}, not a list of answers")
        return answers


class Course:
    def __init__(self, root: Path | str = ".") -> None:
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise CourseError(f"course directory {self.root} does not exist.")

    def names(self) -> list[str]:
        return sorted(p.stem for p in (self.root / "rubrics").glob("*.toml"))

    def assignment(self, name: str) -> Assignment:
        """Load and check an assignment; raise UnknownAssignment, RubricError or CourseError."""
        path = self.root / "rubrics" / f"{name}.toml"
        if not _NAME.fullmatch(name) or not path.is_file():
            known = ", ".join(self.names()) or "none"
            raise UnknownAssignment(
                f"no assignment {name!r} in {self.root} (no rubrics/NAME.toml); known: {known}."
            )
        rubric = load_rubric(path)
        if rubric.name != name:
            raise RubricError(f"{path}: [assignment] name is {rubric.name!r}, but the file is named {name!r}.")
        reference_path = self.root / "reference" / f"{rubric.reference}.py"
        module = _import(reference_path, f"grader_reference_{name}")
        wanted = list(rubric.functions) + ["make_inputs"]
        missing = [f for f in wanted if not callable(getattr(module, f, None))]
        if missing:
            raise RubricError(f"{reference_path} does not define {', '.join(missing)}.")
        digest = hashlib.sha256(rubric.digest.encode() + reference_path.read_bytes())
        mistakes = None
        if rubric.mistakes:
            mistakes_path = self.root / "reference" / f"{rubric.mistakes}.py"
            # The variants import the reference by its own name (``import backprop``).
            aliased = sys.modules.get(rubric.reference)
            sys.modules[rubric.reference] = module
            try:
                mistakes = _import(mistakes_path, f"grader_mistakes_{name}")
            finally:
                if aliased is None:
                    del sys.modules[rubric.reference]
                else:
                    sys.modules[rubric.reference] = aliased
            if not isinstance(getattr(mistakes, "MISTAKES", None), list) or not callable(getattr(mistakes, "answer", None)):
                raise RubricError(f"{mistakes_path} must define a MISTAKES list and an answer(function, inputs, mistakes) function.")
            digest.update(mistakes_path.read_bytes())
        assignment = Assignment(rubric, module, digest.hexdigest()[:16], mistakes)
        key = (str(path), assignment.version)
        if key not in _TRIED:  # the same files are tried once per process
            try_assignment(assignment, path)
            _TRIED.add(key)
        return assignment


def _import(path: Path, module_name: str) -> ModuleType:
    if not path.is_file():
        raise CourseError(f"the reference module {path} does not exist.")
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise CourseError(f"{path} cannot be imported.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - any failure of the author's module; SystemExit: an unguarded sys.exit()
        del sys.modules[module_name]
        raise CourseError(f"{path} fails to import: {type(exc).__name__}: {exc}.") from None
    return module


def code(mistake: Callable[..., Any]) -> str:
    """A mistake's diagnosis code: its function's name with dashes (``bias-not-summed``)."""
    return str(getattr(mistake, "__name__", mistake)).replace("_", "-")


@functools.lru_cache(maxsize=1024)
def _guarded_reference(reference: ModuleType, name: str) -> Callable[..., Any]:
    """``Assignment.function``'s wrapper, made once per function of a loaded reference."""
    return _guarded(getattr(reference, name), f"reference's {name}")


def _guarded(function: Callable[..., Any], what: str) -> Callable[..., Any]:
    @functools.wraps(function)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except (Exception, SystemExit) as exc:  # any failure of the author's code
            raise AssignmentFault.of(what, exc) from exc

    return guarded


# --- trying an assignment's code when it is loaded --------------------------------------------

#: (rubric path, version) of the assignments this process has tried: loading again is free
_TRIED: set[tuple[str, str]] = set()


def contract(rubric: Rubric, function: str) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """``returns``, ``opaque`` and ``updates`` of a contract function (``[functions.NAME]``),
    each () where the rubric says nothing."""
    signature = rubric.signature(function)
    return signature.returns, (signature.opaque,) if signature.opaque else (), signature.updates


def input_functions(assignment: Assignment, check: Check) -> list[str]:
    """The functions a check calls with arguments from make_inputs (by name): a vjp check's
    backward takes the upstream gradient and the forward's cache instead."""
    if check.kind == "vjp":
        names = [check.forward, check.kinks]
    else:
        names = [check.function, check.loss]
        if check.kind == "gradcheck" and callable(getattr(assignment.reference, "kinks", None)):
            names.append("kinks")
    return [n for n in names if n and callable(getattr(assignment.reference, n, None))]


def named_cases(check: Check) -> list[str]:
    """Every case a check uses: its cases, and its probe."""
    return list(dict.fromkeys([*check.cases, *([check.probe] if check.probe else [])]))


def upstream(assignment: Assignment, check: Check, inputs: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    """A vjp check's backward inputs as the mistakes module gets them: the case's inputs and the
    upstream gradient, standard normal, shaped like the reference forward's checked output."""
    forward = str(check.forward)
    value = getattr(assignment.reference, forward)(*[inputs[p] for p in assignment.parameters(forward)])
    returns, opaque, _ = contract(assignment.rubric, forward)
    if isinstance(value, (tuple, list)):
        shown = [n for n in returns if n not in opaque]
        element = check.forward_output or (shown[0] if shown else None)
        value = value[returns.index(element)] if element in returns else value[0]
    name = check.upstream or assignment.parameters(check.function)[0]
    return {**inputs, name: rng.standard_normal(np.shape(value))}


def try_assignment(assignment: Assignment, path: Path) -> None:
    """Call the assignment's code once the way grading will, so that a broken assignment is the
    instructor's one-line RubricError at load, not every student's failed check: make_inputs on
    every case (it gives every argument of the functions the checks call), every mistake's forms,
    and ``answer`` of every mistake for every checked function, on the first case of its checks."""
    rubric, module = assignment.rubric, assignment.reference
    inputs: dict[str, dict[str, Any]] = {}
    for name, spec in rubric.cases.items():
        arguments = ", ".join(f"{k}={v!r}" for k, v in spec.arguments.items())
        try:
            made = module.make_inputs(np.random.default_rng(0), **spec.arguments)
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - any failure of the author's code
            raise RubricError(f"{path}: case {name!r}: make_inputs({arguments}) fails: {_reason(exc)}.") from None
        if not isinstance(made, dict):
            raise RubricError(f"{path}: case {name!r}: make_inputs({arguments}) returned a {type(made).__name__}, not a dict of arguments by name.")
        inputs[name] = made
    for check in rubric.checks:
        for function in input_functions(assignment, check):
            wanted = assignment.parameters(function)
            for case in named_cases(check):
                missing = [p for p in wanted if p not in inputs[case]]
                if missing:
                    raise RubricError(
                        f"{path}: case {case!r}: make_inputs gives no {', '.join(missing)}, argument(s) of "
                        f"{function}({', '.join(wanted)}), which check {check.id!r} calls."
                    )
    if assignment.mistakes is not None:
        _try_mistakes(assignment, path, inputs)


def _try_mistakes(assignment: Assignment, path: Path, inputs: dict[str, dict[str, Any]]) -> None:
    mistakes_path = path.parent.parent / "reference" / f"{assignment.rubric.mistakes}.py"
    entries = getattr(assignment.mistakes, "MISTAKES", [])
    forms: dict[str, int] = {}
    for mistake in entries:
        if not callable(mistake):
            raise RubricError(f"{mistakes_path}: MISTAKES holds {mistake!r}, which is not a function returning the mistake's forms.")
        try:
            made = mistake()
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - any failure of the author's code
            raise RubricError(f"{mistakes_path}: mistake {code(mistake)} fails: {_reason(exc)}.") from None
        if not isinstance(made, list) or not made or not all(isinstance(f, dict) for f in made):
            raise RubricError(f"{mistakes_path}: mistake {code(mistake)} must return a non-empty list of forms (dicts), not {made!r:.60}.")
        forms[code(mistake)] = len(made)
    first: dict[str, Check] = {}
    for check in assignment.rubric.checks:
        first.setdefault(check.function, check)
    for function, check in first.items():
        case = check.cases[0]
        given = inputs[case]
        if check.kind == "vjp":
            given = upstream(assignment, check, given, np.random.default_rng(0))
        for mistake in entries:
            try:
                answers = assignment.variants(function, fresh(given), [mistake])
            except AssignmentFault as exc:
                raise RubricError(
                    f"{mistakes_path}: answer({function!r}, inputs of case {case!r}, [{code(mistake)}]) fails: {exc.reason}; "
                    f"it must return [] for a function the mistake does not change."
                ) from None
            if answers and len(answers) != forms[code(mistake)]:
                raise RubricError(
                    f"{mistakes_path}: answer({function!r}, inputs of case {case!r}, [{code(mistake)}]) gives {len(answers)} answers "
                    f"for a mistake of {forms[code(mistake)]} form(s): one per form, or [] where it does not change {function}."
                )


def _reason(exc: BaseException) -> str:
    return " ".join(f"{type(exc).__name__}: {exc}".split())[:200]
