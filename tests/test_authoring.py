"""A broken assignment is the instructor's error, never the student's: its code is tried when it
is loaded (a one-line error, exit 2, nothing recorded), and what it raises later, while grading,
says the assignment failed on the checks it touched."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers import FULL, SAMPLES, rows, run, submitted

from grader.course import Course
from grader.errors import AssignmentFault, RubricError
from grader.results import CheckResult
from grader.visibility import redact

#: the sentence a check the assignment's code failed on ends with
NOT_YOURS = "not a mistake of yours; your instructor has to fix the assignment, then grade again."


def edit(path: Path, old: str, new: str, count: int = 1) -> None:
    """Replace ``old`` by ``new`` in the file, which must hold it exactly ``count`` times."""
    text = path.read_text()
    assert text.count(old) == count, (path, old)
    path.write_text(text.replace(old, new))


def refused(course: Path, *args: str) -> str:
    """The one line of a command that must fail with exit 2, without a traceback."""
    result = run(course, *args)
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    return lines[0].removeprefix("Error: ")


def load_error(course: Path) -> str:
    with pytest.raises(RubricError) as info:
        Course(course).assignment("backprop")
    message = str(info.value)
    assert "\n" not in message
    return message


# --- at load ----------------------------------------------------------------------------------


def test_the_shipped_assignment_loads(course: Path) -> None:
    assert Course(course).assignment("backprop").name == "backprop"


def test_a_case_with_a_keyword_make_inputs_does_not_take(course: Path, db_url: str) -> None:
    rubric = course / "rubrics" / "backprop.toml"
    edit(rubric, "[cases.binary]\nN = 10\n", "[cases.binary]\nN = 10\nlayers = 3\n")
    line = refused(course, "submit", str(SAMPLES / "correct_loops.py"), "-a", "backprop", "-s", "ada")
    assert line == (
        f"{rubric}: case 'binary': make_inputs(N=10, layers=3, D=3, H=5, C=2, reg=0.2) fails: "
        "TypeError: make_inputs() got an unexpected keyword argument 'layers'."
    )
    assert rows(db_url) == []


def test_make_inputs_that_raises_on_one_case(course: Path, db_url: str, tmp_path: Path) -> None:
    edit(course / "reference" / "backprop.py", '    X = rng.standard_normal((N, D))\n',
         '    if N == 1:\n        raise ValueError("one sample is not a batch")\n    X = rng.standard_normal((N, D))\n')
    rubric = course / "rubrics" / "backprop.toml"
    assert load_error(course) == (
        f"{rubric}: case 'single': make_inputs(N=1, D=6, H=4, C=3, reg=0.05) fails: ValueError: one sample is not a batch."
    )
    # grade batch refuses it the same way, before anything is claimed
    (tmp_path / "class" / "ada").mkdir(parents=True)
    shutil.copy(SAMPLES / "correct_loops.py", tmp_path / "class" / "ada" / "answer.py")
    assert refused(course, "batch", str(tmp_path / "class"), "-a", "backprop", "--json").startswith(f"{rubric}: case 'single': ")
    assert rows(db_url) == []


def test_make_inputs_without_an_argument_a_check_needs(course: Path) -> None:
    edit(course / "reference" / "backprop.py", '"reg": float(reg), "z3": z3}', '"reg": float(reg)}')
    assert load_error(course) == (
        f"{course / 'rubrics' / 'backprop.toml'}: case 'basic': make_inputs gives no z3, argument(s) of "
        "softmax_grad(z3, y), which check 'q2a_dz3_reference' calls."
    )


def test_make_inputs_that_returns_no_dict(course: Path) -> None:
    edit(course / "reference" / "backprop.py", 'return {"params": params, "X": X, "y": y, "reg": float(reg), "z3": z3}',
         'return params, X, y, float(reg), z3')
    assert load_error(course).endswith("case 'basic': make_inputs(N=8, D=5, H=7, C=3, reg=0.1) returned a tuple, not a dict of arguments by name.")


def test_a_typo_in_the_mistakes_module(course: Path, db_url: str) -> None:
    """A NameError in answer used to remove every diagnosis and all partial credit, silently."""
    mistakes = course / "reference" / "backprop_mistakes.py"
    edit(mistakes, "    return float(data + penalty)\n", "    return float(data + penlaty)\n")
    line = refused(course, "submit", str(SAMPLES / "seed_answer.py"), "-a", "backprop", "-s", "ada")
    assert line == (
        f"{mistakes}: answer('loss', inputs of case 'basic', [softmax-wrong-axis]) fails: NameError: name 'penlaty' "
        "is not defined; it must return [] for a function the mistake does not change."
    )
    assert rows(db_url) == []


def test_answer_that_raises_for_a_function_it_does_not_vary(course: Path) -> None:
    mistakes = course / "reference" / "backprop_mistakes.py"
    edit(mistakes, "    if function not in FUNCTIONS:\n        return []\n", "    if function == 'gradients':\n        raise KeyError(function)\n")
    assert load_error(course).endswith("[softmax-wrong-axis]) fails: KeyError: 'gradients'; it must return [] for a function the mistake does not change.")


def test_a_mistake_whose_forms_are_not_a_list(course: Path) -> None:
    mistakes = course / "reference" / "backprop_mistakes.py"
    edit(mistakes, '    return [{"sign": -1.0}, {"data_sign": -1.0}]', '    return {"sign": -1.0}')
    assert load_error(course) == f"{mistakes}: mistake sign-flip must return a non-empty list of forms (dicts), not {{'sign': -1.0}}."


def test_answer_with_the_wrong_number_of_forms(course: Path) -> None:
    mistakes = course / "reference" / "backprop_mistakes.py"
    edit(mistakes, "        answers.append(_answer(function, inputs, k))\n", "        answers.append(_answer(function, inputs, k))\n    answers.append(None)\n")
    assert load_error(course) == (
        f"{mistakes}: answer('loss', inputs of case 'basic', [softmax-wrong-axis]) gives 3 answers for a mistake of 2 form(s): "
        "one per form, or [] where it does not change loss."
    )


# --- while grading ----------------------------------------------------------------------------


def test_a_reference_that_fails_on_one_case(course: Path, db_url: str) -> None:
    """The reference's gradients raises on the one-sample case, which load does not try: the
    checks that need it say the assignment failed; everything else is graded as usual."""
    edit(course / "reference" / "backprop.py", '    z2, a2, z3 = forward(params, X)\n    dz3 = softmax_grad(z3, y)\n',
         '    z2, a2, z3 = forward(params, X)\n    if X.shape[0] == 1:\n        raise IndexError("no batch")\n    dz3 = softmax_grad(z3, y)\n')
    Course(course).assignment("backprop")  # loads
    out = submitted(course, "correct_loops.py")
    assert out["status"] == "graded"
    by_id = {c["id"]: c for c in out["checks"]}
    faulted = {i for i, c in by_id.items() if c["status"] == "error"}
    # every reference check of gradients lists the 'single' case; its gradchecks' probe compares
    # the reference on the graded cases too
    assert {f"{p}_reference" for p in ("q2b_dW2", "q2c_dW1", "q2c_db1", "q2c_db2")} <= faulted
    assert faulted <= {i for i in by_id if i.startswith(("q2b", "q2c"))}
    for check_id in faulted:
        assert by_id[check_id]["message"] == (
            f"the assignment's reference's gradients failed on this check (IndexError: no batch): {NOT_YOURS}"
        )
        assert by_id[check_id]["score"] == 0
    for check_id in set(by_id) - faulted:
        assert by_id[check_id]["status"] == "passed", by_id[check_id]
    assert f"The assignment itself failed on {len(faulted)} check(s): not a mistake of yours" in out["message"]
    assert "submit again" not in json.dumps(out)
    assert [(student, status) for student, status, _ in rows(db_url)] == [("ada", "graded")]


def test_a_mistakes_module_that_fails_on_a_later_case(course: Path, db_url: str) -> None:
    """answer raises on the one-sample case only: a submission whose failed check is being
    diagnosed gets the assignment's failure there, not a silent loss of its partial credit."""
    mistakes = course / "reference" / "backprop_mistakes.py"
    edit(mistakes, "def _dz3(k: Knobs, z3: np.ndarray, y: np.ndarray) -> np.ndarray:\n    n = z3.shape[0]\n",
         "def _dz3(k: Knobs, z3: np.ndarray, y: np.ndarray) -> np.ndarray:\n    n = z3.shape[0]\n    if n == 1:\n        return undefined_name\n")
    out = submitted(course, "seed_db2_not_summed.py")
    by_id = {c["id"]: c for c in out["checks"]}
    failed = by_id["q2c_db2_reference"]
    assert failed["status"] == "error" and failed["score"] == 0
    assert failed["message"].startswith("the assignment's mistakes module's answer for gradients with softmax-wrong-axis failed on this check (NameError: ")
    assert failed["message"].endswith(NOT_YOURS)
    # the checks that pass need no diagnosis and are unaffected
    assert sum(c["score"] for c in out["checks"] if c["id"].startswith("q1")) == FULL["q1_loss"]


def test_a_hidden_check_the_assignment_failed_on_does_not_blame_the_student() -> None:
    check = CheckResult("q1", "q1", "error", 0.0, 5.0, "the assignment's reference's f failed on this check (E: x): ...",
                        errors={"assignment_failed": True}, hidden=True)
    shown = redact(check, None)
    assert shown.message == f"q1: the assignment failed on this hidden check: {NOT_YOURS}"
    assert "your code" not in shown.message


def test_assignment_code_raises_assignment_faults(course: Path) -> None:
    loaded = Course(course).assignment("backprop")
    with pytest.raises(AssignmentFault) as info:
        loaded.function("loss")({}, np.zeros((2, 2)), np.zeros(2, dtype=int), 0.0)
    assert str(info.value) == "the assignment's reference's loss failed (KeyError: 'W1')"
    assert loaded.parameters("loss") == ["params", "X", "y", "reg"]
    assert loaded.variants("kinks", {}, loaded.mistakes.MISTAKES[:1]) == []  # type: ignore[union-attr]
