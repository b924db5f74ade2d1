"""The Inspector: what an operator sees of the queues, and what they may do to a job.

Asynq's `inspector.go` in this package's terms. Every call costs a bounded number of round trips
(stated on each) on a single Redis as on a Redis Cluster: lists of jobs come a page at a time,
walked with a cursor over the per-state keys, never the whole queue. Errors are the
controller's: InvalidJobId, JobNotFound (QueueNotFound for a queue), JobStateConflict for an
action the job's state does not allow, JobsUnavailable when Redis does not answer.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from .config import Settings
from .model import (
    InvalidJob,
    JobNotFound,
    JobState,
    JobStateConflict,
    QueueNotFound,
    check_queue_name,
    parse_job_id,
)
from .record import pending_since
from .store import MAINTENANCE_BATCH, Store
from .worker.fetch import day_of
from .worker.leases import HEARTBEAT_S

#: a heartbeat older than this is a worker that died or lost Redis: not listed as live
WORKER_STALE_S = 3 * HEARTBEAT_S
#: most jobs on one page, and the most days of history
MAX_PAGE = 500
MAX_DAYS = 90
#: how many ids of a page its cursor keeps: if the last has left its state, the first of the
#: others still there marks the place (PENDING jobs only: see scripts/page.lua)
CURSOR_IDS = 3
RETRYABLE = (JobState.FAILED, JobState.RETRYING, JobState.FUTURE)


@dataclass(frozen=True)
class QueueInfo:
    name: str
    #: workers take nothing from a paused queue; jobs can still be created in it
    paused: bool
    #: jobs in each state, by state name (ACTIVE, PENDING, FUTURE, RETRYING, FAILED, COMPLETED)
    counts: dict[str, int]
    #: attempts that ended today (UTC), and those of them that failed
    processed_today: int
    failed_today: int
    #: seconds since the oldest PENDING job became ready; 0 when none is pending
    oldest_pending_s: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class JobInfo:
    """Everything the record of a job holds that an operator may want. Times are Unix seconds."""

    job_id: str
    queue: str
    job_type: str
    params: Any
    state: JobState
    retried: int
    max_retry: int
    #: the latest failed attempt's error, and the last few (oldest first)
    error: str | None
    errors: list[str]
    created_at: float
    started_at: float | None
    completed_at: float | None
    next_run_at: float | None
    result: Any

    @classmethod
    def decode(cls, raw: str) -> JobInfo:
        record = json.loads(raw)
        return cls(
            job_id=record["id"],
            queue=record["queue"],
            job_type=record["type"],
            params=json.loads(record["params"]),
            state=JobState(record["state"]),
            retried=int(record.get("retried", 0)),
            max_retry=int(record["max_retry"]),
            error=record.get("error"),
            # cjson writes an empty Lua table as {}
            errors=list(record.get("errors") or []),
            created_at=float(record["created_at"]),
            started_at=record.get("started_at"),
            completed_at=record.get("completed_at"),
            next_run_at=record.get("next_run_at"),
            result=json.loads(record["result"]) if "result" in record else None,
        )

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape the admin API and the CLI show: `id`, `type`, `state` by name."""
        body = asdict(self)
        body["id"] = body.pop("job_id")
        body["type"] = body.pop("job_type")
        body["state"] = self.state.name
        return body


@dataclass(frozen=True)
class JobPage:
    jobs: list[JobInfo]
    #: pass it back for the next page; None on the last page
    cursor: str | None


@dataclass(frozen=True)
class DayStats:
    date: str
    processed: int
    failed: int


@dataclass(frozen=True)
class WorkerInfo:
    worker_id: str
    host: str
    pid: int
    queues: list[str]
    concurrency: int
    started_at: float
    last_seen: float
    #: jobs its handler threads are running
    running: int
    stuck: int = 0
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    def as_dict(self) -> dict[str, Any]:
        body = asdict(self)
        body["id"] = body.pop("worker_id")
        del body["extra"]
        return body


