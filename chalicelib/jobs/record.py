"""The job record: the one place that knows its fields, its encoding, and the names of states
and outcomes, for Python and for the Lua scripts alike.

A job is stored as one JSON object in the queue's `job` hash. The Lua scripts change a few of its
fields at each state transition (state, lease token, times, retries, errors) and never touch the
rest. `params` and `result` are kept as JSON *strings* inside that object: Lua's cjson re-encodes
numbers with 14 significant digits, so a float such as 0.30000000000000004 would come back
changed if the scripts decoded and re-encoded it. As opaque strings they travel unchanged.

The scripts get their state numbers and outcome names from `lua_constants()`, which is generated
from the enums below and put in front of every script when it is loaded: one source of truth.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from .model import JobState, JobStatus


class Outcome(str, Enum):
    """How one attempt ended, as the worker reports it to the finish script."""

    #: the handler returned success; the payload is the result's JSON
    DONE = "done"
    #: a permanent failure (the handler said so): FAILED at once, no retry
    FAIL = "fail"
    #: a failure worth another try, while tries are left; the payload is the error text
    RETRY = "retry"
    #: not run, and not charged: it goes back to RETRYING until a later time
    DEFER = "defer"


#: how many errors of earlier attempts a record keeps, newest last
ERRORS_KEPT = 5
#: the error of a job ended by a cancel (its record also says `cancelled`)
CANCELLED = "cancelled"
#: how long the tokens that wake a job's waiters stay, when nobody takes them (seconds)
WAKE_TTL_S = 60
#: fields of the record beyond the scripts' own: `cancel` (a cancel was asked while ACTIVE),
#: `cancelled` (ended by a cancel), `progress` (a handler's last report, a JSON string),
#: `callback` (the URL told when the job ends), `callback_id` (the job delivering it)


def compact_json(value: object) -> str:
    """JSON without spaces and without NaN or Infinity (ValueError, TypeError if not JSON)."""
    return json.dumps(value, allow_nan=False, separators=(",", ":"))


def new_record(
    job_id: str,
    job_type: str,
    queue: str,
    params_json: str,
    *,
    now: float,
    run_at: float,
    max_retry: int,
    timeout_s: float,
    extra: Mapping[str, Any] | None = None,
) -> str:
    """The encoded record of a job just created: PENDING, or FUTURE when `run_at` is set.
    `extra` holds the fields of its options (`unique`, `deadline`, `retention`, `tick`...)."""
    record: dict[str, Any] = {
        "id": job_id,
        "type": job_type,
        "queue": queue,
        "params": params_json,
        "state": JobState.FUTURE if run_at else JobState.PENDING,
        "max_retry": max_retry,
        "timeout": timeout_s,
        "retried": 0,
        "created_at": now,
    }
    record["next_run_at" if run_at else "pending_since"] = run_at or now
    record.update(extra or {})
    return compact_json(record)


@dataclass(frozen=True)
class LeasedJob:
    """What a worker needs of a job it took: decoded once, at dequeue."""

    job_id: str
    job_type: str
    params_json: str
    retried: int
    #: seconds one attempt may run; None: the controller's default
    timeout_s: float | None
    #: times its lease expired before its start was recorded: its worker then records the
    #: start before running it, so that a handler that kills its worker is charged
    recovered: int = 0
    #: hash naming its unique lock (`unique_for`), released when the job ends for good
    unique: str = ""
    #: Unix time past which it is not started and its run fails; None: no deadline
    deadline: float | None = None
    #: a cancel was asked for it (while ACTIVE): it is not started
    cancel: bool = False
    #: it has a callback_url: its end puts it in the outbox
    callback: bool = False

    @classmethod
    def decode(cls, raw: str | bytes) -> LeasedJob:
        record = json.loads(raw)
        timeout = record.get("timeout")
        return cls(
            job_id=record["id"],
            job_type=record["type"],
            params_json=record["params"],
            retried=int(record.get("retried", 0)),
            timeout_s=float(timeout) if timeout else None,
            recovered=int(record.get("recovered", 0)),
            unique=record.get("unique", ""),
            deadline=record.get("deadline"),
            cancel=bool(record.get("cancel")),
            callback=bool(record.get("callback")),
        )


def decode_status(job_id: str, queue: str, raw: str | bytes, now: float) -> JobStatus | None:
    """The status a record shows at `now`; None when it is a COMPLETED job past its retention
    (trimming may not have deleted it yet)."""
    record = json.loads(raw)
    state = JobState(record["state"])
    if state is JobState.COMPLETED and record.get("expires_at", math.inf) <= now:
        return None
    return JobStatus(
        job_id=job_id,
        state=state,
        job_type=record["type"],
        queue=queue,
        result=json.loads(record["result"]) if "result" in record else None,
        error=record.get("error"),
        retried=int(record.get("retried", 0)),
        max_retry=int(record["max_retry"]),
        created_at=float(record["created_at"]),
        completed_at=record.get("completed_at"),
        next_run_at=record.get("next_run_at"),
        cancelled=bool(record.get("cancelled")),
        progress=json.loads(record["progress"]) if "progress" in record else None,
        callback_url=record.get("callback"),
        callback_id=record.get("callback_id"),
    )


def encode_progress(fraction: float, message: str | None) -> str:
    """A handler's progress report as the record keeps it (a JSON string, which the scripts
    store without decoding)."""
    report: dict[str, Any] = {"fraction": fraction}
    if message is not None:
        report["message"] = message
    return compact_json(report)


def pending_since(raw: str | bytes) -> float:
    """When a PENDING job became ready (its creation, for records that predate the field)."""
    record = json.loads(raw)
    return float(record.get("pending_since", record["created_at"]))


def lua_constants() -> str:
    """Lua source defining STATE.<NAME> and OUTCOME.<NAME> from the Python enums, and
    ERRORS_KEPT, CANCELLED and WAKE_TTL_S, put in front of every script."""
    states = ", ".join(f"{s.name} = {int(s)}" for s in JobState)
    outcomes = ", ".join(f"{o.name} = '{o.value}'" for o in Outcome)
    return (
        f"local STATE = {{{states}}}\n"
        f"local OUTCOME = {{{outcomes}}}\n"
        f"local ERRORS_KEPT = {ERRORS_KEPT}\n"
        f"local CANCELLED = '{CANCELLED}'\n"
        f"local WAKE_TTL_S = {WAKE_TTL_S}\n"
    )
