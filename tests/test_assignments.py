"""The softmax and layers assignments: every shipped sample graded through the real sandbox.

A correct sample (``correct_*``) gets full marks with no diagnosis; a ``bug_<code>.py`` sample
holds exactly one mistake, so every check it fails carries exactly that code, the checks it
passes carry none, and its score is what the rubric's credit table says: the points of the
passed checks plus each failed check's points times the credit of the code (read from the
rubric file here, not from the grader).
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from helpers import ROOT, submitted

ASSIGNMENTS = ("softmax", "layers")


def samples(assignment: str) -> list[Path]:
    return sorted((ROOT / "submissions" / assignment).iterdir())


def rubric(assignment: str) -> dict:
    return tomllib.loads((ROOT / "rubrics" / f"{assignment}.toml").read_text())


CASES = [(a, p.name) for a in ASSIGNMENTS for p in samples(a)]


@pytest.mark.parametrize(("assignment", "name"), CASES, ids=[f"{a}/{n}" for a, n in CASES])
def test_every_sample_is_graded_as_its_name_says(course: Path, db_url: str, assignment: str, name: str) -> None:
    out = submitted(course, ROOT / "submissions" / assignment / name, "ada", assignment=assignment)
    checks = {c["id"]: c for c in out["checks"]}
    points = {c["id"]: (c["points"], part.get("credit", {})) for part in rubric(assignment)["parts"] for c in part["checks"]}
    assert set(checks) == set(points)
    if name.startswith("correct_"):
        assert out["score"] == out["max_score"] == 100, [(c["id"], c["message"]) for c in out["checks"] if c["status"] != "passed"]
        assert all(c["diagnoses"] == [] for c in out["checks"])
        return
    code = name.removeprefix("bug_").removesuffix(".py").replace("_", "-")
    failed = [i for i, c in checks.items() if c["status"] != "passed"]
    assert failed, f"{name} loses no points"
    expected = 0.0
    for check_id, check in checks.items():
        worth, credit = points[check_id]
        if check["status"] == "passed":
            assert check["diagnoses"] == [], check_id
            expected += worth
        else:
            assert check["diagnoses"] == [code], (check_id, check["message"])
            expected += credit.get(code, 0.0) * worth
    assert out["score"] == pytest.approx(expected)


def test_every_mistake_code_has_its_sample() -> None:
    """The codes the issue names, each with a bug sample."""
    wanted = {
        "softmax": {"unstable-softmax", "missing-batch-mean", "reg-grad-factor", "missing-reg-grad", "missing-reg-loss", "transposed", "sign-flip"},
        "layers": {
            "stats-as-constants", "unbiased-variance", "param-grad-not-summed", "eps-outside-sqrt", "dx-not-reshaped",
            "bias-not-summed", "relu-mask-from-dout", "momentum-swapped", "test-uses-batch-stats",
        },
    }
    for assignment, codes in wanted.items():
        shipped = {p.stem.removeprefix("bug_").replace("_", "-") for p in samples(assignment) if p.name.startswith("bug_")}
        assert codes <= shipped, codes - shipped


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_check_id_names_its_function_and_output(assignment: str) -> None:
    for part in rubric(assignment)["parts"]:
        for check in part["checks"]:
            assert check["function"] in check["id"], check["id"]
            output = check.get("output") if check.get("output") != "bn_param" else check.get("key")
            assert output is None or output in check["id"], check["id"]


def test_a_backward_pass_that_differences_its_forward_is_diagnosed(course: Path, db_url: str) -> None:
    """The probe times a backward pass against its forward on a case of ~20,000 inputs: one that
    differences the forward through its cache costs two evaluations per input, and the rubric
    gives numerical-gradient no credit; its answers are right, so nothing else is named."""
    out = submitted(course, ROOT / "tests" / "layers_mistakes" / "numerical_affine_backward.py", "ada", assignment="layers")
    checks = {c["id"]: c for c in out["checks"]}
    affine = [i for i in checks if i.startswith("layers_affine_backward_")]
    assert len(affine) == 3
    for check_id in affine:
        assert checks[check_id]["diagnoses"] == ["numerical-gradient"] and checks[check_id]["score"] == 0, checks[check_id]
    others = [c for i, c in checks.items() if i not in affine]
    assert all(c["status"] == "passed" and c["diagnoses"] == [] for c in others)
    assert out["score"] == 100 - sum(checks[i]["max_score"] for i in affine)
