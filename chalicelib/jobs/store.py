"""Every Redis key and every script call of the jobs package. Nothing else spells a key.

All keys of a queue carry the queue as a hash tag (`jobs:{q}:part`), so a queue lives in one slot
of a Redis Cluster, and every script declares in KEYS every key it touches. Each method here is
one round trip. Times are Unix seconds (float) from the caller's clock, passed in as `now`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import redis
from redis.exceptions import (
    DataError,
    NoScriptError,
    OutOfMemoryError,
    RedisClusterException,
    RedisError,
    ResponseError,
)

from .lua import script_sources
from .model import JobState, JobStoreFull, JobsUnavailable, QueueStats
from .record import LeasedJob, Outcome, pending_since

log = logging.getLogger(__name__)

T = TypeVar("T")

#: at most this many jobs per forward / recover / trim call, so no script blocks Redis for long
MAINTENANCE_BATCH = 1000
#: a maintenance pass trims for at most this long (a batch of deletions takes a millisecond or two)
TRIM_BUDGET_S = 0.1
LEASE_LOST_ERROR = "lease expired: the worker died or lost Redis while the job ran"


@dataclass(frozen=True)
class QueueKeys:
    """The keys of one queue, all in one hash slot."""

    job: str
    pending: str
    lease: str
    scheduled: str
    retry: str
    failed: str
    completed: str
    stats: str
    wake: str
    kick: str
    #: present while an operator has paused the queue (dequeue takes nothing then)
    paused: str
    #: HASH id -> how many clients wait for that job's end (see `done`)
    waiting: str
    #: LIST ids of ended jobs whose callback is still to be enqueued
    outbox: str

    @classmethod
    def of(cls, prefix: str, queue: str) -> QueueKeys:
        base = f"{prefix}:{{{queue}}}:"
        return cls(*(base + part for part in cls.__dataclass_fields__))

    def done(self, job_id: str) -> str:
        """LIST: one token per waiter, pushed when the job ends; it expires by itself."""
        return self.job.removesuffix("job") + f"done:{job_id}"


@dataclass(frozen=True)
class AttemptOutcome:
    """How one attempt of a leased job ended, ready for the finish script: the payload is the
    result's JSON for DONE, else the error text; `retry_at` matters for RETRY only."""

    job_id: str
    token: str
    outcome: Outcome
    payload: str
    retry_at: float = 0.0
    #: hash of the job's unique lock ('' for none): released when the job ends for good
    unique: str = ""
    #: the handler's latest progress report (JSON, '' for none), kept with the outcome
    progress: str = ""


@dataclass(frozen=True)
class NewJob:
    """A job to enqueue: its encoded record, when it runs (0: now), and the hashed idempotency
    key and fingerprint of its type and params when it has a key."""

    job_id: str
    record: str
    run_at: float
    idempotency_key: str | None = None
    fingerprint: str = ""
    #: a unique job's lock (hash of type and params) and how long it is held at most, ms
    unique: str | None = None
    unique_ms: int = 0


@dataclass(frozen=True)
class Enqueued:
    #: the caller should kick a worker
    kick: bool
    #: per job: '' when written, else the id of the job that already holds its idempotency key
    answers: list[str]
    #: (index of the job, id holding its key) when a key is held with other params: nothing
    #: was written
    conflict: tuple[int, str] | None = None
    #: (index of the job, id holding its unique lock) per unique job refused: nothing was
    #: written
    duplicates: list[tuple[int, str]] | None = None


@dataclass(frozen=True)
class Dequeued:
    jobs: list[LeasedJob]
    #: earliest time a scheduled or retry job falls due or a lease expires; None for never
    next_due: float | None


