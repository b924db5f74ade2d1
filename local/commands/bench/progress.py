"""What a run shows while it goes, on stderr so that stdout holds only the table."""

from __future__ import annotations

import sys
import time


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


class Progress:
    """A one-line progress bar on stderr, drawn only on a terminal and after the first second."""

    def __init__(self, label: str, total: int) -> None:
        self.label, self.total = label, max(1, total)
        self.start = self._last = time.monotonic()
        self.enabled = sys.stderr.isatty()
        self.drawn = False

    def update(self, done: int) -> None:
        now = time.monotonic()
        if not self.enabled or now - self.start < 1.0 or now - self._last < 0.1:
            return
        self._last, self.drawn = now, True
        filled = int(30 * min(done, self.total) / self.total)
        rate = done / (now - self.start)
        bar = "#" * filled + "." * (30 - filled)
        sys.stderr.write(f"\r  {self.label:<16} [{bar}] {done}/{self.total} {rate:,.0f}/s ")
        sys.stderr.flush()

    def close(self) -> None:
        if self.drawn:
            sys.stderr.write("\r" + " " * 90 + "\r")
            sys.stderr.flush()
