"""The job record: the one place that knows its fields, its encoding, and the names of states
and outcomes, for Python and for the Lua scripts alike.

A job is one value in its queue's `job` hash, written when it is created and rewritten only when
it settles (RETRYING, COMPLETED, FAILED, an operator's action). The value is up to four lines,
each compact JSON (which never holds a raw newline):

    <state digit>{header}     what the job is: written once, at create
    {params}                  the params as the client sent them
    {outcome}                 what its attempts left: written when it settles (absent before)
    result                    the result's JSON (COMPLETED only)

While a job runs, what changes lives in the queue's `active` hash (`ActiveEntry`); its record
still says PENDING then. Fields have short keys (tables below), are left out when default, and
hold times as integer ms after `created_at`. The scripts never decode the header, the params or
the result (Lua's cjson re-encodes numbers with 14 significant digits): they read header fields
by key, and rewrite only the outcome line (integers and strings). `lua_constants()` hands them
the state numbers, outcome names and field keys: one source of truth.
"""

from __future__ import annotations

import json
import math
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


#: this layout's version: a queue's stats `layout` once it holds no older record (store/legacy.py)
LAYOUT = "2"
#: how many errors of earlier attempts a record keeps, newest last
ERRORS_KEPT = 5
#: the error of a job ended by a cancel (its record also says `cancelled`)
CANCELLED = "cancelled"
#: how long the tokens that wake a job's waiters stay, when nobody takes them (seconds)
WAKE_TTL_S = 60
#: characters of the lease token of the attempt that settled a job its record keeps (tokens are
#: random hex: enough to tell a repeated finish from a stale worker's)
TOKEN_KEPT = 6
#: how long a result is kept (ms after completed_at) when the record says nothing else
KEPT_DEFAULT_MS = 86_400_000
#: fields left out when they hold these values
DEFAULTS: dict[str, Any] = {"max_retry": 3, "timeout": 30.0, "kept_ms": KEPT_DEFAULT_MS}
#: created_at is held as ms after this Unix time in ms (2025-01-01 UTC): two digits fewer
EPOCH_MS = 1_735_689_600_000

#: the header: what a job is, written once at create. name -> key
HEADER = {
    "type": "t",
    "created_at": "c",  # ms after EPOCH_MS
    "max_retry": "m",
    "timeout": "o",  # seconds
    "run_at": "a",  # FUTURE at create: when it falls due
    "deadline": "dl",  # not started past it, and its run fails
    "retention": "rt",  # seconds its result is kept, instead of the worker's setting
    "unique": "u",  # hash naming its unique lock
    "callback": "cb",  # the URL its end is POSTed to
    "periodic": "pe",  # the periodic entry that made it
    "tick": "tk",  # that entry's tick (Unix seconds)
}
#: the outcome: what its attempts left, written when it settles. name -> key
OUTCOME = {
    "token": "k",  # TOKEN_KEPT characters of the lease token of the attempt that settled it
    "retried": "n",  # charged attempts
    "started_at": "s",  # left out when it equals completed_at (and a token says who settled it)
    "completed_at": "d",
    "kept_ms": "x",  # COMPLETED: its result is kept this long after completed_at
    "next_run_at": "w",  # RETRYING: its next try
    "pending_since": "ps",  # returned or retried to PENDING then
    "error": "er",  # the latest failed attempt's error
    "errors": "es",  # the last ERRORS_KEPT errors, oldest first
    "cancelled": "cx",  # 1: it ended FAILED because of a cancel
    "progress": "g",  # the handler's last report (a JSON string)
    "recovered": "rc",  # times its lease expired before its start was recorded
    "orphaned": "or",  # times its lease expired after it started
    "callback_id": "ci",  # the job delivering its callback
}
#: fields held as integer ms after created_at
TIMES = frozenset(
    {"run_at", "deadline", "started_at", "completed_at", "next_run_at", "pending_since"}
)
_NAMES = {key: name for name, key in (HEADER | OUTCOME).items()}


def compact_json(value: object) -> str:
    """JSON without spaces and without NaN or Infinity (ValueError, TypeError if not JSON)."""
    return json.dumps(value, allow_nan=False, separators=(",", ":"))