class Store:
    """The Redis side of the queue. Wraps every Redis error in JobsUnavailable."""

    def __init__(
        self,
        client: redis.Redis | redis.RedisCluster,
        prefix: str = "jobs",
        blocking_client: redis.Redis | redis.RedisCluster | None = None,
    ) -> None:
        """`blocking_client` serves the blocking wait for work: its socket timeout must outlast
        the wait, while `client` keeps a short one so that a hung Redis is noticed quickly."""
        self.client = client
        self.blocking_client = blocking_client or client
        self.prefix = prefix
        self._keys: dict[str, QueueKeys] = {}
        self._known_queues: set[str] = set()
        self._shas: dict[str, str] = {}

    # -- keys ----------------------------------------------------------------------------------

    def keys(self, queue: str) -> QueueKeys:
        keys = self._keys.get(queue)
        if keys is None:
            keys = self._keys[queue] = QueueKeys.of(self.prefix, queue)
        return keys

    @property
    def queues_key(self) -> str:
        return f"{self.prefix}:queues"

    # -- script plumbing -----------------------------------------------------------------------

    def _load_scripts(self) -> None:
        try:
            shas = {name: self.client.script_load(src) for name, src in script_sources().items()}
        except ResponseError as exc:
            if isinstance(exc, OutOfMemoryError) or "compil" not in str(exc).lower():
                raise
            # a Redis before 7 cannot read the flags line: load without it (such a Redis
            # refuses a script only at its first growing write when over maxmemory)
            shas = {
                name: self.client.script_load(src) for name, src in script_sources(False).items()
            }
        self._shas.update(shas)

    def prepare(self) -> None:
        """Connect and load the scripts now, if not done yet (a drain does this before its
        clock starts). Raises JobsUnavailable."""
        if not self._shas:
            self._guard(self.client.ping)

    def _guard(self, call: Callable[[], T]) -> T:
        """Run call with the scripts loaded; reload them once if Redis forgot them (restart)."""
        try:
            if not self._shas:
                self._load_scripts()
            try:
                return call()
            except NoScriptError:
                self._load_scripts()
                return call()
        except DataError:
            raise  # a value redis-py cannot send: a bug in the caller, not Redis being away
        except ResponseError as exc:
            if isinstance(exc, OutOfMemoryError) or "OOM command not allowed" in str(exc):
                raise JobStoreFull(
                    "the job store is full: Redis is over its maxmemory and refuses new jobs"
                ) from exc
            raise JobsUnavailable(f"Redis refused the call: {exc}") from exc
        except (RedisError, RedisClusterException) as exc:
            unavailable = JobsUnavailable(f"Redis is unavailable: {exc}")
            # redis-py says "connecting" when the call never left this process
            unavailable.may_have_written = "connecting" not in str(exc).lower()
            raise unavailable from exc

    def _eval(self, name: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        return self.client.evalsha(self._shas[name], len(keys), *keys, *args)

    def _pipeline_evals(self, calls: Iterable[tuple[str, Sequence[str], Sequence[Any]]]) -> list:
        """Several idempotent scripts in one round trip (retried whole if a script was missing)."""
        pipe = self.client.pipeline(transaction=False)
        for name, keys, args in calls:
            # execute_command: redis-py's cluster pipeline refuses its evalsha() helper, yet
            # routes a raw EVALSHA by its keys; all keys of a queue share one slot.
            pipe.execute_command("EVALSHA", self._shas[name], len(keys), *keys, *args)
        return list(pipe.execute())

    # -- transitions ---------------------------------------------------------------------------

    def idempotency_key(self, queue: str, hashed_key: str) -> str:
        return f"{self.prefix}:{{{queue}}}:idem:{hashed_key}"

    def unique_key(self, queue: str, unique: str) -> str:
        """The lock of a unique job: the id of the job holding it, while it lives."""
        return f"{self.prefix}:{{{queue}}}:unique:{unique}"

    def enqueue(
        self,
        queue: str,
        jobs: Sequence[NewJob],
        kick_debounce_ms: int = 0,
        idempotency_ttl_ms: int = 0,
    ) -> Enqueued:
        """Store jobs atomically, each unless its idempotency key is already held; none when a
        unique job's lock is held (`Enqueued.duplicates`) or a key conflicts."""
        k = self.keys(queue)
        args: list[Any] = [kick_debounce_ms, idempotency_ttl_ms]
        keys = [k.job, k.pending, k.scheduled, k.wake, k.kick]
        for job in jobs:
            idem = lock = 0
            if job.idempotency_key is not None:
                keys.append(self.idempotency_key(queue, job.idempotency_key))
                idem = len(keys)
            if job.unique is not None:
                keys.append(self.unique_key(queue, job.unique))
                lock = len(keys)
            args += (job.job_id, job.record, job.run_at, job.fingerprint, idem, lock, job.unique_ms)
        if queue in self._known_queues:
            reply = self._guard(lambda: self._eval("enqueue", keys, args))
        else:

            def enqueue_and_record_queue() -> Any:
                # The first enqueue of a queue in this process also records the queue, in the
                # same round trip (on a cluster, one per node); SADD is idempotent.
                pipe = self.client.pipeline(transaction=False)
                pipe.execute_command("EVALSHA", self._shas["enqueue"], len(keys), *keys, *args)
                pipe.sadd(self.queues_key, queue)
                return pipe.execute()[0]

            reply = self._guard(enqueue_and_record_queue)
            self._known_queues.add(queue)
        if int(reply[0]) == -1:
            return Enqueued(False, [], (int(reply[1]) - 1, _text(reply[2])))
        if int(reply[0]) == -2:
            pairs = zip(reply[1::2], reply[2::2], strict=True)
            return Enqueued(False, [], duplicates=[(int(i) - 1, _text(h)) for i, h in pairs])
        return Enqueued(bool(int(reply[0])), [_text(a) for a in reply[1:]])

    # -- the client's side: wait for a job's end, cancel it -----------------------------------

    def wait_register(self, queue: str, job_id: str) -> str | None:
        """The job's record (None: no such job), and, unless it is COMPLETED or FAILED, one
        waiter registered for its end: the script that ends it pushes a token to its done
        list. Call wait_unregister if the wait ends without taking that token."""
        k = self.keys(queue)
        raw = self._guard(lambda: self._eval("wait", (k.job, k.waiting), (job_id, 1)))
        return _text(raw) if raw else None

    def wait_unregister(self, queue: str, job_id: str) -> str | None:
        """Deregister a waiter that gave up, and read the job's record (None: no such job)."""
        k = self.keys(queue)
        raw = self._guard(lambda: self._eval("wait", (k.job, k.waiting), (job_id, -1)))
        return _text(raw) if raw else None

    def wait_done(
        self, queue: str, job_id: str, timeout_s: float, client: redis.Redis | redis.RedisCluster
    ) -> bool:
        """Block on `client` (whose socket timeout outlasts `timeout_s`) until the job's end
        pushes a token for a registered waiter, or the timeout passes; True when woken."""
        key = self.keys(queue).done(job_id)
        timeout_s = max(0.01, round(timeout_s, 3))
        return self._guard(lambda: client.blpop([key], timeout=timeout_s)) is not None

    def cancel(self, queue: str, job_id: str, now: float) -> tuple[int, str]:
        """Cancel a job (see scripts/cancel.lua); returns its state code before and its record
        after (0, '' for no such job). A unique job that ended so has its lock released."""
        k = self.keys(queue)
        keys = (k.job, k.pending, k.scheduled, k.retry, k.failed, k.waiting, k.done(job_id),
                k.outbox)  # fmt: skip
        before, after, unique = self._guard(lambda: self._eval("cancel", keys, (job_id, now)))
        if _text(unique):
            self.unlock(queue, [(job_id, _text(unique))])
        return int(before), _text(after)

    def clear_kick(self, queue: str) -> None:
        """Forget the kick debounce of a queue (its kick failed: the next enqueue tries again)."""
        key = self.keys(queue).kick
        self._guard(lambda: self.client.delete(key))

    def get(self, queue: str, job_id: str) -> str | None:
        k = self.keys(queue)
        raw = self._guard(lambda: self.client.hget(k.job, job_id))
        return raw.decode() if isinstance(raw, bytes) else raw

    def dequeue(
        self, queue: str, count: int, now: float, lease_until: float, token: str
    ) -> Dequeued:
        _, keys, args = self._dequeue_call(queue, count, now, lease_until, token)
        reply = self._guard(lambda: self._eval("dequeue", keys, args))
        return _dequeued(reply)

    def _dequeue_call(
        self, queue: str, count: int, now: float, lease_until: float, token: str
    ) -> tuple[str, Sequence[str], Sequence[Any]]:
        k = self.keys(queue)
        keys = (k.job, k.pending, k.lease, k.scheduled, k.retry, k.wake, k.paused)
        return "dequeue", keys, (now, count, lease_until, token)

    def dequeue_many(
        self, wants: Sequence[tuple[str, int, str]], now: float, lease_until: float
    ) -> list[Dequeued]:
        """Dequeue from several queues in one round trip: per (queue, count, lease token), as
        dequeue() would. Several queues' batches cost what one does."""
        calls = [self._dequeue_call(q, n, now, lease_until, token) for q, n, token in wants]
        return [_dequeued(reply) for reply in self._guard(lambda: self._pipeline_evals(calls))]

    def finish(
        self,
        queue: str,
        outcomes: Sequence[AttemptOutcome],
        now: float,
        retention_s: float,
        day: str,
    ) -> list[int]:
        """Write outcomes; returns the new state code of each, 0 where the lease was lost.
        A job's own retention (in its record) wins over `retention_s`."""
        _, keys, args = self._finish_call(queue, outcomes, now, retention_s, day)
        return [int(c) for c in self._guard(lambda: self._eval("finish", keys, args))]

    def finish_many(
        self,
        batches: Sequence[tuple[str, Sequence[AttemptOutcome]]],
        now: float,
        retention_s: float,
        day: str,
    ) -> list[list[int]]:
        """finish() for several queues in one round trip (safe to repeat whole: a repeated
        outcome is answered with the state it already wrote)."""
        calls = [self._finish_call(q, outcomes, now, retention_s, day) for q, outcomes in batches]
        replies = self._guard(lambda: self._pipeline_evals(calls))
        return [[int(c) for c in reply] for reply in replies]

    def _finish_call(
        self,
        queue: str,
        outcomes: Sequence[AttemptOutcome],
        now: float,
        retention_s: float,
        day: str,
    ) -> tuple[str, Sequence[str], Sequence[Any]]:
        k = self.keys(queue)
        args: list[Any] = [now, retention_s, day]
        keys = [k.job, k.lease, k.completed, k.retry, k.failed, k.stats, k.wake, k.waiting]
        keys.append(k.outbox)
        for o in outcomes:
            lock = 0
            if o.unique:
                keys.append(self.unique_key(queue, o.unique))
                lock = len(keys)
            keys.append(k.done(o.job_id))
            args += (o.job_id, o.token, o.outcome.value, o.payload, o.retry_at, lock, len(keys))
            args.append(o.progress)
        return "finish", keys, args

    def extend(
        self,
        queue: str,
        leases: dict[str, list[tuple[str, bool]]],
        lease_until: float,
        now: float,
    ) -> list[str]:
        """Extend each token's jobs' leases, and record the start of the jobs marked True;
        returns ids whose lease is no longer ours."""
        with_progress = {t: [(i, started, "") for i, started in jobs] for t, jobs in leases.items()}
        return self.keep(queue, with_progress, lease_until, now)[0]

    def keep(
        self,
        queue: str,
        leases: dict[str, list[tuple[str, bool, str]]],
        lease_until: float,
        now: float,
    ) -> tuple[list[str], list[str]]:
        """extend(), with each job's latest progress report (JSON, '' for none) written too;
        returns (ids whose lease is no longer ours, ids a cancel was asked for), in one round
        trip."""
        k = self.keys(queue)
        calls = []
        for token, jobs in leases.items():
            args: list[Any] = [lease_until, token, now]
            for job_id, started, progress in jobs:
                args += (job_id, "1" if started else "0", progress)
            if jobs:
                calls.append(("extend", (k.job, k.lease), args))
        if not calls:
            return [], []
        replies = self._guard(lambda: self._pipeline_evals(calls))
        flat = [_text(item) for reply in replies for item in reply]
        pairs = list(zip(flat[0::2], flat[1::2], strict=True))
        return [i for i, kind in pairs if kind == "lost"], [i for i, k in pairs if k == "cancel"]

    def release(self, queue: str, token: str, lease_until: float) -> int:
        """Put back the unstarted jobs of a dequeue whose reply was lost; returns how many."""
        k = self.keys(queue)
        keys = (k.job, k.lease, k.pending, k.wake)
        return int(self._guard(lambda: self._eval("release", keys, (token, lease_until))))

    def requeue(self, queue: str, token: str, job_ids: Sequence[str]) -> int:
        k = self.keys(queue)
        return int(
            self._guard(
                lambda: self._eval(
                    "requeue", (k.job, k.lease, k.pending, k.wake), (token, *job_ids)
                )
            )
        )

    def maintain(
        self,
        queue: str,
        now: float,
        day: str,
        *,
        failed_keep_since: float,
        failed_keep_count: int,
    ) -> tuple[int, int, int, int]:
        """Recover expired leases, forward due jobs and trim, in one round trip; while a trim
        deletes a full batch, trim again (for at most TRIM_BUDGET_S).

        Returns (charged, returned, forwarded, trimmed): expired leases of started jobs were
        charged; of unstarted ones, returned to PENDING.
        """
        k = self.keys(queue)
        trim_keys = (k.job, k.completed, k.failed)
        trim_args = (now, failed_keep_since, failed_keep_count, MAINTENANCE_BATCH)
        calls: list[tuple[str, Sequence[str], Sequence[Any]]] = [
            (
                "recover",
                (k.job, k.lease, k.retry, k.failed, k.stats, k.pending, k.wake, k.outbox),
                (now, MAINTENANCE_BATCH, now, day, LEASE_LOST_ERROR),
            ),
            ("forward", (k.job, k.scheduled, k.retry, k.pending, k.wake), (now, MAINTENANCE_BATCH)),
            ("trim", trim_keys, trim_args),
        ]
        replies = self._guard(lambda: self._pipeline_evals(calls))
        trimmed = deleted = int(replies[2])
        budget_ends = time.monotonic() + TRIM_BUDGET_S
        while deleted >= MAINTENANCE_BATCH and time.monotonic() < budget_ends:
            deleted = int(self._guard(lambda: self._eval("trim", trim_keys, trim_args)))
            trimmed += deleted
        charged, returned, *ended = replies[0]
        if ended:
            self.ended(
                queue, [(_text(i), _text(u)) for i, u in zip(ended[::2], ended[1::2], strict=True)]
            )
        return int(charged), int(returned), int(replies[1]), trimmed

    def ended(self, queue: str, jobs: Sequence[tuple[str, str]]) -> None:
        """After a script that could not name their keys ended these jobs (job id, unique hash
        or ''): release their unique locks and wake their waiters, in one round trip."""
        k = self.keys(queue)
        ids = [job_id for job_id, _ in jobs]
        locked = [(job_id, unique) for job_id, unique in jobs if unique]
        calls: list[tuple[str, Sequence[str], Sequence[Any]]] = [
            ("wake", (k.waiting, *(k.done(i) for i in ids)), ids)
        ]
        if locked:
            lock_keys = [self.unique_key(queue, unique) for _, unique in locked]
            calls.append(("unlock", lock_keys, [job_id for job_id, _ in locked]))
        self._guard(lambda: self._pipeline_evals(calls))

    def unlock(self, queue: str, jobs: Sequence[tuple[str, str]]) -> int:
        """Release the unique locks (job id, unique hash) still held by these ended jobs."""
        keys = [self.unique_key(queue, unique) for _, unique in jobs]
        ids = [job_id for job_id, _ in jobs]
        return int(self._guard(lambda: self._eval("unlock", keys, ids)))

    def stats(self, queue: str, now: float) -> QueueStats:
        k = self.keys(queue)
        keys = (k.job, k.pending, k.lease, k.scheduled, k.retry, k.failed, k.completed, k.stats)
        reply = self._guard(lambda: self._eval("stats", keys, ()))
        active, pending, future, retrying, failed, completed, processed, failed_total = (
            int(n) for n in reply[:8]
        )
        oldest_age_s = max(0.0, now - pending_since(reply[8])) if reply[8] else None
        return QueueStats(
            queue, active, pending, future, retrying, failed, completed, processed, failed_total,
            oldest_age_s,
        )  # fmt: skip

    def wait_for_work(self, queues: Sequence[str], timeout_s: float) -> str | None:
        """Block until a job is pushed to PENDING in one of `queues`, or the timeout passes.
        Returns the queue whose wake token this call took, or None.

        On a Redis Cluster a blocking pop may name keys of one slot only, so only the first
        queue is waited on there; the others are picked up at the next dequeue.
        """
        timeout_s = max(0.01, round(timeout_s, 3))
        names = queues[:1] if isinstance(self.client, redis.RedisCluster) else queues
        wake_keys = {self.keys(q).wake: q for q in names}
        popped = self._guard(lambda: self.blocking_client.blpop(list(wake_keys), timeout=timeout_s))
        if popped is None:
            return None
        key = popped[0].decode() if isinstance(popped[0], bytes) else popped[0]
        return wake_keys[key]

    def wake(self, queue: str) -> None:
        """Put back a wake token this worker took but will not act on (it is stopping)."""
        key = self.keys(queue).wake
        self._guard(lambda: self.client.lpush(key, 1))

    def ping(self) -> None:
        self._guard(self.client.ping)

    def known_queues(self) -> list[str]:
        members = self._guard(lambda: self.client.smembers(self.queues_key))
        return sorted(m.decode() if isinstance(m, bytes) else m for m in members)

    @property
    def workers_key(self) -> str:
        """HASH worker id -> JSON heartbeat of each long-running worker (plain commands only:
        it belongs to no queue)."""
        return f"{self.prefix}:workers"

    def heartbeat(self, worker_id: str, info: str) -> None:
        self._guard(lambda: self.client.hset(self.workers_key, worker_id, info))

    def forget_worker(self, worker_id: str) -> None:
        self._guard(lambda: self.client.hdel(self.workers_key, worker_id))

    def workers(self) -> dict[str, str]:
        """Every heartbeat, by worker id (stale ones included: their last_seen says so)."""
        raw = self._guard(lambda: self.client.hgetall(self.workers_key))
        return {_text(k): _text(v) for k, v in raw.items()}

    # -- an operator's view and actions (inspector.py) ----------------------------------------

    #: the key holding the ids of each state, and the order `page` walks it in
    STATE_KEYS = {
        JobState.ACTIVE: ("lease", "id"),
        JobState.PENDING: ("pending", "list"),
        JobState.FUTURE: ("scheduled", "score"),
        JobState.RETRYING: ("retry", "score"),
        JobState.FAILED: ("failed", "score"),
        JobState.COMPLETED: ("completed", "score"),
    }

    def overviews(self, queues: Sequence[str], day: str) -> list[list[Any]]:
        """The overview script's reply for each queue (see scripts/overview.lua), in one
        pipelined round trip (on a cluster, one per node)."""
        calls: list[tuple[str, Sequence[str], Sequence[Any]]] = []
        for queue in queues:
            k = self.keys(queue)
            keys = (k.job, k.pending, k.lease, k.scheduled, k.retry, k.failed, k.completed,
                    k.stats, k.paused)  # fmt: skip
            calls.append(("overview", keys, (day,)))
        if not calls:
            return []
        return self._guard(lambda: self._pipeline_evals(calls))

    def page(
        self, queue: str, state: JobState, limit: int, score: str, after: Sequence[str]
    ) -> list[tuple[str, str, str]]:
        """Up to `limit` jobs of a state following the cursor (`score`, `after`: the previous
        page's last score and ids, last first; empty for the first page), in the order
        scripts/page.lua describes: (id, score, record JSON or '') each."""
        k = self.keys(queue)
        part, order = self.STATE_KEYS[state]
        keys = (k.job, getattr(k, part))
        reply = [_text(r) for r in self._guard(
            lambda: self._eval("page", keys, (order, limit, score, *after))
        )]  # fmt: skip
        return list(zip(reply[0::3], reply[1::3], reply[2::3], strict=True))

    def retry(self, queue: str, job_ids: Sequence[str], now: float) -> tuple[int, list[int]]:
        """Make FAILED, RETRYING and FUTURE jobs PENDING now; returns how many moved, and each
        one's state after the call (0 for no such job)."""
        k = self.keys(queue)
        keys = (k.job, k.pending, k.scheduled, k.retry, k.failed, k.wake)
        reply = self._guard(lambda: self._eval("retry", keys, (now, 0, *job_ids)))
        return int(reply[0]), [int(c) for c in reply[1:]]

    def retry_failed(self, queue: str, now: float) -> int:
        """Make up to MAINTENANCE_BATCH FAILED jobs, oldest first, PENDING now; returns how many."""
        k = self.keys(queue)
        keys = (k.job, k.pending, k.scheduled, k.retry, k.failed, k.wake)
        return int(self._guard(lambda: self._eval("retry", keys, (now, MAINTENANCE_BATCH)))[0])

    def delete(self, queue: str, job_id: str) -> int:
        """Delete a job unless it is ACTIVE; returns the state it was in (0: no such job).
        Its waiters wake (and find it gone)."""
        k = self.keys(queue)
        keys = (k.job, k.pending, k.scheduled, k.retry, k.failed, k.completed, k.waiting,
                k.done(job_id))  # fmt: skip
        return int(self._guard(lambda: self._eval("delete", keys, (job_id,))))

    def set_paused(self, queue: str, paused: bool) -> bool:
        """Pause or resume a queue; True when that changed its state."""
        k = self.keys(queue)
        keys = (k.paused, k.pending, k.wake)
        return bool(self._guard(lambda: self._eval("pause", keys, ("1" if paused else "0",))))

    def day_counts(self, queue: str, days: Sequence[str]) -> list[tuple[int, int]]:
        """(processed, failed) of the queue on each day (YYYY-MM-DD), in one round trip."""
        stats = self.keys(queue).stats
        fields = [f"{name}:{day}" for day in days for name in ("processed", "failed")]
        raw = self._guard(lambda: self.client.hmget(stats, fields))
        values = [int(v or 0) for v in raw]
        return list(zip(values[0::2], values[1::2], strict=True))

    def is_known_queue(self, queue: str) -> bool:
        """Whether a job was ever created in the queue (as recorded in Redis)."""
        return bool(self._guard(lambda: self.client.sismember(self.queues_key, queue)))


class PeriodicRegistry:
    """`jobs:periodic`, HASH name -> JSON of each periodic job's schedule, last tick and next
    run, as the workers last enqueued it (plain commands only: it belongs to no queue)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.key = f"{store.prefix}:periodic"

    def publish(self, infos: dict[str, str]) -> None:
        mapping: dict[Any, Any] = dict(infos)
        self.store._guard(lambda: self.store.client.hset(self.key, mapping=mapping))  # noqa: SLF001

    def read(self) -> dict[str, str]:
        raw = self.store._guard(lambda: self.store.client.hgetall(self.key))  # noqa: SLF001
        return {_text(k): _text(v) for k, v in raw.items()}


def _dequeued(reply: list) -> Dequeued:
    due = reply[0]
    return Dequeued([LeasedJob.decode(raw) for raw in reply[1:]], float(due) if due else None)


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value
