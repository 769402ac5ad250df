"""Course policy: windows, lateness, penalties and the rate, computed by hand; the rubric's
``[policy]`` table and its one-line errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from test_rubric import TOY

from grader.errors import RubricError
from grader.policy import Policy, Rate, Refusal
from grader.rubric import load_rubric

EST = timezone(timedelta(hours=-5))
OPENS = datetime(2026, 12, 1, 9, 0, tzinfo=EST)
DUE = datetime(2026, 12, 8, 23, 59, tzinfo=EST)
CLOSES = datetime(2026, 12, 11, 23, 59, tzinfo=EST)
COURSE = Policy(opens=OPENS, due=DUE, closes=CLOSES, late_penalty_per_day=0.25, max_submissions=20, rate=Rate(3, 600), max_upload_kb=2048)
SECOND = timedelta(seconds=1)
DAY = timedelta(days=1)

#: the issue's example table
EXAMPLE = """\
[policy]
opens = "2026-12-01T09:00:00-05:00"
due = "2026-12-08T23:59:00-05:00"
closes = "2026-12-11T23:59:00-05:00"  # no submissions after this
late_penalty_per_day = 0.1            # fraction of the score per started day late, until closes
max_submissions = 20
rate = "3/10min"                      # per student and assignment
max_upload_kb = 2048
"""


# --- lateness -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("submitted", "extension", "late"),
    [
        (DUE - SECOND, 0.0, 0),
        (DUE, 0.0, 0),  # on the due minute: on time
        (DUE + timedelta(microseconds=1), 0.0, 1),  # a started day
        (DUE + DAY, 0.0, 1),
        (DUE + DAY + SECOND, 0.0, 2),
        (CLOSES, 0.0, 3),
        (datetime(2026, 12, 9, 4, 59, tzinfo=UTC), 0.0, 0),  # the due time, written in UTC
        (datetime(2026, 12, 9, 5, 0, tzinfo=UTC), 0.0, 1),
        (DUE + 1.5 * DAY, 1.5, 0),  # the extension moves the due date
        (DUE + 1.5 * DAY + SECOND, 1.5, 1),
        (DUE + 2 * DAY, 1.5, 1),
        (DUE + 3 * DAY, 1.5, 2),
    ],
)
def test_late_days_count_started_days_after_the_due_date(submitted: datetime, extension: float, late: int) -> None:
    assert COURSE.late_days(submitted, extension) == late


def test_without_a_due_date_nothing_is_late() -> None:
    assert Policy().late_days(datetime(2099, 1, 1, tzinfo=UTC)) == 0
    assert Policy(closes=CLOSES).late_days(CLOSES + DAY) == 0


@pytest.mark.parametrize(
    ("raw", "late", "penalty"),
    [
        (80.0, 0, 0.0),
        (80.0, 1, 20.0),  # 80 * 0.25
        (80.0, 3, 60.0),  # 80 * 0.75
        (80.0, 4, 80.0),  # 80 * min(1, 1.0)
        (80.0, 9, 80.0),  # never more than the score
        (0.0, 2, 0.0),
    ],
)
def test_penalty_is_a_share_of_the_raw_score_per_late_day(raw: float, late: int, penalty: float) -> None:
    assert COURSE.penalty(raw, late) == penalty


def test_a_tenth_per_day() -> None:
    policy = Policy(due=DUE, late_penalty_per_day=0.1)
    assert policy.penalty(95.0, 2) == pytest.approx(19.0, abs=1e-12)
    assert Policy(due=DUE).penalty(95.0, 2) == 0.0  # late but no penalty


# --- refusals -------------------------------------------------------------------------------------


def allowed(policy: Policy, now: datetime, uploads: list[datetime] | None = None, extension: float = 0.0) -> Refusal | None:
    return policy.refusal(now, extension_days=extension, uploads=uploads or [])


def test_the_window_opens_and_closes_on_the_second() -> None:
    assert allowed(COURSE, OPENS - SECOND) == Refusal(403, "the assignment opens at 2026-12-01T09:00:00-05:00; it takes no upload before then.")
    assert allowed(COURSE, OPENS) is None
    assert allowed(COURSE, CLOSES) is None
    assert allowed(COURSE, CLOSES + SECOND) == Refusal(403, "the assignment closed at 2026-12-11T23:59:00-05:00; it takes no more uploads.")


def test_an_extension_moves_the_closing_not_the_opening() -> None:
    assert allowed(COURSE, CLOSES + 2 * DAY, extension=2) is None
    assert allowed(COURSE, CLOSES + 2 * DAY + SECOND, extension=2) == Refusal(
        403, "the assignment closed at 2026-12-13T23:59:00-05:00 (with your extension of 2 days); it takes no more uploads."
    )
    assert allowed(COURSE, OPENS - SECOND, extension=2) is not None


def test_max_submissions() -> None:
    policy = Policy(max_submissions=2)
    now = DUE
    assert allowed(policy, now, [now - DAY]) is None
    assert allowed(policy, now, [now - DAY, now - 2 * DAY]) == Refusal(
        403, "all 2 submissions of the assignment are used up; it takes no more uploads from you."
    )


def test_a_window_refusal_comes_before_a_count() -> None:
    refusal = allowed(Policy(opens=OPENS, max_submissions=1), OPENS - SECOND, [OPENS - DAY])
    assert refusal is not None and "opens at" in refusal.message


NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def ago(*seconds: float) -> list[datetime]:
    return [NOW - timedelta(seconds=s) for s in seconds]


@pytest.mark.parametrize(
    ("uploads", "retry_after"),
    [
        # 3/10min: a bucket of 3 uploads, full to begin with, gaining one every 200 s
        (ago(), None),
        (ago(500, 300), None),  # one left
        (ago(2, 1, 0), 198),  # a burst of three empties it; 2 s of filling are done, 198 s to go
        (ago(0.5, 0.25, 0), 200),  # 199.25 s to go, rounded up
        (ago(100, 500, 300), None),  # any order; 200 s between the last two filled it again
        (ago(400, 200, 0), None),  # one every 200 s never runs out
        (ago(150, 0.5, 0), 50),  # the bucket began filling 150 s ago: 50 s more give back one upload
        (ago(250, 0.5, 0), None),  # ... and after 200 s it has
        (ago(3, 2, 1, 0.5, 0), 200),  # five (from racing servers): an empty bucket is empty, never in debt
        (ago(1000, 999, 998), None),  # long ago: full again
        (ago(300, 100, -30), None),  # an upload a clock ahead recorded counts, and nothing fills before it
    ],
)
def test_rate_is_a_token_bucket(uploads: list[datetime], retry_after: int | None) -> None:
    policy = Policy(rate=Rate(3, 600))
    refusal = allowed(policy, NOW, uploads)
    if retry_after is None:
        assert refusal is None
    else:
        message = f"at most 3 uploads per 10 min, one more every 200 s; try again in {retry_after} s."
        assert refusal == Refusal(429, message, retry_after)
        assert allowed(policy, NOW + timedelta(seconds=retry_after), uploads) is None
        assert allowed(policy, NOW + timedelta(seconds=retry_after - 1), uploads) is not None


def test_a_student_uploading_as_fast_as_allowed_gets_a_burst_then_one_per_interval() -> None:
    policy, start, accepted = Policy(rate=Rate(3, 600)), NOW, []
    for second in range(3600):
        now = start + timedelta(seconds=second)
        if allowed(policy, now, accepted) is None:
            accepted.append(now)
    assert [int((u - start).total_seconds()) for u in accepted] == [0, 1, 2, *range(200, 3600, 200)]


def test_the_default_policy_allows_everything() -> None:
    assert allowed(Policy(), datetime(1970, 1, 1, tzinfo=UTC), ago(*range(1000))) is None
    assert Policy().penalty(80.0, 10) == 0.0


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="no time zone"):
        allowed(COURSE, datetime(2026, 12, 5))
    with pytest.raises(ValueError, match="no time zone"):
        COURSE.late_days(datetime(2026, 12, 5))


@pytest.mark.parametrize(
    ("text", "rate", "shown"),
    [
        ("3/10min", Rate(3, 600), "3/10min"),
        ("20/d", Rate(20, 86400), "20/1d"),
        ("1/30s", Rate(1, 30), "1/30s"),
        (" 5 / 2h ", Rate(5, 7200), "5/2h"),
        ("2/1.5h", Rate(2, 5400), "2/90min"),
        ("7/90s", Rate(7, 90), "7/90s"),
    ],
)
def test_rates_parse(text: str, rate: Rate, shown: str) -> None:
    assert Rate.parse(text) == rate
    assert str(rate) == shown


@pytest.mark.parametrize("text", ["3", "3/", "/10min", "3/10m", "3/10 minutes", "-1/10s", "3/10min extra", "three/10min"])
def test_bad_rates_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="is not COUNT/WINDOW"):
        Rate.parse(text)


# --- the rubric's [policy] ------------------------------------------------------------------------


def rubric_with(tmp_path: Path, policy: str) -> Path:
    path = tmp_path / "toy.toml"
    path.write_text(TOY.replace("[cases.small]", f"{policy}\n[cases.small]"))
    return path


def test_the_issues_example_is_a_policy(tmp_path: Path) -> None:
    assert load_rubric(rubric_with(tmp_path, EXAMPLE)).policy == Policy(
        opens=OPENS, due=DUE, closes=CLOSES, late_penalty_per_day=0.1, max_submissions=20, rate=Rate(3, 600), max_upload_kb=2048
    )


def test_without_policy_an_assignment_is_always_open(tmp_path: Path) -> None:
    assert load_rubric(rubric_with(tmp_path, "")).policy == Policy()
    assert load_rubric(rubric_with(tmp_path, "[policy]\n")).policy == Policy()


def test_toml_offset_datetimes_are_accepted(tmp_path: Path) -> None:
    policy = load_rubric(rubric_with(tmp_path, "[policy]\ndue = 2026-12-08T23:59:00-05:00\ncloses = 2026-12-12T04:59:00Z\n")).policy
    assert (policy.due, policy.closes) == (DUE, CLOSES)


ON_TIME = 'like "2026-12-08T23:59:00-05:00"'


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        ('due = "2026-12-08T23:59:00"', f"policy.due must be a date and time with its UTC offset, {ON_TIME}, not '2026-12-08T23:59:00'."),
        ("due = 2026-12-08T23:59:00", f"policy.due must be a date and time with its UTC offset, {ON_TIME}, not 2026-12-08T23:59:00."),
        ("opens = 2026-12-08", f"policy.opens must be a date and time with its UTC offset, {ON_TIME}, not 2026-12-08."),
        ('closes = "next friday"', f"policy.closes must be a date and time with its UTC offset, {ON_TIME}, not 'next friday'."),
        ('rate = "3 per minute"', "policy.rate must be COUNT/WINDOW like \"3/10min\""),
        ('rate = "0/10min"', "policy.rate must be COUNT/WINDOW"),
        ('rate = "1/400d"', "a window of at most 366 d, not '1/400d'."),
        ("rate = 3", "policy.rate must be COUNT/WINDOW"),
        ("max_submissions = 0", "policy.max_submissions must be a positive integer, at most 10000, not 0."),
        ("max_submissions = 2.5", "policy.max_submissions must be a positive integer, at most 10000, not 2.5."),
        ('max_submissions = "20"', "policy.max_submissions must be a positive integer, at most 10000, not '20'."),
        ("max_upload_kb = 65537", "policy.max_upload_kb must be a positive integer of KiB, at most 65536 (the largest submission the grader reads), not 65537."),
        ("late_penalty_per_day = 1.5", "policy.late_penalty_per_day must be a number from 0 to 1, not 1.5."),
        ("late_penalty = 0.1", "policy: has an unknown key 'late_penalty' (did you mean 'late_penalty_per_day'?)."),
        (
            'due = "2026-12-08T23:59:00-05:00"\ncloses = "2026-12-01T23:59:00-05:00"',
            "policy.closes: closes (2026-12-01T23:59:00-05:00) is before due (2026-12-08T23:59:00-05:00).",
        ),
        (
            'opens = "2026-12-09T00:00:00-05:00"\ncloses = "2026-12-08T00:00:00-05:00"',
            "policy.closes: closes (2026-12-08T00:00:00-05:00) is before opens (2026-12-09T00:00:00-05:00).",
        ),
    ],
)
def test_a_bad_policy_is_one_line_naming_the_field(tmp_path: Path, policy: str, message: str) -> None:
    path = rubric_with(tmp_path, f"[policy]\n{policy}\n")
    with pytest.raises(RubricError) as caught:
        load_rubric(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_the_policy_is_no_part_of_the_rubric_version(course: Path) -> None:
    # Moving a due date must neither regrade a class (batch keys hold the version) nor fail the
    # uploads pending at that moment; a change to what is graded must.
    from grader.course import Course

    path = course / "rubrics" / "backprop.toml"
    original = path.read_text()
    before = Course(course).assignment("backprop").version
    path.write_text(original + '\n# a comment\n[policy]\ndue = "2026-12-08T23:59:00-05:00"\nmax_submissions = 3\n')
    with_policy = Course(course).assignment("backprop").version
    path.write_text(original + '\n[policy]\ndue = "2026-12-15T23:59:00-05:00"\n')
    moved = Course(course).assignment("backprop").version
    assert before == with_policy == moved
    assert "points = 15" in original
    path.write_text(original.replace("points = 15", "points = 16", 1))
    assert Course(course).assignment("backprop").version != before
