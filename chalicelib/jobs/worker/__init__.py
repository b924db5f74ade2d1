"""The worker: one coordinator that owns the jobs in flight, and the threads that serve it.

- the coordinator (`coordinator.py`, one thread): takes batches, hands jobs to the slots, writes
  outcomes, records starts, extends leases, fails overruns, runs maintenance and periodic ticks,
  each a step of one loop over the in-flight table (`table.py`);
- the handler slots (`slots.py`, `concurrency` threads): run one handler at a time and tell the
  coordinator when it started and how it ended;
- the waiter (`waiter.py`, one thread): blocks on Redis for work while the queues are empty.
So a worker runs `concurrency` + 2 threads (and up to 2 more while handlers hang past their
timeout). The same loop serves `JobController.start()` (until stopped) and `drain()` (until a
deadline).
"""

from __future__ import annotations

import concurrent.futures
import json
import logging
import os
import queue as queue_module
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from ..attempt import Handler
from ..client import JobClient
from ..config import Settings, make_client
from ..model import JobsUnavailable
from ..periodic import PeriodicEntry, Scheduler
from ..store import Store
from .coordinator import CLOSE, HAND_BACK, SERVE, Coordinator
from .deadline import Bounded
from .fetch import MAINTENANCE_INTERVAL_S, Fetcher
from .handback import Answer
from .outbox import CallbackForwarder
from .slots import Slots
from .table import Counters, Table

__all__ = ["Counters", "Worker"]

log = logging.getLogger("chalicelib.jobs.worker")

#: a closing coordinator writes the outcomes it has for this long at most
CLOSE_WRITE_S = 0.5
#: how long past its own bound a request to the coordinator is waited for (a loaded machine)
ANSWER_MARGIN_S = 5.0


