"""The in-flight table: every job a worker holds, from dequeue until its outcome is written.

The worker's duties (fetch, execute, flush, lease keeping) run in threads of their own and share
only this table. Every change to a held job goes through a method here, under the one lock, so a
job's phase moves one way only: LEASED -> RUNNING -> DONE, or to HANDED_BACK / OVERRAN on the way.
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..record import LeasedJob, Outcome
from ..store import AttemptOutcome

#: queue -> lease token -> (job id, whether to record its start, progress report or '')
Leases = dict[str, dict[str, list[tuple[str, bool, str]]]]


class Phase(enum.Enum):
    #: taken from Redis, waiting for an executor thread
    LEASED = "leased"
    #: its handler runs
    RUNNING = "running"
    #: it ended; its outcome waits to be written (or was)
    DONE = "done"
    #: given back to PENDING (the worker is stopping): whatever its handler returns is dropped
    HANDED_BACK = "handed back"
    #: its handler ran past its timeout: the attempt failed; its thread retires when it returns
    OVERRAN = "overran"


@dataclass(eq=False)
class Held:
    """A job a worker holds under a lease."""

    job: LeasedJob
    queue: str
    token: str
    phase: Phase = Phase.LEASED
    #: monotonic times of its start and of its timeout
    started: float = 0.0
    deadline: float = 0.0
    #: a cancel was asked for it (the lease keeper learnt it from Redis)
    cancel: bool = False
    #: its handler's latest progress report (JSON), and the one last sent to Redis
    progress: str = ""
    progress_sent: str = ""

    @property
    def job_id(self) -> str:
        return self.job.job_id


@dataclass
class Counters:
    """This worker's totals since it began."""

    processed: int = 0
    failed: int = 0
    #: outcomes not written because the lease was no longer ours
    lost: int = 0
    #: outcomes whose write Redis never confirmed (the worker gave up retrying)
    unconfirmed: int = 0


