"""The lease-keeping duty: extend the leases of held jobs before they expire, and fail the
attempts of handlers that overrun their timeout (their slots go to fresh threads)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from ..config import Settings
from ..model import JobsUnavailable
from ..record import Outcome
from ..store import AttemptOutcome, Store
from .execute import Executors
from .inflight import Held, InFlight

log = logging.getLogger("chalicelib.jobs.worker")

#: how often overruns are looked for, at most
OVERRUN_TICK_S = 0.25


class LeaseKeeper:
    """One thread: every tick, fail overruns; every third of a lease, extend the leases."""

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

    def loop(self, closed: threading.Event) -> None:
        lease_s = self.settings.lease
        next_extend = time.monotonic() + lease_s / 3
        while not closed.wait(min(OVERRUN_TICK_S, lease_s / 6)):
            self.fail_overruns()
            if time.monotonic() >= next_extend:
                next_extend = time.monotonic() + lease_s / 3
                try:
                    self.extend_leases()
                except JobsUnavailable as exc:
                    log.warning("cannot extend leases: %s", exc)

    def fail_overruns(self) -> None:
        """A handler past its timeout fails its attempt now and frees its slot; a fresh thread
        takes its place, and the stuck one retires when (if ever) its handler returns."""
        executors = self.executors

        def timed_out(job: Held) -> AttemptOutcome:
            error = f"timed out after {executors.timeout_s(job):g}s"
            return executors.failure(job, Outcome.RETRY, error)

        for job in self.inflight.overran(time.monotonic(), timed_out):
            executors.spawn()
            stuck = executors.stuck
            log.warning(
                "job %s overran its %gs timeout; %d handler threads are stuck",
                job.job_id, executors.timeout_s(job), stuck,
            )  # fmt: skip

    def extend_leases(self) -> None:
        for queue, leases in self.inflight.leases().items():
            lost = self.store.extend(queue, leases, self.clock() + self.settings.lease)
            for job_id in lost:
                log.warning("lease of %s was lost; its outcome will be dropped", job_id)
