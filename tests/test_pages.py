"""The web pages of `grade serve` over real HTTP (a real uvicorn, httpx as the browser): signing
in and out, the session cookie, CSRF on every form, one-time links, a student's own pages only,
refusals as sentences, the instructor's pages, and the security headers. (In a real Chromium:
tests/test_browser.py.)"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from helpers import CORRECT, ROOT, SAMPLES
from serving import Served, enrol

pytestmark = pytest.mark.slow  # each test starts a server of its own

SESSION = "grader_session"


def form_token(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "the page has no form token"
    return found.group(1)


def sign_in(client: httpx.Client, token: str) -> httpx.Response:
    form = client.get("/signin")
    return client.post("/signin", data={"token": token, "csrf": form_token(form.text)})


def upload_page(client: httpx.Client, content: str | bytes, filename: str = "hw.py") -> httpx.Response:
    page = client.get("/assignments/backprop")
    action = re.search(r'action="(/assignments/backprop/upload\?csrf=[^"]+)"', page.text)
    assert action, page.text
    data = content.encode() if isinstance(content, str) else content
    return client.post(action.group(1).replace("&amp;", "&"), files={"file": (filename, data, "text/x-python")})


def test_a_student_signs_in_uploads_and_reads_the_report(course: Path, db_url: str, tmp_path: Path) -> None:
    tokens = enrol(db_url, "ada", "bea")
    with Served(course, db_url, tmp_path, "--workers", "1") as server, server.client() as browser:
        assert browser.get("/assignments").headers["location"] == "/signin"  # not signed in
        wrong = sign_in(browser, "not-a-token")
        assert wrong.status_code == 401 and "not valid" in wrong.text and SESSION not in browser.cookies
        signed = sign_in(browser, tokens["ada"])
        assert (signed.status_code, signed.headers["location"]) == (303, "/assignments")
        cookie = signed.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" not in cookie  # plain HTTP here
        listing = browser.get("/assignments")
        assert listing.status_code == 200 and "Backpropagation through a two-layer network" in listing.text
        uploaded = upload_page(browser, (SAMPLES / "seed_answer.py").read_bytes(), "seed_answer.py")
        assert uploaded.status_code == 303
        page_url = uploaded.headers["location"]
        assert re.fullmatch(r"/submissions/\d+", page_url)
        assert browser.get(f"{page_url}/status", params={"wait": 30}, timeout=60).json()["status"] == "graded"
        report = browser.get(page_url)
        # the seed answer's first mistake, as the report names it (reference/backprop_mistakes.py)
        assert report.status_code == 200 and "softmax-wrong-axis" in report.text and "58.75 / 100" in report.text
        history = browser.get("/assignments/backprop")
        assert "seed_answer.py" in history.text and "58.75 / 100" in history.text
        # bea, signed in in another browser, sees none of it
        with server.client() as other:
            sign_in(other, tokens["bea"])
            assert other.get(page_url).status_code == 404
            assert other.get(f"{page_url}/status").status_code == 404
            assert other.get(f"{page_url}/history").status_code == 404
            assert "seed_answer.py" not in other.get("/assignments/backprop").text


def test_sign_out_ends_the_session_on_the_server_and_a_new_sign_in_never_reuses_a_session(course: Path, db_url: str, tmp_path: Path) -> None:
    tokens = enrol(db_url, "ada")
    with Served(course, db_url, tmp_path, "--workers", "1") as server, server.client() as browser:
        # a session id planted before sign-in (fixation) is not adopted
        browser.cookies.set(SESSION, "planted-by-someone-else", domain="127.0.0.1", path="/")
        sign_in(browser, tokens["ada"])
        first = browser.cookies[SESSION]
        assert first != "planted-by-someone-else"
        # signing in again gives a new session and ends the old one
        sign_in(browser, tokens["ada"])
        second = browser.cookies[SESSION]
        assert second != first
        with server.client(cookies={SESSION: first}) as stale:
            assert stale.get("/assignments").status_code == 303
        page = browser.get("/assignments")
        # sign-out needs the form's token
        assert browser.post("/signout", data={"csrf": "wrong"}).status_code == 403
        assert browser.get("/assignments").status_code == 200
        out = browser.post("/signout", data={"csrf": form_token(page.text)})
        assert (out.status_code, out.headers["location"]) == (303, "/signin")
        # the cookie kept by an attacker after sign-out is worth nothing
        with server.client(cookies={SESSION: second}) as replay:
            assert replay.get("/assignments").headers["location"] == "/signin"


def test_every_form_needs_its_token_and_a_refused_upload_records_nothing(course: Path, db_url: str, tmp_path: Path) -> None:
    tokens = enrol(db_url, "ada")
    with Served(course, db_url, tmp_path, "--workers", "1") as server, server.client() as browser:
        # the sign-in form without its own cookie (a cross-site post) is refused
        forged = browser.post("/signin", data={"token": tokens["ada"], "csrf": "guess"})
        assert forged.status_code == 403 and SESSION not in browser.cookies
        sign_in(browser, tokens["ada"])
        refused = browser.post("/assignments/backprop/upload?csrf=guess", files={"file": ("hw.py", CORRECT.encode())})
        assert refused.status_code == 403 and "did not come from this site" in refused.text
        no_token = browser.post("/assignments/backprop/upload", files={"file": ("hw.py", CORRECT.encode())})
        assert no_token.status_code == 403
        assert "No submissions yet." in browser.get("/assignments/backprop").text


def test_a_refused_upload_is_a_sentence_with_when_to_try_again(course: Path, db_url: str, tmp_path: Path) -> None:
    rubric = course / "rubrics" / "backprop.toml"
    rubric.write_text(rubric.read_text() + '\n[policy]\nrate = "1/1h"\n')
    tokens = enrol(db_url, "ada")
    with Served(course, db_url, tmp_path, "--workers", "1") as server, server.client() as browser:
        sign_in(browser, tokens["ada"])
        assert upload_page(browser, CORRECT).status_code == 303
        again = upload_page(browser, CORRECT)
        assert again.status_code == 429
        assert "You can try again" in again.text and 'role="alert"' in again.text
        wrong_kind = upload_page(browser, "hello", "notes.txt")
        assert wrong_kind.status_code in (415, 429)


def test_a_one_time_link_signs_in_once(course: Path, db_url: str, tmp_path: Path) -> None:
    enrol(db_url, "ada")
    with Served(course, db_url, tmp_path, "--workers", "1") as server:
        printed = subprocess.run(
            [sys.executable, "-m", "grader.cli", "--course", str(course), "token", "link", "ada", "--server", server.url],
            env=server.env, capture_output=True, text=True, check=True,
        ).stdout.splitlines()[-1]
        assert printed.startswith(f"{server.url}/signin/link/")
        path = printed.removeprefix(server.url)
        with server.client() as browser:
            shown = browser.get(path)  # opening it (a mail scanner may) does not use it up
            assert shown.status_code == 200 and SESSION not in browser.cookies
            shown = browser.get(path)
            used = browser.post(path, data={"csrf": form_token(shown.text)})
            assert (used.status_code, used.headers["location"]) == (303, "/assignments") and SESSION in browser.cookies
        with server.client() as second:
            again = second.get(path)
            assert second.post(path, data={"csrf": form_token(again.text)}).status_code == 401
        not_rostered = subprocess.run(
            [sys.executable, "-m", "grader.cli", "--course", str(course), "token", "link", "zed"], env=server.env, capture_output=True, text=True
        )
        assert not_rostered.returncode == 2 and len(not_rostered.stderr.strip().splitlines()) == 1


def test_the_instructors_pages_and_what_a_student_may_not_see(course: Path, db_url: str, tmp_path: Path) -> None:
    tokens = enrol(db_url, "ada", "bea")
    with Served(course, db_url, tmp_path, "--workers", "1") as server:
        with server.client() as ada:
            sign_in(ada, tokens["ada"])
            for url in ("/class", "/class/backprop", "/roster", "/class/backprop/export"):
                assert ada.get(url).status_code == 403, url
            accepted = upload_page(ada, CORRECT)
            ada.get(f"{accepted.headers['location']}/status", params={"wait": 30}, timeout=60)
        with server.client() as prof:
            signed = sign_in(prof, tokens["prof"])
            assert signed.headers["location"] == "/class"
            view = prof.get("/class/backprop")
            assert view.status_code == 200 and 'class="sortable"' in view.text and ">ada<" in view.text
            assert "100 / 100" in view.text and accepted.headers["location"] in view.text
            csv = prof.get("/class/backprop/export", params={"format": "csv"})
            assert csv.headers["content-type"].startswith("text/csv") and "ada" in csv.text
            roster = prof.get("/roster")
            assert ">bea<" in roster.text
            issued = prof.post("/roster/tokens", data={"subject": "bea", "role": "student", "csrf": form_token(roster.text)})
            token = re.search(r'id="issued-token">([^<]+)<', issued.text)
            assert token and httpx.get(f"{server.url}/api/v1/assignments", headers={"Authorization": f"Bearer {token.group(1)}"}).status_code == 200
            # revoking bea's tokens signs her browsers out too
            with server.client() as bea:
                sign_in(bea, token.group(1))
                assert bea.get("/assignments").status_code == 200
                prof.post("/roster/revoke", data={"subject": "bea", "csrf": form_token(roster.text)})
                assert bea.get("/assignments").headers["location"] == "/signin"
            extended = prof.post("/roster/extensions", data={"subject": "ada", "assignment": "backprop", "days": "2", "csrf": form_token(roster.text)})
            assert extended.status_code == 200 and "ada has 2 more days on backprop" in extended.text
            forged = prof.post("/roster/extensions", data={"subject": "ada", "assignment": "backprop", "days": "9"})
            assert forged.status_code == 403


def test_pages_carry_a_policy_that_runs_only_this_servers_script(course: Path, db_url: str, tmp_path: Path) -> None:
    enrol(db_url, "ada")
    with Served(course, db_url, tmp_path, "--workers", "1") as server, server.client() as browser:
        page = browser.get("/signin")
        policy = page.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy and "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]
        assert page.headers["x-frame-options"] == "DENY" and page.headers["x-content-type-options"] == "nosniff"
        assert "<script>" not in page.text  # no inline script at all
        script = browser.get("/static/pages.js")
        assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
        assert script.content == (ROOT / "grader" / "templates" / "web" / "pages.js").read_bytes()
        # behind a TLS proxy (X-Forwarded-Proto from 127.0.0.1), the cookies are Secure
        behind = browser.get("/signin", headers={"X-Forwarded-Proto": "https"})
        assert "Secure" in behind.headers["set-cookie"]
