"""Writing outcomes: one finish script call per queue, all queues in one round trip. A step the
coordinator runs; what could not be written yet stays in the table for its next try."""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable

from ..config import Settings
from ..model import JobState, JobsUnavailable
from ..store import AttemptOutcome, Store
from .fetch import day_of
from .outbox import CallbackForwarder
from .table import Held, Table

log = logging.getLogger("chalicelib.jobs.worker")

Batch = list[tuple[Held, AttemptOutcome]]
#: the finish script's answers for a job that ended (its callback is due)
ENDED_CODES = (int(JobState.COMPLETED), int(JobState.FAILED))
#: after a failed write, wait this long before the next try
WRITE_RETRY_S = 0.5


class Writer:
    """The write step: the table's waiting outcomes, when table.flush_due() says so."""

    def __init__(
        self,
        table: Table,
        settings: Settings,
        clock: Callable[[], float],
        forwarder: CallbackForwarder | None,
    ) -> None:
        self.table = table
        self.settings = settings
        self.clock = clock
        self.forwarder = forwarder
        #: monotonic time of the next try after a failed write
        self.next_try = 0.0

    def next_due(self, now: float) -> float | None:
        due = self.table.flush_due(now)
        return None if due is None else max(due, self.next_try)

    def step(self, store: Store, now: float) -> None:
        due = self.next_due(now)
        if due is not None and now >= due:
            self.write(store)

    def give_up(self, why: str) -> None:
        """Leave the waiting outcomes to lease recovery, without a call (no time is left)."""
        table = self.table
        if table.outcomes:
            gave_up(len(table.outcomes), JobsUnavailable(why))
            batch, table.outcomes = table.outcomes, []
            table.written(batch, None)

    def write(
        self,
        store: Store,
        give_up_at: float | None = None,
        call: Callable[[dict[str, Batch]], list[list[int]]] | None = None,
    ) -> bool:
        """Write the outcomes waiting; True when none is left. Past `give_up_at` (default: a
        lease after the oldest was queued) they are left to lease recovery: at least once.
        `call(groups)` makes the write instead of a finish call of its own (to share a round
        trip with a dequeue); it raises JobsUnavailable as the write would."""
        table = self.table
        if not table.outcomes:
            return True
        if give_up_at is None:
            give_up_at = table.oldest_outcome + self.settings.lease
        batch, table.outcomes = table.outcomes, []
        groups = by_queue(batch)
        try:
            if call is None:
                codes = write(store, groups, self.clock(), self.settings.retention)
            else:
                codes = call(groups)
        except Exception as exc:  # noqa: BLE001 - an outage waits; a bug lets the jobs go
            if isinstance(exc, JobsUnavailable) and time.monotonic() < give_up_at:
                log.warning("cannot write %d outcomes yet: %s", len(batch), exc)
                table.outcomes = batch + table.outcomes
                self.next_try = time.monotonic() + WRITE_RETRY_S
                if call is not None:
                    raise
                return False
            gave_up(len(batch), exc)
            for items in groups.values():
                table.written(items, None)
            if call is not None and isinstance(exc, JobsUnavailable):
                raise
            return True
        for (_, items), answered in zip(groups.items(), codes, strict=True):
            table.written(items, answered)
        if self.forwarder is not None:
            for queue in queues_with_callbacks(groups, codes):
                self.forwarder.forward_quietly(queue, store)
        return True


def by_queue(batch: Batch) -> dict[str, Batch]:
    groups: dict[str, Batch] = defaultdict(list)
    for job, outcome in batch:
        groups[job.queue].append((job, outcome))
    return groups


def write(
    store: Store, groups: dict[str, Batch], now: float, retention_s: float
) -> list[list[int]]:
    """The finish script's codes per queue, in the order of `groups`. Raises JobsUnavailable.
    A write is safe to repeat: the script answers an outcome it already wrote with the same
    code."""
    batches = [(queue, [o for _, o in items]) for queue, items in groups.items()]
    if len(batches) == 1:
        queue, outcomes = batches[0]
        return [store.finish(queue, outcomes, now, retention_s, day_of(now))]
    return store.finish_many(batches, now, retention_s, day_of(now))


def queues_with_callbacks(groups: dict[str, Batch], codes: list[list[int]]) -> list[str]:
    """The queues in which a job with a callback_url just ended (its delivery is due); logs
    each outcome that was dropped because its lease was lost."""
    queues = []
    for (queue, items), answered in zip(groups.items(), codes, strict=True):
        for (job, _), code in zip(items, answered, strict=True):
            if code == 0:
                log.warning("outcome of %s dropped: its lease was lost", job.job_id)
            elif job.job.callback and code in ENDED_CODES and queue not in queues:
                queues.append(queue)
    return queues


def gave_up(count: int, exc: Exception) -> None:
    if isinstance(exc, JobsUnavailable):
        log.error("gave up writing %d outcomes: %s", count, exc)
    else:
        # A bug, not an outage: retrying cannot help. The jobs are let go and their leases
        # expire, so they run again.
        log.error("cannot write %d outcomes; lease recovery reruns them", count, exc_info=exc)
