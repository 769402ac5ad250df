"""`grade gradescope-bundle`, and the bundle's run_autograder run against a directory laid out like
Gradescope's /autograder: the zip unpacked in source/, the student's files in submission/, and
results/results.json read back."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from helpers import CORRECT, ROOT, SAMPLES, run

from grader import gradescope

#: rubrics/backprop.toml's checks and their points, added up by hand: 15 + 5 (q1), 10 + 5 (q2a),
#: 10 + 5 + 5 (q2b), 12 + 8 (q2c dW1), 10 + 5 (q2c db1), 6 + 4 (q2c db2)
CHECKS = {
    "q1_loss_reference": 15, "q1_loss_stability": 5, "q2a_dz3_reference": 10, "q2a_dz3_stability": 5,
    "q2b_dW2_reference": 10, "q2b_dW2_gradcheck": 5, "q2b_dW2_stability": 5, "q2c_dW1_reference": 12,
    "q2c_dW1_gradcheck": 8, "q2c_db1_reference": 10, "q2c_db1_gradcheck": 5, "q2c_db2_reference": 6, "q2c_db2_gradcheck": 4,
}
FULL_POINTS = 100
#: the bundled rubric hides this check: Gradescope shows it after the due date
HIDDEN = "q2c_db2_gradcheck"
#: what the bundle holds beside the grader's package
SCRIPTS = {"setup.sh", "run_autograder"}
COURSE = {"course/rubrics/backprop.toml", "course/reference/backprop.py", "course/reference/backprop_mistakes.py"}


@pytest.fixture
def bundled(course: Path, tmp_path: Path) -> Path:
    """The autograder zip of the test course's backprop, with one check hidden."""
    rubric = course / "rubrics" / "backprop.toml"
    rubric.write_text(rubric.read_text().replace(f'id = "{HIDDEN}"', f'id = "{HIDDEN}"\nhidden = true'))
    return bundle(course, tmp_path / "autograder.zip")


def bundle(course: Path, output: Path) -> Path:
    result = run(course, "gradescope-bundle", "backprop", "-o", str(output))
    assert result.exit_code == 0, result.output
    assert result.stdout == "" and f"wrote {output}" in result.stderr
    return output


@pytest.fixture
def autograder(bundled: Path, tmp_path: Path) -> Path:
    """tmp_path/autograder as Gradescope lays it out: the zip unpacked in source/ with its modes,
    an empty submission/ and results/. setup.sh is not run (it installs with apt): venv/bin/python
    stands for the venv it makes, this run's Python importing the bundled grader (source/project).
    run_autograder is the bundle's, its one line naming /autograder pointed here."""
    root = tmp_path / "autograder"
    with zipfile.ZipFile(bundled) as archive:
        for info in archive.infolist():
            archive.extract(info, root / "source")
            (root / "source" / info.filename).chmod(info.external_attr >> 16 & 0o777)
    (root / "submission").mkdir()
    (root / "results").mkdir()
    python = root / "venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    project = shlex.quote(str(root / "source" / "project"))
    python.write_text(f'#!/bin/sh\nPYTHONPATH={project} exec {shlex.quote(sys.executable)} "$@"\n')
    python.chmod(0o755)
    script = (root / "source" / "run_autograder").read_text()
    assert script.count("\nroot=/autograder\n") == 1
    (root / "run_autograder").write_text(script.replace("\nroot=/autograder\n", f"\nroot={shlex.quote(str(root))}\n"))
    return root


