"""The jobs package: asynchronous jobs on Redis, with Asynq's states and the Go service's API.

Nothing outside this package knows a Redis key or script; see store.py for the layout.
"""

from .controller import JobController
from .model import (
    DuplicateJob,
    IdempotencyConflict,
    InvalidJob,
    InvalidJobId,
    InvalidSettings,
    JobError,
    JobNotFound,
    JobResult,
    JobState,
    JobStatus,
    JobStoreFull,
    JobsUnavailable,
    QueueStats,
    SkipRetry,
    UnknownJobType,
)

__all__ = [
    "DuplicateJob",
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
    "SkipRetry",
    "UnknownJobType",
]
