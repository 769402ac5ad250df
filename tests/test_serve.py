"""`grade serve` over HTTP: a real uvicorn on a free port, a real client, the real gradebook.

Students upload with their own token and read only their own results; the course's policy
refuses before anything is read or recorded; hidden checks are redacted; the instructor's views
are the instructor's. Expectations are worked out by hand from the backprop rubric (100 points).
"""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from helpers import CORRECT, FULL, SAMPLES, SUBMIT_JSON_KEYS, run
from serving import Served, descendants, enrol, graded, niceness, upload, wait_for

from grader.batch.claims import GRADING_NICENESS
from grader.db import Gradebook

pytestmark = pytest.mark.slow  # each test starts a server of its own (about 2 s)


def with_policy(course: Path, policy: str) -> None:
    """Append a ``[policy]`` table to the course's backprop rubric."""
    rubric = course / "rubrics" / "backprop.toml"
    rubric.write_text(rubric.read_text() + "\n[policy]\n" + policy + "\n")


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def test_a_student_uploads_and_reads_their_own_result(course: Path, db_url: str, tmp_path: Path) -> None:
    tokens = enrol(db_url, "ada", "bea")
    with Served(course, db_url, tmp_path, "--workers", "1") as server, server.client(tokens["ada"]) as ada:
        every = ada.get("/api/v1/assignments").json()
        assert [a["name"] for a in every] == ["backprop", "layers", "softmax"]
        listed = every[0]
        assert listed == {
            "name": "backprop", "title": listed["title"], "max_score": 100.0, "opens": None, "due": None, "closes": None,
            "max_submissions": None, "max_upload_kb": None, "late_penalty_per_day": 0.0,
            "submissions_used": 0, "submissions_remaining": None, "extension_days": 0.0,
        }
        before = datetime.now(UTC)
        answer = upload(ada, CORRECT, "backprop.py")
        after = datetime.now(UTC)
        assert answer.status_code == 202, answer.text
        accepted = answer.json()
        assert set(accepted) == {"submission_id", "status", "submitted_at", "late_days"}
        assert (accepted["status"], accepted["late_days"]) == ("pending", 0)
        assert before <= datetime.fromisoformat(accepted["submitted_at"]) <= after
        result = graded(ada, accepted["submission_id"], server.process)
        assert (result["status"], result["score"], result["raw_score"], result["penalty"], result["max_score"]) == ("graded", 100.0, 100.0, 0.0, 100.0)
        assert (result["student"], result["assignment"], result["submission_id"]) == ("ada", "backprop", accepted["submission_id"])
        assert result["submitted_at"] == accepted["submitted_at"] and result["late_days"] == 0
        assert result["message"] == "100 of 100 points." and result["isolation"] == "namespaces+seccomp"
        assert sum(c["max_score"] for c in result["checks"]) == sum(FULL.values())
        assert {"id", "status", "score", "max_score", "message", "diagnoses", "inputs"} == set(result["checks"][0])
        assert "output" not in result and "seed" not in result
        # exactly `grade submit --json`'s keys, plus the four of a served upload
        assert set(result) == SUBMIT_JSON_KEYS | {"submitted_at", "late_days", "raw_score", "penalty"}
        assert f"grade serve: the course at {course} on http://127.0.0.1:{server.port}, graded by 1 grading process;" in server.log()
        [entry] = ada.get("/api/v1/assignments/backprop/submissions").json()
        assert (entry["submission_id"], entry["status"], entry["score"], entry["filename"]) == (accepted["submission_id"], "graded", 100.0, "backprop.py")
        assert ada.get("/api/v1/assignments").json()[0]["submissions_used"] == 1
        text = ada.get(f"/api/v1/submissions/{accepted['submission_id']}/report")
        assert text.headers["content-type"] == "text/plain; charset=utf-8" and "Score: 100 / 100." in text.text
        page = ada.get(f"/api/v1/submissions/{accepted['submission_id']}/report", params={"format": "html"})
        assert page.headers["content-type"].startswith("text/html") and "default-src 'none'" in page.headers["content-security-policy"]
        assert page.text.lstrip().lower().startswith("<!doctype html>")
        unknown = ada.get(f"/api/v1/submissions/{accepted['submission_id']}/report", params={"format": "pdf"})
        assert unknown.status_code == 422 and isinstance(unknown.json()["detail"], str)  # one sentence, not pydantic's list
        assert unknown.json()["detail"].startswith("the query parameter 'format' is not valid: ")
        assert "'text', 'md' or 'html'" in unknown.json()["detail"] and "pdf" not in unknown.json()["detail"]
        assert answer.headers["x-content-type-options"] == "nosniff" and answer.headers["cache-control"] == "no-store"