def run_autograder(root: Path, **env: str) -> tuple[dict, str]:
    """results.json and the stdout of the bundle's run_autograder, which must succeed."""
    (root / "results" / "results.json").unlink(missing_ok=True)
    done = subprocess.run(
        ["bash", str(root / "run_autograder")], capture_output=True, text=True, timeout=300, env={**os.environ, **env},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads((root / "results" / "results.json").read_text()), done.stdout


def test_the_bundle_holds_the_scripts_the_grader_project_and_one_assignment(bundled: Path, course: Path, tmp_path: Path) -> None:
    with zipfile.ZipFile(bundled) as archive:
        infos = {i.filename: i for i in archive.infolist()}
        scripts = {name: archive.read(name) for name in SCRIPTS}
    names = set(infos)
    project = {n for n in names if n.startswith("project/")}
    assert names == SCRIPTS | COURSE | project
    assert {"project/pyproject.toml", "project/README.md", "project/grader/__init__.py", "project/grader/gradescope.py",
            "project/grader/templates/report.html", "project/grader/db/alembic.ini", "project/grader/sandbox/inside/zygote.py"} <= project
    assert len(project) == 2 + sum(1 for p in (ROOT / "grader").rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    assert not any("__pycache__" in n or n.endswith(".pyc") or "/tests/" in n or "/.git" in n or "/.venv" in n for n in names)
    for name, info in infos.items():
        assert info.create_system == 3 and info.external_attr >> 16 & 0o777 == (0o755 if name in SCRIPTS else 0o644), name
    for text in scripts.values():
        assert text.startswith(b"#!/usr/bin/env bash\n") and b"\nset -euo pipefail\n" in text and b"\r" not in text
        subprocess.run(["bash", "-n", "-c", text.decode()], check=True)
    setup = scripts["setup.sh"].decode()
    assert "install_missing python3 python3-venv bubblewrap libseccomp2" in setup and "apt-get install" in setup
    assert "python3 -m venv" not in setup and '"$python" -m venv /autograder/venv' in setup
    assert "/autograder/venv/bin/python -m pip install -q --no-cache-dir /autograder/source/project\n" in setup
    # backprop's [environment] packages, installed into the same Python
    assert "\n/autograder/venv/bin/python -m pip install -q --no-cache-dir scipy\n/autograder/venv/bin/grade doctor\n" in setup
    assert "-m grader.gradescope run --assignment backprop" in scripts["run_autograder"].decode()
    assert bundle(course, tmp_path / "again.zip").read_bytes() == bundled.read_bytes()  # the same course, the same zip


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope"], "Error: no assignment 'nope' in"),
        (["backprop", "-o", "/nonexistent/dir/autograder.zip"], "Error: cannot write /nonexistent/dir/autograder.zip"),
    ],
)
def test_a_bundle_that_cannot_be_built_is_one_line_and_no_file(course: Path, tmp_path: Path, args: list[str], message: str) -> None:
    output = ["-o", str(tmp_path / "autograder.zip")] if "-o" not in args else []
    result = run(course, "gradescope-bundle", *args, *output)
    assert result.exit_code == 2
    assert len(result.output.strip().splitlines()) == 1 and result.output.startswith(message)
    assert list(tmp_path.glob("*.zip")) == [] and list(tmp_path.glob(".autograder.zip.*")) == []


