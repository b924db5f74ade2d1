"""The lease-keeping duty: record in Redis that handlers started, extend the leases of held
jobs before they expire, and fail the attempts of handlers that overrun their timeout.

Why starts are recorded: a job whose lease expires is charged an attempt only if Redis knows
its handler started. The executors do not wait for that write: a start wakes this duty, which
records, in one call, the starts of the jobs still running RECORD_START_AFTER_S after they
began. Quick jobs are done by then and need no record: their outcome says it all. A handler that
kills its worker within that moment leaves an unrecorded start; its job returns uncharged once,
and its next worker records the start before running it (execute.py).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from ..config import Settings
from ..model import JobsUnavailable
from ..store import Store
from .execute import Executors
from .inflight import InFlight

log = logging.getLogger("chalicelib.jobs.worker")

#: overruns are looked for at least this often
TICK_S = 0.1
#: a handler still running this long after its start gets its start recorded in Redis
RECORD_START_AFTER_S = 0.002
#: after a failed call, wait this long before recording starts again
RETRY_S = 0.5
#: a long-running worker's heartbeat is written this often
HEARTBEAT_S = 5.0
#: while it holds jobs, a worker asks Redis this often which of them a cancel was asked for
CANCEL_CHECK_S = 1.0


class LeaseKeeper:
    """One thread: on each start, and at least every tick, fail overruns and record starts;
    every third of a lease, extend every lease."""

    def __init__(
        self,
        store: Store,
        inflight: InFlight,
        executors: Executors,
        settings: Settings,
        clock: Callable[[], float],
    ) -> None:
        self.store = store
        self.inflight = inflight
        self.executors = executors
        self.settings = settings
        self.clock = clock
        #: what a long-running worker says of itself each HEARTBEAT_S; None for a drain
        self.heartbeat: Callable[[], tuple[str, str]] | None = None
        self._next_cancel_check = 0.0

    def loop(self, closed: threading.Event) -> None:
        lease_s = self.settings.lease
        tick_s = min(TICK_S, lease_s / 6)
        next_extend = time.monotonic() + lease_s / 3
        next_beat, all_stuck = 0.0, False
        while not closed.is_set():
            oldest = self.inflight.wait_for_starts(tick_s)
            if oldest is not None:  # let quick jobs end first: they need no record
                closed.wait(max(0.0, min(tick_s, oldest + RECORD_START_AFTER_S - time.monotonic())))
            self.executors.fail_overruns()
            if self.executors.all_stuck != all_stuck:  # say it at once, not at the next beat
                all_stuck, next_beat = not all_stuck, 0.0
            if self.heartbeat is not None and time.monotonic() >= next_beat:
                next_beat = time.monotonic() + HEARTBEAT_S
                self.beat()
            extend_due = time.monotonic() >= next_extend
            try:
                self.keep(extend_all=extend_due)
                if extend_due:
                    next_extend = time.monotonic() + lease_s / 3
            except JobsUnavailable as exc:
                log.warning("cannot extend leases or record starts: %s", exc)
                closed.wait(RETRY_S)

    def beat(self) -> None:
        """Write the heartbeat now (a stuck worker says so here and in its log)."""
        if self.heartbeat is None:
            return
        try:
            self.store.heartbeat(*self.heartbeat())
        except JobsUnavailable as exc:
            log.warning("cannot write the heartbeat: %s", exc)

    def keep(self, extend_all: bool) -> bool:
        """Record the starts that are due (extending those jobs' leases) and the handlers'
        latest progress reports; extend every lease when `extend_all`, or when a look for
        cancels is due (every CANCEL_CHECK_S while jobs are held). Returns whether a call was
        made: one round trip per queue, however many reports and starts it carries."""
        starting = self.inflight.starts_due(time.monotonic() - RECORD_START_AFTER_S)
        reported = self.inflight.take_reported()
        check = bool(self.inflight.held) and time.monotonic() >= self._next_cancel_check
        if not (starting or reported or extend_all or check):
            return False
        if check or extend_all:
            self._next_cancel_check = time.monotonic() + CANCEL_CHECK_S
        leases = self.inflight.leases(starting, every=extend_all or check)
        lease_until = self.clock() + self.settings.lease
        for queue, by_token in leases.items():
            lost, cancels = self.store.keep(queue, by_token, lease_until, self.clock())
            for job_id in lost:
                log.warning("lease of %s was lost; its outcome will be dropped", job_id)
            self.inflight.cancels(cancels)
        self.inflight.starts_recorded(starting)
        return True
