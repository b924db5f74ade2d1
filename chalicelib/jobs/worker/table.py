"""The in-flight table: every job a worker holds, from its dequeue until its outcome is written,
and the decisions taken over it (pure functions of the table and a time, tested without Redis
or threads).

Only the coordinator changes the table; it has no lock. Handler slots touch a held job in two
ways only: a slot claims a job it was handed (`Table.claim`, one atomic dict pop, so a job
handed back at the same moment either runs or goes back, never both), and a running handler
writes its latest progress report into its job (`Held.progress`, the coordinator reads it when
it next calls Redis). The coordinator sets `Held.cancel`, which the handler may read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from ..current import CurrentJob
from ..record import LeasedJob, Outcome
from ..store import AttemptOutcome

#: most jobs taken in one dequeue call
BATCH_MAX = 200
#: a worker holds, beyond its running jobs, about this many seconds of work (see prefetch())
PREFETCH_WINDOW_S = 0.05
#: outcomes wait this long at most for more to write with them, while jobs are running
FLUSH_LINGER_S = 0.002
#: outcomes written in one call at once when this many are waiting
FLUSH_BATCH = 100
#: a handler still running this long after its start gets its start recorded in Redis
RECORD_START_AFTER_S = 0.002


class Phase(Enum):
    #: taken from Redis, not yet claimed by a handler slot
    LEASED = "leased"
    #: claimed by a slot: its handler runs (or is about to)
    RUNNING = "running"
    #: it ended; its outcome waits to be written (or was)
    DONE = "done"
    #: given back to PENDING: whatever its handler returns is dropped
    HANDED_BACK = "handed back"
    #: its handler ran past its timeout: the attempt failed; the late outcome is dropped
    OVERRAN = "overran"


@dataclass(eq=False, slots=True)
class Held:
    """A job a worker holds under a lease."""

    job: LeasedJob
    queue: str
    token: str
    job_id: str = field(init=False)
    phase: Phase = Phase.LEASED
    #: monotonic times of its start and of its timeout (set when its slot says it started)
    started: float = 0.0
    deadline: float = 0.0
    #: its start is known to Redis (an expired lease then charges the attempt)
    start_recorded: bool = False
    #: a cancel was asked for it (set by the coordinator, read by the handler)
    cancel: bool = False
    #: its handler's latest progress report (JSON; written by the handler's thread), and the
    #: one last sent to Redis (the coordinator's)
    progress: str = ""
    progress_sent: str = ""

    def __post_init__(self) -> None:
        self.job_id = self.job.job_id

    def current(self) -> CurrentJob:
        """What its handler may know and say of it (`current_job()`)."""
        job = self.job
        return CurrentJob(
            self.job_id, self.queue, job.retried, job.deadline, self.report, self.cancelled
        )

    def report(self, progress: str) -> None:
        """A handler's progress report (its thread's): the latest wins; the coordinator
        sends it."""
        self.progress = progress

    def cancelled(self) -> bool:
        return self.cancel

    def outcome(self, kind: Outcome, payload: str, retry_at: float = 0.0) -> AttemptOutcome:
        """How this attempt ended, ready for the finish script (with the job's unique lock,
        released when it ends, and its handler's latest progress report)."""
        return AttemptOutcome(
            self.job_id, self.token, kind, payload, retry_at, self.job.unique, self.progress
        )


@dataclass
class Counters:
    """This worker's totals since it began."""

    processed: int = 0
    failed: int = 0
    #: outcomes not written because the lease was no longer ours
    lost: int = 0
    #: outcomes whose write Redis never confirmed (the worker gave up retrying)
    unconfirmed: int = 0


class Table:
    """The held jobs, and the outcomes waiting to be written. The coordinator's alone."""

    def __init__(self, concurrency: int) -> None:
        self.concurrency = concurrency
        self.held: dict[str, Held] = {}
        #: the held jobs that are RUNNING (what the lease and overrun steps look at)
        self.running: dict[str, Held] = {}
        #: jobs handed to the slots and not yet claimed by one (see claim())
        self.unclaimed: dict[str, Held] = {}
        #: jobs that must run alone (see Coordinator), oldest first, not yet handed to a slot
        self.alone: list[Held] = []
        #: the job running alone now, if any
        self.alone_running: Held | None = None
        #: handed to the slots, and neither ended nor taken back
        self.in_slots = 0
        self.outcomes: list[tuple[Held, AttemptOutcome]] = []
        #: monotonic time the oldest unwritten outcome was queued
        self.oldest_outcome = 0.0
        self.counters = Counters()
        #: how long a handler runs, on average (a moving average); None until one ran
        self.mean_run_s: float | None = None
        #: jobs whose overrun handler still runs in one of this worker's threads
        self.stuck: set[str] = set()

    def claim(self, job: Held) -> bool:
        """A slot's claim of a job it was handed: False when the job was taken back first.
        Called from slot threads: one dict pop, atomic, is the only thing it does."""
        return self.unclaimed.pop(job.job_id, None) is not None

    def take_back(self, job: Held) -> bool:
        """The coordinator's claim of an unclaimed job (to hand it back): True when no slot
        claimed it first."""
        if self.unclaimed.pop(job.job_id, None) is None:
            return False
        self.in_slots -= 1
        if self.alone_running is job:
            self.alone_running = None
        return True

    @property
    def unfinished(self) -> int:
        """Held jobs whose outcome is not yet queued: what occupies a slot or the prefetch."""
        return self.in_slots + len(self.alone) + (self.alone_running is not None)

    def start(self, job: Held, started: float, watch_s: float) -> None:
        """A slot said the job started at monotonic `started`; it overruns `watch_s` later.
        A job handed back meanwhile is not watched."""
        job.started, job.deadline = started, started + watch_s
        if job.phase is Phase.LEASED:
            job.phase = Phase.RUNNING
            self.running[job.job_id] = job

    def leave(self, job: Held, phase: Phase) -> None:
        """The job leaves RUNNING (or LEASED) for `phase`."""
        job.phase = phase
        self.running.pop(job.job_id, None)

    def prefetch(self) -> int:
        """How many jobs to hold beyond those running: about PREFETCH_WINDOW_S of work.

        Quick jobs come in batches of up to BATCH_MAX (a round trip per batch, not per job);
        slow ones are taken only as slots free up, so they stay PENDING for other workers
        instead of waiting, ACTIVE, behind this worker's running jobs."""
        if self.mean_run_s is None:
            return self.concurrency
        return min(
            BATCH_MAX, int(self.concurrency * PREFETCH_WINDOW_S / max(self.mean_run_s, 1e-6))
        )

    def room(self) -> int:
        """How many jobs to take now: 0 when too few would fit for a batch to be worth it, or
        while jobs wait to run alone."""
        if self.alone or self.alone_running is not None:
            return 0
        prefetch = self.prefetch()
        room = self.concurrency + prefetch - self.unfinished
        return room if room >= max(1, prefetch // 2) else 0

    def ran(self, ran_s: float) -> None:
        mean_s = self.mean_run_s
        self.mean_run_s = ran_s if mean_s is None else mean_s + 0.1 * (ran_s - mean_s)

    def queue_outcome(self, job: Held, outcome: AttemptOutcome, now_mono: float) -> None:
        if not self.outcomes:
            self.oldest_outcome = now_mono
        self.outcomes.append((job, outcome))

    def flush_due(self, now_mono: float) -> float | None:
        """When the waiting outcomes are to be written: now when many wait, or nothing else
        is about to end; else once the oldest has lingered FLUSH_LINGER_S. None: nothing
        waits."""
        if not self.outcomes:
            return None
        if len(self.outcomes) >= FLUSH_BATCH or self.unfinished == 0:
            return now_mono
        return self.oldest_outcome + FLUSH_LINGER_S

    def overrunning(self, now_mono: float) -> list[Held]:
        return [j for j in self.running.values() if now_mono > j.deadline]

    def starts_due(self, now_mono: float) -> list[Held]:
        """RUNNING jobs whose start Redis does not know and that ran RECORD_START_AFTER_S."""
        before = now_mono - RECORD_START_AFTER_S
        return [j for j in self.running.values() if not j.start_recorded and j.started <= before]

    def next_start_due(self) -> float | None:
        """When the next unrecorded start falls due (monotonic), None for none."""
        starts = [j.started for j in self.running.values() if not j.start_recorded]
        return min(starts) + RECORD_START_AFTER_S if starts else None

    def next_overrun(self) -> float | None:
        deadlines = [j.deadline for j in self.running.values()]
        return min(deadlines) if deadlines else None

    def progress_unsent(self) -> bool:
        """A running handler reported progress that Redis has not been sent yet."""
        return any(j.progress != j.progress_sent for j in self.running.values())

    def forget_in_flight(self) -> None:
        """Let go of every held job and unwritten outcome (a new coordinator starts clean)."""
        self.held.clear()
        self.running.clear()
        self.unclaimed.clear()
        self.alone, self.alone_running, self.in_slots, self.outcomes = [], None, 0, []

    def forget(self, jobs: list[Held]) -> None:
        for job in jobs:
            self.held.pop(job.job_id, None)

    def written(self, items: list[tuple[Held, AttemptOutcome]], codes: list[int] | None) -> None:
        """Count the outcomes the finish script answered (a 0 code: the lease was lost, nothing
        was written), or, with `codes` None, outcomes whose write was given up (Redis did not
        confirm it: their jobs are left to lease recovery)."""
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
