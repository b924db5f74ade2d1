"""The coordinator: the one owner of a worker's jobs in flight.

One thread runs this loop. It takes messages (slots say a handler started or ended, the waiter
says work arrived, the controller asks to serve or to hand back) and runs the duties as steps
when they fall due: take a batch, hand jobs to the slots, write outcomes, record starts, send
progress, extend leases, look for cancels, fail overruns, write the heartbeat, run maintenance
and periodic ticks. Every decision is a function of the table and the time (table.py); each
Redis call is a step of its own module (fetch, flush, leases). Nothing here is shared under a
lock: other threads only post messages.
"""

from __future__ import annotations

import contextlib
import logging
import queue as queue_module
import time
from collections.abc import Callable
from typing import Any

from ..config import Settings
from ..model import JobsUnavailable
from ..periodic import Scheduler
from ..store import Store
from . import flush, leases
from .deadline import Bounded
from .fetch import MAINTENANCE_INTERVAL_S, Fetcher, Taken
from .handback import Answer, HandBack
from .outbox import CallbackForwarder
from .slots import ENDED, STARTED, Slots
from .table import Held, Phase, Table
from .waiter import WOKEN, Waiter

log = logging.getLogger("chalicelib.jobs.worker")

#: after Redis errors, wait this long before the next try, doubling up to the maximum
REDIS_RETRY_S = 0.5
REDIS_RETRY_MAX_S = 5.0
#: Redis ends a blocking wait up to about this late (its timers run ten times a second)
BLOCKING_WAIT_LATE_S = 0.12
#: the longest the loop sleeps when nothing falls due
IDLE_S = 1.0
SERVE, HAND_BACK, CLOSE = "serve", "hand back", "close"