def test_the_bundle_runs_the_bundled_grader(autograder: Path) -> None:
    found = subprocess.run([str(autograder / "venv" / "bin" / "python"), "-P", "-c", "import grader; print(grader.__file__)"],
                           capture_output=True, text=True, check=True)
    assert found.stdout.strip() == str(autograder / "source" / "project" / "grader" / "__init__.py")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("sample", "score", "wrong"),
    [
        ("correct_loops.py", FULL_POINTS, {}),
        ("correct_notebook.ipynb", FULL_POINTS, {}),
        # seed_answer.py's four mistakes (tests/test_cli.py): each part keeps its share of credit
        ("seed_answer.py", 20 / 4 + 15 + 20 / 2 + 20 + 15 / 4 + 10 / 2,
         {"q1_loss": "softmax-wrong-axis", "q2b_dW2": "transposed", "q2c_db1": "wrong-activation-derivative", "q2c_db2": "bias-not-summed"}),
    ],
)
def test_run_autograder_grades_the_submission_into_results_json(autograder: Path, sample: str, score: float, wrong: dict[str, str]) -> None:
    (autograder / "submission" / sample).write_bytes((SAMPLES / sample).read_bytes())
    results, stdout = run_autograder(autograder)
    assert results["score"] == pytest.approx(score)
    assert results["output"].startswith(f"{score:g} of {FULL_POINTS} points.")  # a notebook adds its warnings
    assert results["extra_data"] == {"file": sample, "isolation": "namespaces+seccomp"}
    tests = {t["name"]: t for t in results["tests"]}
    assert list(tests) == list(CHECKS)  # one entry per check, in the rubric's order
    assert {name: t["max_score"] for name, t in tests.items()} == CHECKS
    assert sum(t["score"] for t in tests.values()) == pytest.approx(score)
    assert {name: t["visibility"] for name, t in tests.items()} == {n: "after_due_date" if n == HIDDEN else "visible" for n in CHECKS}
    for part, code in wrong.items():
        assert any(f"Diagnosis: {code}" in t["output"] for name, t in tests.items() if name.startswith(part)), part
    assert all(t["score"] == t["max_score"] for name, t in tests.items() if not name.startswith(tuple(wrong)))
    assert f"({sample} under namespaces+seccomp): score {score:g}." in stdout


@pytest.mark.slow
def test_without_user_namespaces_it_grades_on_the_landlock_path(autograder: Path) -> None:
    # as in Gradescope's containers: bubblewrap cannot make its namespaces there
    (autograder / "submission" / "backprop.py").write_text(CORRECT)
    results, _ = run_autograder(autograder, GRADE_NO_BWRAP="1")
    assert results["score"] == FULL_POINTS and len(results["tests"]) == len(CHECKS)
    assert results["extra_data"]["isolation"] == "landlock+seccomp+uid"


def test_without_any_isolation_it_refuses_to_grade_and_says_why(autograder: Path) -> None:
    (autograder / "submission" / "backprop.py").write_text(CORRECT)
    # GRADE_ISOLATION=none changes nothing: the bundle grades under strict isolation only
    results, stdout = run_autograder(autograder, GRADE_NO_BWRAP="1", GRADE_NO_LANDLOCK="1", GRADE_ISOLATION="none")
    assert results == {"score": 0.0, "output": results["output"], "tests": []}
    assert results["output"].startswith("Not graded: the autograder could not isolate your submission from the grader here")
    assert "but GRADE_NO_BWRAP is set, and no Landlock: GRADE_NO_LANDLOCK is set;" in results["output"]
    assert "/autograder/venv/bin/grade doctor" in results["output"]
    assert "score 0. Not graded" in stdout


@pytest.mark.parametrize(
    ("files", "sentence"),
    [
        ([], "No .py file or .ipynb notebook was found in your submission (it is empty): submit your backprop solution as one."),
        (["a.py", "b.ipynb"], "Your submission holds 2 .py files and notebooks (a.py, b.ipynb) and the autograder grades one: "
                              "submit only your solution, or name it backprop.py or backprop.ipynb."),
    ],
)
def test_no_file_or_several_give_score_zero_and_a_sentence(autograder: Path, files: list[str], sentence: str) -> None:
    for name in files:
        (autograder / "submission" / name).write_text(CORRECT)
    results, _ = run_autograder(autograder)
    assert results == {"score": 0.0, "output": sentence, "tests": []}


