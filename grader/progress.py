"""Progress of a long run: a bar with rate and ETA on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import time
from typing import Any

#: seconds between plain progress lines when the output is not a terminal
PLAIN_EVERY = 2.0


class Progress:
    def __init__(self, *, enabled: bool = True) -> None:
        self.enabled = enabled
        self._bar: Any = None
        self._start = time.monotonic()
        self._last = 0.0

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.close()

    def update(self, done: Any, count: int, total: int) -> None:
        if not self.enabled:
            return
        if sys.stderr.isatty():
            if self._bar is None:
                from tqdm import tqdm

                self._bar = tqdm(total=total, unit="submission", file=sys.stderr, dynamic_ncols=True)
            self._bar.update(1)
            self._bar.set_postfix_str(f"{done.student}: {done.status} {done.score:g}", refresh=False)
            return
        now = time.monotonic()
        if count == total or now - self._last >= PLAIN_EVERY:
            self._last = now
            rate = count / max(now - self._start, 1e-9)
            eta = (total - count) / rate if rate else 0.0
            print(f"graded {count}/{total} ({rate:.1f}/s, ETA {eta:.0f} s)", file=sys.stderr, flush=True)