class Coordinator:
    """Owns the table; runs the worker's duties as steps of one loop (see the module doc)."""

    def __init__(
        self,
        bounded: Bounded,
        table: Table,
        slots: Slots,
        fetcher: Fetcher,
        settings: Settings,
        clock: Callable[[], float],
        scheduler: Scheduler | None,
        forwarder: CallbackForwarder | None,
        inbox: queue_module.SimpleQueue[tuple[Any, ...]],
    ) -> None:
        self.bounded, self.table, self.slots, self.fetcher = bounded, table, slots, fetcher
        self.settings, self.clock = settings, clock
        self.scheduler, self.forwarder = scheduler, forwarder
        self.inbox = inbox
        self.leases = leases.LeaseKeeper(table, settings, clock)
        self.writer = flush.Writer(table, settings, clock, forwarder)
        self.waiter = Waiter(bounded.store, settings.queues, inbox.put)
        #: what a long-running worker says of itself each HEARTBEAT_S; None for a drain
        self.heartbeat: Callable[[], tuple[str, str]] | None = None
        #: serving: taking jobs until `fetch_until` (monotonic; None: until handed back)
        self.serving = False
        self.fetch_until: float | None = None
        #: Redis calls are waited for until this monotonic time at most (None: no bound): a
        #: drain's calls, until it stops taking jobs; then its hand-back's, until its end
        self.calls_until: float | None = None
        #: a drain's jobs in flight get until then (monotonic) to finish
        self.finish_until: float | None = None
        #: answered when a drain's serving and hand-back are over (None: serve until asked)
        self.drained: Answer | None = None
        self.handing_back: HandBack | None = None
        #: the queues may hold work: take a batch when there is room
        self.maybe_work = True
        # when each step is next due: monotonic, but for "maintain" and "tick" (the clock's)
        no_ticks = float("inf") if scheduler is None else 0.0
        self.next = {"maintain": 0.0, "tick": no_ticks, "beat": 0.0, "fetch": 0.0}
        self.pause_s, self.last_error = REDIS_RETRY_S, ""

    @property
    def store(self) -> Store:
        """The store for a call now: bounded by `calls_until` near it."""
        return self.bounded.before(self.calls_until)

    def loop(self) -> None:
        self.waiter.start()
        try:
            while self._receive(self._sleep_s()):
                self._steps(time.monotonic())
        finally:
            self.waiter.close()

    # -- messages ----------------------------------------------------------------------------

    def _receive(self, timeout_s: float) -> bool:
        """Take the messages that came (waiting up to `timeout_s` for the first); False when
        the loop must end."""
        try:
            message = self.inbox.get(timeout=max(0.0, timeout_s)) if timeout_s > 0 else None
            while True:
                if message is not None and not self._take(message):
                    return False
                message = self.inbox.get_nowait()
        except queue_module.Empty:
            return True

    def _take(self, message: tuple[Any, ...]) -> bool:
        kind = message[0]
        if kind is STARTED:
            _, job, started = message
            self.table.start(job, started, self.slots.watch_s(job))
        elif kind is ENDED:
            self._ended(message[1], message[2], message[3])
        elif kind is WOKEN:
            self._woken(message[1], message[2])
        elif kind is SERVE:
            _, self.fetch_until, self.finish_until, self.drained = message
            self.calls_until = self.fetch_until
            self.serving, self.maybe_work = True, True
        elif kind is HAND_BACK:
            _, wait_s, final, answer = message
            self._end_serving()
            self.handing_back = HandBack(self, wait_s, final, answer)
        elif kind is CLOSE:
            self.writer.write(self.store, give_up_at=time.monotonic() + message[1])
            return False
        return True

    def _ended(self, job: Held, outcome: Any, ran_s: float) -> None:
        table = self.table
        table.ran(ran_s)
        if table.alone_running is job:
            table.alone_running = None
        if job.phase is Phase.OVERRAN:
            log.info("dropped the late outcome of %s: it overran its timeout", job.job_id)
            table.stuck.discard(job.job_id)
            self.slots.said_all_stuck = False
            if self.slots.threads > self.settings.concurrency:
                self.slots.retire_one()
            return
        table.in_slots -= 1
        if job.phase is Phase.RUNNING:
            table.leave(job, Phase.DONE)
            table.queue_outcome(job, outcome, time.monotonic())

    def _woken(self, queue: str | None, error: str) -> None:
        self.waiter.busy = False
        if error:
            self._outage(JobsUnavailable(error))
        elif queue is not None and not self.serving:
            # not ours to act on: for the next idle worker
            with contextlib.suppress(JobsUnavailable):  # else the next enqueue re-arms it
                self.bounded.store.wake(queue)
        elif queue is not None:
            self.maybe_work = True

    # -- steps -------------------------------------------------------------------------------

    def _steps(self, now: float) -> None:
        if self.fetcher.unconfirmed and now >= (self.fetcher.next_release() or now):
            self._try(lambda: self.fetcher.release_unconfirmed(self.store))
        if self.serving:
            self._serve_steps(now)
        if self.slots.fail_overruns(now):
            self.next["beat"] = 0.0  # say it at once, not at the next beat
        self.leases.step(self.store, now)
        self._beat(now)
        self.writer.step(self.store, now)
        if self.handing_back is not None and self.handing_back.step():
            self.handing_back = None
        self.slots.hand_alone(self.store, self.settings.lease)

    def _serve_steps(self, now: float) -> None:
        if self.fetch_until is not None and now >= self.fetch_until:
            self._end_serving()
            return
        wall = self.clock()
        paused = now < self.next["fetch"]  # Redis was away: the steps that take work wait
        if not paused and wall >= self.next["maintain"] and self._try(self._maintain):
            self.next["maintain"] = wall + MAINTENANCE_INTERVAL_S
            self.maybe_work = True
        if not paused and wall >= self.next["tick"] and self._try(self._tick):
            self.maybe_work = True
        room = self.table.room()
        if room and self.maybe_work and now >= self.next["fetch"]:
            self._take_batch(room)
        if not self.maybe_work and not self.waiter.busy and self.table.room():
            self._wait_for_work(now)

    def _maintain(self) -> None:
        self.fetcher.maintain(self.store, self.clock())

    def _tick(self) -> None:
        """Enqueue the periodic jobs' due ticks."""
        assert self.scheduler is not None
        wall = self.clock()
        self.scheduler.run(wall)
        self.next["tick"] = self.scheduler.next_at(wall) or wall + MAINTENANCE_INTERVAL_S

    def _take_batch(self, room: int) -> None:
        """Take a batch; a worker of one queue writes its waiting outcomes in the same round
        trip."""
        box: list[Taken] = []

        def write_and_take(groups: dict[str, flush.Batch]) -> list[list[int]]:
            (outcomes,) = ([o for _, o in items] for items in groups.values())
            retention_s = self.settings.retention
            codes, taken = self.fetcher.take_after_writing(self.store, room, outcomes, retention_s)
            box.append(taken)
            return [codes]

        if self.table.outcomes and len(self.settings.queues) == 1:
            taking = self._try(lambda: self.writer.write(self.store, call=write_and_take))
        else:
            taking = self._try(lambda: box.append(self.fetcher.take(self.store, room)))
        if taking and box:
            self.maybe_work = box[0].more
            if box[0].next_due is not None:
                self.next["maintain"] = min(self.next["maintain"], box[0].next_due)
            self.slots.take(box[0].jobs)

    def _wait_for_work(self, now: float) -> None:
        wait_s = min(self.next["maintain"], self.next["tick"]) - self.clock()
        if self.fetch_until is not None:
            left_s = self.fetch_until - now
            if left_s < BLOCKING_WAIT_LATE_S:
                return  # too close to the end to block on Redis, whose timeout may come late
            wait_s = min(wait_s, left_s - BLOCKING_WAIT_LATE_S)
        if wait_s > 0:
            self.waiter.ask(wait_s)

    def _end_serving(self) -> None:
        """Stop taking jobs; at a drain's end, hand back at once what is left."""
        self.serving = False
        self.calls_until = None
        drained, self.drained = self.drained, None
        if drained is not None:
            wait_s = max(0.0, (self.finish_until or 0.0) - time.monotonic())
            self.handing_back = HandBack(self, wait_s, False, drained)

    def _beat(self, now: float) -> None:
        if self.heartbeat is None or now < self.next["beat"]:
            return
        self.next["beat"] = now + leases.HEARTBEAT_S
        try:
            self.bounded.store.heartbeat(*self.heartbeat())
        except JobsUnavailable as exc:
            log.warning("cannot write the heartbeat: %s", exc)

    # -- time --------------------------------------------------------------------------------

    def _sleep_s(self) -> float:
        """How long the loop may wait for a message: until the next step falls due."""
        now, table, nxt = time.monotonic(), self.table, self.next
        if self.serving and self.maybe_work and table.room() and now >= nxt["fetch"]:
            return 0.0
        dues = [now + IDLE_S, self.writer.next_due(now)]
        dues += [table.next_overrun(), self.leases.next_due()]
        if self.serving:
            due = now + min(nxt["maintain"], nxt["tick"]) - self.clock()
            dues += [self.fetch_until, max(due, nxt["fetch"])]
        if self.heartbeat is not None:
            dues.append(nxt["beat"])
        if self.fetcher.unconfirmed:
            dues.append(self.fetcher.next_release())
        if self.handing_back is not None or (table.alone and not table.in_slots):
            dues.append(now + 0.005)
        return min(d for d in dues if d is not None) - now

    def _try(self, step: Callable[[], Any]) -> bool:
        """Run a step that calls Redis; while Redis is away, pause the steps that take work
        with a growing pause, and say so when the error changes."""
        try:
            step()
        except JobsUnavailable as exc:
            self._outage(exc)
            return False
        if self.last_error:
            log.warning("Redis answers again")
            self.pause_s, self.last_error = REDIS_RETRY_S, ""
        return True

    def _outage(self, exc: JobsUnavailable) -> None:
        if str(exc) != self.last_error:
            log.warning("%s; trying again (every %gs at most)", exc, REDIS_RETRY_MAX_S)
            self.last_error = str(exc)
        pause_s = self.pause_s
        if self.fetch_until is not None:
            pause_s = min(pause_s, max(0.0, self.fetch_until - time.monotonic()))
        self.next["fetch"] = time.monotonic() + pause_s
        self.pause_s = min(self.pause_s * 2, REDIS_RETRY_MAX_S)
