"""The records a user of the jobs package holds: states, results, statuses and errors."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

#: queue names allowed in job ids and Redis keys
QUEUE_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


class JobState(IntEnum):
    """Asynq's state codes, with the names of the Go service this API follows."""

    #: a worker holds it, under a lease
    ACTIVE = 1
    #: ready to run
    PENDING = 2
    #: scheduled for later (process_in / process_at)
    FUTURE = 3
    #: failed, waiting for its next try
    RETRYING = 4
    #: out of retries, or failed permanently; kept for inspection
    FAILED = 5
    #: done; the result is kept for the retention period
    COMPLETED = 6


@dataclass(frozen=True)
class JobResult:
    """What a handler returns. success=False fails the job at once, without retries."""

    success: bool
    msg: str = ""
    res: Any = None


@dataclass(frozen=True)
class JobStatus:
    """A job as `get_status` read it, in one round trip. Times are Unix seconds."""

    job_id: str
    state: JobState
    job_type: str
    queue: str
    result: Any
    error: str | None
    retried: int
    max_retry: int
    created_at: float
    completed_at: float | None
    next_run_at: float | None
    #: it ended FAILED because of a cancel (its error is "cancelled")
    cancelled: bool = False
    #: the handler's last report, {"fraction": 0.4, "message": "..."}; None if it made none
    progress: dict[str, Any] | None = None
    #: where its outcome is POSTed when it ends; None for no callback
    callback_url: str | None = None
    #: the id of the job delivering its callback (in the "callbacks" queue), once there is one
    callback_id: str | None = None

    @property
    def state_code(self) -> int:
        return int(self.state)

    @property
    def status(self) -> str:
        return self.state.name

    def body(self) -> dict[str, Any]:
        """What the API answers for it (and a callback carries): state code, status name,
        result (null until there is one), and, when there are, the error of a failed attempt,
        `cancelled`, the handler's progress and the id of its callback's delivery."""
        body: dict[str, Any] = {
            "state_code": self.state_code,
            "status": self.status,
            "res": self.result,
        }
        if self.error is not None:
            body["error"] = self.error
        if self.cancelled:
            body["cancelled"] = True
        if self.progress is not None:
            body["progress"] = self.progress
        if self.callback_id is not None:
            body["callback_id"] = self.callback_id
        return body

    @property
    def finished(self) -> bool:
        """COMPLETED or FAILED: it will not change again (unless an operator retries it)."""
        return self.state in (JobState.COMPLETED, JobState.FAILED)


class JobError(Exception):
    """Base of every error the jobs package raises."""


class JobNotFound(JobError, LookupError):
    """No job has this id, or its result has passed its retention."""


class InvalidJobId(JobError, ValueError):
    """The id is not `<queue>@<uuid4>`."""


class InvalidJob(JobError, ValueError):
    """create_job cannot enqueue this: unknown type, non-JSON params, bad options."""


class JobStateConflict(InvalidJob):
    """An operator's action does not apply to the job in its present state (a retry of a
    COMPLETED job, a delete of an ACTIVE one)."""


class QueueNotFound(JobNotFound):
    """No job was ever created in this queue, and it is not one the workers are set to run."""


class UnknownJobType(InvalidJob):
    """No handler is registered for this job type."""


class InvalidSettings(JobError, ValueError):
    """A setting of the controller (an argument or a JOBS_* variable) has a bad value."""


class JobsUnavailable(JobError, ConnectionError):
    """Redis did not answer in time, or refused the call. `may_have_written` is True when the
    call reached Redis but its answer did not come back: it may have taken effect."""

    may_have_written: bool = False


class JobStoreFull(JobsUnavailable):
    """Redis is over its maxmemory and refuses new jobs: retrying soon will not help; the
    store needs room (results trimmed, memory raised)."""


class IdempotencyConflict(JobError):
    """The idempotency key is already held by a job with other params (or of another type).
    `job_id` is that job's id."""

    def __init__(self, message: str, job_id: str) -> None:
        super().__init__(message)
        self.job_id = job_id


class SkipRetry(JobError):
    """Raised by a handler: its job ends FAILED at once, with this message, without retries."""


class DuplicateJob(JobError):
    """A unique job (`unique_for`) of the same queue, type and params is still pending,
    scheduled, retrying or running. `job_id` is that job's id; `duplicates` lists, for each
    refused entry of the call, (its index, the id of the job holding its lock)."""

    def __init__(self, message: str, job_id: str, duplicates: list[tuple[int, str]]) -> None:
        super().__init__(message)
        self.job_id = job_id
        self.duplicates = duplicates


def check_queue_name(queue: object) -> str:
    """Return the queue name, or raise InvalidJob when it cannot be a queue."""
    if not isinstance(queue, str) or not QUEUE_NAME.fullmatch(queue):
        raise InvalidJob(f"queue name must match [A-Za-z0-9_-]{{1,64}}, got {queue!r}")
    return queue


def parse_job_id(job_id: object) -> tuple[str, str]:
    """Split `<queue>@<uuid4>` into (queue, job_id), or raise InvalidJobId."""
    if not isinstance(job_id, str) or "@" not in job_id:
        raise InvalidJobId(f"job id must look like 'default@<uuid4>', got {job_id!r}")
    queue, _, token = job_id.partition("@")
    if not QUEUE_NAME.fullmatch(queue):
        raise InvalidJobId(f"job id {job_id!r} has an invalid queue name {queue!r}")
    try:
        parsed = uuid.UUID(token)
    except ValueError:
        raise InvalidJobId(f"job id {job_id!r} does not end in a UUID") from None
    if str(parsed) != token.lower() or parsed.version != 4:
        raise InvalidJobId(f"job id {job_id!r} does not end in a version-4 UUID")
    return queue, job_id


def new_job_id(queue: str) -> str:
    return f"{queue}@{uuid.uuid4()}"


@dataclass(frozen=True)
class QueueStats:
    """How many jobs of a queue are in each state, its counters, and its backlog's age."""

    queue: str
    active: int
    pending: int
    future: int
    retrying: int
    failed: int
    completed: int
    #: attempts that ended (completed, failed or retried), since the queue began
    processed_total: int
    #: attempts that failed (including those retried)
    failed_total: int
    #: seconds since the oldest PENDING job became ready; None when nothing is pending
    oldest_pending_age_s: float | None
