"""The execute duty: `concurrency` threads, each running one handler at a time and turning what
it did into an outcome for the flush duty to write.

Isolation "thread" runs handlers in these threads. A thread cannot be killed, so a handler past
its timeout fails its attempt and its thread is replaced (at most EXTRA_THREADS beyond
`concurrency`); until the stuck handler returns, its job is not started again by this worker.
Isolation "process" runs each handler in a child process (process_pool.py), killed at its
timeout, so nothing stays stuck.
"""

from __future__ import annotations

import logging
import queue as queue_module
import threading
import time
from collections.abc import Callable, Mapping, Sequence

from ..attempt import Handler, describe_error, retry_delay_s, run_handler
from ..config import Settings
from ..current import CurrentJob, enter, leave
from ..model import JobsUnavailable
from ..process_pool import HandlerProcessPool
from ..record import CANCELLED, Outcome
from ..store import AttemptOutcome, Store
from .inflight import Held, InFlight

log = logging.getLogger("chalicelib.jobs.worker")

#: replacement threads for stuck handlers, at most, beyond `concurrency`
EXTRA_THREADS = 2
#: a job whose earlier run still hangs in this worker is put off for at least this long
DEFER_S = 1.0
#: the error of a job whose deadline passed before it could start or finish
DEADLINE_EXCEEDED = "deadline exceeded"
#: in process isolation the pool kills a handler at its timeout; the overrun watch is a backstop
PROCESS_OVERRUN_MARGIN_S = 5.0


