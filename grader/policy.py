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
        number, unit = _in_unit(self.seconds)
        return f"{self.count}/{number:g}{unit}"

    def window(self) -> str:
        """The window in words: "10 min", "1 d"."""
        return _duration(self.seconds)

    def interval(self) -> str:
        """How often the bucket gains an upload, in words: "200 s", "72 min"."""
        return _duration(self.seconds / self.count)

    def wait(self, uploads: list[datetime], now: datetime) -> int:
        """Whole seconds from ``now`` until the bucket holds an upload again (0: it does now).

        A token bucket of ``count`` uploads, full to begin with, that each upload empties by
        one and that fills again at ``count`` per ``seconds``: a burst of ``count`` at once,
        then one every ``seconds / count``. Its level is replayed from the uploads (``uploads``,
        any order), so every server process sharing a gradebook finds the same. An upload that
        found the bucket empty (accepted by two servers racing, or under a looser rate since
        changed) leaves it empty, not in debt."""
        # Levels are kept in seconds of filling (one upload is ``seconds`` of them, filled at
        # ``count`` a second), so that whole-second waits come out exact.
        full, one = self.count * self.seconds, self.seconds
        level, last = full, None
        for upload in sorted(uploads):
            if last is not None:
                level = min(full, level + (upload - last).total_seconds() * self.count)
            level, last = max(0.0, level - one), upload
        if last is not None:
            level = min(full, level + max(0.0, (now - last).total_seconds()) * self.count)
        missing = one - level
        return 0 if missing <= 1e-6 else max(1, math.ceil(missing / self.count - 1e-9))


def _in_unit(seconds: float) -> tuple[float, str]:
    """A length of time in the largest unit that divides it: (10, "min"), (1, "d"), (12.5, "s")."""
    for unit in ("d", "h", "min"):
        if seconds >= UNITS[unit] and seconds % UNITS[unit] == 0:
            return seconds / UNITS[unit], unit
    return seconds, "s"


def _duration(seconds: float) -> str:
    """``_in_unit`` in words: "10 min", "1 d", "12.5 s"."""
    number, unit = _in_unit(seconds)
    return f"{number:g} {unit}"


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
        ``max_submissions`` used up (403), then over ``rate`` (429: its token bucket is empty,
        ``Rate.wait``)."""
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
            wait = self.rate.wait(uploads, now)
            if wait:
                return Refusal(
                    429,
                    f"at most {self.rate.count} uploads per {self.rate.window()}, one more every {self.rate.interval()}; "
                    f"try again in {wait} s.",
                    wait,
                )
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
