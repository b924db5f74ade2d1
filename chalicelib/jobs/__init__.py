"""The jobs package: asynchronous jobs on Redis, with Asynq's states and the Go service's API.

Nothing outside this package knows a Redis key or script; see store/keys.py for the layout.
"""

from .callbacks import verify_callback
from .controller import JobController
from .current import CurrentJob, NoCurrentJob, current_job
from .inspector import Inspector
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
    JobStateConflict,
    JobStatus,
    JobStoreFull,
    JobsUnavailable,
    QueueNotFound,
    QueueStats,
    SkipRetry,
    UnknownJobType,
)
from .views import DayStats, JobInfo, JobPage, QueueInfo, WorkerInfo

__all__ = [
    "CurrentJob",
    "NoCurrentJob",
    "current_job",
    "verify_callback",
    "DayStats",
    "DuplicateJob",
    "IdempotencyConflict",
    "Inspector",
    "InvalidJob",
    "InvalidJobId",
    "InvalidSettings",
    "JobController",
    "JobError",
    "JobInfo",
    "JobNotFound",
    "JobPage",
    "JobResult",
    "JobState",
    "JobStateConflict",
    "JobStatus",
    "JobStoreFull",
    "JobsUnavailable",
    "QueueInfo",
    "QueueNotFound",
    "QueueStats",
    "SkipRetry",
    "UnknownJobType",
    "WorkerInfo",
]
