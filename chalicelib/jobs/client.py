"""The producer side: create jobs, read their status and the queues' stats, kick a worker.

This is all an API process needs; it never starts a thread. Each call is one round trip.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from .attempt import Handler
from .config import Settings
from .model import (
    InvalidJob,
    JobNotFound,
    JobStatus,
    JobsUnavailable,
    QueueStats,
    UnknownJobType,
    check_queue_name,
    new_job_id,
    parse_job_id,
)
from .record import compact_json, decode_status, new_record
from .store import Store

log = logging.getLogger("chalicelib.jobs")

KickCallback = Callable[[str], None]
#: create_jobs enqueues atomically in one script call: this bounds how long it holds Redis
MAX_JOBS_PER_CALL = 10_000


class JobClient:
    """Creates jobs and reads them back, for the job types in `handlers` (shared with the
    controller, so a type registered later is known here too)."""

    def __init__(
        self,
        store: Callable[[], Store],
        settings: Settings,
        handlers: Mapping[str, Handler],
        clock: Callable[[], float],
    ) -> None:
        self._store = store
        self.settings = settings
        self.handlers = handlers
        self.clock = clock
        self._kick: KickCallback | None = None
        self._kick_debounce_ms = 0

    @property
    def store(self) -> Store:
        return self._store()

    def set_kick(self, callback: KickCallback | None, debounce: float = 1.0) -> None:
        """Call callback(queue) after an enqueue, at most once per `debounce` seconds per queue
        across every process (the debounce lives in Redis). Its errors are logged, not raised."""
        self._kick = callback
        self._kick_debounce_ms = max(1, int(debounce * 1000)) if callback else 0

    def create_jobs(
        self,
        jobs: Iterable[tuple[str, dict[str, Any]]],
        *,
        queue: str = "default",
        process_in: float | None = None,
        process_at: float | datetime | None = None,
        max_retry: int | None = None,
        timeout: float | None = None,
    ) -> list[str]:
        """Enqueue many jobs of one queue atomically, in one round trip; return their ids.

        Bad input raises UnknownJobType or InvalidJob, and nothing is written. JobsUnavailable
        means Redis did not answer in time: the jobs may or may not have been written."""
        check_queue_name(queue)
        jobs = list(jobs)
        if len(jobs) > MAX_JOBS_PER_CALL:
            raise InvalidJob(
                f"{len(jobs)} jobs in one call; at most {MAX_JOBS_PER_CALL} (one script must "
                "not hold Redis for long)"
            )
        now = self.clock()
        run_at = run_at_of(now, process_in, process_at)
        retries = self._check_max_retry(max_retry)
        timeout_s = self._check_timeout(timeout)
        entries: list[tuple[str, str, float]] = []
        for job_type, params in jobs:
            job_id = new_job_id(queue)
            record = new_record(
                job_id, self._check_type(job_type), queue, encode_params(params),
                now=now, run_at=run_at, max_retry=retries, timeout_s=timeout_s,
            )  # fmt: skip
            entries.append((job_id, record, run_at))
        if not entries:
            return []
        if self.store.enqueue(queue, entries, self._kick_debounce_ms):
            self._call_kick(queue)
        return [job_id for job_id, _, _ in entries]

    def _check_type(self, job_type: object) -> str:
        if not isinstance(job_type, str) or job_type not in self.handlers:
            known = ", ".join(sorted(self.handlers)) or "none registered"
            raise UnknownJobType(f"unknown job type {job_type!r} (known: {known})")
        return job_type

    def _check_max_retry(self, max_retry: int | None) -> int:
        if max_retry is None:
            return self.settings.max_retry
        if isinstance(max_retry, bool) or not isinstance(max_retry, int) or max_retry < 0:
            raise InvalidJob(f"max_retry must be an integer >= 0, got {max_retry!r}")
        return max_retry

    def _check_timeout(self, timeout: float | None) -> float:
        if timeout is None:
            return self.settings.timeout
        if not is_number(timeout) or timeout <= 0:
            raise InvalidJob(f"timeout must be a number of seconds > 0, got {timeout!r}")
        return float(timeout)

    def _call_kick(self, queue: str) -> None:
        assert self._kick is not None
        try:
            self._kick(queue)
        except Exception:  # noqa: BLE001 - the job is enqueued; a failed kick only delays it
            log.exception("kicking a worker for queue %s failed", queue)
            with contextlib.suppress(JobsUnavailable):
                self.store.clear_kick(queue)  # so that the next enqueue tries again

    def get_status(self, job_id: str) -> JobStatus:
        """The job's state and result, in one round trip.

        Raises InvalidJobId (malformed id), JobNotFound (unknown, or past its retention),
        JobsUnavailable (Redis does not answer)."""
        queue, job_id = parse_job_id(job_id)
        raw = self.store.get(queue, job_id)
        if raw is None:
            raise JobNotFound(f"no job {job_id}")
        status = decode_status(job_id, queue, raw, self.clock())
        if status is None:
            raise JobNotFound(f"job {job_id} completed and its result has expired")
        return status

    def queue_stats(self, queues: Sequence[str] | None = None) -> list[QueueStats]:
        """Jobs per state, counters and the oldest pending job's age, one round trip a queue."""
        now = self.clock()
        return [self.store.stats(check_queue_name(q), now) for q in queues or self.settings.queues]


def run_at_of(now: float, process_in: float | None, process_at: float | datetime | None) -> float:
    """0 for "now", else the Unix time at which the job falls due."""
    if process_in is not None and process_at is not None:
        raise InvalidJob("give process_in or process_at, not both")
    if process_at is not None:
        at = process_at.timestamp() if isinstance(process_at, datetime) else process_at
        if not is_number(at):
            raise InvalidJob(f"process_at must be a Unix time or a datetime, got {at!r}")
        return float(at) if at > now else 0.0
    if process_in is None:
        return 0.0
    if not is_number(process_in) or process_in < 0:
        raise InvalidJob(f"process_in must be a number of seconds >= 0, got {process_in!r}")
    return now + float(process_in) if process_in > 0 else 0.0


def is_number(value: object) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def encode_params(params: object) -> str:
    """Params as compact JSON, or InvalidJob: they must be a JSON object, without NaN."""
    if not isinstance(params, dict):
        raise InvalidJob(f"params must be a JSON object (dict), got {type(params).__name__}")
    try:
        return compact_json(params)
    except (TypeError, ValueError) as exc:
        raise InvalidJob(f"params are not JSON: {exc}") from None
