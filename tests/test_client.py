"""The student's client without a server of its own to talk to: where the login is kept, what
overrides it, and one-line failures when the server cannot be reached. (Against a real
`grade serve`: tests/test_service.py.)"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import CORRECT, ROOT, run
from servers import free_port

from grader.login import Login, ServiceRefusal, config_path, configured, save_login


def test_the_login_is_kept_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "config" / "grade" / "config.toml"
    path.parent.mkdir(parents=True)
    path.write_text("old")
    path.chmod(0o644)
    assert save_login("https://grader.example.edu/", "tok-123_ABC", path) == path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert configured(None, None, path) == Login("https://grader.example.edu", "tok-123_ABC")
    # the environment overrides the file, each value on its own
    assert configured("http://127.0.0.1:9", None, path) == Login("http://127.0.0.1:9", "tok-123_ABC")
    assert configured(None, "other", path) == Login("https://grader.example.edu", "other")


def test_no_server_configured_means_local(tmp_path: Path) -> None:
    assert configured(None, None, tmp_path / "none.toml") is None
    assert config_path({"XDG_CONFIG_HOME": "/x"}) == Path("/x/grade/config.toml")
    assert config_path({"HOME": "/home/ada"}) == Path("/home/ada/.config/grade/config.toml")


@pytest.mark.parametrize(
    ("server", "token", "problem"),
    [
        ("grader.example.edu", "t", "is not an http:// or https:// URL"),
        ("https://a b", "t", "is not an http:// or https:// URL"),
        ("https://grader.example.edu", "two words", "not a token"),
        ("https://grader.example.edu", "", "not a token"),
        ("https://grader.example.edu", "t\x1b[2J", "not a token"),
        ("http://[::1", "t", "is not an http:// or https:// URL"),
        ("http://127.0.0.1:abc", "t", "is not an http:// or https:// URL"),
        ("http://127.0.0.1:99999", "t", "is not an http:// or https:// URL"),
        ("http://a..b", "t", "is not an http:// or https:// URL"),
        ("http://[zz]/", "t", "is not an http:// or https:// URL"),
        ("https://grader.example.edu/?next=1", "t", "is not an http:// or https:// URL"),
    ],
)
def test_a_bad_login_is_refused_saying_why(tmp_path: Path, server: str, token: str, problem: str) -> None:
    with pytest.raises(ServiceRefusal, match=problem.replace("/", "/")):
        save_login(server, token, tmp_path / "config.toml")
    assert not (tmp_path / "config.toml").exists()


def test_a_server_that_cannot_be_reached_is_one_line_exit_1(course: Path, tmp_path: Path) -> None:
    path = tmp_path / "hw.py"
    path.write_text(CORRECT)
    env = {"GRADE_SERVER": f"http://127.0.0.1:{free_port()}", "GRADE_TOKEN": "tok", "XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    for args in (["submit", str(path), "-a", "backprop"], ["report", "-a", "backprop"], ["history", "-a", "backprop"]):
        result = run(course, *args, env=env)
        assert result.exit_code == 1, result.output
        [line] = result.output.strip().splitlines()
        assert line.startswith("Error: cannot reach http://127.0.0.1:") and "check the address and your network" in line


def test_student_commands_say_what_is_missing(course: Path, tmp_path: Path) -> None:
    path = tmp_path / "hw.py"
    path.write_text(CORRECT)
    home = {"XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    result = run(course, "submit", str(path), "-a", "backprop", env=home)
    assert result.exit_code == 2 and "pass --student ID to grade locally, or run grade login" in result.output
    result = run(course, "history", "-a", "backprop", env=home)
    assert result.exit_code == 2 and "run grade login --server URL --token TOKEN first" in result.output
    served = {**home, "GRADE_SERVER": "http://127.0.0.1:9", "GRADE_TOKEN": "tok"}
    result = run(course, "submit", str(path), "-a", "backprop", "-s", "ada", env=served)
    assert result.exit_code == 2 and "your token names you" in result.output
    result = run(course, "report", "-a", "backprop", "--all", "-o", str(tmp_path / "all"), env=served)
    assert result.exit_code == 2 and "reports come one at a time: drop --all" in result.output
    result = run(course, "submit", str(path), "-a", "backprop", env={**home, "GRADE_SERVER": "http://127.0.0.1:9"})
    assert result.exit_code == 2 and "no token" in result.output
    assert not os.path.exists(tmp_path / "cfg")  # nothing was written by commands that only read the login


@pytest.mark.slow
def test_a_student_submits_reports_and_lists_through_a_real_server(course: Path, db_url: str, tmp_path: Path) -> None:
    # `grade login` against a real `grade serve`, then the student's three commands as
    # subprocesses: no course directory and no gradebook on the student's side.
    from serving import Served, enrol

    tokens = enrol(db_url, "ada", "bea")
    broken = tmp_path / "broken.py"
    broken.write_text("def loss(:\n")
    correct = tmp_path / "hw.py"
    correct.write_text(CORRECT)
    with Served(course, db_url, tmp_path, "--workers", "1") as server:
        home = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "ada-config"), "PYTHONPATH": str(ROOT)}
        home.pop("GRADE_DB_URL", None)
        student = [sys.executable, "-m", "grader.cli", "--course", str(tmp_path / "nowhere")]

        def grade(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([*student, *args], env=home, capture_output=True, text=True, timeout=180)

        login = grade("login", "--server", server.url, "--token", tokens["ada"])
        assert login.returncode == 0, login.stderr
        assert "accepts your token" in login.stdout and "backprop" in login.stdout
        config = tmp_path / "ada-config" / "grade" / "config.toml"
        assert stat.S_IMODE(config.stat().st_mode) == 0o600 and tokens["ada"] in config.read_text()

        first = grade("submit", str(broken), "-a", "backprop", "--json")
        assert first.returncode == 0, first.stderr
        answer = json.loads(first.stdout)
        assert answer["status"] == "error" and answer["score"] == 0

        second = grade("submit", str(correct), "-a", "backprop")
        assert second.returncode == 0, second.stderr
        assert "Status: graded. Score: 100 / 100." in second.stdout and "submission 2 received" in second.stderr

        report = grade("report", "-a", "backprop", "-f", "md")
        assert report.returncode == 0 and report.stdout.startswith("#") and "100" in report.stdout

        listed = grade("history", "-a", "backprop", "--json")
        assert listed.returncode == 0, listed.stderr
        assert [item["status"] for item in sorted(json.loads(listed.stdout), key=lambda i: i["submission_id"])] == ["error", "graded"]

        receipt = grade("submit", str(correct), "-a", "backprop", "--no-wait", "--json")
        assert receipt.returncode == 0 and json.loads(receipt.stdout)["status"] == "pending"

        wrong = subprocess.run([*student, "history", "-a", "backprop"], env={**home, "GRADE_TOKEN": "not-a-token"}, capture_output=True, text=True, timeout=60)
        assert wrong.returncode == 2 and wrong.stderr.strip().splitlines() == [
            "Error: the server does not accept your token; run grade login again with the token your instructor gave you."
        ]
        unknown = grade("submit", str(correct), "-a", "no-such-assignment")
        assert unknown.returncode == 2 and len(unknown.stderr.strip().splitlines()) == 1


def test_waiting_asks_with_long_polls_and_still_works_with_a_server_that_answers_at_once() -> None:
    import httpx

    from grader.client import HOLD_SECONDS, Client

    asked: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        asked.append(request)
        status = "pending" if len(asked) < 3 else "graded"
        return httpx.Response(200, json={"submission_id": 12, "status": status})

    heard: list[float] = []
    with Client(Login("http://grader.test", "tok"), transport=httpx.MockTransport(answer)) as client:
        found = client.wait(12, progress=heard.append)
    assert found == {"submission_id": 12, "status": "graded"}
    assert [r.url.path for r in asked] == ["/api/v1/submissions/12"] * 3
    assert all(float(r.url.params["wait"]) == HOLD_SECONDS for r in asked)
    assert len(heard) == 2 and heard == sorted(heard)
    # with less time left than a hold, the server is asked to hold only that long
    asked.clear()
    with Client(Login("http://grader.test", "tok"), transport=httpx.MockTransport(answer)) as client:
        assert client.wait(12, seconds=1.0)["status"] in ("pending", "graded")
    assert 0 < float(asked[0].url.params["wait"]) <= 1.0


def test_a_server_address_that_is_no_url_is_one_line_exit_2_in_every_command(course: Path, tmp_path: Path) -> None:
    path = tmp_path / "hw.py"
    path.write_text(CORRECT)
    env = {"GRADE_SERVER": "http://[::1", "GRADE_TOKEN": "tok", "XDG_CONFIG_HOME": str(tmp_path / "cfg")}
    for args in (["submit", str(path), "-a", "backprop"], ["report", "-a", "backprop"], ["history", "-a", "backprop"]):
        result = run(course, *args, env=env)
        assert result.exit_code == 2, result.output
        [line] = result.output.strip().splitlines()
        assert "is not an http:// or https:// URL" in line


def test_a_login_that_cannot_be_written_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("a file where the directory would be")
    with pytest.raises(ServiceRefusal, match="cannot write .*; set XDG_CONFIG_HOME"):
        save_login("https://grader.example.edu", "tok", tmp_path / "taken" / "grade" / "config.toml")


@pytest.mark.parametrize("receipt", [{}, [], None, "hi", 42, {"submission_id": "12"}, {"submission_id": True}])
def test_an_upload_answered_without_a_submission_id_is_no_grader(tmp_path: Path, receipt: object) -> None:
    import httpx

    from grader.client import Client
    from grader.login import ServerUnreachable

    path = tmp_path / "hw.py"
    path.write_text(CORRECT)
    transport = httpx.MockTransport(lambda request: httpx.Response(202, json=receipt))
    with Client(Login("http://grader.test", "tok"), transport=transport) as client, pytest.raises(ServerUnreachable, match="is it a grader server"):
        client.upload(path, "backprop")


@pytest.mark.parametrize(
    ("detail", "shown"),
    [
        ("at most 3 uploads per 10 min, one more every 200 s; try again in 120 s.", "at most 3 uploads per 10 min, one more every 200 s; try again in 120 s."),
        ("slow down.", "slow down. (try again in 120 s)"),
    ],
)
def test_a_rate_refusal_says_when_to_try_again_once(tmp_path: Path, detail: str, shown: str) -> None:
    import httpx

    from grader.client import Client

    path = tmp_path / "hw.py"
    path.write_text(CORRECT)
    transport = httpx.MockTransport(lambda request: httpx.Response(429, json={"detail": detail}, headers={"Retry-After": "120"}))
    with Client(Login("http://grader.test", "tok"), transport=transport) as client, pytest.raises(ServiceRefusal) as refused:
        client.upload(path, "backprop")
    assert str(refused.value) == shown


@pytest.mark.slow
def test_a_server_gone_while_the_client_waits_is_one_line_saying_the_upload_was_received(course: Path, db_url: str, tmp_path: Path) -> None:
    from helpers import HANGS_THEN_CORRECT, query
    from serving import Served, enrol, wait_for

    tokens = enrol(db_url, "ada")
    path = tmp_path / "hw.py"
    path.write_text(HANGS_THEN_CORRECT)  # graded after the 3 s load timeout: the client is still waiting
    with Served(course, db_url, tmp_path, "--workers", "1") as server:
        env = {**os.environ, "GRADE_SERVER": server.url, "GRADE_TOKEN": tokens["ada"], "XDG_CONFIG_HOME": str(tmp_path / "cfg"),
               "PYTHONPATH": str(ROOT)}
        client = subprocess.Popen([sys.executable, "-m", "grader.cli", "submit", str(path), "-a", "backprop"], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_for(lambda: query(db_url, "SELECT id FROM submissions WHERE lease_owner LIKE 'grade serve worker%'"),
                 "a grading process holds the upload", server.process, client)
        server.kill()
        out, err = client.communicate(timeout=60)
    assert client.returncode == 1, err
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"Error: cannot reach {server.url} (")
    assert last.endswith("Submission 1 was received and is graded all the same; grade report --assignment backprop shows it once graded.")


def test_an_instructors_latest_names_the_student_and_a_students_is_their_own() -> None:
    import httpx

    from grader.client import Client

    everyone = [
        {"submission_id": 1, "student": "ada", "submitted_at": "2026-12-01T10:00:00+00:00"},
        {"submission_id": 2, "student": "bea", "submitted_at": "2026-12-01T11:00:00+00:00"},
        {"submission_id": 3, "student": "ada", "submitted_at": "2026-12-01T12:00:00+00:00"},
    ]

    def listing(items: list[dict[str, object]]) -> httpx.MockTransport:
        return httpx.MockTransport(lambda request: httpx.Response(200, json=items))

    with Client(Login("http://grader.test", "tok"), transport=listing(everyone)) as instructor:
        with pytest.raises(ServiceRefusal, match="name one with --student ID"):
            instructor.latest("backprop")
        assert instructor.latest("backprop", "ada")["submission_id"] == 3
        assert instructor.latest("backprop", "bea")["submission_id"] == 2
        with pytest.raises(ServiceRefusal, match="no submission of backprop by cy"):
            instructor.latest("backprop", "cy")
    with Client(Login("http://grader.test", "tok"), transport=listing(everyone[::2])) as student:
        assert student.latest("backprop")["submission_id"] == 3
