"""JobController: the one object the rest of the app holds. It hides the queue entirely.

A thin facade: creating and reading jobs is the client's (`client.py`), running them is the
worker's (`worker/`); the controller holds the settings, the handlers and the Redis clients,
and starts and stops the worker.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing_extensions import Unpack

from .attempt import Handler
from .callbacks import DELIVERY_TYPE
from .client import MAX_JOBS_PER_CALL, JobClient, JobEntry, KickCallback, Submitted
from .config import Settings, make_client, settings_from_env
from .delivery import CallbackDelivery
from .inspector import Inspector
from .model import InvalidJob, JobStatus, JobsUnavailable, QueueStats
from .options import CreateOptions, create_options
from .periodic import PeriodicEntry, periodic_entry
from .store import PeriodicRegistry, Store
from .waiting import Waiters
from .worker import Worker

log = logging.getLogger("chalicelib.jobs")

__all__ = ["MAX_JOBS_PER_CALL", "JobController"]


class JobController:
    """Creates jobs, reads their status, and runs them: in threads (`start`) or to a deadline
    (`drain`). Connects to Redis on first use, not when constructed."""

    def __init__(
        self, redis_url: str, *, clock: Callable[[], float] = time.time, **options: Any
    ) -> None:
        """`options` are the fields of `Settings` (their defaults and units are there): for
        example `retention`, `concurrency`, `queues`, `max_retry`, `timeout`, `lease`,
        `cluster`, `secret_id`. Raises InvalidSettings for a bad value, TypeError for an
        unknown option."""
        self.settings = Settings(redis_url=redis_url, **options)
        self.clock = clock
        self._handlers: dict[str, Handler] = {}
        self._periodic: dict[str, PeriodicEntry] = {}
        self._started = False
        self._store: Store | None = None
        self._worker: Worker | None = None
        self._lock = threading.Lock()
        # the clock is looked up at each call: tests move a controller's clock after the fact
        self.client = JobClient(
            lambda: self.store, self.settings, self._handlers, lambda: self.clock()
        )
        self.waiters = Waiters(lambda: self.store, self.settings, lambda: self.clock())
        if self.settings.callbacks_enabled:
            self._handlers[DELIVERY_TYPE] = CallbackDelivery(
                self.settings.signing_secret, self.settings.callback_allow_private
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> JobController:
        """A controller configured by the JOBS_* environment variables (see the README);
        keyword `overrides` (Settings fields) win over the environment."""
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
        """The worker, made on first use (with clients of its own: see Worker.connected)."""
        with self._lock:
            if self._worker is None:
                # the clock is looked up at each call, as for the client
                self._worker = Worker.connected(
                    self.settings, self._handlers, lambda: self.clock(), self._periodic
                )
            return self._worker

    @property
    def inspector(self) -> Inspector:
        """An operator's view of the queues and actions on their jobs, on this controller's
        connection (see inspector.py)."""
        return Inspector(self.store, self.settings, lambda: self.clock())

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
        self.client.set_kick(callback, debounce)

    # -- create and read -----------------------------------------------------------------------

    def create_job(
        self, job_type: str, params: dict[str, Any], **options: Unpack[CreateOptions]
    ) -> str:
        """Enqueue one job in one round trip; return its id, `<queue>@<uuid4>`.

        Options (CreateOptions, each optional): `queue` ("default"); `process_in` (seconds)
        or `process_at` (Unix seconds or an aware datetime): run later, FUTURE until then;
        `max_retry` and `timeout` (seconds an attempt may run): instead of the controller's.
        `unique_for` (seconds): while a job of this queue, type and params created with it is
        pending, scheduled, retrying or running, and for at most that long, another raises
        DuplicateJob (its `job_id` is the existing job's). `deadline` (an aware datetime or
        Unix seconds): the job is not started after it, and a run still going then fails
        ("deadline exceeded"). `retention` (seconds): how long its result is kept, instead
        of the controller's. `callback_url`: when the job ends, its status and id are POSTed
        there, signed (see the README's callbacks section); it needs a callback secret
        configured, an https URL and a public host (InvalidJob otherwise).

        With an `idempotency_key` (1-255 printable ASCII), a job created earlier with the same
        key, type and params (in this queue, within the result retention) is not created
        again: its id is returned. Raises IdempotencyConflict when the key belongs to a job
        with other params; UnknownJobType or InvalidJob for bad input (params over
        `max_params_bytes` too); in each case nothing is written. Raises JobStoreFull when
        Redis is out of memory (nothing is written), and JobsUnavailable when Redis did not
        confirm the write: the job may exist, and a retry with the same key is safe. An
        unknown option is a TypeError."""
        return self.submit(job_type, params, **options).job_id

    def submit(
        self, job_type: str, params: dict[str, Any], **options: Unpack[CreateOptions]
    ) -> Submitted:
        """create_job, telling also whether an earlier create with the same idempotency key
        had already made the job (`replayed`: nothing was written this time)."""
        return self.client.create([(job_type, params)], create_options(options))[0]

    def create_jobs(self, jobs: Iterable[JobEntry], **options: Unpack[CreateOptions]) -> list[str]:
        """Enqueue many jobs of one queue atomically, in one round trip; return their ids.

        Each entry is `(job_type, params)`, or `(job_type, params, options)` with options
        `idempotency_key` and `unique_for` (which wins over the call's `unique_for=`), with
        create_job's rules and options (an `idempotency_key=` of the call fits one entry only).
        Any bad entry or conflicting key: nothing is written. When unique entries are
        duplicates of unfinished jobs, nothing is written either: DuplicateJob lists them in
        `duplicates` as (entry index, existing job id). `callback_url` applies to every job."""
        return [s.job_id for s in self.client.create(jobs, create_options(options))]

    def get_status(self, job_id: str) -> JobStatus:
        """The job's state and result, in one round trip.

        Raises InvalidJobId (malformed id), JobNotFound (unknown, or past its retention),
        JobsUnavailable (Redis does not answer)."""
        return self.client.get_status(job_id)

    def wait(self, job_id: str, timeout: float) -> JobStatus:
        """The job's status as soon as it is COMPLETED or FAILED (pushed by Redis, not
        polled), or after `timeout` seconds (0-25) with its state then. At most `max_waiters`
        waits of this process block at once; past that, a wait answers the state now. Raises
        InvalidJob (bad timeout), InvalidJobId, JobNotFound (at once), JobsUnavailable."""
        return self.waiters.wait(job_id, timeout)

    def cancel(self, job_id: str) -> JobStatus:
        """Cancel a job and return its status: a PENDING, FUTURE or RETRYING job ends FAILED
        ("cancelled", `cancelled` set) at once; an ACTIVE one is asked to stop and ends so
        unless it completes first. Raises JobStateConflict (COMPLETED or FAILED: unchanged),
        InvalidJobId, JobNotFound, JobsUnavailable."""
        return self.client.cancel(job_id)

    def queue_stats(self, queues: Sequence[str] | None = None) -> list[QueueStats]:
        """Jobs per state, counters and the oldest pending job's age, one round trip a queue."""
        return self.client.queue_stats(queues)

    def known_queues(self) -> list[str]:
        """Every queue a job was ever created in (as recorded in Redis)."""
        return self.store.known_queues()

    def ping(self) -> None:
        """Return when Redis answers; raise JobsUnavailable when it does not."""
        self.store.ping()

    # -- periodic jobs -------------------------------------------------------------------------

    def add_periodic(
        self,
        job_type: str,
        params: dict[str, Any],
        *,
        every: float | None = None,
        cron: str | None = None,
        queue: str = "default",
        name: str | None = None,
    ) -> None:
        """Enqueue a job of `job_type` with `params` every `every` seconds (ticks at multiples
        of it since the epoch) or at the times of a 5-field `cron` expression (UTC), exactly
        once per tick however many workers and drains run. Only the latest missed tick is
        enqueued when nothing ran for a while. `name` (default: the job type) identifies the
        entry. Raises InvalidJob naming a bad option, UnknownJobType for an unknown type. After
        start() this has no effect (it logs why)."""
        if self._started:
            log.warning("add_periodic(%r) after start() has no effect", job_type)
            return
        self.client.check_type(job_type)
        entry = periodic_entry(
            job_type, params, every=every, cron=cron, queue=queue, name=name,
            max_params_bytes=self.settings.max_params_bytes,
        )  # fmt: skip
        if entry.name in self._periodic:
            raise InvalidJob(f"a periodic job named {entry.name!r} exists already: give a name=")
        self._periodic[entry.name] = entry

    def periodic_info(self) -> list[dict[str, Any]]:
        """Every periodic job the workers run, as they last published it: name, type, queue,
        schedule, last_tick and next_run_at (Unix seconds), updated_at. One round trip."""
        infos = PeriodicRegistry(self.store).read()
        return [json.loads(infos[name]) for name in sorted(infos)]

    # -- run -----------------------------------------------------------------------------------

    def start(self) -> None:
        """Run workers in threads of this process until stop(). Handlers are fixed from now on."""
        if self._started:
            return
        self._started = True
        worker = self._worker_side()
        worker.register()
        worker.serve()

    def stop(self, timeout: float = 8.0) -> list[str]:
        """Stop taking work; jobs in flight get about `timeout` seconds to finish, then go back
        to PENDING; returns within about `timeout` (Redis answering). The outcomes of finished
        jobs are written first, and the worker threads end (also those a `drain` left waiting).
        Returns a description of each handler abandoned while it still ran (killed, with
        isolation="process"; left to finish in its thread, its outcome dropped, otherwise)."""
        if self._worker is None:
            return []
        abandoned: list[str] = []
        if self._started:
            handed_back, abandoned = self._worker.hand_back(timeout, final=True)
            if handed_back:
                log.info("handed %d unfinished jobs back to their queues", handed_back)
            for what in abandoned:
                log.warning("abandoned the handler of %s: its job went back to PENDING", what)
            self._started = False
        self._worker.close()
        return abandoned

    def drain(self, time_budget: float, *, finish_within: float | None = None) -> int:
        """Take and run jobs for `time_budget` seconds (waiting on Redis while the queues are
        empty), then give the jobs in flight `finish_within` more seconds. Jobs taken but not
        started by then go back to PENDING untried; a handler still running goes on in the
        background, and its outcome is written when it ends (no job is handed back while it
        runs, so none runs twice). Returns how many outcomes it wrote.

        Without `finish_within`, everything happens within `time_budget`: the last fifth of it
        (at most 0.4 s) is left for jobs in flight. A Lambda passes its job timeout as
        `finish_within`, so that it takes no job it could not let run to its timeout. Redis
        calls near the end are waited on only until it: a stalled Redis does not hold a drain
        past its budget."""
        worker = self._worker_side()
        before = worker.counters.processed
        with contextlib.suppress(JobsUnavailable):  # else the drain's own calls say it
            worker.bounded.prepare()  # connecting and loading scripts is not the budget's work
        worker.ensure_threads()  # nor starting the threads
        started = time.monotonic()
        if finish_within is None:
            grace_s = min(0.4, max(0.0, time_budget) * 0.2)
            fetch_until, finish_until = started + time_budget - grace_s, started + time_budget
        else:
            fetch_until = started + max(0.0, time_budget)
            finish_until = fetch_until + max(0.0, finish_within)
        worker.drain(fetch_until, finish_until)
        return worker.counters.processed - before

    def health(self) -> dict[str, Any]:
        """This process's worker as a supervisor sees it: handler threads, how many are stuck
        past their timeout, and whether all are (then it runs nothing: restart it)."""
        worker = self._worker
        if worker is None:
            return {"threads": 0, "stuck": 0, "all_stuck": False}
        slots = worker.slots
        return {"threads": slots.threads, "stuck": slots.stuck, "all_stuck": slots.all_stuck}

    @property
    def counters(self) -> dict[str, int]:
        """This process's totals: processed, failed, lost (outcomes not written: the lease was
        lost), unconfirmed (outcomes whose write Redis never confirmed)."""
        worker = self._worker
        if worker is None:
            return {"processed": 0, "failed": 0, "lost": 0, "unconfirmed": 0}
        c = worker.counters
        return {
            "processed": c.processed,
            "failed": c.failed,
            "lost": c.lost,
            "unconfirmed": c.unconfirmed,
        }
