"""What several test files need: the repository's paths, the backprop assignment's parts, the
`grade` command run in this process, and the gradebook's rows read straight from the database.

conftest.py imports this module first thing after giving the run its own TMPDIR.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from click.testing import CliRunner, Result
from sqlalchemy import create_engine, make_url, text

from grader.cli import main

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "submissions" / "backprop"
#: the backprop assignment's parts and their points (rubrics/backprop.toml)
FULL = {"q1_loss": 20, "q2a_dz3": 15, "q2b_dW2": 20, "q2c_dW1": 20, "q2c_db1": 15, "q2c_db2": 10}
PARTS = list(FULL)
#: the keys of `grade submit --json` (README: "grade submit --json")
SUBMIT_JSON_KEYS = {"submission_id", "student", "assignment", "status", "message", "score", "max_score", "isolation", "checks"}
#: a correct answer whose three functions do not call each other
CORRECT = (SAMPLES / "correct_loops.py").read_text()
#: a correct submission whose top level ends in a statement that waits until it is killed: the
#: grader's load timeout (3 s in the test course) stops it, skips it and grades the rest to 100
HANGS_THEN_CORRECT = CORRECT + "\nimport signal\n\nsignal.pause()\n"


def part_of(check_id: str) -> str:
    """The backprop part a check belongs to: check ids start with their part's id."""
    return next(p for p in FULL if check_id.startswith(p))


def part_scores(checks: list[dict]) -> dict[str, float]:
    """Points per part of a `grade submit --json` result, every part present."""
    scores = dict.fromkeys(FULL, 0.0)
    for check in checks:
        scores[part_of(check["id"])] += check["score"]
    return scores


def run(course: Path, *args: str, env: Mapping[str, str] | None = None) -> Result:
    """`grade --course COURSE ARGS...` in this process (``env`` on top of this process's)."""
    return CliRunner(env=env).invoke(main, ["--course", str(course), *args])


def submit(course: Path, path: str | Path, student: str = "ada", *extra: str, assignment: str = "backprop") -> tuple[int, dict]:
    """`grade submit --json` of ``path`` (a sample's name or any path): the exit code, and the
    JSON result, or ``{"output": ...}`` when the command failed."""
    result = run(course, "submit", str(SAMPLES / path), "--assignment", assignment, "--student", student, "--json", *extra)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert len(result.stdout.splitlines()) <= 1, "grade submit --json must print exactly one line"
    return result.exit_code, json.loads(result.stdout) if result.exit_code == 0 else {"output": result.output}


def submitted(course: Path, path: str | Path, student: str = "ada", *extra: str, assignment: str = "backprop") -> dict:
    """The JSON result of a `grade submit --json` that must succeed."""
    code, out = submit(course, path, student, *extra, assignment=assignment)
    assert code == 0, out
    return out


def batch(course: Path, directory: Path, *extra: str) -> dict:
    """The JSON summary of a `grade batch --json` of ``directory`` that must succeed."""
    result = run(course, "batch", str(directory), "-a", "backprop", "--json", *extra)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def rename_student(url: str, old: str, new: str) -> None:
    """Give student ``old`` the id ``new`` straight in the database: a gradebook may hold ids that
    ``grade submit`` now refuses (control characters), written before it checked them."""
    engine = create_engine(url)
    try:
        with engine.begin() as db:
            db.execute(text("UPDATE students SET external_id = :new WHERE external_id = :old"), {"old": old, "new": new})
    finally:
        engine.dispose()


def rows(url: str) -> list[tuple[str, str, float | None]]:
    """(student, status, score) of every submission row in order, straight from the database;
    none while the database or its schema does not exist yet."""
    return query(
        url,
        "SELECT students.external_id, submissions.status, submissions.score FROM submissions "
        "JOIN students ON students.id = submissions.student_id ORDER BY submissions.id",
    )


def query(url: str, sql: str, **params: object) -> list[tuple]:
    """The rows ``sql`` reads straight from the database; none while the database or its
    schema does not exist yet."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and not Path(parsed.database or "").exists():
        return []  # connecting would create the file under the grader's feet
    engine = create_engine(url)
    try:
        with engine.connect() as db:
            return [tuple(r) for r in db.execute(text(sql), params)]
    except Exception:
        return []
    finally:
        engine.dispose()
