"""Rubric files (the shipped one and broken variants) and course directories."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path
from typing import get_args

import pytest
from helpers import ROOT as REPO

from grader.checks.registry import KINDS
from grader.course import Course
from grader.errors import CourseError, RubricError, UnknownAssignment
from grader.rubric import CHECK_KINDS, Check, CheckSpec, load_rubric
from grader.sandbox.process import Limits

BACKPROP = REPO / "rubrics" / "backprop.toml"

#: the most memory_mb may be, on every machine
MAX_MEMORY_MB = 262144  # 256 GiB
MEMORY_CAP = "at most 262144 (256 GiB)"

#: The smallest valid rubric; each malformed variant below changes one thing in it.
TOY = """\
[assignment]
name = "toy"
functions = ["f", "g"]

[cases.small]
n = 2

[cases.large]
n = 50

[[parts]]
id = "q1"
title = "Question 1"

[[parts.checks]]
id = "q1_reference"
kind = "reference"
function = "f"
cases = ["small", "large"]
points = 10

[[parts.checks]]
id = "q1_gradcheck"
kind = "gradcheck"
function = "g"
key = "w"
loss = "f"
wrt = "params"
cases = ["small"]
points = 5
"""

TOY_REFERENCE = """\
def f(params, n):
    return 0.0


def g(params, n):
    return {"w": 0.0}


def make_inputs(rng, n):
    return {"params": {}, "n": n}
