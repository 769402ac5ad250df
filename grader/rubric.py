"""Rubrics: TOML data saying which checks an assignment has, on which inputs, for how many points.

A rubric (``rubrics/NAME.toml``) has the sections::

    [assignment]  name, title, reference (module in reference/), functions (the contract),
                  mistakes (optional module in reference/ of mistake variants, for diagnoses)
    [tolerance]   rtol, floor          relative error = ||got - expected|| / max(||expected||, floor)
    [limits]      load_timeout, call_timeout, total_timeout (seconds), memory_mb, processes
    [notation]    how messages name things: "loss" = "J", "gradients.W1" = "dJ/dW1", reg = "lambda"
    [functions.NAME]  returns (a tuple's element names), opaque (the one element kept in the
                  sandbox: a cache), updates (arguments meant to be updated in place)
    [policy]      opens, due, closes (ISO 8601 with offset), late_penalty_per_day, max_submissions,
                  rate ("3/10min"), max_upload_kb: every key optional (``grader.policy``)
    [environment] packages: distributions a submission may import beyond the standard library and
                  numpy ("scipy", "scipy>=1.11"), installed in the grader's Python (``grader.environment``)
    [cases.NAME]  keyword arguments of the reference's make_inputs(rng, ...), and an optional note
    [[parts]]     id, title, credit (diagnosis code -> share of a check's points it still earns),
                  and [[parts.checks]]: id, kind, function, output, key, cases, points, hidden,
                  rtol, floor; for kind = "gradcheck": loss, loss_output, wrt, samples,
                  directions, probe (a case on which the gradient's cost is measured:
                  numerical-gradient); for kind = "vjp": forward, wrt, wrt_key, forward_output,
                  upstream, kinks, probe (the backward is timed against the forward)

Every check's id starts with its part's id. See the README for the full format.

The file is validated by the pydantic models ``RubricSpec`` and below, which say what the file
may contain: a key they do not define is refused (only ``[notation]``, ``[cases.NAME]`` and
``credit`` take keys of the author's choosing), and checks are a union on ``kind``. A valid file
becomes the frozen dataclasses ``Rubric``, ``Part``, ``Check`` and ``Case`` the grader uses.

A new kind of check is one more class ``...CheckSpec`` in ``CheckSpec`` below (with
``kind: Literal["name"]``, its settings, and the functions it calls in ``functions()``), and its
function in ``grader.checks.registry.KINDS``; a setting no kind had before also becomes a ``Check`` field.

Every problem is a ``RubricError`` of one line: the file, where in it, and what is wrong, e.g.
``rubrics/hw.toml: parts[1].checks[0] (check 'q2_dW'): needs points, a positive number.``
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import re
import tomllib
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError

from grader.errors import RubricError
from grader.policy import Policy, Rate
from grader.sandbox.inside.child import MAX_PROGRAM_BYTES
from grader.sandbox.interface import Limits

#: a place in the file, as pydantic gives it: ("parts", 1, "checks", 0, "gradcheck", "points")
Loc = tuple[str | int, ...]

# --- what grading uses ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    arguments: dict[str, Any]
    note: str = ""


@dataclass(frozen=True)
class Signature:
    """``[functions.NAME]``: what a contract function returns and what it updates."""

    #: names of the returned tuple's elements, in order; one name: the value itself, named
    returns: tuple[str, ...] = ()
    #: the element that stays in the sandbox (a forward pass's cache): a handle crosses instead
    opaque: str | None = None
    #: arguments the function is meant to update in place: read back after the call as outputs
    #: named by the argument, and never a ``mutates-input``
    updates: tuple[str, ...] = ()

    @property
    def opaque_index(self) -> int | None:
        return self.returns.index(self.opaque) if self.opaque is not None and len(self.returns) > 1 else None


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
    #: the element of a tuple return (or an updated argument) the check grades; ``key`` then
    #: names an entry of it, when it is a dict
    output: str | None = None
    rtol: float | None = None  # overrides [tolerance] for this check
    floor: float | None = None
    loss: str | None = None  # gradcheck: the scalar function whose gradient this is
    loss_output: str | None = None  # gradcheck: the loss's element, when it returns a tuple
    wrt: str | None = None  # gradcheck, vjp: the argument holding the parameter (``params``, ``x``)
    wrt_key: str | None = None  # vjp: the entry of a dict argument ``wrt``
    samples: int = 6  # gradcheck: coordinates checked
    directions: int = 2  # gradcheck: random directions checked
    probe: str | None = None  # gradcheck, vjp: the case on which the function's cost is measured
    forward: str | None = None  # vjp: the forward pass whose backward ``function`` is
    forward_output: str | None = None  # vjp: the forward's output the upstream gradient is of
    upstream: str | None = None  # vjp: the backward's parameter that takes the upstream gradient
    kinks: str | None = None  # vjp: a reference function of the forward's arguments (its signs)

    @property
    def path(self) -> tuple[str, ...]:
        """Where in the function's answer the graded value is: (output, key), each if set."""
        return tuple(step for step in (self.output, self.key) if step is not None)


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
    #: when it takes uploads, how many, how fast, how large, what lateness costs
    policy: Policy = Policy()
    #: ``[functions.NAME]``: what each function returns and updates (a missing one: a value)
    signatures: dict[str, Signature] = field(default_factory=dict)
    #: ``[environment] packages``: requirements (PEP 508 names, maybe with a version specifier)
    #: of the distributions a submission may import beyond the standard library and numpy
    packages: tuple[str, ...] = ()
    #: ``[environment] preload``: modules the sandbox imports before it forks a submission
    preload: tuple[str, ...] = ()

    @property
    def checks(self) -> tuple[Check, ...]:
        return tuple(c for p in self.parts for c in p.checks)

    def signature(self, function: str) -> Signature:
        return self.signatures.get(function, Signature())

    def tolerance(self, check: Check) -> tuple[float, float]:
        """(rtol, floor) of ``check``: its own, else the rubric's."""
        return (self.rtol if check.rtol is None else check.rtol, self.floor if check.floor is None else check.floor)

    @property
    def max_score(self) -> float:
        return float(sum(p.points for p in self.parts))

    def name_of(self, function: str, *path: str | None) -> str:
        """How the assignment writes an output: ``dJ/dW1`` for ("gradients", "W1"), ``dL/dW`` for
        ("softmax_loss", "dW"), ``running_mean`` for ("batchnorm_forward", "bn_param",
        "running_mean"): the notation of the whole path, else of its last step, else code."""
        steps = [p for p in path if p is not None]
        full = ".".join([function, *steps])
        if full in self.notation:
            return self.notation[full]
        if steps and f"{function}.{steps[-1]}" in self.notation:
            return self.notation[f"{function}.{steps[-1]}"]
        code = f"{function}()"
        signature = self.signature(function)
        for step in steps:
            code += f".{step}" if step in signature.returns or step in signature.updates else f"[{step!r}]"
        return code

    def describe_case(self, name: str, hidden: bool = False) -> str:
        """``case 'basic' (N=8, D=5, H=7, C=3, lambda=0.1)`` in the assignment's notation, with
        the case's note after a semicolon; ``a hidden case`` for a hidden check."""
        if hidden:
            return "a hidden case"
        case = self.cases[name]
        values = ", ".join(
            f"{self.notation.get(k, k)}={v:g}" if isinstance(v, float) else f"{self.notation.get(k, k)}={v}"
            for k, v in case.arguments.items()
        )
        note = f"; {case.note}" if case.note else ""
        return f"case '{name}' ({values}{note})"


