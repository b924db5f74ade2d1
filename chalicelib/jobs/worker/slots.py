"""Handler slots: `concurrency` threads that each run one handler at a time and tell the
coordinator when it started and how it ended. They make no Redis call and change no shared
state: a slot claims the job it was handed (see Table.claim), runs it, and posts messages.

Isolation "thread" runs handlers in these threads. A thread cannot be killed, so a handler past
its timeout fails its attempt (the coordinator decides that) and its thread is replaced, at most
EXTRA_THREADS beyond `concurrency`; until the stuck handler returns, its job is not started
again by this worker. Isolation "process" runs each handler in a child process
(process_pool.py), killed at its timeout, so nothing stays stuck.
"""

from __future__ import annotations

import logging
import queue as queue_module
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from ..attempt import Handler, describe_error, retry_delay_s, run_handler
from ..config import Settings
from ..current import enter, leave
from ..model import JobsUnavailable
from ..process_pool import HandlerProcessPool
from ..record import CANCELLED, Outcome
from ..store import AttemptOutcome, Store
from . import leases
from .table import Held, Phase, Table

log = logging.getLogger("chalicelib.jobs.worker")

#: replacement threads for stuck handlers, at most, beyond `concurrency`
EXTRA_THREADS = 2
#: a job whose earlier run still hangs in this worker is put off for at least this long
DEFER_S = 1.0
#: the error of a job whose deadline passed before it could start or finish
DEADLINE_EXCEEDED = "deadline exceeded"
#: in process isolation the pool kills a handler at its timeout; the overrun watch is a backstop
PROCESS_OVERRUN_MARGIN_S = 5.0

#: what a slot posts to the coordinator: ("started", job, monotonic time) and
#: ("ended", job, outcome, seconds it ran)
STARTED, ENDED = "started", "ended"
Post = Callable[[tuple[Any, ...]], None]


