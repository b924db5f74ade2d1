"""JobController: the one object the rest of the app holds. It hides the queue entirely."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from .attempt import Handler
from .config import Settings, make_client, settings_from_env
from .model import (
    InvalidJob,
    JobNotFound,
    JobState,
    JobStatus,
    JobsUnavailable,
    QueueStats,
    UnknownJobType,
    check_queue_name,
    new_job_id,
    parse_job_id,
)
from .store import Store
from .worker import MAINTENANCE_INTERVAL_S, Worker

log = logging.getLogger("chalicelib.jobs")

KickCallback = Callable[[str], None]
#: create_jobs enqueues atomically in one script call: this bounds how long it holds Redis
MAX_JOBS_PER_CALL = 10_000


class JobController:
    """Creates jobs, reads their status, and runs them: in threads (`start`) or to a deadline
    (`drain`). Connects to Redis on first use, not when constructed."""

    def __init__(
        self,
        redis_url: str,
        *,
        retention: float = 86400.0,
        concurrency: int = 10,
        queues: Sequence[str] = ("default",),
        key_prefix: str = "jobs",
        max_retry: int = 3,
        timeout: float = 30.0,
        lease: float = 30.0,
        cluster: bool | None = None,
        backoff: float = 1.0,
        backoff_max: float = 300.0,
        failed_max: int = 10_000,
        failed_retention: float = 7 * 86400.0,
        secret_id: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Settings in seconds: `retention` of COMPLETED results, a handler's `timeout` per
        attempt, the `lease` of a held job, retry delays `backoff * 2**retried` up to
        `backoff_max`; `failed_max` / `failed_retention` cap the FAILED jobs kept. `cluster`
        forces the Redis Cluster client (None: only when the URL has `?cluster=true`).
        `secret_id` names a Secrets Manager secret holding the Redis password."""
        self.settings = Settings(
            redis_url=redis_url,
            retention=retention,
            concurrency=concurrency,
            queues=(queues,) if isinstance(queues, str) else tuple(queues),
            key_prefix=key_prefix,
            max_retry=max_retry,
            timeout=timeout,
            lease=lease,
            cluster=cluster,
            backoff=backoff,
            backoff_max=backoff_max,
            failed_max=failed_max,
            failed_retention=failed_retention,
            secret_id=secret_id,
        )
        self.clock = clock
        self._handlers: dict[str, Handler] = {}
        self._started = False
        self._stop = threading.Event()
        self._fetcher: threading.Thread | None = None
        self._store: Store | None = None
        self._worker_store: Store | None = None
        self._worker: Worker | None = None
        self._kick: KickCallback | None = None
        self._kick_debounce_ms = 0
        self._lock = threading.Lock()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> JobController:
        """A controller configured by the JOBS_* environment variables (see the README)."""
        settings = settings_from_env(environ, **overrides)
        values = {k: v for k, v in vars(settings).items() if k != "redis_url"}
        return cls(settings.redis_url, **values)

    # -- wiring --------------------------------------------------------------------------------

    @property
    def store(self) -> Store:
        """The Store for requests: commands time out in about two seconds."""
        if self._store is None:
            with self._lock:
                if self._store is None:
                    self._store = Store(make_client(self.settings), self.settings.key_prefix)
        return self._store

    def _worker_side(self) -> Worker:
        """The worker, with its own client whose timeout outlasts a blocking wait for work."""
        with self._lock:
            if self._worker is None:
                # no automatic resend: a dequeue whose answer was lost would strand its batch
                client = make_client(self.settings, retry=False)
                blocking = make_client(
                    self.settings, blocking_wait_s=MAINTENANCE_INTERVAL_S, retry=False
                )
                self._worker_store = Store(client, self.settings.key_prefix, blocking)
                self._worker = Worker(self._worker_store, self._handlers, self.settings, self.clock)
            return self._worker

    @property
    def job_types(self) -> frozenset[str]:
        return frozenset(self._handlers)

    def add_handler(self, job_type: str, handler: Handler) -> None:
        """Register the handler of a job type. After start() this has no effect (it logs why)."""
        if self._started:
            log.warning("add_handler(%r) after start() has no effect", job_type)
            return
        if not isinstance(job_type, str) or not job_type:
            raise InvalidJob("a job type is a non-empty string")
        if not callable(handler):
            raise InvalidJob(f"the handler of {job_type!r} is not callable")
        self._handlers[job_type] = handler

    def set_kick(self, callback: KickCallback | None, debounce: float = 1.0) -> None:
        """Call callback(queue) after an enqueue, at most once per `debounce` seconds per queue
        across every process (the debounce lives in Redis). Its errors are logged, not raised."""
        self._kick = callback
        self._kick_debounce_ms = max(1, int(debounce * 1000)) if callback else 0

    # -- create --------------------------------------------------------------------------------

    def create_job(
        self,
        job_type: str,
        params: dict[str, Any],
        *,
        queue: str = "default",
        process_in: float | None = None,
        process_at: float | datetime | None = None,
        max_retry: int | None = None,
        timeout: float | None = None,
    ) -> str:
        """Enqueue one job in one round trip; return its id, `<queue>@<uuid4>`.

        Raises UnknownJobType or InvalidJob for bad input, JobsUnavailable when Redis does not
        answer; either way nothing is written."""
        return self.create_jobs(
            [(job_type, params)],
            queue=queue,
            process_in=process_in,
            process_at=process_at,
            max_retry=max_retry,
            timeout=timeout,
        )[0]

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
        """Enqueue many jobs of one queue atomically, in one round trip; return their ids."""
        check_queue_name(queue)
        jobs = list(jobs)
        if len(jobs) > MAX_JOBS_PER_CALL:
            raise InvalidJob(
                f"{len(jobs)} jobs in one call; at most {MAX_JOBS_PER_CALL} (one script must "
                "not hold Redis for long)"
            )
        now = self.clock()
        run_at = self._run_at(now, process_in, process_at)
        retries = self._check_max_retry(max_retry)
        timeout_s = self._check_timeout(timeout)
        entries: list[tuple[str, str, float]] = []
        for job_type, params in jobs:
            job_id = new_job_id(queue)
            record = {
                "id": job_id,
                "type": self._check_type(job_type),
                "queue": queue,
                "params": encode_params(params),
                "state": JobState.FUTURE if run_at else JobState.PENDING,
                "max_retry": retries,
                "timeout": timeout_s,
                "retried": 0,
                "created_at": now,
            }
            record["next_run_at" if run_at else "pending_since"] = run_at or now
            entries.append((job_id, json.dumps(record, separators=(",", ":")), run_at))
        if not entries:
            return []
        if self.store.enqueue(queue, entries, self._kick_debounce_ms):
            self._call_kick(queue)
        return [job_id for job_id, _, _ in entries]

    def _check_type(self, job_type: object) -> str:
        if not isinstance(job_type, str) or job_type not in self._handlers:
            known = ", ".join(sorted(self._handlers)) or "none registered"
            raise UnknownJobType(f"unknown job type {job_type!r} (known: {known})")
        return job_type

    @staticmethod
    def _run_at(now: float, process_in: float | None, process_at: float | datetime | None) -> float:
        """0 for "now", else the Unix time at which the job falls due."""
        if process_in is not None and process_at is not None:
            raise InvalidJob("give process_in or process_at, not both")
        if process_at is not None:
            at = process_at.timestamp() if isinstance(process_at, datetime) else process_at
            if not _is_number(at):
                raise InvalidJob(f"process_at must be a Unix time or a datetime, got {at!r}")
            return float(at) if at > now else 0.0
        if process_in is None:
            return 0.0
        if not _is_number(process_in) or process_in < 0:
            raise InvalidJob(f"process_in must be a number of seconds >= 0, got {process_in!r}")
        return now + float(process_in) if process_in > 0 else 0.0

    def _check_max_retry(self, max_retry: int | None) -> int:
        if max_retry is None:
            return self.settings.max_retry
        if isinstance(max_retry, bool) or not isinstance(max_retry, int) or max_retry < 0:
            raise InvalidJob(f"max_retry must be an integer >= 0, got {max_retry!r}")
        return max_retry

    def _check_timeout(self, timeout: float | None) -> float:
        if timeout is None:
            return self.settings.timeout
        if not _is_number(timeout) or timeout <= 0:
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

    # -- read ----------------------------------------------------------------------------------

    def get_status(self, job_id: str) -> JobStatus:
        """The job's state and result, in one round trip.

        Raises InvalidJobId (malformed id), JobNotFound (unknown, or past its retention),
        JobsUnavailable (Redis does not answer)."""
        queue, job_id = parse_job_id(job_id)
        raw = self.store.get(queue, job_id)
        if raw is None:
            raise JobNotFound(f"no job {job_id}")
        record = json.loads(raw)
        state = JobState(record["state"])
        if state is JobState.COMPLETED and record.get("expires_at", math.inf) <= self.clock():
            raise JobNotFound(f"job {job_id} completed and its result has expired")
        result = json.loads(record["result"]) if "result" in record else None
        return JobStatus(
            job_id=job_id,
            state=state,
            job_type=record["type"],
            queue=queue,
            result=result,
            error=record.get("error"),
            retried=int(record.get("retried", 0)),
            max_retry=int(record["max_retry"]),
            created_at=float(record["created_at"]),
            completed_at=record.get("completed_at"),
            next_run_at=record.get("next_run_at"),
        )

    def queue_stats(self, queues: Sequence[str] | None = None) -> list[QueueStats]:
        """Jobs per state, counters and the oldest pending job's age, one round trip a queue."""
        now = self.clock()
        return [self.store.stats(check_queue_name(q), now) for q in queues or self.settings.queues]

    def known_queues(self) -> list[str]:
        """Every queue a job was ever created in (as recorded in Redis)."""
        return self.store.known_queues()

    def ping(self) -> None:
        """Return when Redis answers; raise JobsUnavailable when it does not."""
        self.store.ping()

    # -- run -----------------------------------------------------------------------------------

    def start(self) -> None:
        """Run workers in threads of this process until stop(). Handlers are fixed from now on."""
        if self._started:
            return
        self._started = True
        self._stop.clear()
        worker = self._worker_side()
        worker.ensure_threads()
        self._fetcher = threading.Thread(
            target=worker.run, args=(self._stop.is_set,), name="jobs-fetch", daemon=True
        )
        self._fetcher.start()

    def stop(self, timeout: float = 8.0) -> None:
        """Stop taking work; jobs in flight get `timeout` seconds to finish, then go back to
        PENDING. Every outcome is written before this returns, and the worker threads end
        (also those a `drain` left waiting)."""
        if self._worker is None:
            return
        if self._started:
            self._stop.set()
            handed_back = self._worker.hand_back(timeout)
            if handed_back:
                log.info("handed %d unfinished jobs back to their queues", handed_back)
            self._started = False
        self._worker.close()

    def drain(self, time_budget: float, *, finish_within: float | None = None) -> int:
        """Take and run jobs for `time_budget` seconds (waiting on Redis while the queues are
        empty), then give the jobs in flight `finish_within` more seconds before handing what is
        unfinished back to PENDING. Returns how many jobs it processed.

        Without `finish_within`, everything happens within `time_budget`: the last fifth of it
        (at most 0.4 s) is left for jobs in flight. A Lambda passes its job timeout as
        `finish_within`, so that it takes no job it could not let run to its timeout."""
        worker = self._worker_side()
        before = worker.counters.processed
        started = time.monotonic()
        if finish_within is None:
            grace_s = min(0.4, max(0.0, time_budget) * 0.2)
            fetch_until, finish_until = started + time_budget - grace_s, started + time_budget
        else:
            fetch_until = started + max(0.0, time_budget)
            finish_until = fetch_until + max(0.0, finish_within)
        worker.run(lambda: False, fetch_until)
        worker.hand_back(max(0.0, finish_until - time.monotonic()))
        return worker.counters.processed - before

    @property
    def counters(self) -> dict[str, int]:
        """This process's totals: processed, failed, lost (outcomes dropped: lease lost)."""
        worker = self._worker
        if worker is None:
            return {"processed": 0, "failed": 0, "lost": 0}
        c = worker.counters
        return {"processed": c.processed, "failed": c.failed, "lost": c.lost}


def _is_number(value: object) -> bool:
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
        return json.dumps(params, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise InvalidJob(f"params are not JSON: {exc}") from None