def to_ms(seconds: float) -> int:
    return math.floor(seconds * 1000)


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
    extra: dict[str, Any] | None = None,
) -> str:
    """The encoded record of a job just created: PENDING, or FUTURE when `run_at` is set. `extra`
    holds its options' fields (`unique`, `deadline`, `retention`, `callback`, `periodic`, `tick`).
    The id and queue are the record's place, not part of it."""
    del job_id, queue
    header = {"type": job_type, "created_at": now, "max_retry": max_retry,
              "timeout": timeout_s, "run_at": run_at or None, **(extra or {})}  # fmt: skip
    state = JobState.FUTURE if run_at else JobState.PENDING
    return encode_record(state, header, params_json)


def encode_record(
    state: JobState,
    header: dict[str, Any],
    params_json: str,
    outcome: dict[str, Any] | None = None,
    result_json: str | None = None,
) -> str:
    """A record from its fields by name (times in Unix seconds; None and defaults left out)."""
    created_ms = to_ms(header["created_at"])
    lines = [str(int(state)) + _encode_fields(HEADER, header, created_ms), params_json]
    if outcome or result_json is not None:
        lines.append(_encode_fields(OUTCOME, outcome or {}, created_ms))
    if result_json is not None:
        lines.append(result_json)
    return "\n".join(lines)


def _encode_fields(keys: dict[str, str], fields: dict[str, Any], created_ms: int) -> str:
    encoded: dict[str, Any] = {}
    for name, value in fields.items():
        if value is None or DEFAULTS.get(name) == value:
            continue
        if name == "created_at":
            value = created_ms - EPOCH_MS
        elif name in TIMES:
            value = to_ms(value) - created_ms
        encoded[keys[name]] = value
    return compact_json(encoded)


@dataclass(frozen=True)
class ActiveEntry:
    """What changes while a job runs, in the queue's `active` hash:
    `<token>|<leased ms>|<started ms>|<1 when a cancel was asked>|<progress JSON>`. A job
    cancelled while ACTIVE and then handed back to PENDING keeps an entry without a token, so
    that its next worker does not start it."""

    token: str
    leased_at: float
    started_at: float | None
    cancel: bool
    progress: str

    @classmethod
    def decode(cls, raw: str | bytes) -> ActiveEntry:
        text = raw.decode() if isinstance(raw, bytes) else raw
        token, leased, started, cancel, progress = text.split("|", 4)
        return cls(token, int(leased) / 1000, int(started) / 1000 if started else None,
                   cancel == "1", progress)  # fmt: skip


@dataclass(frozen=True)
class Record:
    """A record decoded, by field name; times in Unix seconds."""

    state: JobState
    fields: dict[str, Any]
    params_json: str
    result_json: str | None

    @classmethod
    def decode(cls, raw: str | bytes, active: str | bytes | None = None) -> Record:
        """The record, and the job's in-flight entry when it is ACTIVE (None otherwise)."""
        text = raw.decode() if isinstance(raw, bytes) else raw
        if text.startswith("{"):
            from .store.legacy import upgrade  # records written before this layout

            text, legacy_active = upgrade(text)
            active = active or legacy_active
        lines = text.split("\n", 3)
        fields: dict[str, Any] = dict(DEFAULTS)
        for line in (lines[0][1:], lines[2] if len(lines) > 2 else "{}"):
            fields.update((_NAMES[k], v) for k, v in json.loads(line).items())
        created_ms = fields["created_at"] + EPOCH_MS
        for name in TIMES & fields.keys():
            fields[name] = (created_ms + fields[name]) / 1000
        fields["created_at"] = created_ms / 1000
        state = JobState(int(text[0]))
        if "token" in fields and "completed_at" in fields:
            fields.setdefault("started_at", fields["completed_at"])
        if state is JobState.COMPLETED:
            fields["expires_at"] = fields["completed_at"] + fields["kept_ms"] / 1000
        entry = ActiveEntry.decode(active) if active else None
        if entry is not None and entry.token:  # a token-less entry only marks a cancel
            state = JobState.ACTIVE
            fields["started_at"] = entry.started_at
            if entry.progress:
                fields["progress"] = entry.progress
        result = lines[3] if len(lines) > 3 else None
        return cls(state, fields, lines[1], result)

    @property
    def next_run_at(self) -> float | None:
        if self.state is JobState.RETRYING:
            return self.fields.get("next_run_at")
        return self.fields.get("run_at") if self.state is JobState.FUTURE else None

    @property
    def pending_since(self) -> float:
        """When it last became ready to run (creation, due time, return or retry)."""
        times = ("created_at", "run_at", "next_run_at", "pending_since")
        return max(self.fields.get(t) or 0.0 for t in times)


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
    #: hash naming its unique lock (`unique_for`): held while the job has not ended
    unique: str = ""
    #: Unix time past which it is not started and its run fails; None: no deadline
    deadline: float | None = None
    #: a cancel was asked for it (while ACTIVE): it is not started
    cancel: bool = False
    #: it has a callback_url: its end puts it in the outbox
    callback: bool = False
    due_at: float = 0.0  # Unix time it last became ready: run_at (a), next_run_at (w) or ps

    @classmethod
    def decode(cls, raw: str | bytes, job_id: str, cancel: bool = False) -> LeasedJob:
        """A worker's hot path: the header and (once settled) the outcome decoded, no more."""
        text = raw.decode() if isinstance(raw, bytes) else raw
        if text.startswith("{"):  # a record of the layout before this one
            from .store.legacy import upgrade

            text = upgrade(text)[0]
        head_end = text.index("\n")
        h = json.loads(text[1:head_end])
        params, _, rest = text[head_end + 1 :].partition("\n")
        o = json.loads(rest.partition("\n")[0]) if rest else {}  # the outcome, once settled
        created_ms, dl = h[HEADER["created_at"]] + EPOCH_MS, h.get(HEADER["deadline"])
        due_s = (created_ms + max(h.get("a", 0), o.get("w", 0), o.get("ps", 0))) / 1000
        return cls(job_id, h[HEADER["type"]], params, o.get(OUTCOME["retried"], 0),
                   timeout_s=float(h.get(HEADER["timeout"], DEFAULTS["timeout"])),
                   recovered=o.get(OUTCOME["recovered"], 0), unique=h.get(HEADER["unique"], ""),
                   deadline=None if dl is None else (created_ms + dl) / 1000, cancel=cancel,
                   callback=HEADER["callback"] in h, due_at=due_s)  # fmt: skip