def load_rubric(path: Path) -> Rubric:
    """Parse and validate a rubric file; raise RubricError naming the file, the place and the problem."""
    try:
        raw = path.read_bytes()
        data = tomllib.loads(raw.decode("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise RubricError(f"{path}: not a readable TOML file ({exc}).") from None
    try:
        spec = RubricSpec.model_validate(data)
    except ValidationError as exc:
        # a key that looks like a misspelling explains the problems it causes ("needs points")
        problems = sorted(exc.errors(include_url=False), key=lambda e: not _misspelt(e))
        first = _explain(problems[0], data)
        count = f"{len(problems)} problems; first: " if len(problems) > 1 else ""
        raise RubricError(f"{path}: {count}{first}.") from None
    return spec.rubric(grading_digest(data))


def grading_digest(data: dict[str, Any]) -> str:
    """What the rubric's version is made of: everything that decides a grade, and not the
    ``[policy]`` (when and how often students may submit, what lateness costs) and not
    ``[environment] preload`` (a speed-up). Moving a due date then neither regrades a class nor
    fails the uploads pending at that moment; neither do comments or layout."""
    graded = {key: value for key, value in data.items() if key != "policy"}
    if isinstance(graded.get("environment"), dict):  # what the sandbox preloads changes no grade
        graded["environment"] = {key: value for key, value in graded["environment"].items() if key != "preload"}
    return hashlib.sha256(json.dumps(graded, sort_keys=True, default=str).encode()).hexdigest()


# --- what the file may say --------------------------------------------------------------------


def _problem(message: str, *at: str | int, kind: str = "rubric") -> PydanticCustomError:
    """A validation error worded by this module, about the place ``at`` (relative to the model
    that raises it). Kinds: "rubric" (``message`` says what is wrong with that place),
    "rubric_field" (what is wrong with the field's table) and "rubric_value" (what the value of
    the field must be)."""
    return PydanticCustomError(kind, "{message}", {"at": at, "message": message})


def _number(wording: str, accept: Callable[[float], bool], integer: bool = False, kind: str = "rubric_value") -> PlainValidator:
    """A TOML number (an integer, if ``integer``; never a boolean or a string) that ``accept``s."""

    def validate(value: object) -> float:
        number = isinstance(value, int | float) and not isinstance(value, bool) and (isinstance(value, int) or not integer)
        if number and math.isfinite(value) and accept(value):  # type: ignore[arg-type]
            return value if integer else float(value)  # type: ignore[arg-type,return-value]
        raise _problem(wording, kind=kind)

    return PlainValidator(validate)


#: Upper bounds of the limits and counts a rubric sets, where a larger value would break the
#: machine rather than grade: a time limit past an hour holds a worker (and outlasts Redis's
#: visibility timeout) and past ~292 years overflows select(); a memory cap past 256 GiB caps
#: nothing on any machine a course runs on (a fixed bound, not this machine's memory, so that a
#: rubric valid on the instructor's laptop is valid on every worker); a process budget is the submission's cgroup's pids.max (a fork bomb's
#: room); each direction costs the grader two evaluations of the reference loss per case.
MAX_SECONDS = 3600
MAX_MEMORY_MB = 256 << 10
MAX_PROCESSES = 64
MAX_DIRECTIONS = 1000

PositiveNumber = Annotated[float, _number("must be a positive number", lambda v: v > 0)]
Seconds = Annotated[float, _number(f"must be a positive number of seconds, at most {MAX_SECONDS}", lambda v: 0 < v <= MAX_SECONDS)]
MemoryMb = Annotated[
    int, _number(f"must be a positive integer, at most {MAX_MEMORY_MB} (256 GiB)", lambda v: 0 < v <= MAX_MEMORY_MB, integer=True)
]
Processes = Annotated[int, _number(f"must be a positive integer, at most {MAX_PROCESSES}", lambda v: 0 < v <= MAX_PROCESSES, integer=True)]
DirectionCount = Annotated[int, _number(f"must be an integer from 0 to {MAX_DIRECTIONS}", lambda v: 0 <= v <= MAX_DIRECTIONS, integer=True)]
Share = Annotated[float, _number("must be a number from 0 to 1", lambda v: 0 <= v <= 1)]
#: a policy's bounds: more uploads than this, or a window longer than a year, is a typo
MAX_SUBMISSIONS = 10_000
MAX_RATE_SECONDS = 366 * 86400
#: an upload larger than the loader takes would be refused anyway
MAX_UPLOAD_KB = MAX_PROGRAM_BYTES >> 10
Submissions = Annotated[
    int | None, _number(f"must be a positive integer, at most {MAX_SUBMISSIONS}", lambda v: 0 < v <= MAX_SUBMISSIONS, integer=True)
]
UploadKb = Annotated[
    int | None,
    _number(f"must be a positive integer of KiB, at most {MAX_UPLOAD_KB} (the largest submission the grader reads)", lambda v: 0 < v <= MAX_UPLOAD_KB, integer=True),
]
#: required: the default 0 is refused, so a missing value reads as a wrong one
Points = Annotated[float, _number("needs points, a positive number", lambda v: v > 0, kind="rubric_field")]


class _Table(BaseModel):
    """A TOML table whose keys are all known: any other key is a typo, and refused."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class AssignmentSpec(_Table):
    name: str
    title: str | None = None
    reference: str | None = None
    functions: list[str]
    mistakes: str | None = None

    @field_validator("functions")
    @classmethod
    def _some_functions(cls, functions: list[str]) -> list[str]:
        if not functions:
            raise _problem("lists no functions", kind="rubric_field")
        return functions


class ToleranceSpec(_Table):
    rtol: PositiveNumber = 1e-3
    floor: PositiveNumber = 1e-6


class LimitsSpec(_Table):
    load_timeout: Seconds = Limits.load_timeout
    call_timeout: Seconds = Limits.call_timeout
    total_timeout: Seconds = Limits.total_timeout
    memory_mb: MemoryMb = Limits.memory_mb
    processes: Processes = Limits.processes

    def limits(self) -> Limits:
        return Limits(
            load_timeout=self.load_timeout,
            call_timeout=self.call_timeout,
            total_timeout=self.total_timeout,
            memory_mb=self.memory_mb,
            processes=self.processes,
        )


def _moment(value: object) -> datetime:
    """A time with its UTC offset: a TOML offset date-time, or a string in ISO 8601 with one."""
    moment = value
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            moment = None
    if isinstance(moment, datetime) and moment.utcoffset() is not None:
        return moment
    raise _problem('must be a date and time with its UTC offset, like "2026-12-08T23:59:00-05:00"', kind="rubric_value")


def _rate(value: object) -> Rate:
    try:
        rate = Rate.parse(value) if isinstance(value, str) else None
    except ValueError:
        rate = None
    if rate is None or not (0 < rate.count <= MAX_SUBMISSIONS and 0 < rate.seconds <= MAX_RATE_SECONDS):
        raise _problem(
            f'must be COUNT/WINDOW like "3/10min" (units s, min, h, d), at most {MAX_SUBMISSIONS} uploads and a window of at most 366 d',
            kind="rubric_value",
        )
    return rate


Moment = Annotated[datetime | None, PlainValidator(_moment)]
RateText = Annotated[Rate | None, PlainValidator(_rate)]


class PolicySpec(_Table):
    """``[policy]``: every key optional; without it an assignment is always open, unlimited."""

    opens: Moment = None
    due: Moment = None
    closes: Moment = None
    late_penalty_per_day: Share = 0.0
    max_submissions: Submissions = None
    rate: RateText = None
    max_upload_kb: UploadKb = None

    @model_validator(mode="after")
    def _in_order(self) -> PolicySpec:
        times = [(name, getattr(self, name)) for name in ("opens", "due", "closes") if getattr(self, name) is not None]
        for (earlier, first), (later, then) in zip(times, times[1:], strict=False):
            if then < first:
                raise _problem(f"{later} ({then.isoformat()}) is before {earlier} ({first.isoformat()})", later)
        return self

    def policy(self) -> Policy:
        return Policy(**dict(self))


#: a PEP 508 requirement without extras, markers or URL: a distribution's name (PEP 508's rule:
#: letters, digits, ``.``, ``_``, ``-``, alphanumeric at both ends), maybe a version specifier
_REQUIREMENT = re.compile(
    r"(?P<name>[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)"
    r"\s*(?P<specifier>(?:(?:~=|==|!=|<=|>=|<|>|===)\s*[A-Za-z0-9.*+!_-]+\s*)(?:,\s*(?:~=|==|!=|<=|>=|<|>|===)\s*[A-Za-z0-9.*+!_-]+\s*)*)?"
)


def _requirement(value: object) -> str:
    match = _REQUIREMENT.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise _problem('must be a distribution\'s name as pip knows it, maybe with a version: "scipy" or "scipy>=1.11"', kind="rubric_value")
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    try:
        SpecifierSet(match["specifier"] or "")
    except InvalidSpecifier:
        raise _problem(f"has an invalid version specifier {match['specifier'].strip()!r}", kind="rubric_value") from None
    return str(value).strip()


Requirement = Annotated[str, PlainValidator(_requirement)]


class EnvironmentSpec(_Table):
    """``[environment]``: what a submission may import besides the standard library and numpy."""

    packages: list[Requirement] = Field(default_factory=list)
    #: modules of those packages imported once, in the sandbox's zygote, before it forks the
    #: submissions' processes: a submission importing them pays nothing (scipy.special: ~0.4 s)
    preload: list[str] = Field(default_factory=list)

    @field_validator("preload")
    @classmethod
    def _module_names(cls, modules: list[str]) -> list[str]:
        for module in modules:
            if not all(part.isidentifier() for part in module.split(".")):
                raise _problem(f"names {module!r}, which is not a module name", kind="rubric_value")
        return modules

    @field_validator("packages")
    @classmethod
    def _each_once(cls, packages: list[str]) -> list[str]:
        names = [_distribution(p) for p in packages]
        for name in names:
            if names.count(name) > 1:
                raise _problem(f"names {name!r} twice", kind="rubric_field")
            if name == "numpy":
                raise _problem("names numpy, which every submission may import already", kind="rubric_field")
        return packages


def _distribution(requirement: str) -> str:
    """The normalized name (PEP 503) of a requirement's distribution: ``Scikit_Learn>=1`` -> ``scikit-learn``."""
    match = _REQUIREMENT.fullmatch(requirement.strip())
    name = match["name"] if match else requirement
    return re.sub(r"[-_.]+", "-", name).lower()


class CaseSpec(BaseModel):
    """``[cases.NAME]``: any keys (the keyword arguments of ``make_inputs``) and a note."""

    model_config = ConfigDict(frozen=True, extra="allow", strict=True)
    note: str = ""

    def case(self, name: str) -> Case:
        return Case(name, dict(self.model_extra or {}), self.note)


class FunctionSpec(_Table):
    """``[functions.NAME]``: a tuple's element names, the one kept in the sandbox, and the
    arguments the function is meant to update."""

    returns: list[str] = Field(default_factory=list)
    opaque: list[str] = Field(default_factory=list)
    updates: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> FunctionSpec:
        if len(set(self.returns)) != len(self.returns):
            raise _problem("names an element twice in returns", "returns")
        if len(self.opaque) > 1:
            raise _problem("may keep one element in the sandbox, not several", "opaque")
        for name in self.opaque:
            if name not in self.returns or len(self.returns) < 2:
                raise _problem(f"keeps {name!r}, which is not an element of a returned tuple (returns)", "opaque")
        for name in self.updates:
            if name in self.returns:
                raise _problem(f"updates {name!r}, which is also a returned element", "updates")
        return self

    def signature(self) -> Signature:
        return Signature(tuple(self.returns), self.opaque[0] if self.opaque else None, tuple(self.updates))


class _CheckSpec(_Table):
    """What every kind of check has; each kind adds ``kind: Literal[...]`` and its settings."""

    id: str
    kind: str
    function: str
    key: str | None = None
    output: str | None = None
    rtol: PositiveNumber | None = None
    floor: PositiveNumber | None = None
    cases: list[str]
    points: Points = Field(default=0, validate_default=True)
    hidden: bool = False

    @field_validator("cases")
    @classmethod
    def _some_cases(cls, cases: list[str]) -> list[str]:
        if not cases:
            raise _problem("lists no cases", kind="rubric_field")
        return cases

    def functions(self) -> tuple[str, ...]:
        """The contract functions the check calls (each must be in [assignment] functions)."""
        return (self.function,)

    def named_cases(self) -> list[str]:
        """The cases the check names (each must be defined in [cases])."""
        return list(self.cases)

    def outputs(self) -> list[tuple[str, str | None]]:
        """(function, output) pairs the check reads: each output must be one the function has."""
        return [(self.function, self.output)]

    def check(self, part: str) -> Check:
        settings = self.model_dump()
        settings["cases"] = tuple(settings["cases"])
        return Check(part=part, **settings)


class ReferenceCheckSpec(_CheckSpec):
    kind: Literal["reference"]


class GradcheckCheckSpec(_CheckSpec):
    kind: Literal["gradcheck"]
    loss: str
    loss_output: str | None = None
    wrt: str
    samples: DirectionCount = 6  # coordinates: directions along one parameter each
    directions: DirectionCount = 2
    probe: str | None = None

    def outputs(self) -> list[tuple[str, str | None]]:
        return [(self.function, self.output), (self.loss, self.loss_output)]

    @model_validator(mode="after")
    def _some_directions(self) -> GradcheckCheckSpec:
        if self.samples + self.directions == 0:
            raise _problem("checks no direction: samples and directions are both 0")
        return self

    def functions(self) -> tuple[str, ...]:
        return (self.function, self.loss)

    def named_cases(self) -> list[str]:
        return [*self.cases, *([self.probe] if self.probe else [])]


class VjpCheckSpec(_CheckSpec):
    """A backward pass ``function(dout, cache)`` against centered differences of
    ``sum(dout * forward(...)[forward_output])`` with respect to the forward's argument ``wrt``."""

    kind: Literal["vjp"]
    forward: str
    wrt: str
    wrt_key: str | None = None
    forward_output: str | None = None
    upstream: str | None = None
    kinks: str | None = None
    probe: str | None = None

    def functions(self) -> tuple[str, ...]:
        return (self.function, self.forward)

    def named_cases(self) -> list[str]:
        return [*self.cases, *([self.probe] if self.probe else [])]

    def outputs(self) -> list[tuple[str, str | None]]:
        # without forward_output, the forward's first element that is not its cache
        return [(self.function, self.output)] + ([(self.forward, self.forward_output)] if self.forward_output else [])


#: the kinds of check, told apart by ``kind``: a new kind is one more class here
CheckSpec = Annotated[ReferenceCheckSpec | GradcheckCheckSpec | VjpCheckSpec, Field(discriminator="kind")]
CHECK_KINDS: tuple[str, ...] = tuple(
    get_args(model.model_fields["kind"].annotation)[0] for model in get_args(get_args(CheckSpec)[0])
)


class PartSpec(_Table):
    id: str
    title: str | None = None
    credit: dict[str, Share] = Field(default_factory=dict)
    checks: list[CheckSpec]

    @field_validator("checks")
    @classmethod
    def _some_checks(cls, checks: list[_CheckSpec]) -> list[_CheckSpec]:
        if not checks:
            raise _problem("has no checks", kind="rubric_field")
        return checks

    @model_validator(mode="after")
    def _check_ids_start_with_the_part_id(self) -> PartSpec:
        for index, check in enumerate(self.checks):
            if not check.id.startswith(self.id):
                raise _problem(f"must have an id starting with its part's id {self.id!r}", "checks", index, check.kind)
        return self

    def part(self) -> Part:
        title = self.id if self.title is None else self.title
        return Part(self.id, title, tuple(c.check(self.id) for c in self.checks), dict(self.credit))


class RubricSpec(_Table):
    assignment: AssignmentSpec
    tolerance: ToleranceSpec = Field(default_factory=ToleranceSpec)
    limits: LimitsSpec = Field(default_factory=LimitsSpec)
    notation: dict[str, str] = Field(default_factory=dict)
    policy: PolicySpec = Field(default_factory=PolicySpec)
    functions: dict[str, FunctionSpec] = Field(default_factory=dict)
    environment: EnvironmentSpec = Field(default_factory=EnvironmentSpec)
    cases: dict[str, CaseSpec]
    parts: list[PartSpec]

    @field_validator("cases")
    @classmethod
    def _some_cases(cls, cases: dict[str, CaseSpec]) -> dict[str, CaseSpec]:
        if not cases:
            raise _problem("defines no [cases.NAME] table", kind="rubric_field")
        return cases

    @field_validator("parts")
    @classmethod
    def _some_parts(cls, parts: list[PartSpec]) -> list[PartSpec]:
        if not parts:
            raise _problem("defines no [[parts]]", kind="rubric_field")
        return parts

    @model_validator(mode="after")
    def _checks_name_what_exists_and_ids_are_unique(self) -> RubricSpec:
        for name in self.functions:
            if name not in self.assignment.functions:
                raise _problem(f"describes function {name!r}, which is not in [assignment] functions", "functions", name)
        seen: dict[str, Loc] = {}
        for p, part in enumerate(self.parts):
            places: list[tuple[str, Loc]] = [(part.id, ("parts", p))]
            places += [(c.id, ("parts", p, "checks", i, c.kind)) for i, c in enumerate(part.checks)]
            for name, at in places:
                if name in seen:
                    also = _path(_walk(seen[name])[0])
                    raise _problem(f"its id {name!r} is used twice (also by {also}); ids must be unique", *at)
                seen[name] = at
            for i, check in enumerate(part.checks):
                at = ("parts", p, "checks", i, check.kind)
                for function in check.functions():
                    if function not in self.assignment.functions:
                        raise _problem(f"names function {function!r}, which is not in [assignment] functions", *at)
                for case in check.named_cases():
                    if case not in self.cases:
                        raise _problem(f"names unknown case {case!r}", *at)
                for function, output in check.outputs():
                    problem = self._output_problem(function, output)
                    if problem:
                        raise _problem(problem, *at)
                if check.kind == "vjp":
                    forward = self.functions.get(check.forward, FunctionSpec()).signature()
                    if forward.opaque is None:
                        raise _problem(f"names forward {check.forward!r}, which keeps no cache: give it [functions.{check.forward}] opaque", *at)
        return self

    def _output_problem(self, function: str, output: str | None) -> str:
        """Why ``output`` is not an output of ``function`` (empty when it is)."""
        signature = self.functions.get(function, FunctionSpec()).signature()
        named = [n for n in signature.returns if n != signature.opaque] + list(signature.updates)
        if output is None:
            if len(signature.returns) > 1:
                return f"must name the output of {function} it grades (output = one of {', '.join(map(repr, named))})"
            return ""
        if output == signature.opaque:
            return f"names output {output!r} of {function}, which stays in the sandbox (opaque) and cannot be graded"
        if output not in named and output not in signature.returns:
            known = ", ".join(map(repr, named)) or "none: give it [functions." + function + "] returns"
            return f"names output {output!r}, which {function} does not have (outputs: {known})"
        return ""

    def rubric(self, digest: str) -> Rubric:
        head = self.assignment
        return Rubric(
            name=head.name,
            title=head.name if head.title is None else head.title,
            reference=head.name if head.reference is None else head.reference,
            mistakes=head.mistakes,
            functions=tuple(head.functions),
            cases={name: spec.case(name) for name, spec in self.cases.items()},
            parts=tuple(p.part() for p in self.parts),
            rtol=self.tolerance.rtol,
            floor=self.tolerance.floor,
            limits=self.limits.limits(),
            notation=dict(self.notation),
            digest=digest,
            policy=self.policy.policy(),
            signatures={name: spec.signature() for name, spec in self.functions.items()},
            packages=tuple(self.environment.packages),
            preload=tuple(self.environment.preload),
        )


# --- one line per problem -------------------------------------------------------------------------

#: what a value must be, by pydantic's error type
_NOUNS = {
    "string_type": "a string",
    "list_type": "a list",
    "dict_type": "a table",
    "model_type": "a table",
    "model_attributes_type": "a table",
    "bool_type": "true or false",
    "float_type": "a number",
    "int_type": "an integer",
}
_TYPE_NOUNS: dict[Any, str] = {str: "a string", list: "a list", dict: "a table", bool: "true or false", int: "an integer", float: "a number"}


def _explain(error: ErrorDetails, data: dict[str, Any]) -> str:
    """One line, without the trailing period: where in the file, and what is wrong there."""
    kind, loc, ctx = error["type"], tuple(error["loc"]), error.get("ctx") or {}
    kinds = ", ".join(CHECK_KINDS)
    if kind == "rubric":
        return _at(loc + tuple(ctx["at"]), data, ctx["message"])
    if kind == "rubric_field":
        return _at(loc[:-1], data, ctx["message"])
    if kind == "missing":
        return _at(loc[:-1], data, f"needs {loc[-1]!r}, {_noun(_walk(loc)[1])}")
    if kind == "extra_forbidden":
        return _at(loc[:-1], data, f"has an unknown key {loc[-1]!r}{_known(loc[:-1], str(loc[-1]))}")
    if kind == "union_tag_invalid":
        return _at(loc, data, f"has kind {_lookup(data, _walk(loc)[0] + ('kind',))!r}; use one of {kinds}")
    if kind == "union_tag_not_found":
        return _at(loc, data, f"needs 'kind', one of {kinds}")
    shown = _walk(loc)[0]
    # the subject is named from the nearest part or check around it: "checks[1]", "hidden"
    entity = max((i for i in range(1, len(shown)) if isinstance(shown[i - 1], int)), default=0)
    subject = _path(shown[entity:])
    if kind == "rubric_value":
        what = f"{subject} {ctx['message']}, not {_show(error['input'])}"
    elif kind in _NOUNS:
        what = f"{subject} must be {_NOUNS[kind]}, not {_show(error['input'])}"
    else:  # a check pydantic words itself: its message is one plain sentence
        what = f"{subject} is not valid: {error['msg'][:1].lower()}{error['msg'][1:]}"
    return _at(shown[:entity], data, what, subject=True)


def _at(loc: Loc, data: dict[str, Any], what: str, subject: bool = False) -> str:
    """``parts[1].checks[0] (check 'q2_dW'): what``; at the top, ``the rubric what`` (or ``what``
    when it starts with its own subject)."""
    shown = _walk(loc)[0]
    if not shown:
        return what if subject else f"the rubric {what}"
    label = ""
    for end in range(2, len(shown) + 1):
        name, index = shown[end - 2], shown[end - 1]
        item = _lookup(data, shown[:end])
        if isinstance(name, str) and isinstance(index, int) and isinstance(item, dict) and isinstance(item.get("id"), str):
            label = f" ({name.removesuffix('s')} {item['id']!r})"
    return f"{_path(shown)}{label}: {what}"


def _walk(loc: Loc) -> tuple[Loc, Any]:
    """``loc`` without the tags pydantic adds for the union of checks, and the type found there."""
    shown: list[str | int] = []
    node: Any = RubricSpec
    for step in loc:
        while get_origin(node) is Annotated:
            node = get_args(node)[0]
        if get_origin(node) in (Union, types.UnionType):
            tags = {get_args(m.model_fields["kind"].annotation)[0]: m for m in get_args(node) if _is_model(m)}
            if step in tags:
                node = tags[step]
                continue
        shown.append(step)
        if get_origin(node) in (list, dict):
            node = get_args(node)[-1]
        elif _is_model(node):
            spec = node.model_fields.get(step)
            node = spec.annotation if spec else None
        else:
            node = None
    return tuple(shown), node


def _is_model(node: Any) -> bool:
    return isinstance(node, type) and issubclass(node, BaseModel)


def _noun(node: Any) -> str:
    """What a required key must be: "a string", "a list", "a table"."""
    while get_origin(node) is Annotated:
        node = get_args(node)[0]
    return "a table" if _is_model(node) else _TYPE_NOUNS.get(get_origin(node) or node, "a value")


def _misspelt(error: ErrorDetails) -> bool:
    return error["type"] == "extra_forbidden" and "did you mean" in _known(tuple(error["loc"][:-1]), str(error["loc"][-1]))


def _known(loc: Loc, key: str) -> str:
    """The keys a table could have meant instead of ``key``."""
    model = _walk(loc)[1]
    while get_origin(model) is Annotated:
        model = get_args(model)[0]
    known = list(model.model_fields) if _is_model(model) else []
    if not known:
        return ""
    close = difflib.get_close_matches(key, known, n=1)
    return f" (did you mean {close[0]!r}?)" if close else f" (known keys: {', '.join(known)})"


def _lookup(data: Any, loc: Loc) -> Any:
    for step in loc:
        try:
            data = data[step]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _path(loc: Loc) -> str:
    """``parts[1].checks[0]``, ``notation."gradients.W1"``: a place as the TOML file writes it."""
    text = ""
    for step in loc:
        if isinstance(step, int):
            text += f"[{step}]"
        else:
            name = step if re.fullmatch(r"[A-Za-z0-9_-]+", step) else json.dumps(step)
            text += f".{name}" if text else name
    return text


def _show(value: Any) -> str:
    """A value as a short TOML-like word: ``0``, ``'10'``, ``true``, ``a table``."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, date):  # a TOML date, or a date-time without offset
        return value.isoformat()
    text = repr(value)
    return text if len(text) <= 40 else text[:39] + "…"
