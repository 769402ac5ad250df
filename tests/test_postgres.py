"""Every command against the real PostgreSQL server, and 50 graders submitting at once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT, SAMPLES, batch, run, submitted
from sqlalchemy import create_engine, text

pytestmark = pytest.mark.postgres


@pytest.mark.slow
def test_every_command_works_on_postgresql(course: Path, postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRADE_DB_URL", postgres_url)
    upgraded = run(course, "db", "upgrade")
    assert upgraded.exit_code == 0 and "gradebook at revision" in upgraded.output
    assert submitted(course, "seed_db1_phi.py", "Zoë")["score"] == 88.75
    report = run(course, "report", "-s", "Zoë", "-a", "backprop")
    assert report.exit_code == 0 and "Score: 88.75 / 100" in report.output
    directory = tmp_path / "class"
    directory.mkdir()
    for name in ("correct_loops.py", "seed_db2_not_summed.py"):
        (directory / name).write_bytes((SAMPLES / name).read_bytes())
    assert batch(course, directory)["graded"] == 2
    assert batch(course, directory)["already_graded"] == 2
    exported = run(course, "export", "-a", "backprop")
    lines = exported.stdout.splitlines()
    assert lines[0].startswith("student,total") and len(lines) == 4
    assert any(line.startswith("seed_db2_not_summed,95,") for line in lines)


@pytest.mark.slow
def test_fifty_graders_at_once_record_every_submission_exactly_once(course: Path, postgres_url: str) -> None:
    env = {**os.environ, "GRADE_DB_URL": postgres_url, "PYTHONPATH": str(ROOT)}
    sample = str(SAMPLES / "correct_vectorized.py")
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "grader.cli", "--course", str(course), "submit", sample, "-a", "backprop", "-s", f"s{i:02d}", "--json"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for i in range(50)
    ]
    outputs = [p.communicate(timeout=300) for p in processes]
    assert [p.returncode for p in processes] == [0] * 50, [err.decode()[-500:] for _, err in outputs if err]
    ids = [json.loads(out)["submission_id"] for out, _ in outputs]
    assert len(set(ids)) == 50
    engine = create_engine(postgres_url)
    try:
        with engine.connect() as db:
            rows = db.execute(text(
                "SELECT students.external_id, submissions.status, submissions.score, "
                "(SELECT count(*) FROM check_results WHERE submission_id = submissions.id) "
                "FROM submissions JOIN students ON students.id = submissions.student_id"
            )).all()
    finally:
        engine.dispose()
    assert sorted(r[0] for r in rows) == [f"s{i:02d}" for i in range(50)]
    assert all(r[1] == "graded" and r[2] == 100 and r[3] == 13 for r in rows)