class Worker:
    """Runs jobs of the configured queues with the registered handlers. One per controller."""

    def __init__(
        self,
        store: Store,
        handlers: Mapping[str, Handler],
        settings: Settings,
        clock: Callable[[], float] = time.time,
        periodic: Mapping[str, PeriodicEntry] | None = None,
        bounded_store: Callable[[float], Store] | None = None,
    ) -> None:
        """`bounded_store(seconds)` makes a store whose calls time out within that bound, for
        the calls near a drain's deadline (default: the worker's store)."""
        self.store = store
        self.handlers = handlers
        self.settings = settings
        self.clock = clock
        self.periodic = periodic
        self.bounded = Bounded(store, bounded_store or (lambda _: store))
        self.inflight = Table(settings.concurrency)
        self._inbox: queue_module.SimpleQueue[tuple[Any, ...]] = queue_module.SimpleQueue()
        self.slots = Slots(self.inflight, handlers, settings, clock, self._inbox.put)
        self.coordinator: Coordinator | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.worker_id = ""
        self._heartbeat: Callable[[], tuple[str, str]] | None = None
        #: serve() runs until handed back: a drain meanwhile only waits for its end
        self._serving = False

    @classmethod
    def connected(
        cls,
        settings: Settings,
        handlers: Mapping[str, Handler],
        clock: Callable[[], float],
        periodic: Mapping[str, PeriodicEntry] | None,
    ) -> Worker:
        """A worker with clients of its own: one whose timeout outlasts a blocking wait for
        work, the bounded ones of a drain's end, and none resending a command whose answer was
        lost (a resent dequeue would take a second batch)."""
        client = make_client(settings, retry=False)
        blocking = make_client(settings, blocking_wait_s=MAINTENANCE_INTERVAL_S, retry=False)
        store = Store(client, settings.key_prefix, blocking)

        def bounded_store(timeout_s: float) -> Store:
            return store.sharing_scripts(make_client(settings, retry=False, timeout_s=timeout_s))

        return cls(store, handlers, settings, clock, periodic, bounded_store)

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
            slots = self.slots
            info = {
                "id": worker_id,
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "queues": list(settings.queues),
                "concurrency": settings.concurrency,
                "isolation": settings.isolation,
                "started_at": started_at,
                "last_seen": self.clock(),
                "running": self.inflight.in_slots,
                "stuck": slots.stuck,
                "all_stuck": slots.all_stuck,
            }
            return worker_id, json.dumps(info, separators=(",", ":"))

        self._heartbeat = heartbeat
        if self.coordinator is not None:
            self.coordinator.heartbeat = heartbeat
        self.worker_id = worker_id
        return worker_id

    def ensure_threads(self) -> None:
        """Start the coordinator, the slots and the waiter once (again after close())."""
        with self._lock:
            if self._thread is not None:
                return
            settings = self.settings
            # what a closed coordinator held is left to lease recovery
            self.inflight.forget_in_flight()
            client = JobClient(lambda: self.store, settings, self.handlers, self.clock)
            scheduler = (
                Scheduler(client, self.periodic, settings, self.clock)
                if self.periodic is not None
                else None
            )
            # jobs that end with a callback_url become deliveries: after their outcomes are
            # written, and at maintenance for what others left in the outbox
            forwarder = CallbackForwarder.of(self.store, self.handlers, settings, self.clock)
            fetcher = Fetcher(settings, self.clock, forwarder)
            inbox: queue_module.SimpleQueue[tuple[Any, ...]] = queue_module.SimpleQueue()
            self._inbox = inbox
            self.slots.post = inbox.put
            self.slots.start()
            self.coordinator = Coordinator(
                self.bounded, self.inflight, self.slots, fetcher, settings, self.clock,
                scheduler, forwarder, inbox,
            )  # fmt: skip
            self.coordinator.heartbeat = self._heartbeat
            self._thread = threading.Thread(
                target=self.coordinator.loop, name="jobs-coordinator", daemon=True
            )
            self._thread.start()

    def serve(self) -> None:
        """Take and run jobs until handed back (see hand_back)."""
        self.ensure_threads()
        self._serving = True
        self._inbox.put((SERVE, None, None, None))

    def drain(self, fetch_until: float, finish_until: float) -> tuple[int, list[str]]:
        """Take and run jobs until the monotonic time `fetch_until`, then hand back what is
        left within `finish_until` (Redis calls are waited for until then at the latest).
        Returns what hand_back returns. While the worker serves (started), this only waits
        until `finish_until`: the jobs are the started worker's."""
        if self._serving:
            time.sleep(max(0.0, finish_until - time.monotonic()))
            return 0, []
        self.ensure_threads()
        answer: Answer = concurrent.futures.Future()
        self._inbox.put((SERVE, fetch_until, finish_until, answer))
        try:
            return answer.result(
                timeout=max(0.0, finish_until - time.monotonic()) + ANSWER_MARGIN_S
            )
        except concurrent.futures.TimeoutError:
            log.error("the worker did not end its drain in time")
            return 0, []

    def maintain(self, now: float) -> None:
        """Recover expired leases, forward due jobs and trim expired ones, in every queue, now
        and in the caller's thread."""
        forwarder = CallbackForwarder.of(self.store, self.handlers, self.settings, self.clock)
        Fetcher(self.settings, self.clock, forwarder).maintain(self.store, now)

    def hand_back(self, wait_s: float, *, final: bool = False) -> tuple[int, list[str]]:
        """Stop taking work, and let go of the jobs in flight within about `wait_s` (see
        handback.py). Returns how many jobs went back to PENDING, and a description of each
        handler abandoned while it ran."""
        if self._thread is None:
            return 0, []
        self._serving = False
        answer: Answer = concurrent.futures.Future()
        self._inbox.put((HAND_BACK, wait_s, final, answer))
        try:
            return answer.result(timeout=wait_s + ANSWER_MARGIN_S)
        except concurrent.futures.TimeoutError:
            log.error("the worker did not hand its jobs back in time")
            return 0, []

    def close(self) -> None:
        """End the worker's threads (running handlers finish in the background)."""
        with self._lock:
            thread, self._thread = self._thread, None
            if thread is None:
                return
            self._inbox.put((CLOSE, CLOSE_WRITE_S))
            thread.join(timeout=CLOSE_WRITE_S + ANSWER_MARGIN_S)
            self.slots.stop(timeout_s=0.0)
            if self._heartbeat is not None:
                self._heartbeat = None
                try:
                    self.store.forget_worker(self.worker_id)
                except JobsUnavailable as exc:
                    log.warning("cannot remove this worker's heartbeat: %s", exc)
