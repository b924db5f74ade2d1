"""How often a process that keeps exiting on its own may be restarted, and how to say why it
exited."""

from __future__ import annotations

import signal
import time
from collections import deque
from collections.abc import Callable, Mapping


class RestartBudget:
    """At most `max_restarts` restarts per name within any `window_s` seconds."""

    def __init__(
        self,
        max_restarts: int = 5,
        window_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_restarts = max_restarts
        self.window_s = window_s
        self.clock = clock
        self._restarts: dict[str, deque[float]] = {}

    def spend(self, name: str) -> bool:
        """True, counting one restart of `name`, while its budget allows one; else False."""
        now = self.clock()
        recent = self._restarts.setdefault(name, deque())
        while recent and recent[0] <= now - self.window_s:
            recent.popleft()
        if len(recent) >= self.max_restarts:
            return False
        recent.append(now)
        return True


def exit_reason(code: int | None, meanings: Mapping[int, str]) -> str:
    """ "code N", with what it means: from `meanings`, or the signal that ended the process."""
    if code is None:
        return "no exit code"
    if code in meanings:
        return f"code {code}: {meanings[code]}"
    if code < 0:
        try:
            return f"code {code}: killed by {signal.Signals(-code).name}"
        except ValueError:
            pass
    return f"code {code}"