class Slots:
    """The handler threads, and what an attempt's outcome is (the retry rules)."""

    def __init__(
        self,
        table: Table,
        handlers: Mapping[str, Handler],
        settings: Settings,
        clock: Callable[[], float],
        post: Post,
    ) -> None:
        self.table = table
        self.handlers = handlers
        self.settings = settings
        self.clock = clock
        self.post = post
        self._ready: queue_module.SimpleQueue[Held | None] = queue_module.SimpleQueue()
        #: handler threads alive, stuck ones included (the coordinator's count)
        self.threads = 0
        self._serial = 0
        self.pool: HandlerProcessPool | None = None
        self.said_all_stuck = False

    def start(self) -> None:
        """Start the process pool (before any thread of ours: see process_pool.py) and
        `concurrency` threads, on a fresh queue: an old one may still hold stop markers."""
        if self.settings.isolation == "process":
            self.pool = HandlerProcessPool(self.handlers, self.settings.concurrency)
            self.pool.start()
        self._ready = queue_module.SimpleQueue()
        for _ in range(self.settings.concurrency):
            self.spawn()

    def spawn(self) -> None:
        self.threads += 1
        self._serial += 1
        name = f"jobs-slot-{self._serial}"
        threading.Thread(target=self._loop, args=(self._ready,), name=name, daemon=True).start()

    def retire_one(self) -> None:
        """One thread ends once it is free (a replacement of a stuck one is no longer needed)."""
        self.threads -= 1
        self._ready.put(None)

    def hand(self, job: Held) -> None:
        self.table.unclaimed[job.job_id] = job
        self.table.in_slots += 1
        self._ready.put(job)

    def take(self, jobs: list[Held]) -> None:
        """A batch just taken joins the table: each job to a slot, but a job whose earlier run
        still hangs here (put off) and a job back from a worker that died before its start was
        recorded (it runs alone, its start recorded first: if this worker dies now, it is the
        one charged)."""
        table = self.table
        for job in jobs:
            table.held[job.job_id] = job
            if job.job_id in table.stuck:
                outcome = self.defer(job, "its earlier run still hangs in this worker")
                table.queue_outcome(job, outcome, time.monotonic())
            elif job.job.recovered:
                table.alone.append(job)
            else:
                self.hand(job)

    def hand_alone(self, store: Store, lease_s: float) -> None:
        """Hand the next job that must run alone to a slot, once every slot is free, its start
        recorded first (a coordinator step)."""
        table = self.table
        if not table.alone or table.in_slots or table.alone_running is not None:
            return
        job = table.alone.pop(0)
        try:
            lost = leases.keep(store, [job], [job], self.clock() + lease_s, self.clock())
        except JobsUnavailable as exc:
            log.warning("cannot record the start of %s: %s", job.job_id, exc)
            outcome = self.defer(job, "its start could not be recorded")
            table.queue_outcome(job, outcome, time.monotonic())
            return
        if lost:
            table.forget([job])
            return
        table.alone_running = job
        self.hand(job)

    @property
    def stuck(self) -> int:
        return len(self.table.stuck)

    @property
    def all_stuck(self) -> bool:
        """Every handler thread is stuck: this worker runs nothing until one returns."""
        return self.threads > 0 and len(self.table.stuck) >= self.threads

    def stop(self, timeout_s: float) -> list[str]:
        """Ask every thread to end once its handler returns; kill handlers still running in
        child processes after `timeout_s`. Returns what was killed."""
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

    def watch_s(self, job: Held) -> float:
        """How long the coordinator lets it run before it fails the attempt as overrun."""
        margin = PROCESS_OVERRUN_MARGIN_S if self.pool is not None else 0.0
        return self.timeout_s(job) + margin

    def past_deadline(self, job: Held) -> bool:
        return job.job.deadline is not None and self.clock() >= job.job.deadline

    def _loop(self, ready: queue_module.SimpleQueue[Held | None]) -> None:
        post = self.post
        while True:
            job = ready.get()
            if job is None:
                return
            if not self.table.claim(job):
                continue  # handed back before it started
            started = time.monotonic()
            post((STARTED, job, started))
            try:
                outcome = self.attempt(job)
            except BaseException as exc:  # noqa: BLE001 - no job may take its thread down
                log.exception("running %s failed outside its handler", job.job_id)
                outcome = self.failure(job, Outcome.RETRY, describe_error(exc))
            post((ENDED, job, outcome, time.monotonic() - started))

    def attempt(self, job: Held) -> AttemptOutcome:
        """Run the job's handler and say how the attempt ended. Never raises."""
        if self.past_deadline(job):
            return job.outcome(Outcome.FAIL, DEADLINE_EXCEEDED)
        if job.cancel or job.job.cancel:  # asked before it started: it never runs
            return job.outcome(Outcome.FAIL, CANCELLED)
        leased = job.job
        if self.pool is not None:
            outcome, payload = self.pool.run(
                leased.job_type, leased.params_json, self.timeout_s(job), job.current().info(),
                job.report,
            )  # fmt: skip
        else:
            handler = self.handlers.get(leased.job_type)
            token = enter(job.current)
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
            return job.outcome(outcome, payload)
        return self.failure(job, outcome, payload)

    def fail_overruns(self, now: float) -> bool:
        """A handler past its timeout fails its attempt now (the coordinator's step) and frees
        its slot: its thread gets a replacement while there are fewer than `concurrency` +
        EXTRA_THREADS, and is retired when (if ever) its handler returns. True when any did."""
        table = self.table
        late = table.overrunning(now)
        for job in late:
            table.leave(job, Phase.OVERRAN)
            table.in_slots -= 1
            if table.alone_running is job:
                table.alone_running = None  # its slot is replaced: the others may run again
            table.stuck.add(job.job_id)
            table.queue_outcome(job, self.timed_out(job, now), now)
            if self.threads < self.settings.concurrency + EXTRA_THREADS:
                self.spawn()
            log.warning(
                "job %s overran its %gs timeout; %d handler threads are stuck",
                job.job_id, self.timeout_s(job), self.stuck,
            )  # fmt: skip
        if self.all_stuck and not self.said_all_stuck:
            self.said_all_stuck = True
            log.error(
                "all %d handler threads are stuck in handlers past their timeout: this worker "
                "runs nothing until one returns (restart it, or use isolation='process')",
                self.threads,
            )
        return bool(late)

    def defer(self, job: Held, why: str) -> AttemptOutcome:
        """Not run, not charged: back to RETRYING for a while."""
        log.info("put off %s: %s", job.job_id, why)
        retry_at = self.clock() + max(DEFER_S, self.timeout_s(job))
        return job.outcome(Outcome.DEFER, why, retry_at)

    def timed_out(self, job: Held, now: float) -> AttemptOutcome:
        """The outcome of an attempt that overran at monotonic `now`: when its deadline cut
        its timeout short, that deadline is what passed."""
        cut_short = now < job.started + (job.job.timeout_s or self.settings.timeout)
        if self.past_deadline(job) or (job.job.deadline is not None and cut_short):
            return job.outcome(Outcome.FAIL, DEADLINE_EXCEEDED)
        error = f"timed out after {job.job.timeout_s or self.settings.timeout:g}s"
        return self.failure(job, Outcome.RETRY, error)

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
                why = f"{DEADLINE_EXCEEDED} before the next try: {error}"
                return job.outcome(Outcome.FAIL, why)
        return job.outcome(outcome, error, retry_at)
