"""End to end: `grade submit` and `grade report` on the shipped samples and on broken files."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from helpers import FULL, SAMPLES, SUBMIT_JSON_KEYS, part_scores, run, submit

from grader.db import Gradebook

# Each seed mistake loses exactly its own part, keeps the partial credit the rubric gives its
# diagnosis (rubrics/backprop.toml: softmax-wrong-axis 1/4, wrong-activation-derivative 1/4,
# bias-not-summed 1/2, transposed 1/2), and is named in every check it fails.
AXIS, PHI, BIAS, TRANSPOSED = "softmax-wrong-axis", "wrong-activation-derivative", "bias-not-summed", "transposed"
EXPECTED: dict[str, dict[str, tuple[float, str]]] = {
    "correct_vectorized.py": {},
    "correct_loops.py": {},
    "correct_float32.py": {},
    "correct_relu_ge.py": {},
    "correct_scipy.py": {},  # scipy.special's logsumexp and softmax: backprop declares scipy
    "correct_notebook.ipynb": {},
    "correct_notebook_v3.ipynb": {},
    "seed_softmax_over_samples.py": {"q1_loss": (20 / 4, AXIS)},
    "seed_db1_phi.py": {"q2c_db1": (15 / 4, PHI)},
    "seed_db2_not_summed.py": {"q2c_db2": (10 / 2, BIAS)},
    "seed_dW2_transposed.py": {"q2b_dW2": (20 / 2, TRANSPOSED)},
    "seed_answer.py": {"q1_loss": (20 / 4, AXIS), "q2b_dW2": (20 / 2, TRANSPOSED), "q2c_db1": (15 / 4, PHI), "q2c_db2": (10 / 2, BIAS)},
}


def test_every_sample_has_expectations() -> None:
    assert sorted(p.name for p in SAMPLES.iterdir()) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_sample_part_scores_and_diagnoses(course: Path, db_url: str, name: str) -> None:
    code, out = submit(course, name)
    assert code == 0, out
    assert out["status"] == "graded"
    expected = {**FULL, **{part: score for part, (score, _) in EXPECTED[name].items()}}
    assert part_scores(out["checks"]) == expected
    assert out["score"] == sum(expected.values())
    assert out["max_score"] == 100
    for check in out["checks"]:
        part = check["id"].split("_")[0] + "_" + check["id"].split("_")[1]
        mistake = EXPECTED[name].get(part)
        if check["status"] == "passed":
            assert check["diagnoses"] == [], check
        else:
            assert mistake is not None and check["diagnoses"] == [mistake[1]], check


def test_json_contract(course: Path, db_url: str) -> None:
    code, out = submit(course, "seed_db2_not_summed.py")
    assert code == 0
    assert set(out) == SUBMIT_JSON_KEYS
    assert isinstance(out["submission_id"], int)
    assert out["isolation"] == "namespaces+seccomp"
    for check in out["checks"]:
        assert set(check) == {"id", "status", "score", "max_score", "message", "diagnoses", "inputs"}
        assert check["status"] in ("passed", "failed", "deducted", "error", "timeout", "memory", "crashed")
    db2 = {c["id"]: c for c in out["checks"]}["q2c_db2_reference"]
    assert db2["status"] == "failed"
    assert "(8, 3)" in db2["message"] and "(3,)" in db2["message"]


def test_messages_speak_the_assignments_notation(course: Path, db_url: str) -> None:
    _, out = submit(course, "seed_softmax_over_samples.py")
    checks = {c["id"]: c for c in out["checks"]}
    assert checks["q1_loss_reference"]["message"].startswith("J is wrong on case")
    assert "lambda=" in checks["q1_loss_reference"]["message"]
    # The gradient is right, so the gradient check passes, but it tells the student that their
    # own loss does not match the gradient.
    gradcheck = checks["q2c_dW1_gradcheck"]
    assert gradcheck["status"] == "passed"
    assert "disagrees with finite differences of your own loss()" in gradcheck["message"]


def variant(tmp_path: Path, source: str, name: str = "variant.py") -> Path:
    path = tmp_path / name
    path.write_text(source)
    return path


@pytest.mark.parametrize(
    ("override", "lost", "status"),
    [
        ("def gradients(params, X, y, reg):\n    while True:\n        pass\n", ("q2b_dW2", "q2c_dW1", "q2c_db1", "q2c_db2"), "timeout"),
        ("def softmax_grad(z3, y):\n    raise NotImplementedError('todo')\n", ("q2a_dz3",), "error"),
        ("del gradients\n", ("q2b_dW2", "q2c_dW1", "q2c_db1", "q2c_db2"), "error"),
        ("def loss(params, X, y, reg):\n    import os\n    os._exit(0)\n", ("q1_loss",), "crashed"),
        ("def loss(params, X, y, reg):\n    import sys\n    sys.exit(0)\n", ("q1_loss",), "error"),
    ],
)
def test_a_broken_function_costs_only_its_parts(
    course: Path, db_url: str, tmp_path: Path, correct_source: str, override: str, lost: tuple[str, ...], status: str
) -> None:
    code, out = submit(course, variant(tmp_path, correct_source + "\n" + override))
    assert code == 0
    assert out["status"] == "graded"
    assert part_scores(out["checks"]) == {**FULL, **{p: 0 for p in lost}}
    lost_checks = [c for c in out["checks"] if c["id"].startswith(lost) and not c["id"].endswith("_gradcheck")]
    assert lost_checks and all(c["status"] == status for c in lost_checks)


@pytest.mark.parametrize(
    ("name", "content", "status", "text"),
    [
        ("syntax.py", b"import numpy as np\n\ndef loss(params, X, y, reg)\n    return 0.0\n", "error", "line 3"),
        ("garbage.py", bytes(range(128, 256)) * 4, "error", "not readable Python text"),
        ("truncated.ipynb", b'{"nbformat": 4, "nbformat_minor": 5, "cells": [{"cell_ty', "error", "not valid JSON"),
        ("garbage.ipynb", b"\x89PNG\r\n\x1a\n\x00\x00", "error", "not valid JSON"),
        # a codec a coding cookie names may fail with any exception (here UnicodeError)
        ("undefined.py", b"# -*- coding: undefined -*-\nx = 1\n", "error", "not readable Python text"),
        ("punycode.py", b"# -*- coding: punycode -*-\ndef loss(params, X, y, reg):\n    return 0.0\n", "error", "not readable Python text"),
        ("huge_int.ipynb", b'{"nbformat": 4, "nbformat_minor": 5, "metadata": {"n": ' + b"9" * 5000 + b'}, "cells": []}', "error", "more than 100 digits"),
        ("wrong_types.ipynb", b'{"nbformat": 4, "nbformat_minor": 5, "cells": [{"cell_type": "code", "source": 5}]}', "error", "is not text"),
        ("flood.ipynb", b'{"nbformat": 4, "nbformat_minor": 5, "metadata": {"x": [' + b"{}," * 2_000_000 + b'{}]}, "cells": []}', "error", "clear its outputs"),
        pytest.param("hang.py", b"while True:\n    pass\n" * 3, "timeout", "longer than 3 s (hang.py line 5 was running)", marks=pytest.mark.slow),
    ],
)
def test_unloadable_files_are_recorded_as_errors(
    course: Path, db_url: str, tmp_path: Path, name: str, content: bytes, status: str, text: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    code, out = submit(course, path)
    assert code == 0
    assert out["status"] == status and out["score"] == 0
    assert text in out["message"] and out["message"].isprintable()
    assert len(out["checks"]) == 13 and all(c["status"] == status for c in out["checks"])
    with Gradebook(db_url) as gradebook:
        stored = gradebook.get(out["submission_id"])
    assert stored is not None and stored.status == status
    assert stored.sha256 == hashlib.sha256(content).hexdigest()


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (["submit", "missing.py", "-a", "backprop", "-s", "ada"], "does not exist"),
        (["submit", "{sample}", "-a", "nosuch", "-s", "ada"], "no assignment 'nosuch'"),
        (["submit", "{sample}", "-a", "../rubrics/backprop", "-s", "ada"], "no assignment"),
        (["submit", "{sample}", "-a", "backprop", "-s", "  "], "the student id '  ' is empty or only whitespace."),
        (["submit", "{sample}", "-a", "backprop", "-s", "ada\tlovelace"], "the student id 'ada\\tlovelace' holds the control character \\t."),
        (["submit", "{sample}", "-a", "backprop", "-s", "ada\u202e"], "the student id 'ada\\u202e' holds the control character \\u202e."),
        (["submit", "{sample}", "-a", "backprop", "-s", "a" * 201], "is 201 characters long, more than the 200 a student id may have."),
        (["submit", "{notes}", "-a", "backprop", "-s", "ada"], "neither a .py file nor a .ipynb"),
    ],
)
def test_usage_errors_exit_2_with_one_line_and_record_nothing(course: Path, db_url: str, tmp_path: Path, args: list[str], text: str) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    args = [a.format(sample=SAMPLES / "correct_loops.py", notes=notes) for a in args]
    result = run(course, *args)
    assert result.exit_code == 2
    assert text in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert "Traceback" not in result.output
    assert not Path(db_url.removeprefix("sqlite:///")).exists()


def test_malformed_rubric_is_a_usage_error(course: Path, db_url: str) -> None:
    rubric = course / "rubrics" / "backprop.toml"
    rubric.write_text(rubric.read_text().replace('id = "q2c_db2_gradcheck"', 'id = "wrong_prefix"'))
    result = run(course, "submit", str(SAMPLES / "correct_loops.py"), "-a", "backprop", "-s", "ada")
    assert result.exit_code == 2
    assert "wrong_prefix" in result.output and len(result.output.strip().splitlines()) == 1


def test_hostile_student_ids_are_stored_exactly_and_never_become_paths(course: Path, db_url: str, tmp_path: Path) -> None:
    student = "../../etc/passwd'; DROP TABLE students; -- Zoë 学生"
    code, out = submit(course, "correct_loops.py", student)
    assert code == 0 and out["student"] == student
    with Gradebook(db_url) as gradebook:
        stored = gradebook.latest(student, "backprop")
    assert stored is not None and stored.student == student and stored.score == 100
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["course", "gradebook.db", *[p.name for p in tmp_path.glob("gradebook.db-*")]])


def test_the_seed_reproduces_a_grading_exactly(course: Path, db_url: str) -> None:
    _, first = submit(course, "seed_answer.py", "ada", "--seed", "1234")
    _, again = submit(course, "seed_answer.py", "ada", "--seed", "1234")
    _, other = submit(course, "seed_answer.py", "ada", "--seed", "99")
    assert [c["message"] for c in first["checks"]] == [c["message"] for c in again["checks"]]
    assert [c["message"] for c in first["checks"]] != [c["message"] for c in other["checks"]]


def test_report_prints_the_latest_result(course: Path, db_url: str) -> None:
    submit(course, "correct_loops.py", "grace")
    _, latest = submit(course, "seed_db1_phi.py", "grace")
    result = run(course, "report", "--student", "grace", "--assignment", "backprop")
    assert result.exit_code == 0
    assert f"submission {latest['submission_id']} (seed_db1_phi.py)" in result.output
    assert "Score: 88.75 / 100" in result.output
    assert "Question 2c: dJ/db1" in result.output
    assert "dJ/db1 is wrong on case" in result.output


def test_report_for_an_unknown_student_is_a_one_line_error(course: Path, db_url: str) -> None:
    result = run(course, "report", "-s", "nobody", "-a", "backprop")
    assert result.exit_code == 2 and "no submission of 'nobody'" in result.output


def test_text_output_shows_parts_checks_and_messages(course: Path, db_url: str) -> None:
    result = run(course, "submit", str(SAMPLES / "seed_dW2_transposed.py"), "-a", "backprop", "-s", "ada")
    assert result.exit_code == 0
    assert "Score: 90 / 100" in result.output
    assert "FAIL q2b_dW2_reference" in result.output
    assert "dJ/dW2 has shape (3, 7), but it must have shape (7, 3)" in result.output


def test_db_upgrade_creates_the_gradebook(course: Path, db_url: str) -> None:
    result = run(course, "db", "upgrade")
    assert result.exit_code == 0 and "gradebook at revision" in result.output
    again = run(course, "db", "upgrade")
    assert "up to date" in again.output


def test_changing_an_input_in_place_is_diagnosed_with_the_rubrics_credit(course: Path, db_url: str, tmp_path: Path, correct_source: str) -> None:
    source = correct_source + (
        "\n_loss = loss\n"
        "def loss(params, X, y, reg):\n    value = _loss(params, X, y, reg)\n    X[:] = 0.0\n    return value\n"
    )
    _, out = submit(course, variant(tmp_path, source))
    checks = {c["id"]: c for c in out["checks"]}
    for check_id, points in (("q1_loss_reference", 15), ("q1_loss_stability", 5)):
        assert checks[check_id]["diagnoses"] == ["mutates-input"]
        assert checks[check_id]["score"] == pytest.approx(0.9 * points)  # credit 0.9 in the rubric
        assert "loss changes its input X in place" in checks[check_id]["message"]
    assert all(c["diagnoses"] == [] for c in out["checks"] if not c["id"].startswith("q1_loss"))


@pytest.mark.slow
def test_what_is_left_after_the_total_time_is_a_timeout_saying_so(course: Path, db_url: str, tmp_path: Path, correct_source: str) -> None:
    # softmax_grad's calls (0.6 s each) stay under the call limit (1 s); 3 fit in the total
    # time, and its checks need 3 and 4: those and the gradients' are timeouts
    rubric = course / "rubrics" / "backprop.toml"
    rubric.write_text(rubric.read_text().replace("[limits]\n", "[limits]\ntotal_timeout = 2.0\n", 1))
    slow = correct_source + "\nimport time\n_dz3 = softmax_grad\ndef softmax_grad(z3, y):\n    time.sleep(0.6)\n    return _dz3(z3, y)\n"
    _, out = submit(course, variant(tmp_path, slow))
    assert out["status"] == "graded"
    assert out["message"] == "20 of 100 points. It used its total time of 2 s: what was left did not run."
    assert part_scores(out["checks"]) == {**dict.fromkeys(FULL, 0), "q1_loss": 20}
    late = [c for c in out["checks"] if not c["id"].startswith("q1_loss")]
    assert {c["status"] for c in late} == {"timeout"}
    assert all(c["message"].startswith("the submission used its total time of 2 s; ") for c in late)
