"""A client's wait for a job's end, pushed by Redis rather than polled.

A waiter reads the job and registers itself in one script call; the script that ends the job
(finish, cancel, recover's follow-up, an operator's delete) pushes one token per registered
waiter to the job's done list; the waiter blocks on that list (`BLPOP`) for the time it has
left, then reads the job once more. While it blocks it costs Redis nothing but its connection,
so waiters are bounded per process (`max_waiters`): past the bound a wait answers at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import redis

from .config import Settings, make_client
from .model import InvalidJob, JobNotFound, JobStatus, parse_job_id
from .options import is_number
from .record import decode_status
from .store import Store, StoredJob

#: the longest wait a client may ask for, seconds (API Gateway answers within 29 s)
MAX_WAIT_S = 25.0


class Waiters:
    """Waits for jobs' ends on a blocking client of its own, made on the first wait."""

    def __init__(
        self, store: Callable[[], Store], settings: Settings, clock: Callable[[], float]
    ) -> None:
        self._store = store
        self.settings = settings
        self.clock = clock
        self._slots = threading.BoundedSemaphore(max(1, settings.max_waiters))
        self._lock = threading.Lock()
        self._blocking: redis.Redis | redis.RedisCluster | None = None

    def wait(self, job_id: str, timeout: float) -> JobStatus:
        """The job's status as soon as it is COMPLETED or FAILED, or after `timeout` seconds
        (0-25) with its state then. When `max_waiters` waits of this process are under way,
        the status now. Raises InvalidJob (bad timeout), InvalidJobId, JobNotFound (at once
        for an unknown job), JobsUnavailable."""
        if not is_number(timeout) or not 0 <= timeout <= MAX_WAIT_S:
            raise InvalidJob(f"wait must be 0 to {MAX_WAIT_S:g} seconds, got {timeout!r}")
        queue, job_id = parse_job_id(job_id)
        store = self._store()
        if timeout == 0 or self.settings.max_waiters == 0 or not self._slots.acquire(False):
            return self._status(job_id, queue, store.read(queue, job_id))
        try:
            return self._wait(store, queue, job_id, time.monotonic() + float(timeout))
        finally:
            self._slots.release()

    def _wait(self, store: Store, queue: str, job_id: str, deadline: float) -> JobStatus:
        status = self._status(job_id, queue, store.wait_register(queue, job_id))
        registered = not status.finished
        while not status.finished:
            left_s = deadline - time.monotonic()
            if left_s <= 0 or not store.wait_done(queue, job_id, left_s, self._blocking_client()):
                read = store.wait_unregister if registered else store.read
                return self._status(job_id, queue, read(queue, job_id))
            # woken: the token was this waiter's registration
            status = self._status(job_id, queue, store.read(queue, job_id))
            registered = False
            if not status.finished and deadline > time.monotonic():
                # a token left by an earlier end of this job (an operator retried it since)
                status = self._status(job_id, queue, store.wait_register(queue, job_id))
                registered = not status.finished
        return status

    def _status(self, job_id: str, queue: str, stored: StoredJob | None) -> JobStatus:
        status = None
        if stored is not None:
            status = decode_status(job_id, queue, stored.record, self.clock(), stored.active)
        if status is None:
            raise JobNotFound(f"no job {job_id}")
        return status

    def _blocking_client(self) -> redis.Redis | redis.RedisCluster:
        """A client whose socket timeout outlasts the longest wait (a cluster client connects
        when made, so it is made on the first wait, not before)."""
        with self._lock:
            if self._blocking is None:
                self._blocking = make_client(self.settings, blocking_wait_s=MAX_WAIT_S)
            return self._blocking