def test_a_student_sees_only_their_own_and_the_instructor_sees_everyone(course: Path, db_url: str, tmp_path: Path) -> None:
    tokens = enrol(db_url, "ada", "bea")
    with Served(course, db_url, tmp_path, "--workers", "1") as server:
        ada, bea, prof = (server.client(tokens[who]) for who in ("ada", "bea", "prof"))
        mine = upload(ada, CORRECT).json()["submission_id"]
        wrong = (SAMPLES / "seed_answer.py").read_text()
        hers = upload(bea, wrong).json()["submission_id"]
        graded(ada, mine, server.process)
        seed = graded(bea, hers, server.process)
        for path in (f"/api/v1/submissions/{hers}", f"/api/v1/submissions/{hers}/report", f"/api/v1/submissions/{hers + 100}"):
            answer = ada.get(path)
            assert (answer.status_code, answer.json()) == (404, {"detail": "there is no such submission."})
        assert [e["student"] for e in ada.get("/api/v1/assignments/backprop/submissions").json()] == ["ada"]
        assert sorted(e["student"] for e in prof.get("/api/v1/assignments/backprop/submissions").json()) == ["ada", "bea"]
        assert prof.get(f"/api/v1/submissions/{hers}").json()["score"] == seed["score"]
        for path in ("/api/v1/assignments/backprop/summary", "/api/v1/assignments/backprop/export"):
            answer = ada.get(path)
            assert (answer.status_code, answer.json()) == (403, {"detail": "only an instructor may see this."})
        summary = prof.get("/api/v1/assignments/backprop/summary").json()
        assert (summary["students"], summary["statuses"], summary["max_score"]) == (2, {"graded": 2}, 100.0)
        assert summary["mean"] == (100.0 + seed["score"]) / 2
        exported = prof.get("/api/v1/assignments/backprop/export", params={"format": "canvas", "policy": "best"})
        assert exported.headers["content-type"] == "text/csv; charset=utf-8"
        lines = exported.text.splitlines()
        assert lines[2:] == ["Student ada,,ada,ada,,100", f"Student bea,,bea,bea,,{seed['score']:g}"]  # their roster names
        params = {"format": "canvas", "canvas_assignment": "Homework 3 (1234)"}
        assert prof.get("/api/v1/assignments/backprop/export", params=params).text.splitlines()[0].endswith(",Homework 3 (1234)")
        for bad, said in (({**params, "canvas_assignment": "Homework 3"}, "is not of the form 'Name (ID)'"), ({**params, "format": "csv"}, "format=canvas")):
            refused = prof.get("/api/v1/assignments/backprop/export", params=bad)
            assert refused.status_code == 400 and said in refused.json()["detail"] and "\n" not in refused.json()["detail"]
        assert prof.get("/api/v1/assignments/backprop/export", params={"format": "gradescope"}).status_code == 422
        denied = upload(prof, CORRECT)
        assert denied.status_code == 403  # instructors are not on the roster
        for client in (ada, bea, prof):
            client.close()


