"""The flush duty: write the outcomes gathered so far, one finish script call per queue, and keep
trying while Redis is away (for as long as the jobs' leases last)."""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace

from ..config import Settings
from ..model import JobState, JobsUnavailable
from ..store import AttemptOutcome, Store
from .deadline import within
from .fetch import day_of
from .inflight import Held, InFlight
from .outbox import CallbackForwarder

log = logging.getLogger("chalicelib.jobs.worker")

#: a flush waits up to this long for up to this many outcomes while more jobs are running
FLUSH_LINGER_S = 0.002
FLUSH_BATCH = 100
#: after a failed write, wait this long before the next try
WRITE_RETRY_S = 0.5

Batch = list[tuple[Held, AttemptOutcome]]
#: the finish script's answers for a job that ended (its callback is due)
ENDED_CODES = (int(JobState.COMPLETED), int(JobState.FAILED))


class Flusher:
    """Writes outcomes in batches: one thread in the background, and `flush()` on demand."""

    def __init__(
        self,
        store: Store,
        inflight: InFlight,
        settings: Settings,
        clock: Callable[[], float],
        forwarder: CallbackForwarder | None = None,
    ) -> None:
        self.store = store
        self.inflight = inflight
        self.settings = settings
        self.clock = clock
        self.forwarder = forwarder

    def loop(self, closed: threading.Event) -> None:
        """Write batches until `closed` is set and nothing is left to write."""
        inflight = self.inflight
        while True:
            with inflight.lock:
                while not inflight.outcomes:
                    if closed.is_set():
                        return
                    inflight.outcome_ready.wait()
                # While more jobs are about to finish, gather them: one write for many.
                linger_until = time.monotonic() + FLUSH_LINGER_S
                while len(inflight.outcomes) < FLUSH_BATCH and inflight.unfinished > 0:
                    left = linger_until - time.monotonic()
                    if left <= 0:
                        break
                    inflight.outcome_ready.wait(left)
                batch, inflight.outcomes = inflight.outcomes, []
                inflight.writing += 1
            try:
                self.write(batch)
            finally:
                with inflight.lock:
                    inflight.writing -= 1
                    inflight.written.notify_all()

    def flush(self, give_up_s: float | None = None) -> None:
        """Write every outcome gathered so far; wait (as long) for writes under way elsewhere."""
        inflight = self.inflight
        with inflight.lock:
            batch, inflight.outcomes = inflight.outcomes, []
        if batch:
            self.write(batch, give_up_s)
        wait_until = time.monotonic() + (self.settings.lease if give_up_s is None else give_up_s)
        with inflight.written:
            while inflight.writing and time.monotonic() < wait_until:
                inflight.written.wait(max(0.0, wait_until - time.monotonic()))

    def write(self, batch: Batch, give_up_s: float | None = None) -> None:
        """Write outcomes, retrying while Redis is away. Past the lease (or give_up_s) the jobs
        are left to lease recovery, which runs them again: delivery is at least once."""
        give_up_at = time.monotonic() + (self.settings.lease if give_up_s is None else give_up_s)
        by_queue: dict[str, Batch] = defaultdict(list)
        for job, outcome in batch:
            by_queue[job.queue].append((job, outcome))
        written = self._write_queues(by_queue, give_up_at)
        with_callbacks = []
        for index, (queue, items) in enumerate(by_queue.items()):
            codes = None if written is None else written[index]
            if codes is not None:
                for (job, _), code in zip(items, codes, strict=True):
                    if code == 0:
                        log.warning("outcome of %s dropped: its lease was lost", job.job_id)
                    elif job.job.callback and code in ENDED_CODES and queue not in with_callbacks:
                        with_callbacks.append(queue)
            self.inflight.written_out(items, codes)
        if self.forwarder is not None:
            for queue in with_callbacks:
                self.forwarder.forward_quietly(queue)

    def _write_queues(
        self, by_queue: dict[str, Batch], give_up_at: float
    ) -> list[list[int]] | None:
        """The finish script's codes per queue (all queues in one round trip), or None when
        Redis never confirmed the write. A write is safe to repeat: the script answers an
        outcome it already wrote with the same code."""
        count = sum(len(items) for items in by_queue.values())
        # a unique job's lock is named here: the script may touch only keys in KEYS
        batches = [
            (queue, [replace(o, unique=j.job.unique, progress=j.progress) for j, o in items])
            for queue, items in by_queue.items()
        ]
        while True:
            now = self.clock()
            try:
                retention_s = self.settings.retention
                if len(batches) == 1:
                    queue, outcomes = batches[0]
                    finish = self.store.finish
                    return [
                        within(give_up_at, finish, queue, outcomes, now, retention_s, day_of(now))
                    ]
                finish_many = self.store.finish_many
                return within(give_up_at, finish_many, batches, now, retention_s, day_of(now))
            except JobsUnavailable as exc:
                if time.monotonic() >= give_up_at:
                    log.error("gave up writing %d outcomes: %s", count, exc)
                    return None
                log.warning("cannot write %d outcomes yet: %s", count, exc)
                time.sleep(WRITE_RETRY_S)
            except Exception:
                # A bug, not an outage: retrying cannot help. The jobs are let go and their
                # leases expire, so they run again.
                log.exception("cannot write %d outcomes; lease recovery reruns them", count)
                return None
