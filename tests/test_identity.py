"""Identity: rosters read from both formats, tokens issued, checked and revoked, and the
`grade roster` and `grade token` commands."""

from __future__ import annotations

import base64
import hmac
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import run
from sqlalchemy import create_engine, text

import grader.db.people
import grader.identity
from grader.db import Gradebook, default_url
from grader.errors import GraderError, NotRostered, RosterError
from grader.identity import MAX_ROSTER_BYTES, Identity, RosterEntry, read_roster

ADA = RosterEntry("ada", "Ada Lovelace", "ada@example.org")
BOB = RosterEntry("bob", "Babbage, Charles", "")

#: Canvas's gradebook export as it downloads: a byte order mark, its "Points Possible" row, a
#: "Manual Posting" row, the test student without an SIS id, one column per assignment
CANVAS = (
    "\ufeffStudent,ID,SIS User ID,SIS Login ID,Section,Homework 1 (1234),Current Score\r\n"
    ",,,,,Manual Posting,\r\n"
    "    Points Possible,,,,,10,(read only)\r\n"
    '"Lovelace, Ada",101,ada,ada@uni.example,Section 1,9,90\r\n'
    '"Student, Test",999,,,Section 1,0,0\r\n'
    '"Babbage, Charles",102,cb,cbab,Section 1,7,70\r\n'
)


def write(tmp_path: Path, content: str | bytes, name: str = "roster.csv") -> Path:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_bytes(content.encode("utf-8"))
    else:
        path.write_bytes(content)
    return path


# --- reading rosters ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        "id,name,email\nada,Ada Lovelace,ada@example.org\nbob,\"Babbage, Charles\",\n",
        "\ufeffemail,ID,Name\r\nada@example.org,ada,Ada Lovelace\r\n,bob,\"Babbage, Charles\"\r\n",  # any order, BOM, CRLF
        "id,name,email\n\n ada , Ada Lovelace ,ada@example.org \n,,\nbob,\"Babbage, Charles\",\n\n",  # blank lines, spaces
    ],
)
def test_a_plain_roster_is_read_in_file_order(tmp_path: Path, content: str) -> None:
    assert read_roster(write(tmp_path, content)) == [ADA, BOB]


def test_canvas_export_gives_sis_ids_names_and_emails(tmp_path: Path) -> None:
    assert read_roster(write(tmp_path, CANVAS)) == [
        RosterEntry("ada", "Lovelace, Ada", "ada@uni.example", "101", "ada@uni.example", "Section 1"),
        RosterEntry("cb", "Babbage, Charles", "", "102", "cbab", "Section 1"),  # a login without @ is no email
    ]


def test_canvas_email_column_wins_over_the_login(tmp_path: Path) -> None:
    content = "Student,ID,SIS User ID,SIS Login ID,Email\nAda,1,ada,ada@login.example,ada@mail.example\n"
    assert read_roster(write(tmp_path, content)) == [RosterEntry("ada", "Ada", "ada@mail.example", "1", "ada@login.example", None)]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "roster.csv: the file is empty"),
        ("id,name\nada,Ada\n", "roster.csv line 1: the header is 'id,name'; a roster's header is id,name,email"),
        ("id,name,email,section\nada,Ada,a@x,1\n", "roster.csv line 1: the header is 'id,name,email,section'"),
        ("id,name,id\nada,Ada,ada\n", "roster.csv line 1: the header is 'id,name,id'"),
        ("id,name,email\nada,Ada\n", "roster.csv line 2: 2 cells where the header has 3"),
        ("id,name,email\n\n  ,Ada,a@x\n", "roster.csv line 3: the student id '' is empty or only whitespace."),
        ("id,name,email\nada\x1b[2J,Ada,\n", "roster.csv line 2: the student id 'ada\\x1b[2J' holds the control character \\x1b."),
        ("id,name,email\nada,\"Ada\nLovelace\",\n", "roster.csv line 2: the name of 'ada' holds the control character \\n."),
        ("id,name,email\nada,Ada,\"a\u202e@x\"\n", "roster.csv line 2: the email of 'ada' holds the control character \\u202e."),
        (f"id,name,email\nada,{'A' * 201},\n", "roster.csv line 2: the name of 'ada' is 201 characters long, more than 200."),
        (f"id,name,email\n{'x' * 201},Ada,\n", "is 201 characters long, more than the 200 a student id may have"),
        ("id,name,email\nada,Ada,\nbob,Bob,\nada,Ada L,\n", "roster.csv line 4: the student id 'ada' is already on line 2; ids must be unique."),
        ("id,name,email\nada,\"Ada,\n", "roster.csv line 2: not valid CSV (unexpected end of data)."),  # the row that starts there
        ("Student,ID,SIS User ID\nAda,1,\x07\n", "roster.csv line 2: the student id '\\x07' holds the control character \\x07."),
        ("Student,ID,SIS User ID\nAda,x1,ada\n", "roster.csv line 2: the Canvas ID of 'ada' is 'x1'; Canvas's IDs are numbers."),
        ("Student,ID,SIS User ID\nAda,1,ada\nBob,1,bob\n", "roster.csv line 3: the Canvas ID 1 is already on line 2; Canvas gives each user one."),
        ("Student,ID,SIS User ID,Section\nAda,1,ada,S\x1b1\n", "roster.csv line 2: the section of 'ada' holds the control character \\x1b."),
        ("Student,ID,SIS User ID,SIS Login ID\nAda,1,ada,\u202eada\n", "roster.csv line 2: the SIS Login ID of 'ada' holds the control character \\u202e."),
    ],
)
def test_a_bad_roster_is_one_line_naming_the_line(tmp_path: Path, content: str, message: str) -> None:
    with pytest.raises(RosterError) as caught:
        read_roster(write(tmp_path, content))
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_roster_that_is_not_utf8_names_its_line(tmp_path: Path) -> None:
    with pytest.raises(RosterError, match=r"roster.csv line 3: not UTF-8 text"):
        read_roster(write(tmp_path, b"id,name,email\nada,Ada,\nbob,B\xf6b,\n"))