class InFlight:
    """The held jobs, the outcomes waiting to be written, and the conditions duties wait on."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        #: notified when a job leaves the worker's hands (room for more) or stops running
        self.room = threading.Condition(self.lock)
        #: notified when an outcome is queued for writing
        self.outcome_ready = threading.Condition(self.lock)
        #: notified when a write of outcomes ends
        self.written = threading.Condition(self.lock)
        #: notified when a handler starts (its start is to be recorded in Redis)
        self.started = threading.Condition(self.lock)
        self.held: dict[str, Held] = {}
        self.outcomes: list[tuple[Held, AttemptOutcome]] = []
        #: held jobs whose outcome is not yet queued: what occupies a slot or the prefetch
        self.unfinished = 0
        #: outcome writes under way
        self.writing = 0
        self.counters = Counters()
        #: how long a handler runs, on average (a moving average); None until one ran
        self.mean_run_s: float | None = None
        #: RUNNING jobs whose start Redis does not know yet, oldest start first
        self.unrecorded: dict[str, Held] = {}
        #: how many jobs are RUNNING; the one running alone, and how many wait to
        self.running = 0
        self.alone: Held | None = None
        self.alone_waiting = 0
        #: a progress report came since the lease keeper last looked
        self.reported = False

    def add(self, jobs: Iterable[Held]) -> None:
        with self.lock:
            for job in jobs:
                self.held[job.job_id] = job
                self.unfinished += 1

    def begin(self, job: Held, timeout_s: float, *, alone: bool = False) -> bool:
        """Mark the job RUNNING with its deadline; False when it was handed back first. With
        `alone`, wait until no other handler runs and let none start until this one ends."""
        with self.lock:
            if alone:
                self.alone_waiting += 1
                try:
                    while job.phase is Phase.LEASED and (self.running or self.alone is not None):
                        self.room.wait(0.05)
                finally:
                    self.alone_waiting -= 1
            else:
                while job.phase is Phase.LEASED and (self.alone is not None or self.alone_waiting):
                    self.room.wait(0.05)
            if job.phase is not Phase.LEASED:
                self.unfinished -= 1
                self.room.notify()
                return False
            job.phase = Phase.RUNNING
            job.started = time.monotonic()
            job.deadline = job.started + timeout_s
            self.running += 1
            if alone:
                self.alone = job
            self.unrecorded[job.job_id] = job
            self.started.notify()
            return True

    def _stop_running(self, job: Held) -> None:
        """Bookkeeping of a RUNNING job that leaves that phase (under the lock)."""
        self.running -= 1
        self.unrecorded.pop(job.job_id, None)
        if self.alone is job:
            self.alone = None
        if self.alone is not None or self.alone_waiting:
            self.room.notify_all()

    def end(self, job: Held, outcome: AttemptOutcome, ran_s: float) -> bool:
        """Queue the outcome of a job whose handler returned. True when the calling thread must
        retire: the job overran and a fresh thread already took its place."""
        with self.lock:
            mean_s = self.mean_run_s
            self.mean_run_s = ran_s if mean_s is None else mean_s + 0.1 * (ran_s - mean_s)
            if job.phase is Phase.RUNNING:
                self._stop_running(job)
            if job.phase is Phase.OVERRAN:
                return True
            self.unfinished -= 1
            if job.phase is Phase.HANDED_BACK:
                self.held.pop(job.job_id, None)
            else:
                job.phase = Phase.DONE
                self._queue(job, outcome)
            self.room.notify()
            return False

    def overran(self, now: float, fail: Callable[[Held], AttemptOutcome]) -> list[Held]:
        """Jobs RUNNING past their deadline at monotonic `now` become OVERRAN, their failed
        outcomes (`fail(job)`) queued and their slots freed; returns them."""
        with self.lock:
            late = [j for j in self.held.values() if j.phase is Phase.RUNNING and now > j.deadline]
            for job in late:
                self._stop_running(job)
                job.phase = Phase.OVERRAN
                self._queue(job, fail(job))
                self.unfinished -= 1
            if late:
                self.room.notify_all()
            return late

    def _queue(self, job: Held, outcome: AttemptOutcome) -> None:
        self.outcomes.append((job, outcome))
        self.outcome_ready.notify()

    def hand_back(self, which: Callable[[Held], bool]) -> list[Held]:
        """Mark the chosen jobs (LEASED or RUNNING) HANDED_BACK; returns them."""
        with self.lock:
            chosen = [
                j
                for j in self.held.values()
                if j.phase in (Phase.LEASED, Phase.RUNNING) and which(j)
            ]
            for job in chosen:
                if job.phase is Phase.RUNNING:
                    self._stop_running(job)
                job.phase = Phase.HANDED_BACK
            self.room.notify_all()  # handlers waiting to run alone see they were handed back
            return chosen

    def wait_until_quiet(self, deadline: float) -> None:
        """Block until no held job is LEASED or RUNNING, or the monotonic deadline passes."""
        with self.room:
            while time.monotonic() < deadline and any(
                j.phase in (Phase.LEASED, Phase.RUNNING) for j in self.held.values()
            ):
                self.room.wait(max(0.0, min(0.05, deadline - time.monotonic())))

    def forget(self, jobs: Iterable[Held]) -> None:
        with self.lock:
            for job in jobs:
                self.held.pop(job.job_id, None)

    def leases(self, record: list[Held], every: bool) -> Leases:
        """The leases to keep: queue -> token -> (id, record its start?, progress) of the jobs
        in `record` and those with an unsent progress report, or with `every` of each held job
        not handed back; a start is to be recorded for the jobs in `record`. Progress reports
        returned count as sent."""
        recording = {job.job_id for job in record}
        leases: Leases = {}
        with self.lock:
            chosen = self.held.values() if every else [*record, *self._unsent(recording)]
            for job in chosen:
                if job.phase is not Phase.HANDED_BACK:
                    by_token = leases.setdefault(job.queue, {})
                    report = job.progress if job.progress != job.progress_sent else ""
                    job.progress_sent = job.progress
                    by_token.setdefault(job.token, []).append(
                        (job.job_id, job.job_id in recording, report)
                    )
        return leases

    def _unsent(self, besides: set[str]) -> list[Held]:
        return [
            j
            for j in self.held.values()
            if j.progress != j.progress_sent and j.job_id not in besides
        ]

    def report_progress(self, job: Held, report: str) -> None:
        """Keep a handler's latest progress report, for the lease keeper's next call."""
        with self.lock:
            job.progress = report
            self.reported = True

    def take_reported(self) -> bool:
        """Whether a progress report came since the last call (and forget it did)."""
        with self.lock:
            reported, self.reported = self.reported, False
            return reported

    def cancels(self, job_ids: Iterable[str]) -> None:
        """Mark the held jobs a cancel was asked for: they are not started."""
        with self.lock:
            for job_id in job_ids:
                held = self.held.get(job_id)
                if held is not None:
                    held.cancel = True

    def wait_for_starts(self, timeout_s: float) -> float | None:
        """Block until a RUNNING job's start is unrecorded, or `timeout_s` passes; return the
        monotonic time of the oldest unrecorded start, or None."""
        with self.lock:
            self.started.wait_for(lambda: bool(self.unrecorded), timeout_s)
            oldest = next(iter(self.unrecorded.values()), None)
            return oldest.started if oldest else None

    def starts_due(self, started_before: float) -> list[Held]:
        """The RUNNING jobs whose start is unrecorded and older than `started_before`."""
        with self.lock:
            return [j for j in self.unrecorded.values() if j.started < started_before]

    def starts_recorded(self, jobs: Iterable[Held]) -> None:
        with self.lock:
            for job in jobs:
                self.unrecorded.pop(job.job_id, None)

    def written_out(
        self, items: list[tuple[Held, AttemptOutcome]], codes: list[int] | None
    ) -> None:
        """Count the outcomes the finish script answered (a 0 code: the lease was lost, nothing
        was written), or, with `codes` None, outcomes whose write was given up (Redis did not
        confirm it: their jobs are left to lease recovery)."""
        with self.lock:
            for index, (job, outcome) in enumerate(items):
                self.held.pop(job.job_id, None)
                if codes is None:
                    self.counters.unconfirmed += 1
                elif codes[index] == 0:
                    self.counters.lost += 1
                elif outcome.outcome is not Outcome.DEFER:
                    self.counters.processed += 1
                    if outcome.outcome is not Outcome.DONE:
                        self.counters.failed += 1
