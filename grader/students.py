"""What a student id may be: the one rule ``grade submit`` and ``grade batch`` both apply.

An id is stored exactly as given and may be any text a name can be (``Zoë O'Brien/2``), but
one that is empty or only whitespace names no one, one with a control character (a tab, a
newline, an escape, a bidirectional override) shows as something else wherever it is printed,
and a very long one is a mistake (a whole path, a file's contents), not a name.
"""

from __future__ import annotations

import unicodedata

from grader.errors import InvalidName
from grader.terminal import printable

#: characters of a student id
MAX_LENGTH = 200


def problem(student: str) -> str | None:
    """Why ``student`` is not a valid student id, in words that follow the id ("is empty or only
    whitespace"); None if it is one."""
    if not student.strip():
        return "is empty or only whitespace"
    if len(student) > MAX_LENGTH:
        return f"is {len(student)} characters long, more than the {MAX_LENGTH} a student id may have"
    control = control_character(student)
    return None if control is None else f"holds the control character {control}"


def control_character(text: str) -> str | None:
    """The first control character of ``text``, as its escape (``\\t``), or None: the rule of a
    student id, and of the names and emails of a roster, which are printed too."""
    for character in text:
        # Cc: C0 and C1 controls, NUL, tab, newline, DEL; Zl, Zp: line and paragraph separators;
        # and what ``printable`` escapes besides (the bidirectional controls)
        if unicodedata.category(character) in ("Cc", "Zl", "Zp") or printable(character) != character:
            return character.encode("unicode_escape").decode("ascii")
    return None


def shown(student: str) -> str:
    """The id quoted for a message, its control characters escaped, cut to 40 characters."""
    text = repr(student) if len(student) <= 40 else repr(student[:39] + "…")
    return printable(text)


def require(student: str) -> None:
    """Raise InvalidName, one line saying why, unless ``student`` is a valid student id."""
    why = problem(student)
    if why is not None:
        raise InvalidName(f"the student id {shown(student)} {why}.")
