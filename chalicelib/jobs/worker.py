"""The worker: takes jobs in batches, runs handlers in a thread pool, writes outcomes in batches.

Duties, each a small unit:
- fetch (the caller's thread): dequeue batches while there is room, else wait on Redis for work;
  run maintenance (recover expired leases, forward due jobs, trim) when it falls due;
- execute (`concurrency` threads): run one handler at a time, turn what it did into an Outcome;
- flush (one thread): write every outcome gathered so far in one script call per queue;
- heartbeat (one thread): extend the leases of held jobs, fail handlers that overrun their timeout.
The same loop serves `start()` (until stopped) and `drain()` (until a deadline).
"""

from __future__ import annotations

import json
import logging
import queue as queue_module
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .attempt import Handler, Held, backoff_s, describe_error, run_handler
from .config import Settings
from .model import JobsUnavailable
from .store import Outcome, Store

log = logging.getLogger("chalicelib.jobs.worker")

#: most jobs taken in one dequeue call
BATCH_MAX = 200
#: a worker holds, beyond its running jobs, about this many seconds of work (see prefetch())
PREFETCH_WINDOW_S = 0.05
#: maintenance (recover, forward, trim) at least this often
MAINTENANCE_INTERVAL_S = 5.0
#: a flush waits up to this long for up to this many outcomes while more jobs are running
FLUSH_LINGER_S = 0.002
FLUSH_BATCH = 100
#: after Redis errors, wait this long before the next try, doubling up to the maximum
REDIS_RETRY_S = 0.5
REDIS_RETRY_MAX_S = 5.0
#: when handing back, outcomes still unwritten after this long are left to lease recovery
HAND_BACK_WRITE_S = 1.0


@dataclass
class Counters:
    processed: int = 0
    failed: int = 0
    lost: int = 0


def day_of(now: float) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(now))