"""


@pytest.fixture(autouse=True)
def forget_imported_references() -> Iterator[None]:
    """Course imports references into sys.modules; do not leak them into other tests."""
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        if name.startswith("grader_reference_"):
            del sys.modules[name]


# --- the shipped rubric -----------------------------------------------------------------------


def test_backprop_rubric_parts() -> None:
    rubric = load_rubric(BACKPROP)
    assert rubric.name == "backprop"
    assert [p.id for p in rubric.parts] == ["q1_loss", "q2a_dz3", "q2b_dW2", "q2c_dW1", "q2c_db1", "q2c_db2"]


def test_backprop_check_ids_start_with_their_part_id() -> None:
    rubric = load_rubric(BACKPROP)
    for part in rubric.parts:
        assert part.checks, part.id
        for check in part.checks:
            assert check.id.startswith(part.id), check.id
            assert check.part == part.id


def test_backprop_points_total_100() -> None:
    rubric = load_rubric(BACKPROP)
    assert rubric.max_score == 100.0
    assert [p.points for p in rubric.parts] == [20.0, 15.0, 20.0, 20.0, 15.0, 10.0]


def test_backprop_cases_have_distinct_dimensions() -> None:
    rubric = load_rubric(BACKPROP)
    assert set(rubric.cases) == {"basic", "no_reg", "single", "binary", "skip_top", "large", "stable", "stable_low", "stable_wide", "probe"}
    for case in rubric.cases.values():
        dims = [case.arguments[d] for d in ("D", "H", "C")]
        assert len(set(dims)) == 3, (case.name, dims)
    assert rubric.cases["stable"].note == "every logit shifted by +1000"
    assert "note" not in rubric.cases["stable"].arguments


def test_backprop_settings_and_notation() -> None:
    rubric = load_rubric(BACKPROP)
    assert (rubric.rtol, rubric.floor) == (1e-3, 1e-6)
    assert (rubric.limits.load_timeout, rubric.limits.call_timeout, rubric.limits.memory_mb) == (10.0, 5.0, 1024)
    assert rubric.name_of("gradients", "W1") == "dJ/dW1"
    assert rubric.name_of("loss") == "J"
    assert rubric.name_of("gradients", "W3") == "gradients()['W3']"
    gradchecks = [c for c in rubric.checks if c.kind == "gradcheck"]
    assert [c.id for c in gradchecks] == ["q2b_dW2_gradcheck", "q2c_dW1_gradcheck", "q2c_db1_gradcheck", "q2c_db2_gradcheck"]
    assert all((c.loss, c.wrt, c.function, c.probe) == ("loss", "params", "gradients", "probe") for c in gradchecks)


def test_backprop_loads_as_an_assignment_of_the_repository_course() -> None:
    assignment = Course(REPO).assignment("backprop")
    assert assignment.name == "backprop"
    assert assignment.parameters("gradients") == ["params", "X", "y", "reg"]
    assert "backprop" in Course(REPO).names()


# --- malformed rubrics ------------------------------------------------------------------------


def test_toy_rubric_is_valid(tmp_path: Path) -> None:
    """The base of the malformed variants loads, so each variant fails for its own change."""
    path = tmp_path / "toy.toml"
    path.write_text(TOY)
    rubric = load_rubric(path)
    assert [c.id for c in rubric.checks] == ["q1_reference", "q1_gradcheck"]
    assert rubric.max_score == 15.0


def variant(old: str, new: str) -> str:
    assert old in TOY, old
    return TOY.replace(old, new, 1)


MALFORMED = {
    "not TOML": ("[assignment\nname = toy", "not a readable TOML file"),
    "not UTF-8": (b"name = '\xff'", "not a readable TOML file"),
    "check id not starting with part id": (
        variant('id = "q1_reference"', 'id = "reference_q1"'),
        "parts[0].checks[0] (check 'reference_q1'): must have an id starting with its part's id 'q1'",
    ),
    "unknown case": (variant('cases = ["small", "large"]', 'cases = ["small", "huge"]'), "unknown case 'huge'"),
    "no cases": (variant('cases = ["small", "large"]', "cases = []"), "lists no cases"),
    "unknown probe case": (variant('wrt = "params"', 'wrt = "params"\nprobe = "huge"'), "parts[0].checks[1] (check 'q1_gradcheck'): names unknown case 'huge'"),
    "no case tables": (variant("[cases.small]\nn = 2\n\n[cases.large]\nn = 50\n", "[cases]\n"), "no [cases.NAME]"),
    "unknown function": (variant('function = "f"', 'function = "h"'), "names function 'h'"),
    "unknown loss function": (variant('loss = "f"', 'loss = "J"'), "names function 'J'"),
    "duplicate check id": (variant('id = "q1_gradcheck"', 'id = "q1_reference"'), "'q1_reference' is used twice"),
    "check id equal to a part id": (variant('id = "q1_gradcheck"', 'id = "q1"'), "'q1' is used twice"),
    "points 0": (variant("points = 10", "points = 0"), "needs points, a positive number"),
    "points negative": (variant("points = 10", "points = -5"), "needs points, a positive number"),
    "points missing": (variant("points = 10\n", ""), "needs points, a positive number"),
    "points a string": (variant("points = 10", 'points = "10"'), "needs points, a positive number"),
    "unknown kind": (variant('kind = "reference"', 'kind = "exact"'), "has kind 'exact'; use one of reference, gradcheck, vjp"),
    "gradcheck without loss": (variant('loss = "f"\n', ""), "parts[0].checks[1] (check 'q1_gradcheck'): needs 'loss', a string"),
    "gradcheck without wrt": (variant('wrt = "params"\n', ""), "needs 'wrt', a string"),
    "part without checks": (TOY.split("[[parts.checks]]")[0] + "checks = []\n", "parts[0] (part 'q1'): has no checks"),
    "no parts": (TOY.split("[[parts]]")[0], "rubric needs 'parts', a list"),
    "no assignment": (variant("[assignment]\n", "[other]\n"), "rubric needs 'assignment', a table"),
    "no name": (variant('name = "toy"\n', ""), "assignment: needs 'name', a string"),
    "rtol 0": ("[tolerance]\nrtol = 0\n\n" + TOY, "rtol must be a positive number, not 0"),
    "tolerance not a table": ("tolerance = 3\n" + TOY, "tolerance must be a table, not 3"),
    "notation not a table": ("notation = 3\n" + TOY, "notation must be a table, not 3"),
    "checks not tables": (TOY.split("[[parts.checks]]")[0] + "checks = [1]\n", "parts[0] (part 'q1'): checks[0] must be a table, not 1"),
    "case not a table": (variant("[cases.small]\nn = 2\n", "[cases]\nsmall = 2\n"), "cases.small must be a table, not 2"),
}


def refusal(tmp_path: Path, text: str | bytes) -> tuple[Path, RubricError]:
    """The rubric file written from ``text``, and the RubricError loading it raises."""
    path = tmp_path / "toy.toml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    with pytest.raises(RubricError) as info:
        load_rubric(path)
    return path, info.value


@pytest.mark.parametrize(("text", "message"), MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_rubric(tmp_path: Path, text: str | bytes, message: str) -> None:
    path, refused = refusal(tmp_path, text)
    error = str(refused)
    assert error.startswith(f"{path}: ")
    assert message in error
    assert "\n" not in error


def rubric_error(tmp_path: Path, text: str) -> str:
    """The message of loading ``text``, without the leading ``{path}: ``."""
    path = tmp_path / "toy.toml"
    path.write_text(text)
    with pytest.raises(RubricError) as info:
        load_rubric(path)
    error = str(info.value)
    assert error.startswith(f"{path}: ")
    return error.removeprefix(f"{path}: ")


GRADCHECK = "parts[0].checks[1] (check 'q1_gradcheck')"
REFERENCE = "parts[0].checks[0] (check 'q1_reference')"

#: a key the README does not define is a typo wherever it is, and named with its place
UNKNOWN_KEYS = {
    "top level": ("colour = 1\n" + TOY, "the rubric has an unknown key 'colour' (known keys: assignment, tolerance, limits, notation, policy, functions, environment, cases, parts)."),
    "a misspelt section": (TOY.replace("[assignment]", "[asignment]"), "2 problems; first: the rubric has an unknown key 'asignment' (did you mean 'assignment'?)."),
    "assignment": (variant('name = "toy"', 'name = "toy"\nfunction = ["f"]'), "assignment: has an unknown key 'function' (did you mean 'functions'?)."),
    "tolerance": ("[tolerance]\nrtl = 1e-3\n\n" + TOY, "tolerance: has an unknown key 'rtl' (did you mean 'rtol'?)."),
    "limits": (
        "[limits]\ncpu_seconds = 3\n\n" + TOY,
        "limits: has an unknown key 'cpu_seconds' (known keys: load_timeout, call_timeout, total_timeout, memory_mb, processes).",
    ),
    "part": (variant('title = "Question 1"', 'title = "Question 1"\npoints = 3'), "parts[0] (part 'q1'): has an unknown key 'points' (known keys: id, title, credit, checks)."),
    "gradcheck check": (variant("points = 5", "points = 5\nsample = 3"), f"{GRADCHECK}: has an unknown key 'sample' (did you mean 'samples'?)."),
    "a gradcheck key on a reference check": (
        variant("points = 10", 'points = 10\nloss = "f"'),
        f"{REFERENCE}: has an unknown key 'loss' (known keys: id, kind, function, key, output, rtol, floor, cases, points, hidden).",
    ),
    "a quoted key": (variant("points = 5", 'points = 5\n"a.b" = 1'), f"{GRADCHECK}: has an unknown key 'a.b' (known keys: id, kind, function, key, output, rtol, floor, cases, points, hidden, loss, loss_output, wrt, samples, directions, probe)."),
    # the misspelling is shown first: it explains the missing points
    "a misspelt required key": (variant("points = 10", "pionts = 10"), f"2 problems; first: {REFERENCE}: has an unknown key 'pionts' (did you mean 'points'?)."),
    "environment": ("[environment]\npackage = ['scipy']\n\n" + TOY, "environment: has an unknown key 'package' (did you mean 'packages'?)."),
}


@pytest.mark.parametrize(("text", "message"), UNKNOWN_KEYS.values(), ids=UNKNOWN_KEYS.keys())
def test_unknown_key(tmp_path: Path, text: str, message: str) -> None:
    assert rubric_error(tmp_path, text) == message


def test_author_chosen_keys_are_not_unknown(tmp_path: Path) -> None:
    """[notation], [cases.NAME] and credit take any key: names, make_inputs arguments, codes."""
    text = variant('title = "Question 1"', 'title = "Question 1"\ncredit = { "any-code" = 0.5 }')
    text = "[notation]\nf = \"F\"\n\"g.w\" = \"dF/dw\"\n\n" + text.replace("n = 50", "n = 50\nanything = [1, 2]\nnote = \"big\"")
    path = tmp_path / "toy.toml"
    path.write_text(text)
    rubric = load_rubric(path)
    assert rubric.cases["large"].arguments == {"n": 50, "anything": [1, 2]}
    assert rubric.cases["large"].note == "big"
    assert rubric.parts[0].credit == {"any-code": 0.5}
    assert rubric.name_of("g", "w") == "dF/dw"


WRONG_TYPES = {
    "name a list": (variant('name = "toy"', 'name = ["toy"]'), "assignment.name must be a string, not ['toy']."),
    "a function not a string": (variant('functions = ["f", "g"]', 'functions = ["f", 2]'), "assignment.functions[1] must be a string, not 2."),
    "no functions": (variant('functions = ["f", "g"]', "functions = []"), "assignment: lists no functions."),
    "rtol a string": ('[tolerance]\nrtol = "1e-3"\n\n' + TOY, "tolerance.rtol must be a positive number, not '1e-3'."),
    "floor infinite": ("[tolerance]\nfloor = inf\n\n" + TOY, "tolerance.floor must be a positive number, not inf."),
    "memory not an integer": ("[limits]\nmemory_mb = 10.5\n\n" + TOY, f"limits.memory_mb must be a positive integer, {MEMORY_CAP}, not 10.5."),
    "processes a boolean": ("[limits]\nprocesses = true\n\n" + TOY, "limits.processes must be a positive integer, at most 64, not true."),
    "call_timeout 0": ("[limits]\ncall_timeout = 0\n\n" + TOY, "limits.call_timeout must be a positive number of seconds, at most 3600, not 0."),
    "total_timeout negative": ("[limits]\ntotal_timeout = -60\n\n" + TOY, "limits.total_timeout must be a positive number of seconds, at most 3600, not -60."),
    "total_timeout a string": ('[limits]\ntotal_timeout = "60"\n\n' + TOY, "limits.total_timeout must be a positive number of seconds, at most 3600, not '60'."),
    "limits not a table": ("limits = [1]\n" + TOY, "limits must be a table, not [1]."),
    "a notation not a string": ('[notation]\n"g.w" = 3\n\n' + TOY, 'notation."g.w" must be a string, not 3.'),
    "a note not a string": (variant("n = 2", "n = 2\nnote = 3"), "cases.small.note must be a string, not 3."),
    "parts a table": ("parts = 3\n" + TOY.split("[[parts]]")[0], "parts must be a list, not 3."),
    "a part not a table": ("parts = [1]\n" + TOY.split("[[parts]]")[0], "parts[0] must be a table, not 1."),
    "no parts": ("parts = []\n" + TOY.split("[[parts]]")[0], "the rubric defines no [[parts]]."),
    "a part title not a string": (variant('title = "Question 1"', "title = 1"), "parts[0] (part 'q1'): title must be a string, not 1."),
    "a credit share above 1": (
        variant('title = "Question 1"', 'title = "Question 1"\ncredit = { "sign-flip" = 2 }'),
        "parts[0] (part 'q1'): credit.sign-flip must be a number from 0 to 1, not 2.",
    ),
    "a credit share a string": (
        variant('title = "Question 1"', 'title = "Question 1"\ncredit = { "sign-flip" = "half" }'),
        "parts[0] (part 'q1'): credit.sign-flip must be a number from 0 to 1, not 'half'.",
    ),
    "points a boolean": (variant("points = 10", "points = true"), f"{REFERENCE}: needs points, a positive number."),
    "hidden a string": (variant("points = 5", 'points = 5\nhidden = "yes"'), f"{GRADCHECK}: hidden must be true or false, not 'yes'."),
    "cases a string": (variant('cases = ["small"]', 'cases = "small"'), f"{GRADCHECK}: cases must be a list, not 'small'."),
    "a case not a string": (variant('cases = ["small"]', 'cases = ["small", 3]'), f"{GRADCHECK}: cases[1] must be a string, not 3."),
    "key not a string": (variant('key = "w"', "key = 1"), f"{GRADCHECK}: key must be a string, not 1."),
    "samples negative": (variant("points = 5", "points = 5\nsamples = -1"), f"{GRADCHECK}: samples must be an integer from 0 to 1000, not -1."),
    "no direction at all": (
        variant("points = 5", "points = 5\nsamples = 0\ndirections = 0"),
        f"{GRADCHECK}: checks no direction: samples and directions are both 0.",
    ),
    "a long value": (variant('name = "toy"', f"name = {list(range(30))}"), "assignment.name must be a string, not [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, …."),
    "two problems": (
        variant("points = 10", "points = 0").replace("points = 5", "points = -1"),
        f"2 problems; first: {REFERENCE}: needs points, a positive number.",
    ),
}


@pytest.mark.parametrize(("text", "message"), WRONG_TYPES.values(), ids=WRONG_TYPES.keys())
def test_wrong_type(tmp_path: Path, text: str, message: str) -> None:
    assert rubric_error(tmp_path, text) == message


#: a value past its bound would break the machine rather than grade; at the bound it is accepted
OUT_OF_BOUNDS = {
    "memory_mb past 256 GiB": ("[limits]\nmemory_mb = 1000000000000", f"limits.memory_mb must be a positive integer, {MEMORY_CAP}, not 1000000000000."),
    "memory_mb 0": ("[limits]\nmemory_mb = 0", f"limits.memory_mb must be a positive integer, {MEMORY_CAP}, not 0."),
    "load_timeout past an hour": ("[limits]\nload_timeout = 3600.5", "limits.load_timeout must be a positive number of seconds, at most 3600, not 3600.5."),
    "call_timeout 1e300": ("[limits]\ncall_timeout = 1e300", "limits.call_timeout must be a positive number of seconds, at most 3600, not 1e+300."),
    "total_timeout inf": ("[limits]\ntotal_timeout = inf", "limits.total_timeout must be a positive number of seconds, at most 3600, not inf."),
    "processes 65": ("[limits]\nprocesses = 65", "limits.processes must be a positive integer, at most 64, not 65."),
    "processes 0": ("[limits]\nprocesses = 0", "limits.processes must be a positive integer, at most 64, not 0."),
    "samples -3": (variant("points = 5", "points = 5\nsamples = -3"), f"{GRADCHECK}: samples must be an integer from 0 to 1000, not -3."),
    "directions 1001": (variant("points = 5", "points = 5\ndirections = 1001"), f"{GRADCHECK}: directions must be an integer from 0 to 1000, not 1001."),
}


@pytest.mark.parametrize(("text", "message"), OUT_OF_BOUNDS.values(), ids=OUT_OF_BOUNDS.keys())
def test_limits_and_counts_out_of_bounds_are_refused_naming_the_field(tmp_path: Path, text: str, message: str) -> None:
    assert rubric_error(tmp_path, text if text.startswith("[assignment]") else f"{text}\n\n{TOY}") == message


def test_limits_and_counts_at_their_bounds_are_accepted(tmp_path: Path) -> None:
    limits = f"[limits]\nload_timeout = 3600\ncall_timeout = 3600\ntotal_timeout = 3600\nmemory_mb = {MAX_MEMORY_MB}\nprocesses = 64\n\n"
    path = tmp_path / "toy.toml"
    path.write_text(limits + variant("points = 5", "points = 5\nsamples = 1000\ndirections = 1000"))
    rubric = load_rubric(path)
    assert rubric.limits == Limits(load_timeout=3600.0, call_timeout=3600.0, total_timeout=3600.0, memory_mb=MAX_MEMORY_MB, processes=64)
    assert (rubric.checks[1].samples, rubric.checks[1].directions) == (1000, 1000)


KIND_ERRORS = {
    "unknown": ('kind = "exact"', f"{REFERENCE}: has kind 'exact'; use one of reference, gradcheck, vjp."),
    "not a string": ("kind = 3", f"{REFERENCE}: has kind 3; use one of reference, gradcheck, vjp."),
    "missing": ("", f"{REFERENCE}: needs 'kind', one of reference, gradcheck, vjp."),
}


@pytest.mark.parametrize(("kind", "message"), KIND_ERRORS.values(), ids=KIND_ERRORS.keys())
def test_kind_is_one_of_the_known_kinds(tmp_path: Path, kind: str, message: str) -> None:
    assert rubric_error(tmp_path, variant('kind = "reference"\n', f"{kind}\n" if kind else "")) == message


def test_every_kind_of_check_can_be_run() -> None:
    assert set(CHECK_KINDS) == set(KINDS) == {"reference", "gradcheck", "vjp"}
    # each kind's settings reach the grader as attributes of Check
    for model in get_args(get_args(CheckSpec)[0]):
        assert set(model.model_fields) <= {f.name for f in fields(Check)}, model


@pytest.mark.parametrize("name", ["loss", "wrt"])
def test_gradcheck_needs_loss_and_wrt(tmp_path: Path, name: str) -> None:
    text = "".join(line for line in TOY.splitlines(keepends=True) if not line.startswith(f"{name} = "))
    assert rubric_error(tmp_path, text) == f"{GRADCHECK}: needs {name!r}, a string."


def test_a_reference_check_needs_no_key_loss_or_wrt(tmp_path: Path) -> None:
    path = tmp_path / "toy.toml"
    path.write_text(TOY)
    check = load_rubric(path).checks[0]
    assert (check.kind, check.key, check.loss, check.wrt, check.hidden) == ("reference", None, None, None, False)
    assert check.cases == ("small", "large") and check.points == 10.0 and check.part == "q1"


def test_limits_and_defaults(tmp_path: Path) -> None:
    path = tmp_path / "toy.toml"
    path.write_text("[limits]\nmemory_mb = 256\nprocesses = 2\ntotal_timeout = 90\n\n" + TOY)
    rubric = load_rubric(path)
    assert rubric.limits == Limits(memory_mb=256, processes=2, total_timeout=90.0)
    assert Limits().total_timeout == 60.0
    assert (rubric.rtol, rubric.floor, rubric.title, rubric.reference, rubric.mistakes) == (1e-3, 1e-6, "toy", "toy", None)
    assert rubric.functions == ("f", "g") and rubric.parts[0].credit == {}
    gradcheck = rubric.checks[1]
    assert (gradcheck.loss, gradcheck.wrt, gradcheck.key, gradcheck.samples, gradcheck.directions) == ("f", "params", "w", 6, 2)


ALL_MALFORMED = [text for text, _ in MALFORMED.values()] + [text for text, _ in UNKNOWN_KEYS.values()] + [text for text, _ in WRONG_TYPES.values()]


@pytest.mark.parametrize("text", ALL_MALFORMED)
def test_every_error_is_one_line_of_ours(tmp_path: Path, text: str | bytes) -> None:
    _, refused = refusal(tmp_path, text)
    error = str(refused)
    assert len(error.splitlines()) == 1 and "\n" not in error
    assert "pydantic" not in error.lower() and "https://" not in error
    assert "Spec" not in error and "Input should" not in error  # no class names, no pydantic wording
    assert error.endswith(".") and not error.endswith("..")
    assert refused.__cause__ is None and refused.__suppress_context__


def test_describe_case_in_the_assignment_notation() -> None:
    rubric = load_rubric(BACKPROP)
    assert rubric.describe_case("basic") == "case 'basic' (N=8, D=5, H=7, C=3, lambda=0.1)"
    assert rubric.describe_case("stable") == "case 'stable' (N=8, D=5, H=7, C=4, lambda=0.1, shift=1000; every logit shifted by +1000)"
    assert rubric.describe_case("basic", hidden=True) == "a hidden case"


def test_missing_rubric_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    with pytest.raises(RubricError, match="not a readable TOML file") as info:
        load_rubric(path)
    assert str(path) in str(info.value)


def test_digest_changes_with_what_is_graded_only(tmp_path: Path) -> None:
    path = tmp_path / "toy.toml"
    path.write_text(TOY)
    first = load_rubric(path).digest
    path.write_text(TOY + "\n# a comment\n")
    assert load_rubric(path).digest == first
    assert TOY.count("points = 10") == 1
    path.write_text(TOY.replace("points = 10", "points = 11"))
    assert load_rubric(path).digest != first


# --- courses ----------------------------------------------------------------------------------


@pytest.fixture
def course_dir(tmp_path: Path) -> Path:
    root = tmp_path / "course"
    (root / "rubrics").mkdir(parents=True)
    (root / "reference").mkdir()
    shutil.copy(BACKPROP, root / "rubrics" / "backprop.toml")
    shutil.copy(REPO / "reference" / "backprop.py", root / "reference" / "backprop.py")
    (root / "rubrics" / "toy.toml").write_text(TOY)
    (root / "reference" / "toy.py").write_text(TOY_REFERENCE)
    return root


def test_course_loads_its_assignments(course_dir: Path) -> None:
    course = Course(course_dir)
    assert course.names() == ["backprop", "toy"]
    toy = course.assignment("toy")
    assert toy.name == "toy"
    assert toy.function("make_inputs")(None, 3) == {"params": {}, "n": 3}
    assert toy.parameters("g") == ["params", "n"]
    assert len(toy.version) == 16


@pytest.mark.parametrize("name", ["nope", "../x", "../rubrics/toy", "toy.toml", "", ".hidden", "toy/"])
def test_unknown_assignment_lists_the_known_ones(course_dir: Path, name: str) -> None:
    # rubrics/../x.toml: a rubric that path traversal would reach if the name were not checked
    (course_dir / "x.toml").write_text(TOY.replace('name = "toy"', 'name = "x"'))
    with pytest.raises(UnknownAssignment) as info:
        Course(course_dir).assignment(name)
    message = str(info.value)
    assert f"no assignment {name!r}" in message
    assert message.endswith("known: backprop, toy.")
    assert "\n" not in message


def test_name_with_a_trailing_newline_is_not_an_assignment(course_dir: Path) -> None:
    # a regex ending in "$" matches before a final newline; the file is really there
    (course_dir / "rubrics" / "toy\n.toml").write_text(TOY)
    with pytest.raises(UnknownAssignment, match=r"no assignment 'toy\\n'"):
        Course(course_dir).assignment("toy\n")


def test_unknown_assignment_in_an_empty_course(tmp_path: Path) -> None:
    with pytest.raises(UnknownAssignment, match="known: none"):
        Course(tmp_path).assignment("backprop")


def test_missing_course_directory(tmp_path: Path) -> None:
    with pytest.raises(CourseError, match="does not exist"):
        Course(tmp_path / "absent")


@pytest.mark.parametrize(
    "source",
    ["import no_such_module_for_the_grader_tests\n", "1 / 0\n", "def broken(:\n", "raise SystemExit(3)\n"],
    ids=["import-error", "zero-division", "syntax-error", "system-exit"],
)
def test_reference_that_fails_to_import(course_dir: Path, source: str) -> None:
    path = course_dir / "reference" / "toy.py"
    path.write_text(source)
    with pytest.raises(CourseError) as info:
        Course(course_dir).assignment("toy")
    assert type(info.value) is CourseError
    assert str(info.value).startswith(f"{path} fails to import: ")
    assert "grader_reference_toy" not in sys.modules


def test_missing_reference_module(course_dir: Path) -> None:
    path = course_dir / "reference" / "toy.py"
    path.unlink()
    with pytest.raises(CourseError, match="does not exist") as info:
        Course(course_dir).assignment("toy")
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("drop", "missing"),
    [("def make_inputs(", "make_inputs"), ("def g(", "g")],
)
def test_reference_missing_a_function(course_dir: Path, drop: str, missing: str) -> None:
    path = course_dir / "reference" / "toy.py"
    path.write_text(TOY_REFERENCE.replace(drop, "def _unused_" + drop[4:]))
    with pytest.raises(RubricError) as info:
        Course(course_dir).assignment("toy")
    assert str(info.value) == f"{path} does not define {missing}."


def test_reference_with_a_non_callable_function(course_dir: Path) -> None:
    (course_dir / "reference" / "toy.py").write_text(TOY_REFERENCE + "\nmake_inputs = 3\n")
    with pytest.raises(RubricError, match="does not define make_inputs"):
        Course(course_dir).assignment("toy")


def test_rubric_name_must_match_its_file(course_dir: Path) -> None:
    (course_dir / "rubrics" / "other.toml").write_text(TOY)
    with pytest.raises(RubricError, match="name is 'toy', but the file is named 'other'"):
        Course(course_dir).assignment("other")


def test_version_changes_when_the_reference_or_rubric_changes(course_dir: Path) -> None:
    course = Course(course_dir)
    first = course.assignment("toy").version
    assert course.assignment("toy").version == first  # same files, same version

    reference = course_dir / "reference" / "toy.py"
    reference.write_text(TOY_REFERENCE + "\n# a fix in a comment\n")
    second = course.assignment("toy").version
    assert second != first

    (course_dir / "rubrics" / "toy.toml").write_text(TOY.replace("points = 10", "points = 11"))
    third = course.assignment("toy").version
    assert third not in (first, second)


def test_reference_is_reimported_after_a_change(course_dir: Path) -> None:
    course = Course(course_dir)
    assert course.assignment("toy").function("f")(None, 1) == 0.0
    (course_dir / "reference" / "toy.py").write_text(TOY_REFERENCE.replace("return 0.0", "return 1.0"))
    assert course.assignment("toy").function("f")(None, 1) == 1.0


# --- [environment] ------------------------------------------------------------------------------


def test_environment_packages_are_requirements_kept_as_written(tmp_path: Path) -> None:
    path = tmp_path / "toy.toml"
    path.write_text('[environment]\npackages = ["scipy", "scikit-learn >= 1.3, <2", "Pillow==10.*"]\n\n' + TOY)
    assert load_rubric(path).packages == ("scipy", "scikit-learn >= 1.3, <2", "Pillow==10.*")
    path.write_text(TOY)
    assert load_rubric(path).packages == ()


ENVIRONMENTS = {
    "not a list": ('packages = "scipy"', "environment.packages must be a list, not 'scipy'."),
    "a space in the name": ('packages = ["sci py"]', "environment.packages[0] must be a distribution's name as pip knows it, maybe with a version: \"scipy\" or \"scipy>=1.11\", not 'sci py'."),
    "a shell command": ('packages = ["scipy; rm -rf /"]', "environment.packages[0] must be a distribution's name as pip knows it, maybe with a version: \"scipy\" or \"scipy>=1.11\", not 'scipy; rm -rf /'."),
    "an option": ('packages = ["--index-url=http://x"]', "environment.packages[0] must be a distribution's name as pip knows it, maybe with a version: \"scipy\" or \"scipy>=1.11\", not '--index-url=http://x'."),
    "an invalid version": ('packages = ["scipy>=1.*"]', "environment.packages[0] has an invalid version specifier '>=1.*', not 'scipy>=1.*'."),
    "twice under two spellings": ('packages = ["scikit_learn", "Scikit-Learn>=1"]', "environment: names 'scikit-learn' twice."),
    "numpy": ('packages = ["numpy>=2"]', "environment: names numpy, which every submission may import already."),
}


@pytest.mark.parametrize(("text", "message"), ENVIRONMENTS.values(), ids=ENVIRONMENTS.keys())
def test_environment_refuses_what_is_not_a_requirement(tmp_path: Path, text: str, message: str) -> None:
    assert rubric_error(tmp_path, f"[environment]\n{text}\n\n{TOY}") == message