def decode_status(
    job_id: str, queue: str, raw: str | bytes, now: float, active: str | bytes | None = None
) -> JobStatus | None:
    """The status a record (with its in-flight entry while ACTIVE) shows at `now`; None when it
    is a COMPLETED job past its retention (trimming may not have deleted it yet)."""
    record = Record.decode(raw, active)
    state = record.state
    if state is JobState.COMPLETED and record.fields.get("expires_at", math.inf) <= now:
        return None
    progress = record.fields.get("progress")
    return JobStatus(
        job_id=job_id,
        state=state,
        job_type=record.fields["type"],
        queue=queue,
        result=json.loads(record.result_json) if record.result_json is not None else None,
        error=record.fields.get("error"),
        retried=int(record.fields.get("retried", 0)),
        max_retry=int(record.fields["max_retry"]),
        created_at=record.fields["created_at"],
        completed_at=record.fields.get("completed_at"),
        next_run_at=record.next_run_at,
        cancelled=bool(record.fields.get("cancelled")),
        progress=json.loads(progress) if progress else None,
        callback_url=record.fields.get("callback"),
        callback_id=record.fields.get("callback_id"),
    )


def encode_progress(fraction: float, message: str | None) -> str:
    """A handler's progress report as the record keeps it (a JSON string, which the scripts
    store without decoding)."""
    report: dict[str, Any] = {"fraction": fraction}
    if message is not None:
        report["message"] = message
    return compact_json(report)


def lua_constants() -> str:
    """Lua source defining STATE.<NAME>, OUTCOME.<NAME>, the record's field keys F.<name>,
    its defaults and the other constants the scripts share, put in front of every script."""
    states = ", ".join(f"{s.name} = {int(s)}" for s in JobState)
    outcomes = ", ".join(f"{o.name} = '{o.value}'" for o in Outcome)
    keys = ", ".join(f"{name} = '{key}'" for name, key in (HEADER | OUTCOME).items())
    shared = {"MAX_RETRY_DEFAULT": DEFAULTS["max_retry"], "KEPT_DEFAULT_MS": KEPT_DEFAULT_MS,
              "EPOCH_MS": EPOCH_MS, "LAYOUT": LAYOUT, "ERRORS_KEPT": ERRORS_KEPT,
              "TOKEN_KEPT": TOKEN_KEPT, "CANCELLED": CANCELLED,
              "WAKE_TTL_S": WAKE_TTL_S}  # fmt: skip
    return f"local STATE = {{{states}}}\nlocal OUTCOME = {{{outcomes}}}\nlocal F = {{{keys}}}\n" + (
        "".join(f"local {name} = {value!r}\n" for name, value in shared.items())
    )
