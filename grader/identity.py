"""Who may use the grader over the network: the roster of students, and bearer tokens.

Only a rostered student may submit, so the roster comes from the course's own records: a CSV
with the header ``id,name,email``, or Canvas's gradebook export as it downloads, so that an
instructor never retypes a class. A token names one ``Identity``, a student (by their roster
id) or an instructor (who is not on the roster). The gradebook keeps only a token's SHA-256,
so a copy of the database lets no one in; a token is 256 random bits, so its hash needs no
salt or slow hashing to resist guessing (``grader.db.people`` stores and checks them).
"""

from __future__ import annotations

import csv
import hashlib
import io
import secrets
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from grader import students
from grader.errors import RosterError

__all__ = ["ROLES", "Identity", "Role", "RosterEntry", "new_token", "read_roster", "token_digest"]

Role = Literal["student", "instructor"]
ROLES: tuple[Role, ...] = ("student", "instructor")

#: bytes of randomness in a token: 256 bits, 43 URL-safe characters
TOKEN_BYTES = 32
#: a presented token longer than this is refused before it is hashed or looked up
MAX_TOKEN_LENGTH = 512

#: a roster file larger than this is not a class list (a whole gradebook of submissions, a binary)
MAX_ROSTER_BYTES = 8 << 20
MAX_ROSTER_ROWS = 50_000
MAX_NAME = 200
MAX_EMAIL = 254  # RFC 5321's bound on a forward path

PLAIN_HEADER = ("id", "name", "email")
#: Canvas's gradebook export: these identity columns, then one column per assignment
CANVAS_ID, CANVAS_NAME, CANVAS_LOGIN, CANVAS_EMAIL = "SIS User ID", "Student", "SIS Login ID", "Email"
#: Canvas's own number for a user (in its URLs and its bulk download's file names), and the section
CANVAS_USER, CANVAS_SECTION = "ID", "Section"
CANVAS_POINTS_ROW = "Points Possible"
MAX_SECTION = 200


@dataclass(frozen=True)
class Identity:
    """Who a token speaks for: a rostered student's id, or an instructor's id."""

    subject: str
    role: Role


@dataclass(frozen=True)
class RosterEntry:
    """One student of the class: the id they are graded under, their name and email; from
    Canvas's export also their Canvas user ``ID`` (digits), ``SIS Login ID`` and ``Section``
    (None where the roster did not say: a plain roster says none of them)."""

    id: str
    name: str
    email: str
    canvas_id: str | None = None
    sis_login_id: str | None = None
    section: str | None = None


def new_token() -> str:
    """A fresh token: 256 bits from ``secrets``, URL-safe, shown once and never stored."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_digest(token: str) -> str:
    """The SHA-256 (hex) the gradebook keeps of ``token``."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def read_roster(path: Path) -> list[RosterEntry]:
    """The students in the CSV at ``path``, in file order; RosterError, one line naming the line
    of the file, for anything that is not a roster.

    Two formats, told apart by the header: ``id,name,email`` (in any order, no other column),
    or Canvas's gradebook export, whose "SIS User ID" becomes the id, "Student" the name, and
    "Email" (or, holding an @, "SIS Login ID") the email, and whose "ID", "SIS Login ID" and
    "Section" are kept as they are (an "ID" is Canvas's number of the user: digits); its
    "Points Possible" row and rows without an SIS User ID (Canvas's test student, its "Manual
    Posting" row) are skipped. Every cell loses its surrounding whitespace; ids follow
    ``grader.students``' rule, and neither an id nor a Canvas "ID" may be on two lines.
    """
    rows = _rows(path)
    if not rows:
        raise RosterError(f"{path}: the file is empty; a roster has the header id,name,email, or is Canvas's gradebook export.")
    header_line, header = rows[0]
    columns = [cell.strip() for cell in header]
    if CANVAS_ID in columns and CANVAS_NAME in columns:
        entries = _canvas(path, columns, rows[1:])
    else:
        entries = _plain(path, header_line, columns, rows[1:])
    _no_repeats(path, entries)
    return [entry for _, entry in entries]


