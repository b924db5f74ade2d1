"""The producer side: create jobs, read their status and the queues' stats, kick a worker.

This is all an API process needs; it never starts a thread. Each call is one round trip.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from .attempt import Handler
from .callbacks import check_callback_url
from .config import Settings
from .create_batch import CreateBatch, Submitted
from .model import (
    InvalidJob,
    JobNotFound,
    JobState,
    JobStateConflict,
    JobStatus,
    JobsUnavailable,
    QueueStats,
    UnknownJobType,
    check_queue_name,
    new_job_id,
    parse_job_id,
)
from .options import CreateOptions, is_number, job_options, positive_seconds
from .record import compact_json, decode_status, new_record
from .store import Enqueued, NewJob, Store

log = logging.getLogger("chalicelib.jobs")

KickCallback = Callable[[str], None]
#: (job_type, params) or (job_type, params, {"idempotency_key": key, "unique_for": seconds})
ENTRY_OPTIONS = frozenset({"idempotency_key", "unique_for"})
JobEntry = tuple[str, dict[str, Any]] | tuple[str, dict[str, Any], Mapping[str, Any]]
IDEMPOTENCY_KEY = re.compile(r"[\x20-\x7e]{1,255}")


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

    def create(
        self,
        jobs: Iterable[JobEntry],
        options: CreateOptions | None = None,
        *,
        record_fields: Sequence[Mapping[str, Any]] | None = None,
        key_ttl_s: float | None = None,
    ) -> list[Submitted]:
        """Enqueue jobs of one queue atomically, in one round trip: the one way jobs are made
        (by the API, by periodic ticks, by callback deliveries).

        Each entry is `(job_type, params)` or `(job_type, params, options)`, options holding
        `idempotency_key` and `unique_for`; `idempotency_key=` applies to a single entry,
        `unique_for=` to every entry without its own. A job whose key is already held (in this
        queue, for the result retention) by a job of the same type and params is not written
        again: its entry answers that job's id, with `replayed` set. Writes nothing and raises
        IdempotencyConflict when a key is held by a job with other params; DuplicateJob when a
        unique job's lock is held (its `duplicates` name every refused entry); UnknownJobType
        or InvalidJob for bad input; JobStoreFull when Redis is out of memory. JobsUnavailable
        means Redis did not confirm the write: the jobs may exist, and a retry with the same
        idempotency keys finds them instead of creating them twice. With `callback_url`, each
        job's end is POSTed there (see callbacks.py for the URLs allowed: checking one is a
        DNS lookup). The package's own callers add `record_fields` (per entry: fields of its
        record, such as a periodic job's tick) and `key_ttl_s` (how long idempotency keys are
        held, instead of the retention)."""
        given = options or {}
        queue, idempotency_key = given.get("queue", "default"), given.get("idempotency_key")
        check_queue_name(queue)
        entries = [_entry(job, idempotency_key, given.get("unique_for")) for job in jobs]
        if idempotency_key is not None and len(entries) != 1:
            raise InvalidJob("idempotency_key= applies to one job; give each entry its own key")
        if len(entries) > MAX_JOBS_PER_CALL:  # one script must not hold Redis for long
            raise InvalidJob(f"{len(entries)} jobs in one call; at most {MAX_JOBS_PER_CALL}")
        now = self.clock()
        run_at = run_at_of(now, given.get("process_in"), given.get("process_at"))
        checked = job_options(
            now, run_at, deadline=given.get("deadline"), retention=given.get("retention")
        )
        fields = checked.record_fields()
        callback = self._check_callback(given.get("callback_url"))
        if callback is not None:
            fields["callback"] = callback
        record_of = functools.partial(
            new_record, queue=queue, now=now, run_at=run_at,
            max_retry=self._check_max_retry(given.get("max_retry")),
            timeout_s=self._check_timeout(given.get("timeout")),
        )  # fmt: skip
        batch = CreateBatch()
        for n, (job_type, params, key, unique_for_s) in enumerate(entries):
            extra = {**fields, **(record_fields[n] if record_fields is not None else {})}
            # only keyed and unique jobs need one: most creates skip the hashing
            needs_fingerprint = key is not None or unique_for_s is not None
            fingerprint = fingerprint_of(job_type, params) if needs_fingerprint else ""
            if unique_for_s is not None:
                extra["unique"] = fingerprint
            job_id = new_job_id(queue)
            params_json = encode_params(params, self.settings.max_params_bytes)
            record = record_of(
                job_id, self.check_type(job_type), params_json=params_json, extra=extra
            )
            batch.add(NewJob(job_id, record, run_at), key, fingerprint, unique_for_s)
        if not batch.jobs:
            return []
        retention_s = checked.retention_s or self.settings.retention
        ttl_ms = int((key_ttl_s or retention_s + max(0.0, run_at - now)) * 1000)
        stored = self._enqueue(queue, batch.jobs, ttl_ms, bool(batch.sent_for_key))
        batch.raise_refusal(stored)
        if stored.kick:
            self._call_kick(queue)
        return batch.submitted(stored)

    def _enqueue(self, queue: str, jobs: list[NewJob], ttl_ms: int, keyed: bool) -> Enqueued:
        try:
            return self.store.enqueue(queue, jobs, self._kick_debounce_ms, ttl_ms)
        except JobsUnavailable as exc:
            if not exc.may_have_written:
                raise
            retry = (
                "retry with the same idempotency key to get its id without creating it twice"
                if keyed
                else "send an idempotency key to make such retries safe"
            )
            unconfirmed = JobsUnavailable(f"{exc}; the job may have been created: {retry}")
            unconfirmed.may_have_written = True
            raise unconfirmed from exc

    def check_type(self, job_type: object) -> str:
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

    def _check_callback(self, url: object) -> str | None:
        if url is None:
            return None
        if not self.settings.callbacks_enabled:
            raise InvalidJob(
                "callback_url is not accepted: callbacks are not enabled here (the service "
                "enables them with JOBS_CALLBACK_SECRET or JOBS_CALLBACK_SECRET_ID)"
            )
        return check_callback_url(url, allow_private=self.settings.callback_allow_private)

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
        stored = self.store.read(queue, job_id)
        if stored is None:
            raise JobNotFound(f"no job {job_id}")
        status = decode_status(job_id, queue, stored.record, self.clock(), stored.active)
        if status is None:
            raise JobNotFound(f"job {job_id} completed and its result has expired")
        return status

    def cancel(self, job_id: str) -> JobStatus:
        """Cancel a job, in one round trip (two for a unique job), and return its status then.
        A PENDING, FUTURE or RETRYING job ends FAILED at once, error "cancelled", `cancelled`
        set; an ACTIVE one is asked to stop: it is not started if it has not been, its handler
        sees `current_job().cancelled`, and it ends so unless it completes first. Raises
        JobStateConflict for a COMPLETED or FAILED job (left unchanged), InvalidJobId,
        JobNotFound, JobsUnavailable."""
        queue, job_id = parse_job_id(job_id)
        before, stored = self.store.cancel(queue, job_id, self.clock())
        status = None
        if stored is not None:
            status = decode_status(job_id, queue, stored.record, self.clock(), stored.active)
        if status is None:
            raise JobNotFound(f"no job {job_id}")
        if before in (JobState.COMPLETED, JobState.FAILED):
            raise JobStateConflict(f"job {job_id} is {status.status}: too late to cancel it")
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


def encode_params(params: object, max_bytes: int) -> str:
    """Params as compact JSON, or InvalidJob: they must be a JSON object, without NaN, of at
    most `max_bytes`."""
    if not isinstance(params, dict):
        raise InvalidJob(f"params must be a JSON object (dict), got {type(params).__name__}")
    try:
        encoded = compact_json(params)
    except (TypeError, ValueError) as exc:
        raise InvalidJob(f"params are not JSON: {exc}") from None
    if len(encoded) > max_bytes:  # ASCII: json.dumps escapes everything else
        raise InvalidJob(
            f"params are {len(encoded)} bytes of JSON; the limit is {max_bytes} (max_params_bytes)"
        )
    return encoded


def check_idempotency_key(key: object) -> str:
    """The key, or InvalidJob: 1 to 255 printable ASCII characters."""
    if not isinstance(key, str) or not IDEMPOTENCY_KEY.fullmatch(key):
        shown = repr(key)[:100]
        raise InvalidJob(f"an idempotency key is 1-255 printable ASCII characters, got {shown}")
    return key


def fingerprint_of(job_type: str, params: dict[str, Any]) -> str:
    """What makes two creates the same job: its type and its params, in canonical JSON."""
    canonical = json.dumps([job_type, params], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def _entry(
    job: JobEntry, key: str | None, unique_for: object
) -> tuple[str, dict[str, Any], str | None, float | None]:
    """(job_type, params, idempotency key or None, unique_for seconds or None) of one entry."""
    if not isinstance(job, (tuple, list)) or len(job) not in (2, 3):
        raise InvalidJob("each job is (job_type, params) or (job_type, params, options)")
    if len(job) == 3:
        options = job[2]
        if not isinstance(options, Mapping) or set(options) - ENTRY_OPTIONS:
            raise InvalidJob("a job's options may hold only idempotency_key and unique_for")
        key = options.get("idempotency_key", key)
        unique_for = options.get("unique_for", unique_for)
    return (
        job[0],
        job[1],
        None if key is None else check_idempotency_key(key),
        None if unique_for is None else positive_seconds("unique_for", unique_for),
    )
