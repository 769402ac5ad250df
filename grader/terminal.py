"""Text that is safe to print: what a submission wrote (an exception's message, a file name, a
student id) may hold control characters that move a terminal's cursor, recolor or retitle it,
rewrite a line with a carriage return, or reorder it with bidirectional overrides.

Every text output (reports in text, Markdown and HTML, the class summary, CSV exports, the
command line's own lines) passes through ``printable``. It imports nothing of the grader, so
the command line can use it without loading the rest.
"""

from __future__ import annotations

import re

#: C0 controls but tab and newline, DEL, C1 controls, and the bidirectional overrides and
#: isolates that can make a terminal or an editor show text other than what is there
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """``text`` with every control character shown as its escape (``\\x1b``), so that what a
    submission wrote cannot move a terminal's cursor, recolor it, retitle it or reorder a line.
    Tabs and newlines stay."""
    return _CONTROLS.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)