def _rows(path: Path) -> list[tuple[int, list[str]]]:
    """The file's non-blank CSV rows, each with the line it starts on."""
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_ROSTER_BYTES + 1)
    except OSError as exc:
        raise RosterError(f"{path}: cannot read the roster: {exc.strerror or exc}.") from None
    if len(raw) > MAX_ROSTER_BYTES:
        raise RosterError(f"{path}: over {MAX_ROSTER_BYTES >> 20} MiB, too large for a roster; export only the class list.")
    try:
        text = raw.decode("utf-8-sig")  # Canvas writes a byte order mark
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise RosterError(f"{path} line {line}: not UTF-8 text; save the roster as CSV in UTF-8.") from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[tuple[int, list[str]]] = []
    start = 1
    try:
        for row in reader:
            if any(cell.strip() for cell in row):
                rows.append((start, row))
            if len(rows) > MAX_ROSTER_ROWS + 1:  # the header, then the students
                raise RosterError(f"{path} line {start}: more than {MAX_ROSTER_ROWS} students; is this a roster?")
            start = reader.line_num + 1
    except csv.Error as exc:
        raise RosterError(f"{path} line {reader.line_num}: not valid CSV ({exc}).") from None
    return rows


def _plain(path: Path, line: int, columns: list[str], rows: list[tuple[int, list[str]]]) -> list[tuple[int, RosterEntry]]:
    names = [c.lower() for c in columns]
    unknown = [c for c in names if c not in PLAIN_HEADER]
    if unknown or len(set(names)) != len(names) or set(names) != set(PLAIN_HEADER):
        found = ",".join(columns)[:80]
        raise RosterError(
            f"{path} line {line}: the header is {found!r}; a roster's header is id,name,email "
            f"(or the file is Canvas's gradebook export, with {CANVAS_NAME!r} and {CANVAS_ID!r} columns)."
        )
    where = {name: names.index(name) for name in PLAIN_HEADER}
    entries = []
    for number, row in rows:
        if len(row) != len(columns):
            raise RosterError(f"{path} line {number}: {len(row)} cells where the header has {len(columns)} (id,name,email).")
        entries.append((number, _entry(path, number, *(row[where[name]] for name in PLAIN_HEADER))))
    return entries


def _canvas(path: Path, columns: list[str], rows: list[tuple[int, list[str]]]) -> list[tuple[int, RosterEntry]]:
    def cell(row: list[str], column: str) -> str:
        index = columns.index(column) if column in columns else None
        return row[index].strip() if index is not None and index < len(row) else ""

    entries = []
    for number, row in rows:
        if cell(row, CANVAS_NAME) == CANVAS_POINTS_ROW or not cell(row, CANVAS_ID):
            continue  # Canvas's points row, its test student, its "Manual Posting" row
        login = cell(row, CANVAS_LOGIN)
        email = cell(row, CANVAS_EMAIL) or (login if "@" in login else "")
        canvas = _entry(path, number, cell(row, CANVAS_ID), cell(row, CANVAS_NAME), email, login, cell(row, CANVAS_SECTION))
        user = cell(row, CANVAS_USER)
        if user and not (user.isascii() and user.isdigit()):
            raise RosterError(f"{path} line {number}: the Canvas ID of {students.shown(canvas.id)} is {students.shown(user)}; Canvas's IDs are numbers.")
        entries.append((number, replace(canvas, canvas_id=user or None)))
    return entries


def _entry(path: Path, line: int, student: str, name: str, email: str, login: str | None = None, section: str | None = None) -> RosterEntry:
    student, name, email = student.strip(), name.strip(), email.strip()
    why = students.problem(student)
    if why is not None:
        raise RosterError(f"{path} line {line}: the student id {students.shown(student)} {why}.")
    fields = [("name", name, MAX_NAME), ("email", email, MAX_EMAIL), ("SIS Login ID", login or "", MAX_EMAIL), ("section", section or "", MAX_SECTION)]
    for field, value, most in fields:
        control = students.control_character(value)
        if control is not None:
            raise RosterError(f"{path} line {line}: the {field} of {students.shown(student)} holds the control character {control}.")
        if len(value) > most:
            raise RosterError(f"{path} line {line}: the {field} of {students.shown(student)} is {len(value)} characters long, more than {most}.")
    return RosterEntry(student, name, email, sis_login_id=login or None, section=section or None)


def _no_repeats(path: Path, entries: list[tuple[int, RosterEntry]]) -> None:
    seen: dict[str, int] = {}
    users: dict[str, int] = {}
    for line, entry in entries:
        if entry.id in seen:
            raise RosterError(f"{path} line {line}: the student id {students.shown(entry.id)} is already on line {seen[entry.id]}; ids must be unique.")
        seen[entry.id] = line
        if entry.canvas_id is not None:
            if entry.canvas_id in users:
                raise RosterError(f"{path} line {line}: the Canvas ID {entry.canvas_id} is already on line {users[entry.canvas_id]}; Canvas gives each user one.")
            users[entry.canvas_id] = line
