"""Taking jobs from Redis and the maintenance passes: steps the coordinator runs, each one Redis
round trip (or a few), none of them waiting for work.

- take(): a batch across the queues, by weight or strictly in order;
- release_unconfirmed(): put back what a dequeue whose reply was lost took;
- maintain(): recover expired leases, forward due jobs, trim, and enqueue the callbacks left in
  the outbox.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ..config import Settings
from ..model import JobsUnavailable
from ..store import AttemptOutcome, Store
from .outbox import CallbackForwarder
from .priority import QueuePicker, interleave
from .table import BATCH_MAX, Held

log = logging.getLogger("chalicelib.jobs.worker")

#: maintenance (recover, forward, trim) at least this often
MAINTENANCE_INTERVAL_S = 5.0
#: how many times a dequeue whose reply was lost is released (see release_unconfirmed)
RELEASES = 3
RELEASE_GAP_S = 0.5


def day_of(now: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(now))


@dataclass
class Taken:
    """A batch: the jobs taken, and whether the queues may hold more."""

    jobs: list[Held] = field(default_factory=list)
    #: every queue gave as many as asked: more may be waiting
    more: bool = False
    #: earliest time a scheduled or retry job falls due or a lease expires, as seen
    next_due: float | None = None


class Fetcher:
    """Dequeues and maintenance of a worker's queues. The coordinator's alone."""

    def __init__(
        self,
        settings: Settings,
        clock: Callable[[], float],
        forwarder: CallbackForwarder | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.forwarder = forwarder
        #: dequeues whose reply was lost: (queue, token, lease expiry, releases left, monotonic
        #: time of the next release)
        self.unconfirmed: list[tuple[str, str, float, int, float]] = []
        self.picker = QueuePicker(settings.queues, settings.weights)

    def take_after_writing(
        self, store: Store, room: int, outcomes: Sequence[AttemptOutcome], retention_s: float
    ) -> tuple[list[int], Taken]:
        """Write a queue's outcomes and take up to `room` jobs of it, in one round trip (a
        worker of one queue). Returns the finish script's codes and the batch. Raises
        JobsUnavailable: the outcomes may or may not be written (a repeat is safe) and the
        batch is released later."""
        queue = self.settings.queues[0]
        taken = Taken()
        token = uuid.uuid4().hex
        now = self.clock()
        lease_until = now + self.settings.lease
        want = min(room, BATCH_MAX)
        try:
            codes, batch = store.finish_and_dequeue(
                queue, outcomes, now, retention_s, day_of(now), want, lease_until, token
            )
        except JobsUnavailable:
            self.unconfirmed.append((queue, token, lease_until, RELEASES, 0.0))
            raise
        _note_due(taken, batch.next_due)
        taken.jobs = [Held(job, queue, token) for job in batch.jobs]
        taken.more = len(taken.jobs) >= want
        return codes, taken

    def take(self, store: Store, room: int) -> Taken:
        """Up to `room` jobs: across the queues by weight, or strictly in their order
        (`strict_priority`). Raises JobsUnavailable (the batch is then released later)."""
        taken = Taken()
        want = min(room, BATCH_MAX)
        if self.settings.strict_priority or len(self.settings.queues) == 1:
            taken.jobs = self._take_in_order(store, self.settings.queues, want, taken)
        else:
            taken.jobs = self._take_weighted(store, want, taken)
        taken.more = len(taken.jobs) >= want
        return taken

    def _take_in_order(
        self, store: Store, queues: Sequence[str], room: int, taken: Taken
    ) -> list[Held]:
        """Up to `room` jobs, from each queue only when those before it had too few."""
        held: list[Held] = []
        for queue in queues:
            want = room - len(held)
            if want <= 0:
                break
            token = uuid.uuid4().hex
            now = self.clock()
            lease_until = now + self.settings.lease
            try:
                batch = store.dequeue(queue, want, now, lease_until, token)
            except JobsUnavailable:
                # The call may still run on the server (a stalled Redis runs it when it
                # wakes up): release what it took once Redis answers again.
                self.unconfirmed.append((queue, token, lease_until, RELEASES, 0.0))
                raise
            _note_due(taken, batch.next_due)
            held += [Held(job, queue, token) for job in batch.jobs]
        return held

    def _take_weighted(self, store: Store, room: int, taken: Taken) -> list[Held]:
        """Up to `room` jobs, each queue's share by its weight, in one round trip; a queue
        that had too few leaves its share to the others (heaviest first), in one more."""
        plan = self.picker.plan(room)
        now = self.clock()
        lease_until = now + self.settings.lease
        wants = [(queue, n, uuid.uuid4().hex) for queue, n in Counter(plan).items()]
        try:
            batches = store.dequeue_many(wants, now, lease_until)
        except JobsUnavailable:
            self.unconfirmed += [(q, token, lease_until, RELEASES, 0.0) for q, _, token in wants]
            raise
        by_queue: dict[str, list[Held]] = {}
        for (queue, _, token), batch in zip(wants, batches, strict=True):
            _note_due(taken, batch.next_due)
            by_queue[queue] = [Held(job, queue, token) for job in batch.jobs]
        short = len(plan) - sum(len(jobs) for jobs in by_queue.values())
        full = [q for q, n, _ in wants if len(by_queue[q]) == n]
        extra: list[Held] = []
        if short > 0 and full:
            full.sort(key=self.picker.weights.__getitem__, reverse=True)
            extra = self._take_in_order(store, full, short, taken)
        return interleave(plan, by_queue, extra)

    def next_release(self) -> float | None:
        """When the next release of a lost dequeue is due (monotonic), None for none."""
        return min((entry[4] for entry in self.unconfirmed), default=None)

    def release_unconfirmed(self, store: Store) -> None:
        """Put back the jobs of dequeues whose reply was lost. Each is released RELEASES times,
        a moment apart: a stalled server may run the lost call only after the first release."""
        keep = []
        for queue, token, lease_until, left, next_at in self.unconfirmed:
            if time.monotonic() < next_at:
                keep.append((queue, token, lease_until, left, next_at))
                continue
            moved = store.release(queue, token, lease_until)
            if moved:
                log.warning("queue %s: %d jobs of a lost dequeue back to PENDING", queue, moved)
            if left > 1:
                keep.append((queue, token, lease_until, left - 1, time.monotonic() + RELEASE_GAP_S))
        self.unconfirmed = keep

    def maintain(self, store: Store, now: float) -> None:
        """Recover expired leases, forward due jobs and trim expired ones, in every queue."""
        settings = self.settings
        for queue in settings.queues:
            charged, returned, forwarded, trimmed = store.maintain(
                queue,
                now,
                day_of(now),
                failed_keep_since=now - settings.failed_retention,
                failed_keep_count=settings.failed_max,
            )
            if charged or returned:
                log.warning(
                    "queue %s: leases expired: %d started jobs charged an attempt, %d unstarted "
                    "jobs back to PENDING",
                    queue, charged, returned,
                )  # fmt: skip
            if forwarded or trimmed:
                log.debug("queue %s: forwarded %d, trimmed %d", queue, forwarded, trimmed)
            if self.forwarder is not None:
                self.forwarder.forward(queue, store)


def _note_due(taken: Taken, due: float | None) -> None:
    if due is not None and (taken.next_due is None or due < taken.next_due):
        taken.next_due = due
