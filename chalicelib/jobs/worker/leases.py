"""Lease keeping: record in Redis that handlers started, send their latest progress reports,
extend the leases of held jobs before they expire, and learn which of them a cancel was asked
for. A step the coordinator runs: one round trip per queue, however many jobs it carries.

Why starts are recorded: a job whose lease expires is charged an attempt only if Redis knows its
handler started. Slots do not wait for that write: the coordinator records, in one call, the
starts of the jobs still running RECORD_START_AFTER_S after they began. Quick jobs are done by
then and need no record: their outcome says it all. A handler that kills its worker within that
moment leaves an unrecorded start; its job returns uncharged once, and its next worker records
the start before running it, alone (see the coordinator).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from ..config import Settings
from ..model import JobsUnavailable
from ..store import Store
from .table import Held, Phase, Table

log = logging.getLogger("chalicelib.jobs.worker")

#: a worker's leases are extended this often, in parts of the lease
EXTEND_EVERY_LEASE = 1 / 3
#: while it holds jobs, a worker asks Redis this often which of them a cancel was asked for
CANCEL_CHECK_S = 1.0
#: a long-running worker's heartbeat is written this often
HEARTBEAT_S = 5.0
#: handlers' progress reports are sent this often at most
TICK_S = 0.1
#: after a failed call, wait this long before the next
RETRY_S = 0.5


class LeaseKeeper:
    """The lease-keeping step and its timers: starts are recorded as they fall due, progress
    every TICK_S, and every lease is extended each third of a lease (and looked at for
    cancels each CANCEL_CHECK_S) while jobs are held."""

    def __init__(self, table: Table, settings: Settings, clock: Callable[[], float]) -> None:
        self.table = table
        self.settings = settings
        self.clock = clock
        now = time.monotonic()
        #: monotonic times: of the next try after an error, extend, look for cancels, progress
        self.next_try = 0.0
        self.next_extend = self.next_cancels = now
        self.next_progress = 0.0

    def next_due(self) -> float | None:
        """When the step has work next (monotonic), None for nothing held."""
        table = self.table
        dues = [table.next_start_due()]
        if table.held:
            dues += [self.next_extend, self.next_cancels]
        if table.progress_unsent():
            dues.append(self.next_progress)
        due = min((d for d in dues if d is not None), default=None)
        return None if due is None else max(due, self.next_try)

    def step(self, store: Store, now: float) -> None:
        table = self.table
        if now < self.next_try:
            return  # paused after an error
        starting = table.starts_due(now)
        every = bool(table.held) and (now >= self.next_extend or now >= self.next_cancels)
        progress = now >= self.next_progress and table.progress_unsent()
        if not (starting or every or progress):
            return
        if every:
            jobs = list(table.held.values())
        else:
            ids = {j.job_id for j in starting}
            jobs = [
                j
                for j in table.running.values()
                if j.job_id in ids or j.progress != j.progress_sent
            ]
        wall = self.clock()
        try:
            keep(store, jobs, starting, wall + self.settings.lease, wall)
        except JobsUnavailable as exc:
            log.warning("cannot extend leases or record starts: %s", exc)
            self.next_try = now + RETRY_S
            return
        if progress:
            self.next_progress = now + TICK_S
        if every:
            self.next_cancels = now + CANCEL_CHECK_S
            if now >= self.next_extend:
                self.next_extend = now + self.settings.lease * EXTEND_EVERY_LEASE


def keep(
    store: Store, jobs: list[Held], starting: list[Held], lease_until: float, now: float
) -> list[str]:
    """Extend the leases of `jobs`, record the starts of `starting` (among them), send each
    one's unsent progress report. Marks the cancelled ones and returns the ids whose lease is
    no longer ours. Raises JobsUnavailable (then nothing counts as sent or recorded)."""
    recording = {job.job_id for job in starting}
    by_queue: dict[str, dict[str, list[tuple[str, bool, str]]]] = {}
    for job in jobs:
        if job.phase is Phase.HANDED_BACK:
            continue
        report = job.progress
        unsent = report if report != job.progress_sent else ""
        by_queue.setdefault(job.queue, {}).setdefault(job.token, []).append(
            (job.job_id, job.job_id in recording, unsent)
        )
    lost: list[str] = []
    cancels: set[str] = set()
    sent: dict[str, str] = {}
    for queue, by_token in by_queue.items():
        gone, cancelled = store.keep(queue, by_token, lease_until, now)
        lost += gone
        cancels.update(cancelled)
        for entries in by_token.values():
            sent.update((job_id, report) for job_id, _, report in entries if report)
    for job in jobs:
        if job.job_id in sent:
            job.progress_sent = sent[job.job_id]
        if job.job_id in cancels:
            job.cancel = True
    for job in starting:
        job.start_recorded = True
    for job_id in lost:
        log.warning("lease of %s was lost; its outcome will be dropped", job_id)
    return lost