def test_a_roster_too_large_is_refused_unread(tmp_path: Path) -> None:
    path = write(tmp_path, b"id,name,email\n" + b"x" * MAX_ROSTER_BYTES)
    with pytest.raises(RosterError, match=r"over 8 MiB, too large for a roster"):
        read_roster(path)


def test_a_missing_roster_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(RosterError, match=r"missing.csv: cannot read the roster: No such file or directory\.$"):
        read_roster(tmp_path / "missing.csv")


def test_too_many_students_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(grader.identity, "MAX_ROSTER_ROWS", 2)
    assert len(read_roster(write(tmp_path, "id,name,email\na,,\nb,,\n"))) == 2
    with pytest.raises(RosterError, match=r"line 4: more than 2 students"):
        read_roster(write(tmp_path, "id,name,email\na,,\nb,,\nc,,\n"))


# --- the roster in the gradebook -------------------------------------------------------------------


def test_importing_a_roster_adds_then_updates_and_is_idempotent(url: str) -> None:
    with Gradebook(url) as book:
        assert book.import_roster([BOB, ADA]) == (2, 0)
        assert book.import_roster([ADA, BOB]) == (0, 0)
        renamed = RosterEntry("ada", "Ada King", "ada@example.org")
        assert book.import_roster([renamed, RosterEntry("cy", "Cy", "cy@x")]) == (1, 1)
        assert book.roster() == [renamed, BOB, RosterEntry("cy", "Cy", "cy@x")]
        assert book.is_rostered("ada") and not book.is_rostered("dee")


def test_a_student_who_only_submitted_is_not_rostered(sqlite_url: str) -> None:
    with Gradebook(sqlite_url) as book:
        book.begin_submission(student="eve", assignment="hw", filename="a.py", content=b"", seed=1, rubric_version="v")
        assert not book.is_rostered("eve") and book.roster() == []
        assert book.import_roster([RosterEntry("eve", "Eve", "")]) == (1, 0)
        assert book.is_rostered("eve")


# --- tokens ---------------------------------------------------------------------------------------


def test_a_token_speaks_for_its_student_until_revoked(url: str) -> None:
    with Gradebook(url) as book:
        book.import_roster([ADA])
        first, second = book.issue_token("ada", "student"), book.issue_token("ada", "student")
        assert first != second
        assert book.authenticate(first) == book.authenticate(second) == Identity("ada", "student")
        assert book.revoke_tokens("ada") == 2
        assert book.authenticate(first) is None and book.authenticate(second) is None
        assert book.revoke_tokens("ada") == 0
        third = book.issue_token("ada", "student")
        assert book.authenticate(third) == Identity("ada", "student")


def test_tokens_have_256_random_bits(sqlite_url: str) -> None:
    with Gradebook(sqlite_url) as book:
        book.import_roster([ADA])
        token = book.issue_token("ada", "student")
    assert len(base64.urlsafe_b64decode(token + "=")) == 32


def test_an_instructor_token_makes_the_instructor_known(sqlite_url: str) -> None:
    with Gradebook(sqlite_url) as book:
        token = book.issue_token("prof", "instructor")
        assert book.authenticate(token) == Identity("prof", "instructor")
        assert not book.is_rostered("prof")
        book.issue_token("prof", "instructor")  # known already: no second row
    engine = create_engine(sqlite_url)
    with engine.connect() as db:
        assert db.execute(text("SELECT external_id FROM instructors")).all() == [("prof",)]
    engine.dispose()


def test_a_student_token_needs_the_roster(url: str) -> None:
    with Gradebook(url) as book:
        with pytest.raises(NotRostered) as caught:
            book.issue_token("mallory", "student")
        assert str(caught.value) == (
            "the student 'mallory' is not on the roster, so cannot have a token: add them with grade roster import, or give --role instructor."
        )
        book.begin_submission(student="mallory", assignment="hw", filename="a.py", content=b"", seed=1, rubric_version="v")
        with pytest.raises(NotRostered):
            book.issue_token("mallory", "student")  # having submitted locally is not being rostered


