"""Every hostile file of tests/hostile/ uploaded to one `grade serve`: each is acknowledged,
recorded and finished, and the server keeps serving the other students all along."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import CORRECT, rows
from serving import Served, enrol, graded, upload, wait_for

pytestmark = pytest.mark.slow
HOSTILE = Path(__file__).parent / "hostile"


def test_hostile_uploads_leave_the_server_serving_others(course: Path, db_url: str, tmp_path: Path) -> None:
    corpus = sorted(HOSTILE.glob("*.py"))
    tokens = enrol(db_url, "mallory", "ada")
    with Served(course, db_url, tmp_path, "--workers", "2") as server, server.client(tokens["mallory"]) as mallory, server.client(tokens["ada"]) as ada:
        ids = []
        for path in corpus:
            answer = upload(mallory, path.read_bytes(), path.name)
            assert answer.status_code == 202, (path.name, answer.text)
            ids.append(answer.json()["submission_id"])
        mine = upload(ada, CORRECT)
        assert mine.status_code == 202 and ada.get("/healthz").status_code == 200
        wait_for(lambda: all(status != "pending" for _, status, _ in rows(db_url)), "every upload is finished", server.process, seconds=1200)
        assert graded(ada, mine.json()["submission_id"], server.process)["score"] == 100.0
        assert ada.get("/healthz").json()["status"] == "ok"
        after = graded(ada, upload(ada, CORRECT).json()["submission_id"], server.process)
        assert after["score"] == 100.0
        history = mallory.get("/api/v1/assignments/backprop/submissions").json()
    assert sorted(e["submission_id"] for e in history) == sorted(ids)
    assert len(rows(db_url)) == len(corpus) + 2