class Inspector:
    """Read and act on the queues of one Redis, as the controller that made it sees them
    (`controller.inspector` shares its connection)."""

    def __init__(self, store: Store, settings: Settings, clock: Callable[[], float]) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock

    # -- queues --------------------------------------------------------------------------------

    def queue_names(self) -> list[str]:
        """The configured queues, then every other queue a job was created in. One round trip."""
        configured = list(self.settings.queues)
        return configured + [q for q in self.store.known_queues() if q not in configured]

    def queues(self) -> list[QueueInfo]:
        """Every queue (see queue_names) with its counts, pause flag, today's counters and
        backlog age. Two round trips (on a cluster, the second is one per node)."""
        names = self.queue_names()
        now = self.clock()
        infos = []
        for name, reply in zip(names, self.store.overviews(names, day_of(now)), strict=True):
            counts = [int(n) for n in reply[:6]]
            oldest = reply[9]
            infos.append(
                QueueInfo(
                    name=name,
                    paused=bool(int(reply[6])),
                    counts={s.name: n for s, n in zip(JobState, counts, strict=True)},
                    processed_today=int(reply[7]),
                    failed_today=int(reply[8]),
                    oldest_pending_s=max(0.0, now - pending_since(oldest)) if oldest else 0.0,
                )
            )
        return infos

    def pause(self, queue: str) -> bool:
        """Stop workers (and drain) taking jobs from the queue; creating jobs still works.
        Returns False when it was paused already. At most two round trips."""
        self._require_queue(queue)
        return self.store.set_paused(queue, True)

    def resume(self, queue: str) -> bool:
        """Let workers take the queue's jobs again, at once. Returns False when it was not
        paused. At most two round trips."""
        self._require_queue(queue)
        return self.store.set_paused(queue, False)

    def history(self, queue: str, days: int = 7) -> list[DayStats]:
        """Processed and failed attempts per day (UTC), one row a day for the last `days`
        days, oldest first, today last. At most two round trips."""
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
            raise InvalidJob(f"days must be an integer from 1 to {MAX_DAYS}, got {days!r}")
        self._require_queue(queue)
        now = self.clock()
        dates = [day_of(now - 86400 * n) for n in range(days - 1, -1, -1)]
        counts = self.store.day_counts(queue, dates)
        return [DayStats(d, p, f) for d, (p, f) in zip(dates, counts, strict=True)]

    def retry_failed(self, queue: str) -> int:
        """Make every FAILED job of the queue PENDING now, with a fresh retry budget; returns
        how many. One round trip per MAINTENANCE_BATCH jobs (and one more to check the queue
        when it had none)."""
        check_queue_name(queue)
        total = 0
        while True:
            moved = self.store.retry_failed(queue, self.clock())
            total += moved
            if moved < MAINTENANCE_BATCH:
                break
        if total == 0:
            self._require_queue(queue)
        return total

    # -- jobs ----------------------------------------------------------------------------------

    def jobs(
        self, queue: str, state: JobState | str, *, limit: int = 50, cursor: str | None = None
    ) -> JobPage:
        """A page of up to `limit` (1 to MAX_PAGE) jobs of the queue in `state` (a JobState or
        its name), and the cursor of the next page (None on the last). A job that stays in its
        state is on exactly one page. PENDING jobs come oldest first, ACTIVE ones by id, the
        others by time (run time, next try, failure, expiry of the result). One round trip
        (two for an empty first page, to tell an unknown queue)."""
        check_queue_name(queue)
        job_state = _parse_state(state)
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE:
            raise InvalidJob(f"limit must be an integer from 1 to {MAX_PAGE}, got {limit!r}")
        score, after = _decode_cursor(cursor) if cursor else ("", [])
        rows = self.store.page(queue, job_state, limit + 1, score, after)
        if not rows and cursor is None:
            self._require_queue(queue)
        page = rows[:limit]
        jobs = [JobInfo.decode(record) for _, _, record in page if record]
        next_cursor = None
        if len(rows) > limit:
            ids = [job_id for job_id, _, _ in reversed(page[-CURSOR_IDS:])]
            next_cursor = _encode_cursor(page[-1][1], ids)
        return JobPage(jobs, next_cursor)

    def job(self, job_id: str) -> JobInfo:
        """Everything about one job, in one round trip. Raises InvalidJobId, JobNotFound."""
        queue, job_id = parse_job_id(job_id)
        raw = self.store.get(queue, job_id)
        if raw is None:
            raise JobNotFound(f"no job {job_id}")
        return JobInfo.decode(raw)

    def retry(self, job_id: str) -> None:
        """Make a FAILED, RETRYING or FUTURE job PENDING now: a FAILED one keeps its errors and
        gets a fresh retry budget. One round trip. Raises JobStateConflict for a job in
        another state, InvalidJobId, JobNotFound."""
        queue, job_id = parse_job_id(job_id)
        moved, (state,) = self.store.retry(queue, [job_id], self.clock())
        if moved:
            return
        if not state:
            raise JobNotFound(f"no job {job_id}")
        allowed = ", ".join(s.name for s in RETRYABLE)
        raise JobStateConflict(
            f"job {job_id} is {JobState(state).name}: only {allowed} jobs can be retried"
        )

    def delete(self, job_id: str) -> None:
        """Delete a job in any state but ACTIVE (a worker holds it: wait, or let it fail).
        One round trip. Raises JobStateConflict for an ACTIVE job, InvalidJobId, JobNotFound."""
        queue, job_id = parse_job_id(job_id)
        state = self.store.delete(queue, job_id)
        if not state:
            raise JobNotFound(f"no job {job_id}")
        if state == JobState.ACTIVE:
            raise JobStateConflict(
                f"job {job_id} is ACTIVE: a worker holds it, it cannot be deleted"
            )

    # -- workers -------------------------------------------------------------------------------

    def workers(self) -> list[WorkerInfo]:
        """The long-running workers whose heartbeat is fresh (at most WORKER_STALE_S old), by
        id. One round trip."""
        now = self.clock()
        live = []
        for worker_id, raw in sorted(self.store.workers().items()):
            try:
                beat = json.loads(raw)
                info = WorkerInfo(
                    worker_id=worker_id,
                    host=str(beat["host"]),
                    pid=int(beat["pid"]),
                    queues=list(beat["queues"]),
                    concurrency=int(beat["concurrency"]),
                    started_at=float(beat["started_at"]),
                    last_seen=float(beat["last_seen"]),
                    running=int(beat.get("running", 0)),
                    stuck=int(beat.get("stuck", 0)),
                    extra=beat,
                )
            except (ValueError, KeyError, TypeError):
                continue  # not a heartbeat this version writes
            if now - info.last_seen <= WORKER_STALE_S:
                live.append(info)
        return live

    # -- helpers -------------------------------------------------------------------------------

    def _require_queue(self, queue: str) -> None:
        check_queue_name(queue)
        if queue not in self.settings.queues and not self.store.is_known_queue(queue):
            raise QueueNotFound(f"no queue {queue!r}: no job was ever created in it")


def _parse_state(state: JobState | str) -> JobState:
    if isinstance(state, JobState):
        return state
    if isinstance(state, str) and state.upper() in JobState.__members__:
        return JobState[state.upper()]
    names = ", ".join(s.name for s in JobState)
    raise InvalidJob(f"state must be one of {names}, got {state!r}")


def _encode_cursor(score: str, ids: Sequence[str]) -> str:
    raw = json.dumps([score, list(ids)], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[str, list[str]]:
    """The (score, ids) a cursor holds; InvalidJob when it is not one this module made."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        score, ids = json.loads(raw)
        if not (isinstance(score, str) and isinstance(ids, list) and ids):
            raise ValueError
        if score and not re.fullmatch(
            r"-?[0-9]{1,20}(\.[0-9]{1,20})?(e[-+]?[0-9]{1,3})?", score, re.I
        ):
            raise ValueError  # not a score Redis wrote: Redis would refuse it (a 503)
        if not all(isinstance(i, str) and len(i) <= 200 for i in ids[:CURSOR_IDS]):
            raise ValueError
        return score, ids[:CURSOR_IDS]
    except (ValueError, TypeError, binascii.Error):
        raise InvalidJob(f"not a cursor this API gave: {cursor[:40]!r}") from None
