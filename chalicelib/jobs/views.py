"""What the Inspector answers: a queue, a job, a page of jobs, a day and a worker, as an
operator sees them, each with its JSON form (the admin API's answers)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from .model import JobState
from .record import Record
from .store import StoredJob


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
    def decode(cls, job_id: str, queue: str, stored: StoredJob) -> JobInfo:
        record = Record.decode(stored.record, stored.active)
        return cls(
            job_id=job_id,
            queue=queue,
            job_type=record.fields["type"],
            params=json.loads(record.params_json),
            state=record.state,
            retried=int(record.fields.get("retried", 0)),
            max_retry=int(record.fields["max_retry"]),
            error=record.fields.get("error"),
            errors=list(record.fields.get("errors") or []),
            created_at=record.fields["created_at"],
            started_at=record.fields.get("started_at"),
            completed_at=record.fields.get("completed_at"),
            next_run_at=record.next_run_at,
            result=json.loads(record.result_json) if record.result_json is not None else None,
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