def test_every_route_but_healthz_needs_a_valid_token(course: Path, db_url: str, tmp_path: Path) -> None:
    tokens = enrol(db_url, "ada")
    with Served(course, db_url, tmp_path, "--workers", "1") as server, server.client() as anyone:
        health = anyone.get("/healthz")
        assert health.json() == {"status": "ok", "backend": "local", "database": "ok", "queue": "ok", "workers": "ok"}
        routes = [
            ("GET", "/api/v1/assignments"), ("POST", "/api/v1/assignments/backprop/submissions"), ("GET", "/api/v1/submissions/1"),
            ("GET", "/api/v1/submissions/1/report"), ("GET", "/api/v1/assignments/backprop/submissions"),
            ("GET", "/api/v1/assignments/backprop/summary"), ("GET", "/api/v1/assignments/backprop/export"),
        ]
        headers = [
            {}, {"Authorization": "Bearer"}, {"Authorization": "Bearer wrong"}, {"Authorization": tokens["ada"]},
            {"Authorization": f"Basic {tokens['ada']}"}, {"Authorization": "Bearer " + "x" * 10_000},
            {"Authorization": f"Bearer {tokens['ada']}x"}, {"Authorization": "Bearer \u00e9t\u00e9".encode()},  # type: ignore[dict-item]
        ]
        for method, path in routes:
            for header in headers:
                answer = anyone.request(method, path, headers=header)
                assert answer.status_code == 401, (method, path, header)
                assert answer.headers["www-authenticate"] == "Bearer"
        with server.client(tokens["ada"]) as ada:
            assert ada.get("/api/v1/assignments").status_code == 200
            run(course, "token", "revoke", "ada")
            assert ada.get("/api/v1/assignments").status_code == 401


def test_hostile_ids_names_and_file_names_are_answered_not_obeyed(course: Path, db_url: str, tmp_path: Path) -> None:
    tokens = enrol(db_url, "ada")
    with Served(course, db_url, tmp_path, "--workers", "1") as server, server.client(tokens["ada"]) as ada:
        for bad in ("0", "-1", "1e3", "99999999999999999999999", "%2e%2e", "１", "1%00", "9223372036854775808"):
            assert ada.get(f"/api/v1/submissions/{bad}").status_code == 404, bad
        for name in ("..%2fbackprop", "back%0aprop", "backprop.toml", "%2e%2e", "BACKPROP", "x" * 5000):
            answer = upload(ada, CORRECT, assignment=name)
            assert answer.status_code in (404,), (name, answer.status_code)
            assert "/" not in answer.json()["detail"]  # never the course's directory
        refused = {
            "hw.txt": 415, "../hw.sh": 415, "hw\x1b]0;pwned\x07.py": 400, "\u202eyp.exe.py": 400, "": 400,
        }
        for filename, status in refused.items():
            answer = upload(ada, CORRECT, filename)
            assert answer.status_code == status, (filename, answer.text)
        kept = upload(ada, CORRECT, "../../../etc/passwd.py")
        assert kept.status_code == 202
        result = graded(ada, kept.json()["submission_id"], server.process)
        [entry] = ada.get("/api/v1/assignments/backprop/submissions").json()
        assert entry["filename"] == "passwd.py" and result["score"] == 100.0
        for spelling in (f"0{entry['submission_id']}", f"00{entry['submission_id']}"):  # one spelling per id
            assert ada.get(f"/api/v1/submissions/{spelling}").status_code == 404, spelling
        assert ada.get("/api/v1/assignments").json()[0]["submissions_used"] == 1  # refusals used nothing


