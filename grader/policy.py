"""A course's policy for one assignment: when it takes uploads, how many and how fast, how
large, and what lateness costs (the rubric's ``[policy]`` table, validated by ``grader.rubric``).

Decisions are pure functions of the policy, the time and what the gradebook says the student
already uploaded, so that several server processes sharing one gradebook decide alike, and
tests can name the exact second a window opens. Times are aware datetimes; a policy keeps the
offset its rubric wrote, so messages show the course's own clock.

Lateness counts *started* days: one second after the due date is one day late, exactly 24
hours after it still one, and a second more two. An extension moves the due date and the
closing time of one student by its days; it never moves the opening.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["UNITS", "Policy", "Rate", "Refusal", "late_penalty"]

DAY = timedelta(days=1)
#: seconds per unit of a rate's window
UNITS = {"s": 1, "min": 60, "h": 3600, "d": 86400}
_RATE = re.compile(r"\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)?\s*(s|min|h|d)\s*")


@dataclass(frozen=True)
class Rate:
    """At most ``count`` uploads per ``seconds``, per student and assignment: "3/10min"."""

    count: int
    seconds: float

    @classmethod
    def parse(cls, text: str) -> Rate:
        """``COUNT/WINDOW``: "3/10min", "20/d", "1/30s" (units s, min, h, d; a missing window
        number is 1); ValueError for anything else."""
        match = _RATE.fullmatch(text)
        if match is None:
            raise ValueError(f"{text!r} is not COUNT/WINDOW like '3/10min' (units s, min, h, d)")
        count, number, unit = match.groups()
        return cls(int(count), float(number or 1) * UNITS[unit])

    def __str__(self) -> str:
        number, unit = self._window()
        return f"{self.count}/{number:g}{unit}"

    def window(self) -> str:
        """The window in words: "10 min", "1 d"."""
        number, unit = self._window()
        return f"{number:g} {unit}"

    def _window(self) -> tuple[float, str]:
        for unit in ("d", "h", "min"):
            if self.seconds % UNITS[unit] == 0:
                return self.seconds / UNITS[unit], unit
        return self.seconds, "s"


@dataclass(frozen=True)
class Refusal:
    """Why an upload is refused: an HTTP status (403: not now or no more; 429: too fast, with
    ``retry_after`` seconds until the next upload is allowed) and one sentence for the student."""

    status: int
    message: str
    retry_after: int | None = None


@dataclass(frozen=True)
class Policy:
    """Every field is optional: the default policy is always open, with no limits."""

    opens: datetime | None = None
    due: datetime | None = None
    closes: datetime | None = None
    late_penalty_per_day: float = 0.0  # fraction of the score per started day late, until closes
    max_submissions: int | None = None
    rate: Rate | None = None
    max_upload_kb: int | None = None

    def due_for(self, extension_days: float = 0.0) -> datetime | None:
        """The due date of a student with this extension."""
        return None if self.due is None else self.due + timedelta(days=extension_days)

    def closes_for(self, extension_days: float = 0.0) -> datetime | None:
        """The closing time of a student with this extension."""
        return None if self.closes is None else self.closes + timedelta(days=extension_days)

    def refusal(self, now: datetime, *, extension_days: float, uploads: list[datetime]) -> Refusal | None:
        """None when an upload at ``now`` is allowed; else why not. ``uploads``: when the student's
        earlier uploads that count were submitted (``Gradebook.uploads``), in any order.

        In order: before ``opens`` and after ``closes`` (403, the time in the policy's offset),
        ``max_submissions`` used up (403), then over ``rate`` (429): the window is sliding, and
        holds the uploads of the last ``rate.seconds`` (one exactly that old has left it)."""
        _aware(now)
        if self.opens is not None and now < self.opens:
            return Refusal(403, f"the assignment opens at {self.opens.isoformat()}; it takes no upload before then.")
        closes = self.closes_for(extension_days)
        if closes is not None and now > closes:
            granted = f" (with your extension of {extension_days:g} days)" if extension_days else ""
            return Refusal(403, f"the assignment closed at {closes.isoformat()}{granted}; it takes no more uploads.")
        if self.max_submissions is not None and len(uploads) >= self.max_submissions:
            return Refusal(403, f"all {self.max_submissions} submissions of the assignment are used up; it takes no more uploads from you.")
        if self.rate is not None:
            window = timedelta(seconds=self.rate.seconds)
            recent = sorted(u for u in uploads if u > now - window)
            if len(recent) >= self.rate.count:
                # the upload that must leave the window before one more fits in it
                leaving = recent[len(recent) - self.rate.count]
                wait = max(1, math.ceil((leaving + window - now).total_seconds()))
                return Refusal(429, f"at most {self.rate.count} uploads per {self.rate.window()}; try again in {wait} s.", wait)
        return None

    def late_days(self, submitted_at: datetime, extension_days: float = 0.0) -> int:
        """Started days after the due date (moved by the extension); 0 on time or without one."""
        _aware(submitted_at)
        due = self.due_for(extension_days)
        if due is None or submitted_at <= due:
            return 0
        whole, rest = divmod(submitted_at - due, DAY)
        return whole + (1 if rest else 0)

    def penalty(self, raw_score: float, late_days: int) -> float:
        """The points lateness costs: ``raw_score * min(1, late_penalty_per_day * late_days)``."""
        return late_penalty(raw_score, self.late_penalty_per_day, late_days)


def late_penalty(raw_score: float, per_day: float, late_days: int) -> float:
    """The points ``late_days`` cost at ``per_day`` (a fraction of the score): never more than
    the score. The one rule, for policies and for the gradebook's stored rows."""
    return raw_score * min(1.0, per_day * late_days)


def _aware(moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{moment!r} has no time zone; policies compare aware times only")
