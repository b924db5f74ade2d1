"""`current_job()`: what a running handler may know and say about its own job.

A handler slot sets it around each handler call (a context variable, so each slot thread sees
its own job); in process isolation the child process sets it around its handler, and its
progress reports travel back over the child's JSON pipe. Reports are not written one by one:
the worker's coordinator writes the latest report of each job with its next lease call to Redis
(at most every 0.1 s) and with the job's outcome, so a handler may report in a tight loop.
"""

from __future__ import annotations

import contextvars
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from .model import InvalidJob, JobError
from .record import encode_progress

#: longest progress message kept
MESSAGE_MAX_CHARS = 500


class NoCurrentJob(JobError, RuntimeError):
    """current_job() was called outside a job's handler."""


@dataclass(frozen=True)
class CurrentJob:
    """The job a handler runs for. `deadline` is Unix seconds (None: none)."""

    job_id: str
    queue: str
    retried: int
    deadline: float | None
    _report: Callable[[str], None] = field(repr=False)
    _cancelled: Callable[[], bool] = field(repr=False, default=lambda: False)

    def info(self) -> dict[str, Any]:
        """What a child process needs to make its own CurrentJob (JSON)."""
        return {
            "id": self.job_id, "queue": self.queue, "retried": self.retried,
            "deadline": self.deadline,
        }  # fmt: skip

    @property
    def cancelled(self) -> bool:
        """A cancel was asked for this job: the handler may stop early (its job ends FAILED
        "cancelled" unless it completes). Learnt within about a second of the cancel; always
        False in process isolation."""
        return self._cancelled()

    def report_progress(self, fraction: float, message: str | None = None) -> None:
        """Say how far the job is (0.0 to 1.0) and, optionally, what it does: GET shows the
        latest report as `progress` while the job runs and after. Cheap: reports are written
        in the worker's batched calls, the latest one winning. Raises InvalidJob for a
        fraction outside [0, 1] or a message that is not a string."""
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)):
            raise InvalidJob(f"progress is a number from 0 to 1, got {fraction!r}")
        if not (math.isfinite(fraction) and 0 <= fraction <= 1):
            raise InvalidJob(f"progress is a number from 0 to 1, got {fraction!r}")
        if message is not None and not isinstance(message, str):
            raise InvalidJob(f"a progress message is a string, got {type(message).__name__}")
        self._report(encode_progress(float(fraction), message and message[:MESSAGE_MAX_CHARS]))


#: the current job, or what makes it on demand (most handlers never ask: the slots' hot path
#: sets a bound method, not a CurrentJob)
Current = CurrentJob | Callable[[], CurrentJob]
_current: contextvars.ContextVar[Current | None] = contextvars.ContextVar(
    "current_job", default=None
)


def current_job() -> CurrentJob:
    """The job whose handler is running in this thread. Raises NoCurrentJob elsewhere."""
    job = _current.get()
    if job is None:
        raise NoCurrentJob("current_job() is only known inside a job's handler, while it runs")
    return job if isinstance(job, CurrentJob) else job()


def enter(job: Current) -> contextvars.Token[Current | None]:
    """Make `job` (or what makes it) the current job until leave(token): the slots' hot
    path, without the cost of a context manager."""
    return _current.set(job)


def leave(token: contextvars.Token[Current | None]) -> None:
    _current.reset(token)


@contextmanager
def running(job: CurrentJob) -> Iterator[None]:
    """Make `job` the current job for the handler call inside this block."""
    token = _current.set(job)
    try:
        yield
    finally:
        _current.reset(token)