class Executors:
    """The handler threads, and the overrun watch that fails handlers past their timeout."""

    def __init__(
        self,
        store: Store,
        inflight: InFlight,
        handlers: Mapping[str, Handler],
        settings: Settings,
        clock: Callable[[], float],
    ) -> None:
        self.store = store
        self.inflight = inflight
        self.handlers = handlers
        self.settings = settings
        self.clock = clock
        self._ready: queue_module.SimpleQueue[Held | None] = queue_module.SimpleQueue()
        self._lock = threading.Lock()
        #: handler threads alive, stuck ones included
        self.threads = 0
        #: jobs whose handler overran in a thread that still runs it
        self.stuck_jobs: set[str] = set()
        self._serial = 0
        self._said_all_stuck = False
        self.pool: HandlerProcessPool | None = None

    def start(self) -> None:
        """Start the process pool (before any thread of ours: see process_pool.py) and
        `concurrency` threads, on a fresh queue: an old one may still hold stop markers."""
        if self.settings.isolation == "process":
            self.pool = HandlerProcessPool(self.handlers, self.settings.concurrency)
            self.pool.start()
        self._ready = queue_module.SimpleQueue()
        for _ in range(self.settings.concurrency):
            self._spawn()

    @property
    def stuck(self) -> int:
        """Threads whose handler overran its timeout and has not returned yet."""
        return len(self.stuck_jobs)

    @property
    def all_stuck(self) -> bool:
        """Every handler thread is stuck: this worker runs nothing until one returns."""
        with self._lock:
            return self.threads > 0 and len(self.stuck_jobs) >= self.threads

    def _spawn(self) -> None:
        with self._lock:
            self.threads += 1
            self._serial += 1
            name = f"jobs-exec-{self._serial}"
        threading.Thread(target=self._loop, args=(self._ready,), name=name, daemon=True).start()

    def submit(self, jobs: Sequence[Held]) -> None:
        for job in jobs:
            self._ready.put(job)

    def stop(self, timeout_s: float) -> list[str]:
        """Ask every thread to end once its handler returns; kill handlers still running in
        child processes after `timeout_s`. Returns what was killed."""
        with self._lock:
            for _ in range(self.threads):
                self._ready.put(None)
            self.threads = 0
        pool, self.pool = self.pool, None
        return pool.close(timeout_s) if pool is not None else []

    def timeout_s(self, job: Held) -> float:
        """How long its attempt may run from now: its timeout, cut short by its deadline."""
        timeout_s = job.job.timeout_s or self.settings.timeout
        if job.job.deadline is not None:
            timeout_s = min(timeout_s, max(0.0, job.job.deadline - self.clock()))
        return timeout_s

    def past_deadline(self, job: Held) -> bool:
        return job.job.deadline is not None and self.clock() >= job.job.deadline

    def _loop(self, ready: queue_module.SimpleQueue[Held | None]) -> None:
        while True:
            job = ready.get()
            if job is None:
                return
            timeout_s = self.timeout_s(job)
            if self.pool is not None:
                timeout_s += PROCESS_OVERRUN_MARGIN_S
            # A job back from a worker that died before its start was recorded runs alone, its
            # start recorded first: if this worker dies now, that job is the one to charge.
            if not self.inflight.begin(job, timeout_s, alone=job.job.recovered > 0):
                continue
            try:
                outcome = self.attempt(job)
            except BaseException as exc:  # noqa: BLE001 - no job may take its thread down
                log.exception("running %s failed outside its handler", job.job_id)
                outcome = self.failure(job, Outcome.RETRY, describe_error(exc))
            if self.inflight.end(job, outcome, time.monotonic() - job.started) and self._retire(
                job
            ):
                return

    def attempt(self, job: Held) -> AttemptOutcome:
        """Run the job's handler and say how the attempt ended. Never raises."""
        if self.past_deadline(job):
            return AttemptOutcome(job.job_id, job.token, Outcome.FAIL, DEADLINE_EXCEEDED)
        if job.cancel or job.job.cancel:  # asked before it started: it never runs
            return AttemptOutcome(job.job_id, job.token, Outcome.FAIL, CANCELLED)
        if job.job_id in self.stuck_jobs:
            return self._defer(job, "its earlier run still hangs in this worker")
        if job.job.recovered and not self._record_start(job):
            return self._defer(job, "its start could not be recorded")
        leased = job.job
        current = CurrentJob(
            job.job_id, job.queue, leased.retried, leased.deadline,
            lambda report: self.inflight.report_progress(job, report), lambda: job.cancel,
        )  # fmt: skip
        if self.pool is not None:
            outcome, payload = self.pool.run(
                leased.job_type, leased.params_json, self.timeout_s(job), current.info(),
                lambda report: self.inflight.report_progress(job, report),
            )  # fmt: skip
        else:
            handler = self.handlers.get(leased.job_type)
            token = enter(current)
            try:
                outcome, payload = run_handler(handler, leased.job_type, leased.params_json)
            finally:
                leave(token)
        if outcome is Outcome.DONE and len(payload) > self.settings.max_result_bytes:
            limit = self.settings.max_result_bytes
            error = (
                f"result is {len(payload)} bytes of JSON; the limit is {limit} (max_result_bytes)"
            )
            return self.failure(job, Outcome.FAIL, error)
        if outcome is Outcome.DONE:
            return AttemptOutcome(job.job_id, job.token, outcome, payload)
        return self.failure(job, outcome, payload)

    def _record_start(self, job: Held) -> bool:
        """Tell Redis the job starts now, before running it: its lease expired unstarted
        before, and if its handler kills this worker, the attempt must be charged."""
        lease_until = self.clock() + self.settings.lease
        try:
            lost = self.store.extend(
                job.queue, {job.token: [(job.job_id, True)]}, lease_until, self.clock()
            )
        except JobsUnavailable as exc:
            log.warning("cannot record the start of %s: %s", job.job_id, exc)
            return False
        self.inflight.starts_recorded([job])
        return not lost

    def _defer(self, job: Held, why: str) -> AttemptOutcome:
        log.info("put off %s: %s", job.job_id, why)
        retry_at = self.clock() + max(DEFER_S, self.timeout_s(job))
        return AttemptOutcome(job.job_id, job.token, Outcome.DEFER, why, retry_at)

    def failure(self, job: Held, outcome: Outcome, error: str) -> AttemptOutcome:
        """A failed attempt's outcome: a RETRY past the job's deadline fails it for good."""
        retry_at = 0.0
        if outcome is Outcome.RETRY and self.past_deadline(job):
            outcome, error = Outcome.FAIL, f"{DEADLINE_EXCEEDED}: {error}"
        if outcome is Outcome.RETRY:
            s = self.settings
            # a handler object may keep its own schedule (callback deliveries wait for hours)
            handler = self.handlers.get(job.job.job_type)
            delay = getattr(handler, "retry_delay", None) or s.retry_delay
            delay_s = retry_delay_s(delay, job.job.retried, error, s.backoff, s.backoff_max)
            retry_at = self.clock() + delay_s
            deadline = job.job.deadline
            if deadline is not None and retry_at >= deadline:
                # the next try could not start: say so now, not when it falls due
                return AttemptOutcome(
                    job.job_id, job.token, Outcome.FAIL,
                    f"{DEADLINE_EXCEEDED} before the next try: {error}",
                )  # fmt: skip
        return AttemptOutcome(job.job_id, job.token, outcome, error, retry_at)

    def fail_overruns(self) -> None:
        """A handler past its timeout fails its attempt now and frees its slot. Its thread gets
        a replacement while there are fewer than `concurrency` + EXTRA_THREADS threads, and
        retires when (if ever) its handler returns."""

        def timed_out(job: Held) -> AttemptOutcome:
            if self.past_deadline(job):
                return AttemptOutcome(job.job_id, job.token, Outcome.FAIL, DEADLINE_EXCEEDED)
            error = f"timed out after {job.job.timeout_s or self.settings.timeout:g}s"
            return self.failure(job, Outcome.RETRY, error)

        for job in self.inflight.overran(time.monotonic(), timed_out):
            with self._lock:
                self.stuck_jobs.add(job.job_id)
                replace = self.threads < self.settings.concurrency + EXTRA_THREADS
            if replace:
                self._spawn()
            log.warning(
                "job %s overran its %gs timeout; %d handler threads are stuck",
                job.job_id, self.timeout_s(job), self.stuck,
            )  # fmt: skip
        if self.all_stuck and not self._said_all_stuck:
            self._said_all_stuck = True
            log.error(
                "all %d handler threads are stuck in handlers past their timeout: this worker "
                "runs nothing until one returns (restart it, or use isolation='process')",
                self.threads,
            )

    def _retire(self, job: Held) -> bool:
        """The overrun handler of `job` returned, and its job may run again. True when its
        thread must end (a replacement took its place); False when it is needed again."""
        log.info("dropped the late outcome of %s: it overran its timeout", job.job_id)
        with self._lock:
            self.stuck_jobs.discard(job.job_id)
            self._said_all_stuck = False
            if self.threads > self.settings.concurrency:
                self.threads -= 1
                return True
            return False
