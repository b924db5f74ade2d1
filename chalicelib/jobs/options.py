"""The per-job options beyond the basics: uniqueness, deadline, retention. Each check names its
option in the InvalidJob it raises, and runs before anything is written."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .model import InvalidJob


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
