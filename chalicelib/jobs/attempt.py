"""One attempt at a job: running its handler and naming how it ended.

Pure functions, free of threads and Redis, so the rules for what counts as success,
permanent failure or a failure worth a retry sit in one place.
"""

from __future__ import annotations

import json
import logging
import math
import random
from collections.abc import Callable

from .model import JobResult, SkipRetry
from .record import Outcome, compact_json

Handler = Callable[[dict], JobResult]
#: seconds until the next try of a job that failed, from (tries already retried, error text)
RetryDelay = Callable[[int, str], float]

log = logging.getLogger("chalicelib.jobs")

#: longest error message kept per attempt
ERROR_MAX_CHARS = 2000


def run_handler(handler: Handler | None, job_type: str, params_json: str) -> tuple[Outcome, str]:
    """Run the job's handler; return how the attempt ended and its payload: (DONE, result
    JSON), (FAIL, error) for a permanent failure, (RETRY, error) for one worth a retry.
    Never raises."""
    if handler is None:
        return Outcome.RETRY, f"no handler for job type {job_type!r}"
    try:
        result = handler(json.loads(params_json))
    except SkipRetry as exc:
        return Outcome.FAIL, error_text(exc) or "SkipRetry"
    except BaseException as exc:  # noqa: BLE001 - any error of a handler is a failed attempt
        return Outcome.RETRY, describe_error(exc)
    if not isinstance(result, JobResult):
        return Outcome.FAIL, f"handler returned {type(result).__name__}"
    if not result.success:
        return Outcome.FAIL, error_text(result.msg or "the handler failed")
    try:
        return Outcome.DONE, compact_json(result.res)
    except (TypeError, ValueError) as exc:
        return Outcome.FAIL, f"result is not JSON: {exc}"


def backoff_s(retried: int, base_s: float, cap_s: float) -> float:
    """Exponential backoff with jitter: about base_s * 2**retried, capped at cap_s."""
    return min(cap_s, base_s * 2 ** min(retried, 30)) * random.uniform(0.75, 1.25)


def retry_delay_s(
    delay: RetryDelay | None, retried: int, error: str, base_s: float, cap_s: float
) -> float:
    """Seconds before the next try: `delay(retried, error)` when given, else backoff_s. A
    delay that raises or answers other than a finite number >= 0 falls back to backoff_s:
    a bug in it must not lose the job."""
    if delay is not None:
        try:
            value = delay(retried, error)
        except Exception:  # noqa: BLE001 - the job still gets its retry, with the default delay
            log.exception("retry_delay raised; using the default backoff")
        else:
            if is_seconds(value):
                return float(value)
            log.error("retry_delay returned %r, not seconds >= 0; using the default", value)
    return backoff_s(retried, base_s, cap_s)


def is_seconds(value: object) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    )


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