@pytest.mark.parametrize(
    ("files", "chosen", "said"),
    [
        (["hw.py"], "hw.py", ""),
        (["deep/er/hw.ipynb", "notes.txt"], "deep/er/hw.ipynb", ""),
        (["backprop.py", "helpers.py"], "backprop.py", ""),  # several: the one named after the assignment
        ([".git/x.py", ".ipynb_checkpoints/hw-checkpoint.ipynb", "__MACOSX/hw.py", "HW.PY"], "HW.PY", ""),
        (["notes.txt", "data.csv"], None, "(it holds data.csv, notes.txt)"),
        (["backprop.py", "backprop.ipynb"], None, "holds 2 .py files and notebooks (backprop.ipynb, backprop.py)"),
        ([f"q{i:02}.py" for i in range(12)], None, "holds 12 .py files and notebooks (q00.py, q01.py, q02.py, q03.py, q04.py, "
                                                   "q05.py, q06.py, q07.py, q08.py, q09.py and 2 more)"),
    ],
)
def test_pick_chooses_the_one_file_to_grade(tmp_path: Path, files: list[str], chosen: str | None, said: str) -> None:
    for name in files:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x = 1\n")
    path, why = gradescope.pick(tmp_path, "backprop")
    assert (path.relative_to(tmp_path).as_posix() if path else None, why if chosen else why.count(said)) == (chosen, "" if chosen else 1)


def test_pick_never_follows_a_symbolic_link(tmp_path: Path, course: Path) -> None:
    # a link to the course's reference would be graded as the student's work
    submission = tmp_path / "submission"
    submission.mkdir()
    (submission / "backprop.py").symlink_to(course / "reference" / "backprop.py")
    (submission / "linked").symlink_to(course / "reference", target_is_directory=True)
    path, why = gradescope.pick(submission, "backprop")
    assert path is None
    assert why == ("No .py file or .ipynb notebook was found in your submission (it is empty; symbolic links are not read: "
                   "linked, backprop.py): submit your backprop solution as one.")


@pytest.mark.slow
def test_lateness_counts_from_when_gradescope_says_it_was_submitted(course: Path, tmp_path: Path) -> None:
    # a regrade long after the due date must not make an on-time submission late: one day late
    # by created_at costs a quarter, where the grading time (years late) would cost everything
    rubric = course / "rubrics" / "backprop.toml"
    rubric.write_text('[policy]\ndue = "2020-01-01T00:00:00Z"\nlate_penalty_per_day = 0.25\n\n' + rubric.read_text())
    root = tmp_path / "autograder"
    (root / "submission").mkdir(parents=True)
    (root / "submission" / "backprop.py").write_text(CORRECT)
    (root / "submission_metadata.json").write_text(json.dumps({"created_at": "2020-01-01T10:00:00.000000+00:00"}))
    (root / "source").mkdir()
    (root / "source" / "course").symlink_to(course)
    results = gradescope.run(
        "backprop", source=root / "source", submission=root / "submission", results=root / "results" / "results.json",
        metadata=root / "submission_metadata.json",
    )
    assert results["score"] == 75.0 and sum(t["score"] for t in results["tests"]) == FULL_POINTS
    assert results["output"] == "100 of 100 points. Late by 1 day(s): 25 points off."
    assert json.loads((root / "results" / "results.json").read_text()) == results


def test_a_failure_of_the_grader_still_writes_results_json(tmp_path: Path, course: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "submission").mkdir()
    (tmp_path / "submission" / "backprop.py").write_text(CORRECT)
    (tmp_path / "source").mkdir()
    (tmp_path / "source" / "course").symlink_to(course)
    results = tmp_path / "results" / "results.json"

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(gradescope, "submit", broken)
    with pytest.raises(RuntimeError, match="a bug"):
        gradescope.run("backprop", source=tmp_path / "source", submission=tmp_path / "submission", results=results)
    assert json.loads(results.read_text()) == {
        "score": 0.0, "output": "Not graded: the autograder failed (RuntimeError). Tell your instructor.", "tests": [],
    }
    # an assignment the bundle does not hold: the course's one-line error, for the instructor
    monkeypatch.undo()
    written = gradescope.run("nope", source=tmp_path / "source", submission=tmp_path / "submission", results=results)
    assert written["score"] == 0.0 and written["output"].startswith("Not graded: no assignment 'nope' in ")
