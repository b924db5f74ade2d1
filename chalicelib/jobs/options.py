"""The options of a create call, named once (CreateOptions), and their checks. Each check names
its option in the InvalidJob it raises, and runs before anything is written."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypedDict

from .model import InvalidJob


class CreateOptions(TypedDict, total=False):
    """What `create_job` and `create_jobs` take besides the jobs, every field optional."""

    #: the queue the jobs go to (default "default")
    queue: str
    #: run after this many seconds, or at this time (Unix seconds or an aware datetime)
    process_in: float | None
    process_at: float | datetime | None
    #: tries after the first (default: the controller's max_retry)
    max_retry: int | None
    #: seconds one attempt may run (default: the controller's timeout)
    timeout: float | None
    #: a key that makes a repeated create return the first job (one job per call)
    idempotency_key: str | None
    #: seconds a unique job's lock is held at most: no second job of its type and params
    unique_for: float | None
    #: Unix seconds or an aware datetime: not started after it, failed if still running
    deadline: float | datetime | None
    #: seconds the result is kept, instead of the controller's retention
    retention: float | None
    #: where the jobs' ends are POSTed, signed
    callback_url: str | None


CREATE_OPTIONS = frozenset(CreateOptions.__annotations__)


def create_options(options: Mapping[str, Any]) -> CreateOptions:
    """`options` as CreateOptions; TypeError naming any unknown one (as a keyword would)."""
    unknown = set(options) - CREATE_OPTIONS
    if unknown:
        raise TypeError(f"unknown create options: {', '.join(sorted(unknown))}")
    return CreateOptions(**options)  # type: ignore[typeddict-item]


@dataclass(frozen=True)
class JobOptions:
    """Checked options of one create call, in seconds; None where not given."""

    #: how long at most a unique job's lock is held
    unique_for_s: float | None = None
    #: Unix time after which the job is not started, and past which a run is failed
    deadline: float | None = None
    #: seconds the result is kept, instead of the controller's retention
    retention_s: float | None = None

    def record_fields(self) -> dict[str, Any]:
        """The fields these options add to a job's record (none when not given)."""
        fields: dict[str, Any] = {}
        if self.deadline is not None:
            fields["deadline"] = self.deadline
        if self.retention_s is not None:
            fields["retention"] = self.retention_s
        return fields


def is_number(value: object) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def positive_seconds(name: str, value: object) -> float:
    """`value` as seconds, or InvalidJob naming the option: it must be a finite number > 0."""
    if not is_number(value) or float(value) <= 0:  # type: ignore[arg-type]
        raise InvalidJob(f"{name} must be a number of seconds > 0, got {value!r}")
    return float(value)  # type: ignore[arg-type]


def check_deadline(deadline: object, now: float, run_at: float) -> float:
    """The deadline as Unix seconds, or InvalidJob: a timezone-aware datetime or a Unix time,
    later than now and than the job's run time."""
    if isinstance(deadline, datetime):
        if deadline.tzinfo is None or deadline.utcoffset() is None:
            raise InvalidJob("deadline must be a timezone-aware datetime (or Unix seconds)")
        at = deadline.timestamp()
    elif is_number(deadline):
        at = float(deadline)  # type: ignore[arg-type]
    else:
        raise InvalidJob(f"deadline must be an aware datetime or Unix seconds, got {deadline!r}")
    if at <= now:
        raise InvalidJob(f"deadline {at:.3f} is already past (now {now:.3f})")
    if run_at and at <= run_at:
        raise InvalidJob("deadline falls before the job's process_at / process_in")
    return at


def job_options(
    now: float,
    run_at: float,
    *,
    unique_for: object = None,
    deadline: object = None,
    retention: object = None,
) -> JobOptions:
    """Check the options of a create call; raises InvalidJob naming the bad one."""
    return JobOptions(
        unique_for_s=None if unique_for is None else positive_seconds("unique_for", unique_for),
        deadline=None if deadline is None else check_deadline(deadline, now, run_at),
        retention_s=None if retention is None else positive_seconds("retention", retention),
    )