def test_policy_refuses_before_reading_and_counts_only_what_it_accepts(course: Path, db_url: str, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    with_policy(course, f'opens = "{iso(now - timedelta(days=3))}"\ndue = "{iso(now - timedelta(days=1, hours=1))}"\n'
                        f'closes = "{iso(now + timedelta(days=2))}"\nlate_penalty_per_day = 0.1\nmax_submissions = 2\n'
                        'rate = "1/1h"\nmax_upload_kb = 8')
    tokens = enrol(db_url, "ada", "bea")
    with Served(course, db_url, tmp_path, "--workers", "1") as server, server.client(tokens["ada"]) as ada:
        too_big = upload(ada, b"#" * (8 * 1024 + 1))
        assert too_big.status_code == 413 and "8 KiB" in too_big.json()["detail"]
        first = upload(ada, CORRECT)
        assert first.status_code == 202 and first.json()["late_days"] == 2  # 1 day 1 hour after the due date: 2 started days
        limited = upload(ada, CORRECT)
        assert limited.status_code == 429
        assert 3500 <= int(limited.headers["retry-after"]) <= 3600
        result = graded(ada, first.json()["submission_id"], server.process)
        assert (result["raw_score"], result["penalty"], result["score"]) == (100.0, 20.0, 80.0)
        assert result["message"] == "100 of 100 points. Late by 2 days: 20 points off, 80 of 100."
        [entry] = ada.get("/api/v1/assignments/backprop/submissions").json()
        assert (entry["score"], entry["raw_score"], entry["penalty"], entry["late_days"]) == (80.0, 100.0, 20.0, 2)
        listed = ada.get("/api/v1/assignments").json()[0]
        assert (listed["submissions_used"], listed["submissions_remaining"], listed["max_submissions"]) == (1, 1, 2)
        assert listed["due"] == iso(now - timedelta(days=1, hours=1)).replace("Z", "+00:00")


def test_the_window_and_max_submissions_are_403(course: Path, db_url: str, tmp_path: Path) -> None:
    later = datetime.now(UTC) + timedelta(days=1)
    with_policy(course, f'opens = "{iso(later)}"')
    tokens = enrol(db_url, "ada")
    with Served(course, db_url, tmp_path, "--workers", "1") as server, server.client(tokens["ada"]) as ada:
        early = upload(ada, CORRECT)
        assert early.status_code == 403 and "opens" in early.json()["detail"]
        assert ada.get("/api/v1/assignments").json()[0]["submissions_used"] == 0


def test_max_submissions_is_403_once_used_up(course: Path, db_url: str, tmp_path: Path) -> None:
    with_policy(course, "max_submissions = 1")
    tokens = enrol(db_url, "ada")
    with Served(course, db_url, tmp_path, "--workers", "1") as server, server.client(tokens["ada"]) as ada:
        assert upload(ada, CORRECT).status_code == 202
        again = upload(ada, CORRECT)
        assert again.status_code == 403
        assert ada.get("/api/v1/assignments").json()[0]["submissions_remaining"] == 0


def test_a_student_sees_their_own_extended_due_and_closing_times(course: Path, db_url: str, tmp_path: Path) -> None:
    due, closes = datetime(2026, 12, 8, 23, 59, tzinfo=UTC), datetime(2026, 12, 11, 23, 59, tzinfo=UTC)
    with_policy(course, f'due = "{iso(due)}"\ncloses = "{iso(closes)}"')
    tokens = enrol(db_url, "ada", "bea")
    with Gradebook(db_url) as book:
        book.extend("ada", "backprop", 1.5)
    with Served(course, db_url, tmp_path, "--workers", "1") as server:
        with server.client(tokens["ada"]) as ada, server.client(tokens["bea"]) as bea, server.client(tokens["prof"]) as prof:
            extended, plain, seen = (c.get("/api/v1/assignments").json()[0] for c in (ada, bea, prof))
    later = timedelta(days=1.5)
    assert (extended["due"], extended["closes"], extended["extension_days"]) == (iso(due + later), iso(closes + later), 1.5)
    assert (plain["due"], plain["closes"], plain["extension_days"]) == (iso(due), iso(closes), 0.0)
    assert (seen["due"], seen["closes"]) == (iso(due), iso(closes))  # an instructor sees the course's own


def test_a_port_in_use_or_a_host_that_is_none_is_one_line_before_anything_starts(course: Path, db_url: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run(course, "serve", "--port", str(port))
    assert result.exit_code == 2
    assert result.output == f"Error: cannot listen on 127.0.0.1:{port} (Address already in use); choose another --port, or stop what uses it.\n"
    nowhere = run(course, "serve", "--host", "nowhere.invalid", "--port", "8000")
    assert nowhere.exit_code == 2 and nowhere.output.startswith("Error: cannot listen on nowhere.invalid:8000 (")
    assert len(nowhere.output.splitlines()) == 1


def test_a_policy_edited_while_the_server_runs_applies_at_once(course: Path, db_url: str, tmp_path: Path) -> None:
    tokens = enrol(db_url, "ada")
    rubric = course / "rubrics" / "backprop.toml"
    with Served(course, db_url, tmp_path, "--workers", "1") as server, server.client(tokens["ada"]) as ada:
        assert upload(ada, CORRECT).status_code == 202
        later = datetime.now(UTC) + timedelta(days=1)
        before = rubric.stat().st_mtime_ns
        with_policy(course, f'opens = "{iso(later)}"')
        os.utime(rubric, ns=(before + 10**9, before + 10**9))  # a later time, however coarse the clock
        closed = upload(ada, CORRECT)
        assert closed.status_code == 403 and "opens at" in closed.json()["detail"]
        assert ada.get("/api/v1/assignments").json()[0]["opens"] == iso(later)
    assert "backprop was edited: reloaded" in server.log()


def test_hidden_checks_are_redacted_and_printed_output_never_shown(course: Path, db_url: str, tmp_path: Path) -> None:
    rubric = course / "rubrics" / "backprop.toml"
    rubric.write_text(rubric.read_text().replace("[[parts.checks]]", "[[parts.checks]]\nhidden = true"))  # every check hidden
    # prints a marker and the shape of its input on every call, and raises with the input's shape
    leaky = CORRECT.replace("def loss(params, X, y, reg):", "def loss(params, X, y, reg):\n    print('LEAK', X.shape)\n    raise ValueError(f'LEAK {X.shape}')", 1)
    tokens = enrol(db_url, "ada")
    with Served(course, db_url, tmp_path, "--workers", "1") as server, server.client(tokens["ada"]) as ada:
        sid = upload(ada, leaky).json()["submission_id"]
        result = graded(ada, sid, server.process)
        errors = [c for c in result["checks"] if c["status"] == "error"]
        assert errors and all(c["message"].endswith("your code raised an exception on a hidden case.") for c in errors)
        assert "LEAK" not in str(result)
        for format in ("text", "md", "html"):
            report = ada.get(f"/api/v1/submissions/{sid}/report", params={"format": format}).text
            assert "hidden case" in report and "LEAK" not in report
        assert "LEAK" not in str(ada.get("/api/v1/assignments/backprop/submissions").json())


def test_an_upload_past_the_limit_is_refused_before_its_body_is_read(course: Path, db_url: str, tmp_path: Path) -> None:
    with_policy(course, "max_upload_kb = 4")
    tokens = enrol(db_url, "ada")
    with Served(course, db_url, tmp_path, "--workers", "1") as server:
        # A chunked body (no Content-Length) that would be 64 MiB: 80 KiB of it are sent, then
        # the client stops sending and reads. The answer comes while 99.9% of it is unsent.
        head = (
            f"POST /api/v1/assignments/backprop/submissions HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {tokens['ada']}\r\n"
            "Content-Type: multipart/form-data; boundary=XyZ\r\nTransfer-Encoding: chunked\r\n\r\n"
        ).encode()
        part = b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="hw.py"\r\n\r\n' + b"#" * (80 * 1024)
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as raw:
            raw.sendall(head + f"{len(part):x}\r\n".encode() + part + b"\r\n")
            received = b""
            while chunk := raw.recv(65536):  # the server answers, then closes: it will read no more
                received += chunk
            answer = received.decode(errors="replace")
        assert answer.startswith("HTTP/1.1 413 "), answer[:200]
        assert "larger than the 4 KiB this assignment accepts." in answer
        with server.client(tokens["ada"]) as ada:
            assert ada.get("/api/v1/assignments").json()[0]["submissions_used"] == 0
            assert upload(ada, CORRECT + "#" * 2000).status_code == 413  # 4,286 bytes: 190 past the limit


def test_grade_serve_refuses_operator_mistakes_in_one_line(course: Path, db_url: str, tmp_path: Path) -> None:
    missing = run(tmp_path / "nowhere", "serve")
    assert missing.exit_code == 2 and len(missing.output.strip().splitlines()) == 1 and "does not exist" in missing.output
    broker = run(course, "serve", "--backend", "celery", env={"GRADE_BROKER_URL": "redis://127.0.0.1:1/0"})
    assert broker.exit_code == 2 and "cannot reach the Celery broker" in broker.output


def test_a_server_keeps_serving_while_it_waits_for_graders(course: Path, db_url: str, tmp_path: Path) -> None:
    # One grading process busy with a submission that hangs until its load timeout (3 s): the
    # upload of another student is acknowledged at once all the same, and graded after.
    tokens = enrol(db_url, "ada", "bea")
    hangs = CORRECT + "\nimport signal\n\nsignal.pause()\n"
    with Served(course, db_url, tmp_path, "--workers", "1") as server, server.client(tokens["ada"]) as ada, server.client(tokens["bea"]) as bea:
        slow = upload(ada, hangs).json()["submission_id"]
        quick = upload(bea, CORRECT)
        assert quick.status_code == 202 and bea.get(f"/api/v1/submissions/{quick.json()['submission_id']}").json()["status"] == "pending"
        assert graded(ada, slow, server.process)["score"] == 100.0
        assert graded(bea, quick.json()["submission_id"], server.process)["score"] == 100.0


def test_a_long_poll_answers_as_soon_as_the_grading_ends(course: Path, db_url: str, tmp_path: Path) -> None:
    # One grading process, busy first with a submission that hangs until its load timeout: bea's
    # upload waits behind it, and her one request with ?wait= comes back once it is graded.
    tokens = enrol(db_url, "ada", "bea")
    hangs = CORRECT + "\nimport signal\n\nsignal.pause()\n"
    with Served(course, db_url, tmp_path, "--workers", "1") as server, server.client(tokens["ada"]) as ada, server.client(tokens["bea"]) as bea:
        slow = upload(ada, hangs).json()["submission_id"]
        mine = upload(bea, CORRECT).json()["submission_id"]
        url = f"/api/v1/submissions/{mine}"
        assert bea.get(url, params={"wait": 0.2}).json()["status"] == "pending"  # its time ran out first
        # someone else's submission is 404 at once, not after the wait (the client gives up at 5 s)
        assert ada.get(url, params={"wait": 30}, timeout=5).status_code == 404
        for wrong in ("31", "-1", "soon", "nan"):
            refused = bea.get(url, params={"wait": wrong})
            assert refused.status_code == 422, wrong
            detail = refused.json()["detail"]
            assert detail.startswith("the query parameter 'wait' is not valid: ") and detail.endswith(".") and wrong not in detail, detail
        found = bea.get(url, params={"wait": 30}, timeout=60).json()
        assert (found["status"], found["score"], found["submission_id"]) == ("graded", 100.0, mine)
        assert found == bea.get(url).json()  # the same answer as without waiting
        assert graded(ada, slow, server.process)["status"] != "pending"


def test_grading_runs_at_a_lower_priority_than_the_server(course: Path, db_url: str, tmp_path: Path) -> None:
    # The server answers requests at its own priority; its grading processes (and the sandboxes
    # they start) yield the processors to it, so an upload is acknowledged while every core grades.
    with Served(course, db_url, tmp_path, "--workers", "2") as server:
        base = niceness(server.process.pid)

        def lowered() -> list[int] | None:
            below = [p for p in descendants(server.process.pid) if _niceness_or_none(p) == base + GRADING_NICENESS]
            return below if len(below) >= 2 else None

        assert len(wait_for(lowered, "two grading processes at a lower priority", server.process)) >= 2
        assert niceness(server.process.pid) == base


def _niceness_or_none(pid: int) -> int | None:
    try:
        return niceness(pid)
    except OSError:
        return None
