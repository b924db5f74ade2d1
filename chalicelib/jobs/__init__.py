"""The jobs package: asynchronous jobs on Redis, with Asynq's states and the Go service's API.

Nothing outside this package knows a Redis key or script; see store.py for the layout.
"""

from .controller import JobController
from .inspector import DayStats, Inspector, JobInfo, JobPage, QueueInfo, WorkerInfo
from .model import (
    IdempotencyConflict,
    InvalidJob,
    InvalidJobId,
    InvalidSettings,
    JobError,
    JobNotFound,
    JobResult,
    JobState,
    JobStateConflict,
    JobStatus,
    JobStoreFull,
    JobsUnavailable,
    QueueNotFound,
    QueueStats,
    UnknownJobType,
)

__all__ = [
    "DayStats",
    "Inspector",
    "JobInfo",
    "JobPage",
    "JobStateConflict",
    "QueueInfo",
    "QueueNotFound",
    "WorkerInfo",
    "IdempotencyConflict",
    "InvalidJob",
    "InvalidJobId",
    "InvalidSettings",
    "JobController",
    "JobError",
    "JobNotFound",
    "JobResult",
    "JobState",
    "JobStatus",
    "JobsUnavailable",
    "JobStoreFull",
    "QueueStats",
    "UnknownJobType",
]