class Worker:
    """Runs jobs of `queues` with the registered handlers. Thread-safe; one per controller."""

    def __init__(
        self,
        store: Store,
        handlers: dict[str, Handler],
        settings: Settings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.handlers = handlers
        self.settings = settings
        self.queues = settings.queues
        self.clock = clock
        #: how long a handler runs, on average (an exponential moving average); None: unknown yet
        self._mean_run_s: float | None = None
        self.counters = Counters()
        self._held: dict[str, Held] = {}
        self._ready: queue_module.SimpleQueue[Held | None] = queue_module.SimpleQueue()
        self._outcomes: list[tuple[Held, Outcome]] = []
        self._lock = threading.Lock()
        self._outcome_ready = threading.Condition(self._lock)
        self._room = threading.Condition(self._lock)
        self._unfinished = 0
        self._executors = 0
        self._executor_serial = 0
        self._closed = threading.Event()
        self._threads: list[threading.Thread] = []
        self._next_maintenance = 0.0
        self._next_due: float | None = None
        self._fetching = threading.Lock()
        self._writing = 0
        self._written = threading.Condition(self._lock)

    # -- life cycle ----------------------------------------------------------------------------

    def ensure_threads(self) -> None:
        """Start the executor, flusher and heartbeat threads once."""
        with self._lock:
            if self._threads:
                return
            self._closed = threading.Event()
            # a fresh queue: the old one may still hold stop markers of stuck threads
            self._ready = queue_module.SimpleQueue()
            for _ in range(self.settings.concurrency):
                self._spawn_executor()
            for target, name in ((self._flush_loop, "flush"), (self._heartbeat_loop, "heartbeat")):
                thread = threading.Thread(
                    target=target, args=(self._closed,), name=f"jobs-{name}", daemon=True
                )
                thread.start()
                self._threads.append(thread)

    def _spawn_executor(self) -> None:
        self._executors += 1
        self._executor_serial += 1
        thread = threading.Thread(
            target=self._execute_loop, name=f"jobs-exec-{self._executor_serial}", daemon=True
        )
        thread.start()
        self._threads.append(thread)

    def run(self, should_stop: Callable[[], bool], deadline: float | None = None) -> None:
        """Fetch and dispatch jobs until should_stop() or the monotonic deadline. While Redis is
        away, try again with a growing pause, and say so when the error changes."""
        self.ensure_threads()
        pause_s, last_error = REDIS_RETRY_S, ""
        while not should_stop():
            if deadline is not None and time.monotonic() >= deadline:
                return
            try:
                self._fetch_once(should_stop, deadline)
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

    def _fetch_once(self, should_stop: Callable[[], bool], deadline: float | None) -> None:
        now = self.clock()
        if now >= self._next_maintenance or (self._next_due is not None and now >= self._next_due):
            self.maintain(now)
        room = self._wait_for_room(should_stop, deadline)
        if room <= 0:
            return
        if self._dequeue(room, should_stop):
            return
        wait_s = self._next_maintenance - self.clock()
        if self._next_due is not None:
            wait_s = min(wait_s, self._next_due - self.clock())
        if deadline is not None:
            wait_s = min(wait_s, deadline - time.monotonic())
        if wait_s > 0 and not should_stop():
            woken_for = self.store.wait_for_work(self.queues, wait_s)
            past_deadline = deadline is not None and time.monotonic() >= deadline
            if woken_for is not None and (should_stop() or past_deadline):
                self.store.wake(woken_for)  # not ours to act on: for the next idle worker

    def prefetch(self) -> int:
        """How many jobs to hold beyond those running: about PREFETCH_WINDOW_S of work.

        Quick jobs come in batches of up to BATCH_MAX (a round trip per batch, not per job);
        slow ones are taken only as threads free up, so they stay PENDING for other workers
        instead of waiting, ACTIVE, behind this worker's running jobs."""
        concurrency = self.settings.concurrency
        mean_s = self._mean_run_s
        if mean_s is None:
            return concurrency
        return min(BATCH_MAX, int(concurrency * PREFETCH_WINDOW_S / max(mean_s, 1e-6)))

    def _wait_for_room(self, should_stop: Callable[[], bool], deadline: float | None) -> int:
        """Block until the worker holds few enough jobs that a batch is worth taking; return
        how many to take."""
        with self._room:
            while not should_stop():
                prefetch = self.prefetch()
                room = self.settings.concurrency + prefetch - self._unfinished
                if room >= max(1, prefetch // 2):
                    return room
                timeout = 0.1 if deadline is None else min(0.1, deadline - time.monotonic())
                if timeout <= 0:
                    return 0
                self._room.wait(timeout)
            return 0

    def _dequeue(self, room: int, should_stop: Callable[[], bool]) -> bool:
        """Take up to `room` jobs across the queues, in order; True when any were taken."""
        taken = 0
        due: list[float] = []
        with self._fetching:
            if should_stop():
                return False
            for queue in self.queues:
                want = min(room - taken, BATCH_MAX)
                if want <= 0:
                    break
                token = uuid.uuid4().hex
                now = self.clock()
                batch = self.store.dequeue(queue, want, now, now + self.settings.lease, token)
                if batch.next_due is not None:
                    due.append(batch.next_due)
                held = [self._hold(raw, queue, token) for raw in batch.records]
                with self._lock:
                    self._unfinished += len(held)
                    for job in held:
                        self._held[job.job_id] = job
                for job in held:
                    self._ready.put(job)
                taken += len(held)
        self._next_due = min(due) if due else None
        return taken > 0

    @staticmethod
    def _hold(raw: str, queue: str, token: str) -> Held:
        record = json.loads(raw)
        return Held(record["id"], queue, token, record)

    def maintain(self, now: float) -> None:
        """Recover expired leases, forward due jobs and trim expired ones, in every queue."""
        for queue in self.queues:
            recovered, forwarded, trimmed = self.store.maintain(
                queue,
                now,
                day_of(now),
                failed_keep_since=now - self.settings.failed_retention,
                failed_keep_count=self.settings.failed_max,
            )
            if recovered:
                log.warning("queue %s: recovered %d jobs whose lease expired", queue, recovered)
            if forwarded or trimmed:
                log.debug("queue %s: forwarded %d, trimmed %d", queue, forwarded, trimmed)
        self._next_maintenance = now + MAINTENANCE_INTERVAL_S
        self._next_due = None

    # -- execute -------------------------------------------------------------------------------

    def _execute_loop(self) -> None:
        while True:
            job = self._ready.get()
            if job is None:
                return
            if not self._begin(job):
                continue
            try:
                outcome = self.execute(job)
            except BaseException as exc:  # noqa: BLE001 - no job may take its thread down
                log.exception("running %s failed outside its handler", job.job_id)
                outcome = self._failure(job, "retry", describe_error(exc))
            if self._finish(job, outcome, time.monotonic() - job.started):
                return

    def _begin(self, job: Held) -> bool:
        """Mark the job started, unless it was handed back before it could start."""
        with self._lock:
            if job.abandoned:
                self._unfinished -= 1
                job.finished = True
                self._room.notify()
                return False
            job.started = time.monotonic()
            job.deadline = job.started + float(job.record.get("timeout") or self.settings.timeout)
            return True

    def execute(self, job: Held) -> Outcome:
        """Run the job's handler and say how the attempt ended. Never raises."""
        kind, payload = run_handler(self.handlers.get(job.record["type"]), job.record)
        if kind == "done":
            return Outcome(job.job_id, job.token, kind, payload)
        return self._failure(job, kind, payload)

    def _failure(self, job: Held, kind: str, error: str) -> Outcome:
        retry_at = 0.0
        if kind == "retry":
            retried = int(job.record.get("retried", 0))
            retry_at = self.clock() + backoff_s(
                retried, self.settings.backoff, self.settings.backoff_max
            )
        return Outcome(job.job_id, job.token, kind, error, retry_at)

    def _finish(self, job: Held, outcome: Outcome, ran_s: float) -> bool:
        """Queue the outcome for writing. True when this thread must retire: its job overran
        its timeout and a fresh thread already took its place."""
        with self._lock:
            mean_s = self._mean_run_s
            self._mean_run_s = ran_s if mean_s is None else mean_s + 0.1 * (ran_s - mean_s)
            if job.overran:
                self._executors -= 1
                log.info("dropped the late outcome of %s: it overran its timeout", job.job_id)
                return True
            self._unfinished -= 1
            job.finished = True
            if job.abandoned:
                log.info("dropped the late outcome of %s: it was handed back", job.job_id)
                self._held.pop(job.job_id, None)
            else:
                self._outcomes.append((job, outcome))
                self._outcome_ready.notify()
            self._room.notify()
            return False

    # -- flush ---------------------------------------------------------------------------------

    def _flush_loop(self, closed: threading.Event) -> None:
        while True:
            with self._lock:
                while not self._outcomes:
                    if closed.is_set():
                        return
                    self._outcome_ready.wait()
                # While more jobs are about to finish, gather them: one write for many.
                linger_until = time.monotonic() + FLUSH_LINGER_S
                while len(self._outcomes) < FLUSH_BATCH and self._unfinished > 0:
                    left = linger_until - time.monotonic()
                    if left <= 0:
                        break
                    self._outcome_ready.wait(left)
                batch, self._outcomes = self._outcomes, []
                self._writing += 1
            try:
                self._write(batch)
            finally:
                with self._lock:
                    self._writing -= 1
                    self._written.notify_all()

    def flush(self, give_up_s: float | None = None) -> None:
        """Write every outcome gathered so far; wait (as long) for writes under way elsewhere."""
        with self._lock:
            batch, self._outcomes = self._outcomes, []
        if batch:
            self._write(batch, give_up_s)
        wait_until = time.monotonic() + (self.settings.lease if give_up_s is None else give_up_s)
        with self._written:
            while self._writing and time.monotonic() < wait_until:
                self._written.wait(max(0.0, wait_until - time.monotonic()))

    def _write(self, batch: list[tuple[Held, Outcome]], give_up_s: float | None = None) -> None:
        """Write outcomes, retrying while Redis is away. Past the lease (or give_up_s) the jobs
        are left to lease recovery, which runs them again: delivery is at least once."""
        give_up_at = time.monotonic() + (self.settings.lease if give_up_s is None else give_up_s)
        by_queue: dict[str, list[tuple[Held, Outcome]]] = defaultdict(list)
        for job, outcome in batch:
            by_queue[job.queue].append((job, outcome))
        for queue, items in by_queue.items():
            codes = [0] * len(items)
            while True:
                now = self.clock()
                try:
                    codes = self.store.finish(
                        queue, [o for _, o in items], now, self.settings.retention, day_of(now)
                    )
                    break
                except JobsUnavailable as exc:
                    if time.monotonic() >= give_up_at:
                        log.error("gave up writing %d outcomes: %s", len(items), exc)
                        break
                    log.warning("cannot write %d outcomes yet: %s", len(items), exc)
                    time.sleep(REDIS_RETRY_S)
                except Exception:
                    # A bug, not an outage: retrying cannot help. The jobs are let go and their
                    # leases expire, so they run again.
                    log.exception(
                        "cannot write %d outcomes; lease recovery will rerun them", len(items)
                    )
                    break
            self._count(items, codes)

    def _count(self, items: list[tuple[Held, Outcome]], codes: Sequence[int]) -> None:
        with self._lock:
            for (job, outcome), code in zip(items, codes, strict=True):
                self._held.pop(job.job_id, None)
                if code == 0:
                    self.counters.lost += 1
                    log.warning("outcome of %s dropped: its lease was lost", job.job_id)
                    continue
                self.counters.processed += 1
                if outcome.kind != "done":
                    self.counters.failed += 1

    # -- heartbeat -----------------------------------------------------------------------------

    def _heartbeat_loop(self, closed: threading.Event) -> None:
        tick_s = min(0.25, self.settings.lease / 6)
        next_extend = time.monotonic() + self.settings.lease / 3
        while not closed.wait(tick_s):
            self.fail_overruns()
            if time.monotonic() >= next_extend:
                next_extend = time.monotonic() + self.settings.lease / 3
                try:
                    self.extend_leases()
                except JobsUnavailable as exc:
                    log.warning("cannot extend leases: %s", exc)

    def fail_overruns(self) -> None:
        """A handler past its timeout fails its attempt now and frees its slot; a fresh thread
        takes its place, and the stuck one retires when (if ever) its handler returns."""
        now = time.monotonic()
        with self._lock:
            for job in list(self._held.values()):
                if not job.started or job.finished or job.abandoned or now <= job.deadline:
                    continue
                timeout = float(job.record.get("timeout") or self.settings.timeout)
                job.overran = job.finished = True
                self._outcomes.append(
                    (job, self._failure(job, "retry", f"timed out after {timeout:g}s"))
                )
                self._outcome_ready.notify()
                self._unfinished -= 1
                self._room.notify()
                self._spawn_executor()
                stuck = self._executors - self.settings.concurrency
                log.warning(
                    "job %s overran its %gs timeout; %d handler threads are stuck",
                    job.job_id, timeout, stuck,
                )  # fmt: skip

    def extend_leases(self) -> None:
        with self._lock:
            by_queue: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
            for job in self._held.values():
                if not job.abandoned:
                    by_queue[job.queue][job.token].append(job.job_id)
        for queue, leases in by_queue.items():
            lost = self.store.extend(queue, leases, self.clock() + self.settings.lease)
            for job_id in lost:
                log.warning("lease of %s was lost; its outcome will be dropped", job_id)

    # -- hand back -----------------------------------------------------------------------------

    def hand_back(self, wait_s: float) -> int:
        """Stop work in progress: unstarted jobs go back to PENDING at once; running ones get
        `wait_s` to finish, then go back too (their late outcomes are dropped). Returns how many
        went back."""
        with self._fetching:
            unstarted = self._abandon(lambda job: not job.started)
            deadline = time.monotonic() + wait_s
            with self._room:
                while time.monotonic() < deadline and any(
                    not j.finished for j in self._held.values()
                ):
                    self._room.wait(max(0.0, min(0.05, deadline - time.monotonic())))
            running = self._abandon(lambda job: not job.finished)
            self.flush(give_up_s=HAND_BACK_WRITE_S)
            return self._requeue(unstarted + running)

    def _abandon(self, which: Callable[[Held], bool]) -> list[Held]:
        with self._lock:
            chosen = [j for j in self._held.values() if not j.abandoned and which(j)]
            for job in chosen:
                job.abandoned = True
        return chosen

    def _requeue(self, jobs: list[Held]) -> int:
        groups: dict[tuple[str, str], list[str]] = defaultdict(list)
        for job in jobs:
            groups[(job.queue, job.token)].append(job.job_id)
        moved = 0
        for (queue, token), ids in groups.items():
            try:
                moved += self.store.requeue(queue, token, ids)
            except JobsUnavailable as exc:
                log.error(
                    "could not hand back %d jobs (their leases will expire): %s", len(ids), exc
                )
        with self._lock:
            for job in jobs:
                self._held.pop(job.job_id, None)
        return moved

    def close(self) -> None:
        """End the worker's threads (running handlers finish in the background)."""
        with self._lock:
            self._closed.set()
            for _ in range(self._executors):
                self._ready.put(None)
            self._executors = 0
            self._threads.clear()
            self._outcome_ready.notify_all()
