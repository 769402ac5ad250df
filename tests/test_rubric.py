"""Rubric files (the shipped one and broken variants) and course directories."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from grader.course import Course
from grader.errors import CourseError, RubricError, UnknownAssignment
from grader.rubric import load_rubric

from helpers import ROOT as REPO

BACKPROP = REPO / "rubrics" / "backprop.toml"

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
    assert set(rubric.cases) == {"basic", "no_reg", "single", "binary", "stable", "stable_low", "stable_wide"}
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
    assert all((c.loss, c.wrt, c.function) == ("loss", "params", "gradients") for c in gradchecks)


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
        "check 'reference_q1' must have an id starting with its part's id 'q1'",
    ),
    "unknown case": (variant('cases = ["small", "large"]', 'cases = ["small", "huge"]'), "unknown case 'huge'"),
    "no cases": (variant('cases = ["small", "large"]', "cases = []"), "lists no cases"),
    "no case tables": (variant("[cases.small]\nn = 2\n\n[cases.large]\nn = 50\n", "[cases]\n"), "no [cases.NAME]"),
    "unknown function": (variant('function = "f"', 'function = "h"'), "names function 'h'"),
    "unknown loss function": (variant('loss = "f"', 'loss = "J"'), "names function 'J'"),
    "duplicate check id": (variant('id = "q1_gradcheck"', 'id = "q1_reference"'), "'q1_reference' is used twice"),
    "check id equal to a part id": (variant('id = "q1_gradcheck"', 'id = "q1"'), "'q1' is used twice"),
    "points 0": (variant("points = 10", "points = 0"), "needs points, a positive number"),
    "points negative": (variant("points = 10", "points = -5"), "needs points, a positive number"),
    "points missing": (variant("points = 10\n", ""), "needs points, a positive number"),
    "points a string": (variant("points = 10", 'points = "10"'), "needs points, a positive number"),
    "unknown kind": (variant('kind = "reference"', 'kind = "exact"'), "has kind 'exact'; use one of reference, gradcheck"),
    "gradcheck without loss": (variant('loss = "f"\n', ""), "check 'q1_gradcheck' needs 'loss', a string"),
    "gradcheck without wrt": (variant('wrt = "params"\n', ""), "needs 'wrt', a string"),
    "part without checks": (TOY.split("[[parts.checks]]")[0] + "checks = []\n", "part 'q1' has no checks"),
    "no parts": (TOY.split("[[parts]]")[0], "rubric needs 'parts', a list"),
    "no assignment": (variant("[assignment]\n", "[other]\n"), "rubric needs 'assignment', a table"),
    "no name": (variant('name = "toy"\n', ""), "assignment needs 'name', a string"),
    "rtol 0": ("[tolerance]\nrtol = 0\n\n" + TOY, "rtol must be a positive number, not 0"),
    "tolerance not a table": ("tolerance = 3\n" + TOY, "malformed rubric"),
    "notation not a table": ("notation = 3\n" + TOY, "malformed rubric"),
    "checks not tables": (TOY.split("[[parts.checks]]")[0] + "checks = [1]\n", "malformed rubric"),
    "case not a table": (variant("[cases.small]\nn = 2\n", "[cases]\nsmall = 2\n"), "malformed rubric"),
}


@pytest.mark.parametrize(("text", "message"), MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_rubric(tmp_path: Path, text: str | bytes, message: str) -> None:
    path = tmp_path / "toy.toml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    with pytest.raises(RubricError) as info:
        load_rubric(path)
    error = str(info.value)
    assert error.startswith(f"{path}: ")
    assert message in error
    assert "\n" not in error


def test_missing_rubric_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    with pytest.raises(RubricError, match="not a readable TOML file") as info:
        load_rubric(path)
    assert str(path) in str(info.value)


def test_digest_changes_with_the_file(tmp_path: Path) -> None:
    path = tmp_path / "toy.toml"
    path.write_text(TOY)
    first = load_rubric(path).digest
    path.write_text(TOY + "\n# a comment\n")
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

    (course_dir / "rubrics" / "toy.toml").write_text(TOY + "\n# a comment\n")
    third = course.assignment("toy").version
    assert third not in (first, second)


def test_reference_is_reimported_after_a_change(course_dir: Path) -> None:
    course = Course(course_dir)
    assert course.assignment("toy").function("f")(None, 1) == 0.0
    (course_dir / "reference" / "toy.py").write_text(TOY_REFERENCE.replace("return 0.0", "return 1.0"))
    assert course.assignment("toy").function("f")(None, 1) == 1.0
