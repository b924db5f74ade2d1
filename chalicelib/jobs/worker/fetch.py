"""The fetch duty: take batches of jobs while there is room, else wait on Redis for work; run
maintenance (recover expired leases, forward due jobs, trim, enqueue callbacks left in the
outbox) when it falls due."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence

from ..config import Settings
from ..model import JobsUnavailable
from ..periodic import Scheduler
from ..store import Store
from .deadline import within
from .inflight import Held, InFlight
from .outbox import CallbackForwarder
from .priority import QueuePicker, interleave

log = logging.getLogger("chalicelib.jobs.worker")

#: most jobs taken in one dequeue call
BATCH_MAX = 200
#: a worker holds, beyond its running jobs, about this many seconds of work (see prefetch())
PREFETCH_WINDOW_S = 0.05
#: maintenance (recover, forward, trim) at least this often
MAINTENANCE_INTERVAL_S = 5.0
#: how many times a dequeue whose reply was lost is released (see release_unconfirmed)
RELEASES = 3
RELEASE_GAP_S = 0.5
#: Redis ends a blocking wait up to about this late (its timers run ten times a second)
BLOCKING_WAIT_LATE_S = 0.12

ShouldStop = Callable[[], bool]


def day_of(now: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(now))


class Fetcher:
    """Feeds the executors with jobs from Redis. Runs in the caller's thread."""

    def __init__(
        self,
        store: Store,
        inflight: InFlight,
        submit: Callable[[Sequence[Held]], None],
        settings: Settings,
        clock: Callable[[], float],
        scheduler: Scheduler | None = None,
        forwarder: CallbackForwarder | None = None,
    ) -> None:
        self.store = store
        self.scheduler = scheduler
        self.forwarder = forwarder
        #: when the next periodic tick falls due (0: look now)
        self.next_tick = 0.0
        self.inflight = inflight
        self.submit = submit
        self.settings = settings
        self.clock = clock
        self.next_maintenance = 0.0
        #: earliest time a scheduled or retry job falls due or a lease expires, as last seen
        self.next_due: float | None = None
        #: held while dequeuing: a hand-back takes it so that no batch arrives mid-way
        self.dequeuing = threading.Lock()
        #: dequeues whose reply was lost: (queue, token, lease expiry, releases left, monotonic
        #: time of the next release)
        self.unconfirmed: list[tuple[str, str, float, int, float]] = []
        self.picker = QueuePicker(settings.queues, settings.weights)

    def fetch_once(
        self, should_stop: ShouldStop, deadline: float | None, calls_until: float | None = None
    ) -> None:
        """One turn: maintenance if due, then a batch if there is room, else a wait for work.
        Starts no wait past the monotonic `deadline`; waits for no Redis answer past
        `calls_until`."""
        if self.unconfirmed:
            self.release_unconfirmed(calls_until)
        now = self.clock()
        if now >= self.next_maintenance or (self.next_due is not None and now >= self.next_due):
            self.maintain(now, calls_until)
        if self.scheduler is not None and now >= self.next_tick:
            self.scheduler.run(now)
            self.next_tick = self.scheduler.next_at(now) or now + MAINTENANCE_INTERVAL_S
        room = self._wait_for_room(should_stop, deadline)
        if room <= 0:
            return
        if self._dequeue(room, should_stop, calls_until):
            return
        wait_s = self.next_maintenance - self.clock()
        if self.next_due is not None:
            wait_s = min(wait_s, self.next_due - self.clock())
        if self.scheduler is not None:
            wait_s = min(wait_s, self.next_tick - self.clock())
        if deadline is not None:
            left_s = deadline - time.monotonic()
            if left_s < BLOCKING_WAIT_LATE_S:
                # too close to the deadline to block on Redis, whose timeout may come late:
                # the drain is ending anyway
                time.sleep(max(0.0, left_s))
                return
            wait_s = min(wait_s, left_s - BLOCKING_WAIT_LATE_S)
        if wait_s > 0 and not should_stop():
            queues = self.settings.queues
            woken_for = within(calls_until, self.store.wait_for_work, queues, wait_s)
            past_deadline = deadline is not None and time.monotonic() >= deadline
            if woken_for is not None and (should_stop() or past_deadline):
                # not ours to act on: for the next idle worker (if this fails, the next
                # enqueue or dequeue re-arms the wake list anyway)
                with contextlib.suppress(JobsUnavailable):
                    within(calls_until, self.store.wake, woken_for)

    def prefetch(self) -> int:
        """How many jobs to hold beyond those running: about PREFETCH_WINDOW_S of work.

        Quick jobs come in batches of up to BATCH_MAX (a round trip per batch, not per job);
        slow ones are taken only as threads free up, so they stay PENDING for other workers
        instead of waiting, ACTIVE, behind this worker's running jobs."""
        concurrency = self.settings.concurrency
        mean_s = self.inflight.mean_run_s
        if mean_s is None:
            return concurrency
        return min(BATCH_MAX, int(concurrency * PREFETCH_WINDOW_S / max(mean_s, 1e-6)))

    def _wait_for_room(self, should_stop: ShouldStop, deadline: float | None) -> int:
        """Block until the worker holds few enough jobs that a batch is worth taking; return
        how many to take."""
        inflight = self.inflight
        with inflight.room:
            while not should_stop():
                prefetch = self.prefetch()
                room = self.settings.concurrency + prefetch - inflight.unfinished
                if room >= max(1, prefetch // 2):
                    return room
                timeout = 0.1 if deadline is None else min(0.1, deadline - time.monotonic())
                if timeout <= 0:
                    return 0
                inflight.room.wait(timeout)
            return 0

    def _dequeue(self, room: int, should_stop: ShouldStop, deadline: float | None) -> bool:
        """Take up to `room` jobs: across the queues by weight, or strictly in their order
        (`strict_priority`); True when any were taken."""
        due: list[float] = []
        with self.dequeuing:
            if should_stop():
                return False
            if self.settings.strict_priority or len(self.settings.queues) == 1:
                held = self._take_in_order(self.settings.queues, room, due, deadline)
            else:
                held = self._take_weighted(room, due, deadline)
            self.inflight.add(held)
            self.submit(held)
        self.next_due = min(due) if due else None
        return bool(held)

    def _take_in_order(
        self, queues: Sequence[str], room: int, due: list[float], deadline: float | None = None
    ) -> list[Held]:
        """Up to `room` jobs, from each queue only when those before it had too few."""
        held: list[Held] = []
        for queue in queues:
            want = min(room - len(held), BATCH_MAX)
            if want <= 0:
                break
            token = uuid.uuid4().hex
            now = self.clock()
            lease_until = now + self.settings.lease
            try:
                batch = within(deadline, self.store.dequeue, queue, want, now, lease_until, token)
            except JobsUnavailable:
                # The call may still run on the server (a stalled Redis runs it when it
                # wakes up): release what it took once Redis answers again.
                self.unconfirmed.append((queue, token, lease_until, RELEASES, 0.0))
                raise
            if batch.next_due is not None:
                due.append(batch.next_due)
            held += [Held(job, queue, token) for job in batch.jobs]
        return held

    def _take_weighted(self, room: int, due: list[float], deadline: float | None) -> list[Held]:
        """Up to `room` jobs, each queue's share by its weight, in one round trip; a queue
        that had too few leaves its share to the others (heaviest first), in one more."""
        plan = self.picker.plan(min(room, BATCH_MAX))
        now = self.clock()
        lease_until = now + self.settings.lease
        wants = [(queue, n, uuid.uuid4().hex) for queue, n in Counter(plan).items()]
        try:
            batches = within(deadline, self.store.dequeue_many, wants, now, lease_until)
        except JobsUnavailable:
            self.unconfirmed += [(q, token, lease_until, RELEASES, 0.0) for q, _, token in wants]
            raise
        taken: dict[str, list[Held]] = {}
        for (queue, _, token), batch in zip(wants, batches, strict=True):
            if batch.next_due is not None:
                due.append(batch.next_due)
            taken[queue] = [Held(job, queue, token) for job in batch.jobs]
        short = len(plan) - sum(len(jobs) for jobs in taken.values())
        full = [q for q, n, _ in wants if len(taken[q]) == n]
        extra: list[Held] = []
        if short > 0 and full:
            full.sort(key=self.picker.weights.__getitem__, reverse=True)
            extra = self._take_in_order(full, short, due, deadline)
        return interleave(plan, taken, extra)

    def release_unconfirmed(self, deadline: float | None = None) -> None:
        """Put back the jobs of dequeues whose reply was lost. Each is released RELEASES times,
        a moment apart: a stalled server may run the lost call only after the first release."""
        keep = []
        for queue, token, lease_until, left, next_at in self.unconfirmed:
            if time.monotonic() < next_at:
                keep.append((queue, token, lease_until, left, next_at))
                continue
            moved = within(deadline, self.store.release, queue, token, lease_until)
            if moved:
                log.warning("queue %s: %d jobs of a lost dequeue back to PENDING", queue, moved)
            if left > 1:
                keep.append((queue, token, lease_until, left - 1, time.monotonic() + RELEASE_GAP_S))
        self.unconfirmed = keep

    def maintain(self, now: float, deadline: float | None = None) -> None:
        """Recover expired leases, forward due jobs and trim expired ones, in every queue."""
        settings = self.settings
        for queue in settings.queues:
            charged, returned, forwarded, trimmed = within(
                deadline,
                self.store.maintain,
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
                within(deadline, self.forwarder.forward, queue)
        self.next_maintenance = now + MAINTENANCE_INTERVAL_S
        self.next_due = None