@pytest.mark.parametrize("subject", ["", "  ", "a\nb", "x" * 201])
def test_a_token_for_an_invalid_id_is_refused(sqlite_url: str, subject: str) -> None:
    with Gradebook(sqlite_url) as book, pytest.raises(GraderError, match=r"^the instructor id .* (is|holds)"):
        book.issue_token(subject, "instructor")


@pytest.mark.parametrize("presented", ["", "not-a-token", "x" * 43])
def test_unknown_tokens_are_nobody(sqlite_url: str, presented: str) -> None:
    with Gradebook(sqlite_url) as book:
        book.import_roster([ADA])
        book.issue_token("ada", "student")
        assert book.authenticate(presented) is None


def test_an_overlong_token_is_refused_before_it_is_hashed(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    hashed: list[str] = []
    real = grader.db.people.token_digest
    monkeypatch.setattr(grader.db.people, "token_digest", lambda token: hashed.append(token) or real(token))
    with Gradebook(sqlite_url) as book:
        assert book.authenticate("a" * 513) is None
        assert hashed == []
        assert book.authenticate("a" * 512) is None
        assert hashed == ["a" * 512]


def test_the_stored_hash_is_compared_in_constant_time(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, str]] = []
    verdict: list[Callable[[str, str], bool]] = [hmac.compare_digest]

    def spy(a: str, b: str) -> bool:
        calls.append((a, b))
        return verdict[0](a, b)

    monkeypatch.setattr(grader.db.people.hmac, "compare_digest", spy)
    with Gradebook(sqlite_url) as book:
        book.import_roster([ADA])
        token = book.issue_token("ada", "student")
        assert book.authenticate(token) == Identity("ada", "student")
        digest = grader.identity.token_digest(token)
        assert calls == [(digest, digest)]
        verdict[0] = lambda a, b: False  # the comparison, not the lookup, has the last word
        assert book.authenticate(token) is None


def test_only_the_hash_reaches_the_database_file(tmp_path: Path) -> None:
    url = default_url(tmp_path)
    with Gradebook(url) as book:
        book.import_roster([ADA])
        tokens = [book.issue_token("ada", "student"), book.issue_token("prof", "instructor")]
    files = [p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("grade.db")]  # the WAL too
    assert files
    for token in tokens:
        assert not any(token.encode() in data for data in files)
        assert any(grader.identity.token_digest(token).encode() in data for data in files)  # the search can find things


# --- the commands ---------------------------------------------------------------------------------


def test_roster_commands(course: Path, db_url: str, tmp_path: Path) -> None:
    roster = write(tmp_path, "id,name,email\nbob,\"Babbage, Charles\",\nada,Ada Lovelace,ada@example.org\n")
    result = run(course, "roster", "import", str(roster))
    assert (result.exit_code, result.stdout) == (0, "2 added, 0 updated\n")
    assert run(course, "roster", "import", str(roster)).stdout == "0 added, 0 updated\n"
    listed = run(course, "roster", "list")
    assert listed.exit_code == 0
    assert listed.stdout.splitlines() == [
        "id   name              email",
        "ada  Ada Lovelace      ada@example.org",
        "bob  Babbage, Charles",
    ]


def test_an_empty_roster_lists_only_its_header(course: Path, db_url: str) -> None:
    listed = run(course, "roster", "list")
    assert (listed.exit_code, listed.stdout) == (0, "id  name  email\n")
    assert "the roster is empty" in listed.stderr


def test_token_commands(course: Path, db_url: str, tmp_path: Path) -> None:
    run(course, "roster", "import", str(write(tmp_path, "id,name,email\nada,Ada,\n")))
    issued = run(course, "token", "issue", "ada")
    assert issued.exit_code == 0, issued.output
    lines = issued.stdout.splitlines()
    assert lines[0] == "token for the student 'ada' (shown once; only its hash is kept):" and len(lines) == 2
    instructor = run(course, "token", "issue", "prof", "--role", "instructor").stdout.splitlines()[-1]
    with Gradebook(db_url) as book:
        assert book.authenticate(lines[-1]) == Identity("ada", "student")
        assert book.authenticate(instructor) == Identity("prof", "instructor")
    revoked = run(course, "token", "revoke", "ada")
    assert (revoked.exit_code, revoked.stdout) == (0, "revoked 1 token of 'ada'\n")
    with Gradebook(db_url) as book:
        assert book.authenticate(lines[-1]) is None
        assert book.authenticate(instructor) == Identity("prof", "instructor")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["token", "issue", "mallory"], "Error: the student 'mallory' is not on the roster, so cannot have a token"),
        (["token", "issue", ""], "Error: the student id '' is empty or only whitespace."),
        (["roster", "import", "missing.csv"], "Error: missing.csv: cannot read the roster"),
    ],
)
def test_command_errors_are_one_line(course: Path, db_url: str, args: list[str], message: str) -> None:
    result = run(course, *args)
    assert result.exit_code == 2
    assert result.stderr.startswith(message) and len(result.stderr.splitlines()) == 1
    assert result.stdout == ""
