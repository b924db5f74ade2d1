"""The worker: several duties sharing one in-flight table, wired together here.

- fetch (the caller's thread, `fetch.py`): dequeue batches while there is room, else wait on
  Redis for work; run maintenance (recover, forward, trim) when it falls due;
- execute (`concurrency` threads, `execute.py`): run one handler at a time, name its outcome;
- flush (one thread, `flush.py`): write the outcomes gathered so far, one call per queue;
- lease keeping (one thread, `leases.py`): extend held jobs' leases, fail overrunning handlers;
- callbacks (`outbox.py`): jobs that ended with a callback_url become delivery jobs.
The same loop serves `JobController.start()` (until stopped) and `drain()` (until a deadline).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Mapping

from ..attempt import Handler
from ..config import Settings
from ..model import JobsUnavailable
from ..periodic import PeriodicEntry, Scheduler
from ..store import Store
from .deadline import within
from .execute import Executors
from .fetch import MAINTENANCE_INTERVAL_S, Fetcher, ShouldStop
from .flush import Flusher
from .inflight import Counters, Held, InFlight, Phase
from .leases import LeaseKeeper
from .outbox import CallbackForwarder

__all__ = ["MAINTENANCE_INTERVAL_S", "Counters", "Worker"]

log = logging.getLogger("chalicelib.jobs.worker")

#: after Redis errors, wait this long before the next try, doubling up to the maximum
REDIS_RETRY_S = 0.5
REDIS_RETRY_MAX_S = 5.0
#: when handing back, outcomes still unwritten after this long are left to lease recovery
HAND_BACK_WRITE_S = 1.0
#: the outcomes of a drain's last jobs get at least this long to be written, even past its
#: budget: a loaded machine's writes take a moment; a stalled Redis costs no more than this
HAND_BACK_MIN_WRITE_S = 0.2


class Worker:
    """Runs jobs of the configured queues with the registered handlers. One per controller."""

    def __init__(
        self,
        store: Store,
        handlers: Mapping[str, Handler],
        settings: Settings,
        clock: Callable[[], float] = time.time,
        periodic: Mapping[str, PeriodicEntry] | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.inflight = InFlight()
        self.executors = Executors(store, self.inflight, handlers, settings, clock)
        # periodic jobs' ticks are enqueued by the fetch duty, in long-running workers and drains
        scheduler = Scheduler(store, periodic, settings, clock) if periodic is not None else None
        # jobs that end with a callback_url become deliveries: after their outcomes are
        # written, and at maintenance for what others left in the outbox
        forwarder = CallbackForwarder.of(store, handlers, settings, clock)
        self.fetcher = Fetcher(
            store, self.inflight, self.executors.submit, settings, clock, scheduler, forwarder
        )
        self.flusher = Flusher(store, self.inflight, settings, clock, forwarder)
        self.leases = LeaseKeeper(store, self.inflight, self.executors, settings, clock)
        self._closed: threading.Event | None = None
        self._lock = threading.Lock()
        self.worker_id = ""

    @property
    def counters(self) -> Counters:
        return self.inflight.counters

    def register(self) -> str:
        """Make this a long-running worker that writes a heartbeat (see Store.workers); returns
        its id. A drain does not register: it lives for one invocation."""
        started_at = self.clock()
        worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        settings = self.settings

        def heartbeat() -> tuple[str, str]:
            executors = self.executors
            info = {
                "id": worker_id,
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "queues": list(settings.queues),
                "concurrency": settings.concurrency,
                "isolation": settings.isolation,
                "started_at": started_at,
                "last_seen": self.clock(),
                "running": self.inflight.running,
                "stuck": executors.stuck,
                "all_stuck": executors.all_stuck,
            }
            return worker_id, json.dumps(info, separators=(",", ":"))

        self.leases.heartbeat = heartbeat
        self.worker_id = worker_id
        return worker_id

    def ensure_threads(self) -> None:
        """Start the executor, flush and lease threads once (again after close())."""
        with self._lock:
            if self._closed is not None:
                return
            self._closed = closed = threading.Event()
            self.executors.start()
            for target, name in ((self.flusher.loop, "flush"), (self.leases.loop, "leases")):
                threading.Thread(
                    target=target, args=(closed,), name=f"jobs-{name}", daemon=True
                ).start()

    def run(
        self,
        should_stop: ShouldStop,
        deadline: float | None = None,
        calls_until: float | None = None,
    ) -> None:
        """Fetch and dispatch jobs until should_stop() or the monotonic `deadline`; a Redis call
        made before it is waited for until `calls_until` at the latest (default: `deadline`).
        While Redis is away, try again with a growing pause, and say so when the error
        changes."""
        self.ensure_threads()
        pause_s, last_error = REDIS_RETRY_S, ""
        while not should_stop():
            if deadline is not None and time.monotonic() >= deadline:
                return
            try:
                self.fetcher.fetch_once(should_stop, deadline, calls_until or deadline)
            except JobsUnavailable as exc:
                if should_stop():
                    return
                if str(exc) != last_error:
                    log.warning("%s; trying again (every %gs at most)", exc, REDIS_RETRY_MAX_S)
                    last_error = str(exc)
                if deadline is not None:
                    pause_s = min(pause_s, max(0.0, deadline - time.monotonic()))
                time.sleep(pause_s)
                pause_s = min(pause_s * 2, REDIS_RETRY_MAX_S)
                continue
            if last_error:
                log.warning("Redis answers again")
                pause_s, last_error = REDIS_RETRY_S, ""

    def maintain(self, now: float) -> None:
        """Recover expired leases, forward due jobs and trim expired ones, in every queue."""
        self.fetcher.maintain(now)

    def hand_back(self, wait_s: float, *, final: bool = False) -> tuple[int, list[str]]:
        """Stop work in progress within about `wait_s`: unstarted jobs go back to PENDING at
        once, and running ones get most of `wait_s` to finish.

        Without `final` (the end of a drain), handlers still running then are left to finish:
        the worker's threads write their outcomes later, under leases they keep extending, so
        no job runs twice. With `final` (the worker is stopping), their jobs go back to PENDING
        too, and their late outcomes are dropped; handlers in child processes are killed first.
        Returns how many jobs went back, and a description of each handler abandoned while it
        ran."""
        deadline = time.monotonic() + wait_s
        with self.fetcher.dequeuing:
            unstarted = self.inflight.hand_back(lambda job: job.phase is Phase.LEASED)
            self.inflight.wait_until_quiet(deadline - min(HAND_BACK_WRITE_S, wait_s / 2))
            running = self.inflight.hand_back(lambda job: final)
            now = time.monotonic()
            abandoned = [
                f"{job.job.job_type} {job.job_id} (running for {now - job.started:.1f}s)"
                for job in running
            ]
            if final:
                self.executors.stop(timeout_s=0.0)  # kills handlers in child processes
            writes_until = max(deadline, time.monotonic() + HAND_BACK_MIN_WRITE_S)
            self.flusher.flush(give_up_s=writes_until - time.monotonic())
            return self._requeue(unstarted + running, writes_until), abandoned

    def _requeue(self, jobs: list[Held], deadline: float) -> int:
        groups: dict[tuple[str, str], list[str]] = defaultdict(list)
        for job in jobs:
            groups[(job.queue, job.token)].append(job.job_id)
        moved = 0
        for (queue, token), ids in groups.items():
            try:
                moved += within(deadline, self.store.requeue, queue, token, ids)
            except JobsUnavailable as exc:
                log.warning(
                    "handing back %d jobs is not confirmed (%s): if it did not go through, "
                    "their leases expire and they return to PENDING untried",
                    len(ids),
                    exc,
                )
        self.inflight.forget(jobs)
        return moved

    def close(self) -> None:
        """End the worker's threads (running handlers finish in the background)."""
        with self._lock:
            closed, self._closed = self._closed, None
            if closed is None:
                return
            closed.set()
            self.executors.stop(timeout_s=0.0)
            if self.leases.heartbeat is not None:
                self.leases.heartbeat = None
                try:
                    self.store.forget_worker(self.worker_id)
                except JobsUnavailable as exc:
                    log.warning("cannot remove this worker's heartbeat: %s", exc)
            with self.inflight.lock:
                self.inflight.outcome_ready.notify_all()
