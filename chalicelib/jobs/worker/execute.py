"""The execute duty: `concurrency` threads, each running one handler at a time and turning what
it did into an outcome for the flush duty to write."""

from __future__ import annotations

import logging
import queue as queue_module
import threading
import time
from collections.abc import Callable, Mapping, Sequence

from ..attempt import Handler, backoff_s, describe_error, run_handler
from ..config import Settings
from ..record import Outcome
from ..store import AttemptOutcome
from .inflight import Held, InFlight

log = logging.getLogger("chalicelib.jobs.worker")


class Executors:
    """The handler threads. A thread whose handler overran is replaced at once and retires
    when (if ever) its handler returns."""

    def __init__(
        self,
        inflight: InFlight,
        handlers: Mapping[str, Handler],
        settings: Settings,
        clock: Callable[[], float],
    ) -> None:
        self.inflight = inflight
        self.handlers = handlers
        self.settings = settings
        self.clock = clock
        self._ready: queue_module.SimpleQueue[Held | None] = queue_module.SimpleQueue()
        #: handler threads alive, stuck ones included
        self.threads = 0
        self._serial = 0
        self._count_lock = threading.Lock()

    def start(self) -> None:
        """Start `concurrency` threads, on a fresh queue: an old one may still hold the stop
        markers of stuck threads."""
        self._ready = queue_module.SimpleQueue()
        for _ in range(self.settings.concurrency):
            self.spawn()

    @property
    def stuck(self) -> int:
        """Threads whose handler overran its timeout and has not returned yet."""
        return max(0, self.threads - self.settings.concurrency)

    def spawn(self) -> None:
        with self._count_lock:
            self.threads += 1
            self._serial += 1
        thread = threading.Thread(target=self._loop, name=f"jobs-exec-{self._serial}", daemon=True)
        thread.start()

    def submit(self, jobs: Sequence[Held]) -> None:
        for job in jobs:
            self._ready.put(job)

    def stop(self) -> None:
        """Ask every thread to end once its handler returns."""
        with self._count_lock:
            for _ in range(self.threads):
                self._ready.put(None)
            self.threads = 0

    def timeout_s(self, job: Held) -> float:
        return job.job.timeout_s or self.settings.timeout

    def _loop(self) -> None:
        ready = self._ready
        while True:
            job = ready.get()
            if job is None:
                return
            if not self.inflight.begin(job, self.timeout_s(job)):
                continue
            try:
                outcome = self.attempt(job)
            except BaseException as exc:  # noqa: BLE001 - no job may take its thread down
                log.exception("running %s failed outside its handler", job.job_id)
                outcome = self.failure(job, Outcome.RETRY, describe_error(exc))
            if self.inflight.end(job, outcome, time.monotonic() - job.started):
                log.info("dropped the late outcome of %s: it overran its timeout", job.job_id)
                with self._count_lock:
                    self.threads = max(0, self.threads - 1)
                return

    def attempt(self, job: Held) -> AttemptOutcome:
        """Run the job's handler and say how the attempt ended. Never raises."""
        handler = self.handlers.get(job.job.job_type)
        outcome, payload = run_handler(handler, job.job.job_type, job.job.params_json)
        if outcome is Outcome.DONE:
            return AttemptOutcome(job.job_id, job.token, outcome, payload)
        return self.failure(job, outcome, payload)

    def failure(self, job: Held, outcome: Outcome, error: str) -> AttemptOutcome:
        retry_at = 0.0
        if outcome is Outcome.RETRY:
            retry_at = self.clock() + backoff_s(
                job.job.retried, self.settings.backoff, self.settings.backoff_max
            )
        return AttemptOutcome(job.job_id, job.token, outcome, error, retry_at)
