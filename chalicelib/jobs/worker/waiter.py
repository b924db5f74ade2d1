"""The wait for work: one thread that blocks on Redis (the queues' wake lists) when the
coordinator found the queues empty, and tells it when work arrives. The coordinator itself
never blocks on Redis for work, so it goes on writing outcomes and keeping leases meanwhile."""

from __future__ import annotations

import contextlib
import logging
import queue as queue_module
import threading
from collections.abc import Callable, Sequence
from typing import Any

from ..model import JobsUnavailable
from ..store import Store

log = logging.getLogger("chalicelib.jobs.worker")

#: what the waiter posts: ("woken", queue whose token it took, or None; error text or "")
WOKEN = "woken"


class Waiter:
    """Waits on Redis when asked, one wait at a time; posts the answer to the coordinator."""

    def __init__(
        self, store: Store, queues: Sequence[str], post: Callable[[tuple[Any, ...]], None]
    ) -> None:
        self.store = store
        self.queues = queues
        self.post = post
        self._asks: queue_module.SimpleQueue[float | None] = queue_module.SimpleQueue()
        self._closed = threading.Event()
        #: a wait was asked and its answer not yet posted (the coordinator's flag)
        self.busy = False

    def start(self) -> None:
        threading.Thread(target=self._loop, name="jobs-waiter", daemon=True).start()

    def ask(self, timeout_s: float) -> None:
        """Wait up to `timeout_s` for work (the coordinator's call)."""
        self.busy = True
        self._asks.put(timeout_s)

    def close(self) -> None:
        """End the thread once its wait (at most MAINTENANCE_INTERVAL_S) is over; a wake token
        it takes then is put back for another worker."""
        self._closed.set()
        self._asks.put(None)

    def _loop(self) -> None:
        while True:
            timeout_s = self._asks.get()
            if timeout_s is None:
                return
            try:
                woken_for = self.store.wait_for_work(self.queues, timeout_s)
                error = ""
            except JobsUnavailable as exc:
                woken_for, error = None, str(exc)
            if self._closed.is_set():
                if woken_for is not None:
                    # not ours to act on: for the next idle worker (if this fails, the next
                    # enqueue or dequeue re-arms the wake list anyway)
                    with contextlib.suppress(JobsUnavailable):
                        self.store.wake(woken_for)
                return
            self.post((WOKEN, woken_for, error))
