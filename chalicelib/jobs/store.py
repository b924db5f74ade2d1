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
from redis.exceptions import DataError, NoScriptError, RedisClusterException, RedisError

from .lua import script_sources
from .model import JobsUnavailable, QueueStats
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

    @classmethod
    def of(cls, prefix: str, queue: str) -> QueueKeys:
        base = f"{prefix}:{{{queue}}}:"
        return cls(*(base + part for part in cls.__dataclass_fields__))


@dataclass(frozen=True)
class AttemptOutcome:
    """How one attempt of a leased job ended, ready for the finish script: the payload is the
    result's JSON for DONE, else the error text; `retry_at` matters for RETRY only."""

    job_id: str
    token: str
    outcome: Outcome
    payload: str
    retry_at: float = 0.0


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
        for name, source in script_sources().items():
            self._shas[name] = self.client.script_load(source)

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
        except (RedisError, RedisClusterException) as exc:
            raise JobsUnavailable(f"Redis is unavailable: {exc}") from exc

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

    def enqueue(
        self, queue: str, jobs: Sequence[tuple[str, str, float]], kick_debounce_ms: int = 0
    ) -> bool:
        """Store (id, record JSON, run_at or 0) jobs. True when the caller should kick a worker."""
        k = self.keys(queue)
        args: list[Any] = [kick_debounce_ms]
        for job_id, record, run_at in jobs:
            args += (job_id, record, run_at)
        keys = (k.job, k.pending, k.scheduled, k.wake, k.kick)
        if queue in self._known_queues:
            return bool(self._guard(lambda: self._eval("enqueue", keys, args)))

        def enqueue_and_record_queue() -> Any:
            # The first enqueue of a queue in this process also records the queue, in the same
            # round trip (on a cluster, one per node); SADD is idempotent if this is retried.
            pipe = self.client.pipeline(transaction=False)
            pipe.execute_command("EVALSHA", self._shas["enqueue"], len(keys), *keys, *args)
            pipe.sadd(self.queues_key, queue)
            return pipe.execute()[0]

        kick = self._guard(enqueue_and_record_queue)
        self._known_queues.add(queue)
        return bool(kick)

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
        k = self.keys(queue)
        reply = self._guard(
            lambda: self._eval(
                "dequeue",
                (k.job, k.pending, k.lease, k.scheduled, k.retry, k.wake),
                (now, count, lease_until, token),
            )
        )
        due = reply[0]
        return Dequeued([LeasedJob.decode(raw) for raw in reply[1:]], float(due) if due else None)

    def finish(
        self,
        queue: str,
        outcomes: Sequence[AttemptOutcome],
        now: float,
        retention_s: float,
        day: str,
    ) -> list[int]:
        """Write outcomes; returns the new state code of each, 0 where the lease was lost."""
        k = self.keys(queue)
        args: list[Any] = [now, retention_s, day]
        for o in outcomes:
            args += (o.job_id, o.token, o.outcome.value, o.payload, o.retry_at)
        keys = (k.job, k.lease, k.completed, k.retry, k.failed, k.stats, k.wake)
        return [int(c) for c in self._guard(lambda: self._eval("finish", keys, args))]

    def extend(self, queue: str, leases: dict[str, list[str]], lease_until: float) -> list[str]:
        """Extend each token's jobs' leases; returns ids whose lease is no longer ours."""
        k = self.keys(queue)
        calls = [
            ("extend", (k.job, k.lease), (lease_until, token, *ids))
            for token, ids in leases.items()
            if ids
        ]
        if not calls:
            return []
        replies = self._guard(lambda: self._pipeline_evals(calls))
        return [i.decode() if isinstance(i, bytes) else i for reply in replies for i in reply]

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
    ) -> tuple[int, int, int]:
        """Recover expired leases, forward due jobs and trim, in one round trip; while a trim
        deletes a full batch, trim again (for at most TRIM_BUDGET_S).

        Returns (recovered, forwarded, trimmed).
        """
        k = self.keys(queue)
        trim_keys = (k.job, k.completed, k.failed)
        trim_args = (now, failed_keep_since, failed_keep_count, MAINTENANCE_BATCH)
        calls: list[tuple[str, Sequence[str], Sequence[Any]]] = [
            (
                "recover",
                (k.job, k.lease, k.retry, k.failed, k.stats),
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
        return int(replies[0]), int(replies[1]), trimmed

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
