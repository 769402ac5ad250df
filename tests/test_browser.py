"""The web pages in a real browser: Debian's Chromium driven by Playwright against a real
`grade serve`. A student signs in with a token, uploads a correct and a buggy file, watches the
status turn into the report, reads the diagnosis, cannot open another student's submission, and
signs out; an instructor sorts the class table and downloads the CSV. On a failure, screenshots
of the page at desktop and phone width are saved in the test's tmp_path."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import SAMPLES
from serving import Served, enrol, graded, upload

pytestmark = [pytest.mark.slow, pytest.mark.browser]

CHROMIUM = "/usr/bin/chromium"
#: how long the browser waits for a page to change (grading included)
WAIT_MS = 90_000


@pytest.fixture
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM)
        try:
            yield launched
        finally:
            launched.close()


def shots_on_failure(page: object, directory: Path, name: str) -> None:
    for width, height, label in ((1200, 900, "desktop"), (390, 844, "phone")):
        page.set_viewport_size({"width": width, "height": height})  # type: ignore[attr-defined]
        page.screenshot(path=str(directory / f"{name}-{label}.png"), full_page=True)  # type: ignore[attr-defined]


def sign_in(page: object, url: str, token: str) -> None:
    page.goto(f"{url}/signin")  # type: ignore[attr-defined]
    page.get_by_label("Your token").fill(token)  # type: ignore[attr-defined]
    page.get_by_role("button", name="Sign in").click()  # type: ignore[attr-defined]


def submit(page: object, url: str, sample: Path) -> str:
    """Upload ``sample`` from the assignment's page; the submission page's URL once it shows the report."""
    page.goto(f"{url}/assignments")  # type: ignore[attr-defined]
    page.get_by_role("link", name="Backpropagation through a two-layer network").click()  # type: ignore[attr-defined]
    page.get_by_label("Your file").set_input_files(str(sample))  # type: ignore[attr-defined]
    page.get_by_role("button", name="Submit for grading").click()  # type: ignore[attr-defined]
    page.wait_for_url("**/submissions/*")  # type: ignore[attr-defined]
    page.locator("#report").wait_for(timeout=WAIT_MS)  # type: ignore[attr-defined]
    return str(page.url)  # type: ignore[attr-defined]


def test_a_student_submits_watches_and_reads_their_feedback(browser: object, course: Path, db_url: str, tmp_path: Path) -> None:
    tokens = enrol(db_url, "ada", "bea")
    with Served(course, db_url, tmp_path, "--workers", "1") as server:
        with server.client(tokens["bea"]) as bea:  # someone else's submission, by the API
            other = upload(bea, (SAMPLES / "correct_vectorized.py").read_bytes()).json()["submission_id"]
        page = browser.new_page()  # type: ignore[attr-defined]
        try:
            sign_in(page, server.url, tokens["ada"])
            page.wait_for_url("**/assignments")
            assert page.get_by_role("heading", name="Assignments").is_visible()

            submit(page, server.url, SAMPLES / "correct_vectorized.py")
            assert "Score: 100 / 100" in page.locator("#report").inner_text()

            submit(page, server.url, SAMPLES / "seed_answer.py")
            report = page.locator("#report").inner_text()
            assert "Score: 58.75 / 100" in report
            # the diagnosis, in the assignment's notation (reference/backprop_mistakes.py)
            assert "softmax-wrong-axis" in report and "normalized over the samples" in report

            page.goto(f"{server.url}/assignments/backprop")
            rows = page.locator("table tbody tr")
            assert rows.count() == 2 and "seed_answer.py" in rows.nth(0).inner_text()

            answer = page.goto(f"{server.url}/submissions/{other}")
            assert answer is not None and answer.status == 404
            assert page.get_by_text("There is no such submission.").is_visible()

            page.get_by_role("button", name="Sign out").click()
            page.wait_for_url("**/signin")
            page.goto(f"{server.url}/assignments")
            assert page.url.endswith("/signin")
        except Exception:
            shots_on_failure(page, tmp_path, "student")
            raise


def test_an_instructor_sorts_the_class_and_downloads_the_csv(browser: object, course: Path, db_url: str, tmp_path: Path) -> None:
    tokens = enrol(db_url, "ada", "bea", "cy")
    samples = {"ada": "seed_answer.py", "bea": "correct_vectorized.py", "cy": "seed_db2_not_summed.py"}
    with Served(course, db_url, tmp_path, "--workers", "1") as server:
        scores = {}
        for student, sample in samples.items():
            with server.client(tokens[student]) as client:
                scores[student] = graded(client, upload(client, (SAMPLES / sample).read_bytes()).json()["submission_id"], server.process)["score"]
        page = browser.new_page()  # type: ignore[attr-defined]
        try:
            sign_in(page, server.url, tokens["prof"])
            page.wait_for_url("**/class")
            page.get_by_role("link", name="backprop").click()
            table = page.locator("#students")
            first_column = table.locator("tbody tr td:first-child")
            assert first_column.all_inner_texts() == ["ada", "bea", "cy"]  # by student, as served
            sort = table.get_by_role("button", name="latest score")
            sort.click()
            by_score = sorted(samples, key=lambda s: scores[s])
            assert first_column.all_inner_texts() == by_score
            sort.click()
            assert first_column.all_inner_texts() == by_score[::-1]
            assert table.locator("th[aria-sort=descending]").inner_text() == "latest score"

            with page.expect_download() as download:
                page.get_by_role("link", name="CSV (latest)").click()
            rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
            assert {row["student"]: float(row["total"]) for row in rows} == scores
        except Exception:
            shots_on_failure(page, tmp_path, "instructor")
            raise


def test_a_file_too_large_is_a_sentence_before_anything_is_sent(browser: object, course: Path, db_url: str, tmp_path: Path) -> None:
    rubric = course / "rubrics" / "backprop.toml"
    rubric.write_text(rubric.read_text() + "\n[policy]\nmax_upload_kb = 1\n")
    tokens = enrol(db_url, "ada")
    big = SAMPLES / "seed_answer.py"
    assert big.stat().st_size > 1024
    with Served(course, db_url, tmp_path, "--workers", "1") as server:
        page = browser.new_page()  # type: ignore[attr-defined]
        try:
            sign_in(page, server.url, tokens["ada"])
            page.goto(f"{server.url}/assignments/backprop")
            page.get_by_label("Your file").set_input_files(str(big))
            page.get_by_role("button", name="Submit for grading").click()
            alert = page.locator("#file-problem")
            alert.wait_for()
            assert f"seed_answer.py is {-(-big.stat().st_size // 1024)} KiB" in alert.inner_text() and "at most 1 KiB" in alert.inner_text()
            assert page.url.endswith("/assignments/backprop") and "No submissions yet." in page.content()
        except Exception:
            shots_on_failure(page, tmp_path, "too-large")
            raise
