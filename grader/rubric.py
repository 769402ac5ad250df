"""Rubrics: TOML data saying which checks an assignment has, on which inputs, for how many points.

A rubric (``rubrics/NAME.toml``) has the sections::

    [assignment]  name, title, reference (module in reference/), functions (the contract),
                  mistakes (optional module in reference/ of mistake variants, for diagnoses)
    [tolerance]   rtol, floor          relative error = ||got - expected|| / max(||expected||, floor)
    [limits]      load_timeout, call_timeout (seconds), memory_mb, processes
    [notation]    how messages name things: "loss" = "J", "gradients.W1" = "dJ/dW1", reg = "lambda"
    [cases.NAME]  keyword arguments of the reference's make_inputs(rng, ...), and an optional note
    [[parts]]     id, title, credit (diagnosis code -> share of a check's points it still earns),
                  and [[parts.checks]]: id, kind, function, key, cases, points, hidden,
                  and for kind = "gradcheck": loss, wrt, samples, directions

Every check's id starts with its part's id. See the README for the full format.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from grader.errors import RubricError
from grader.sandbox.interface import Limits

CHECK_KINDS = ("reference", "gradcheck")


@dataclass(frozen=True)
class Case:
    name: str
    arguments: dict[str, Any]
    note: str = ""


@dataclass(frozen=True)
class Check:
    id: str
    part: str
    kind: str
    function: str
    points: float
    cases: tuple[str, ...]
    key: str | None = None
    hidden: bool = False
    loss: str | None = None  # gradcheck: the scalar function whose gradient this is
    wrt: str | None = None  # gradcheck: the argument holding the parameter (``params``)
    samples: int = 6  # gradcheck: coordinates checked
    directions: int = 2  # gradcheck: random directions checked


@dataclass(frozen=True)
class Part:
    id: str
    title: str
    checks: tuple[Check, ...]
    #: partial credit: a check failed (or passed) with only these diagnoses earns this share
    credit: dict[str, float] = field(default_factory=dict)

    @property
    def points(self) -> float:
        return float(sum(c.points for c in self.checks))


@dataclass(frozen=True)
class Rubric:
    name: str
    title: str
    reference: str
    functions: tuple[str, ...]
    cases: dict[str, Case]
    parts: tuple[Part, ...]
    rtol: float = 1e-3
    floor: float = 1e-6
    limits: Limits = Limits()
    notation: dict[str, str] = field(default_factory=dict)
    digest: str = ""
    mistakes: str | None = None

    @property
    def checks(self) -> tuple[Check, ...]:
        return tuple(c for p in self.parts for c in p.checks)

    @property
    def max_score(self) -> float:
        return float(sum(p.points for p in self.parts))

    def name_of(self, function: str, key: str | None = None) -> str:
        """How the assignment writes an output: ``dJ/dW1`` for ("gradients", "W1")."""
        full = f"{function}.{key}" if key else function
        return self.notation.get(full, f"{function}()[{key!r}]" if key else f"{function}()")


def load_rubric(path: Path) -> Rubric:
    """Parse and validate a rubric file; raise RubricError naming the file and the problem."""
    try:
        raw = path.read_bytes()
        data = tomllib.loads(raw.decode("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise RubricError(f"{path}: not a readable TOML file ({exc}).") from None
    try:
        return _build(data, hashlib.sha256(raw).hexdigest())
    except RubricError as exc:
        raise RubricError(f"{path}: {exc}") from None
    except (AttributeError, KeyError, TypeError, ValueError) as exc:  # e.g. tolerance = 3, not a table
        raise RubricError(f"{path}: malformed rubric ({type(exc).__name__}: {exc}).") from None


def _build(data: dict[str, Any], digest: str) -> Rubric:
    head = _table(data, "assignment")
    functions = tuple(_required(head, "functions", list, "assignment"))
    cases = {}
    for name, spec in _table(data, "cases").items():
        spec = dict(spec)
        cases[name] = Case(name, spec, str(spec.pop("note", "")))
    if not cases:
        raise RubricError("it defines no [cases.NAME] table.")
    parts = tuple(_part(p, functions, cases) for p in _required(data, "parts", list, "rubric"))
    ids = [c.id for p in parts for c in p.checks] + [p.id for p in parts]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise RubricError(f"the id {duplicates[0]!r} is used twice; ids must be unique.")
    tolerance = data.get("tolerance", {})
    limits = data.get("limits", {})
    return Rubric(
        name=str(_required(head, "name", str, "assignment")),
        title=str(head.get("title", head["name"])),
        reference=str(head.get("reference", head["name"])),
        mistakes=str(head["mistakes"]) if "mistakes" in head else None,
        functions=functions,
        cases=cases,
        parts=parts,
        rtol=_positive(tolerance, "rtol", 1e-3),
        floor=_positive(tolerance, "floor", 1e-6),
        limits=Limits(
            load_timeout=_positive(limits, "load_timeout", Limits.load_timeout),
            call_timeout=_positive(limits, "call_timeout", Limits.call_timeout),
            memory_mb=int(_positive(limits, "memory_mb", Limits.memory_mb)),
            processes=int(_positive(limits, "processes", Limits.processes)),
        ),
        notation={str(k): str(v) for k, v in data.get("notation", {}).items()},
        digest=digest,
    )


def _part(data: dict[str, Any], functions: tuple[str, ...], cases: dict[str, Case]) -> Part:
    part_id = str(_required(data, "id", str, "part"))
    checks = tuple(_check(c, part_id, functions, cases) for c in _required(data, "checks", list, f"part {part_id!r}"))
    if not checks:
        raise RubricError(f"part {part_id!r} has no checks.")
    credit = data.get("credit", {})
    if not isinstance(credit, dict) or not all(type(v) in (int, float) and 0 <= v <= 1 for v in credit.values()):
        raise RubricError(f"part {part_id!r} has a credit table whose shares are not all numbers from 0 to 1.")
    return Part(part_id, str(data.get("title", part_id)), checks, {str(k): float(v) for k, v in credit.items()})


def _check(data: dict[str, Any], part: str, functions: tuple[str, ...], cases: dict[str, Case]) -> Check:
    check_id = str(_required(data, "id", str, f"a check of part {part!r}"))
    where = f"check {check_id!r}"
    if not check_id.startswith(part):
        raise RubricError(f"{where} must have an id starting with its part's id {part!r}.")
    kind = _required(data, "kind", str, where)
    if kind not in CHECK_KINDS:
        raise RubricError(f"{where} has kind {kind!r}; use one of {', '.join(CHECK_KINDS)}.")
    function = _required(data, "function", str, where)
    for name in (function, data.get("loss")):
        if name is not None and name not in functions:
            raise RubricError(f"{where} names function {name!r}, which is not in [assignment] functions.")
    check_cases = tuple(_required(data, "cases", list, where))
    unknown = [c for c in check_cases if c not in cases]
    if unknown or not check_cases:
        raise RubricError(f"{where} names unknown case {unknown[0]!r}." if unknown else f"{where} lists no cases.")
    points = data.get("points")
    if type(points) not in (int, float) or points <= 0:
        raise RubricError(f"{where} needs points, a positive number.")
    if kind == "gradcheck":
        for name in ("loss", "wrt", "key"):
            _required(data, name, str, where)
    if "key" in data and not isinstance(data["key"], str):
        raise RubricError(f"{where} has a key that is not a string.")
    return Check(
        id=check_id,
        part=part,
        kind=kind,
        function=function,
        points=float(points),
        cases=check_cases,
        key=data.get("key"),
        hidden=bool(data.get("hidden", False)),
        loss=data.get("loss"),
        wrt=data.get("wrt"),
        samples=int(data.get("samples", 6)),
        directions=int(data.get("directions", 2)),
    )


def _table(data: dict[str, Any], name: str) -> dict[str, Any]:
    return _required(data, name, dict, "rubric")


def _required(data: dict[str, Any], name: str, kind: type, where: str) -> Any:
    value = data.get(name)
    if not isinstance(value, kind):
        noun = {dict: "a table", list: "a list", str: "a string"}[kind]
        raise RubricError(f"{where} needs {name!r}, {noun}.")
    return value


def _positive(data: dict[str, Any], name: str, default: float) -> float:
    value = data.get(name, default)
    if type(value) not in (int, float) or value <= 0:
        raise RubricError(f"{name} must be a positive number, not {value!r}.")
    return float(value)
