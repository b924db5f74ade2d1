"""One attempt at a job, as the worker holds it: running its handler and naming how it ended.

Pure functions and a record, free of threads and Redis, so the rules for what counts as success,
permanent failure or a failure worth a retry sit in one place.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .model import JobResult

Handler = Callable[[dict], JobResult]

#: longest error message kept per attempt
ERROR_MAX_CHARS = 2000


@dataclass(eq=False)
class Held:
    """A job a worker holds under a lease, from dequeue until its outcome is written."""

    job_id: str
    queue: str
    token: str
    record: dict[str, Any]
    started: float = 0.0
    deadline: float = 0.0
    finished: bool = False
    #: handed back to PENDING: whatever the handler returns is dropped
    abandoned: bool = False
    #: failed for overrunning its timeout; its thread retires when the handler returns
    overran: bool = False


def run_handler(handler: Handler | None, record: dict[str, Any]) -> tuple[str, str]:
    """Run the job's handler; return how the attempt ended and its payload: ("done", result
    JSON), ("fail", error) for a permanent failure, ("retry", error) for one worth a retry.
    Never raises."""
    if handler is None:
        return "retry", f"no handler for job type {record['type']!r}"
    try:
        result = handler(json.loads(record["params"]))
    except BaseException as exc:  # noqa: BLE001 - any error of a handler is a failed attempt
        return "retry", describe_error(exc)
    if not isinstance(result, JobResult):
        return "fail", f"handler returned {type(result).__name__}"
    if not result.success:
        return "fail", error_text(result.msg or "the handler failed")
    try:
        return "done", json.dumps(result.res, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        return "fail", f"result is not JSON: {exc}"


def backoff_s(retried: int, base_s: float, cap_s: float) -> float:
    """Exponential backoff with jitter: about base_s * 2**retried, capped at cap_s."""
    return min(cap_s, base_s * 2 ** min(retried, 30)) * random.uniform(0.75, 1.25)


def error_text(value: object) -> str:
    """Text safe to store: any object, shown without raising, valid UTF-8, bounded in size."""
    try:
        text = str(value)
    except Exception:  # noqa: BLE001 - an object whose str() fails still gets a message
        text = f"<{type(value).__name__} that cannot be shown>"
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= ERROR_MAX_CHARS else text[:ERROR_MAX_CHARS] + "..."


def describe_error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {error_text(exc)}"
