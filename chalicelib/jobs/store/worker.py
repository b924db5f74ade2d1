"""What a worker asks of Redis: take jobs, write their outcomes, keep their leases, and
maintain the queues."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, TypeVar

import redis

from .base import AttemptOutcome, Dequeued, ScriptRunner, _dequeued, _text

T = TypeVar("T")

#: at most this many jobs per forward / recover / trim call, so no script blocks Redis for long
MAINTENANCE_BATCH = 1000
#: a maintenance pass trims for at most this long (a batch of deletions takes a millisecond or two)
TRIM_BUDGET_S = 0.1
LEASE_LOST_ERROR = "lease expired: the worker died or lost Redis while the job ran"


class WorkerCalls(ScriptRunner):
    """The worker's transitions: each one round trip (maintenance: one per pass)."""

    def dequeue(
        self, queue: str, count: int, now: float, lease_until: float, token: str
    ) -> Dequeued:
        self.ensure_layout((queue,))
        _, keys, args = self._dequeue_call(queue, count, now, lease_until, token)
        reply = self._guard(lambda: self._eval("dequeue", keys, args))
        return _dequeued(reply)

    def _dequeue_call(
        self, queue: str, count: int, now: float, lease_until: float, token: str
    ) -> tuple[str, Sequence[str], Sequence[Any]]:
        k = self.keys(queue)
        keys = (k.job, k.pending, k.lease, k.scheduled, k.retry, k.wake, k.paused, k.active)
        return "dequeue", keys, (now, count, lease_until, token)

    def dequeue_many(
        self, wants: Sequence[tuple[str, int, str]], now: float, lease_until: float
    ) -> list[Dequeued]:
        """Dequeue from several queues in one round trip: per (queue, count, lease token), as
        dequeue() would. Several queues' batches cost what one does."""
        self.ensure_layout(q for q, _, _ in wants)
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

    def finish_and_dequeue(
        self,
        queue: str,
        outcomes: Sequence[AttemptOutcome],
        now: float,
        retention_s: float,
        day: str,
        count: int,
        lease_until: float,
        token: str,
    ) -> tuple[list[int], Dequeued]:
        """finish() then dequeue() on one queue, in one round trip (two scripts pipelined on
        its node): a busy worker's writes and its next batch cost one round trip."""
        self.ensure_layout((queue,))
        calls = [
            self._finish_call(queue, outcomes, now, retention_s, day),
            self._dequeue_call(queue, count, now, lease_until, token),
        ]
        finished, dequeued = self._guard(lambda: self._pipeline_evals(calls))
        return [int(c) for c in finished], _dequeued(dequeued)

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
        keys = [k.job, k.lease, k.results, k.retry, k.failed, k.stats, k.wake, k.waiting]
        keys += (k.outbox, k.active)
        for o in outcomes:
            # `o.unique` needs nothing: a unique lock whose job ended holds nothing (enqueue)
            keys.append(k.done(o.job_id))
            args += (o.job_id, o.token, o.outcome.value, o.payload, o.retry_at, len(keys))
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
                calls.append(("extend", (k.job, k.lease, k.active), args))
        if not calls:
            return [], []
        replies = self._guard(lambda: self._pipeline_evals(calls))
        flat = [_text(item) for reply in replies for item in reply]
        pairs = list(zip(flat[0::2], flat[1::2], strict=True))
        return [i for i, kind in pairs if kind == "lost"], [i for i, k in pairs if k == "cancel"]

    def release(self, queue: str, token: str, lease_until: float) -> int:
        """Put back the unstarted jobs of a dequeue whose reply was lost; returns how many."""
        k = self.keys(queue)
        keys = (k.active, k.lease, k.pending, k.wake)
        return int(self._guard(lambda: self._eval("release", keys, (token, lease_until))))

    def requeue(self, queue: str, token: str, job_ids: Sequence[str]) -> int:
        return self.requeue_many([(queue, token, job_ids)])

    def requeue_many(self, groups: Sequence[tuple[str, str, Sequence[str]]]) -> int:
        """Put unstarted jobs back at the head of PENDING, untried: per (queue, lease token,
        ids), every group in one round trip. Returns how many went back."""
        calls: list[tuple[str, Sequence[str], Sequence[Any]]] = []
        for queue, token, job_ids in groups:
            k = self.keys(queue)
            calls.append(("requeue", (k.active, k.lease, k.pending, k.wake), (token, *job_ids)))
        if not calls:
            return 0
        return sum(int(n) for n in self._guard(lambda: self._pipeline_evals(calls)))

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
        self.ensure_layout((queue,))
        k = self.keys(queue)
        trim_keys = (k.job, k.results, k.failed)
        trim_args = (now, failed_keep_since, failed_keep_count, MAINTENANCE_BATCH)
        calls: list[tuple[str, Sequence[str], Sequence[Any]]] = [
            (
                "recover",
                (k.job, k.lease, k.retry, k.failed, k.stats, k.pending, k.wake, k.outbox, k.active),
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
            self.ended(queue, [(_text(i), "") for i in ended])
        return int(charged), int(returned), int(replies[1]), trimmed

    def ended(self, queue: str, jobs: Sequence[tuple[str, str]]) -> None:
        """After a script that could not name their keys ended these jobs (job id, unique hash
        or ''): wake their waiters, in one round trip. (Their unique locks need nothing: a lock
        whose job ended holds nothing.)"""
        k = self.keys(queue)
        ids = [job_id for job_id, _ in jobs]
        keys = (k.waiting, *(k.done(i) for i in ids))
        self._guard(lambda: self._eval("wake", keys, ids))

    def wait_for_work(self, queues: Sequence[str], timeout_s: float) -> str | None:
        """Block until a job is pushed to PENDING in one of `queues`, or the timeout passes.
        Returns the queue whose wake token this call took, or None.

        On a Redis Cluster a blocking pop may name keys of one slot only, so only the first
        queue is waited on there; the others are picked up at the next dequeue.
        """
        timeout_s = max(0.01, round(timeout_s, 3))
        names = queues[:1] if self.waits_on_first_queue_only else queues
        wake_keys = {self.keys(q).wake: q for q in names}
        popped = self._guard(lambda: self.blocking_client.blpop(list(wake_keys), timeout=timeout_s))
        if popped is None:
            return None
        key = popped[0].decode() if isinstance(popped[0], bytes) else popped[0]
        return wake_keys[key]

    @property
    def waits_on_first_queue_only(self) -> bool:
        """On a Redis Cluster, an idle worker waits for the first of its queues only."""
        return isinstance(self.client, redis.RedisCluster)

    def wake(self, queue: str) -> None:
        """Put back a wake token this worker took but will not act on (it is stopping)."""
        key = self.keys(queue).wake
        self._guard(lambda: self.client.lpush(key, 1))

    def outbox(self, queue: str, count: int) -> list[tuple[str, str | None]]:
        """The oldest `count` entries of the callback outbox: (job id, its record or None when
        the job is gone)."""
        k = self.keys(queue)
        reply = self._guard(lambda: self._eval("outbox", (k.outbox, k.job), (count,)))
        return [
            (_text(i), None if raw is None else _text(raw))
            for i, raw in zip(reply[::2], reply[1::2], strict=True)
        ]

    def forwarded(self, queue: str, done: Sequence[tuple[str, str, str]]) -> int:
        """Take out of the outbox the entries forwarded: (job id, its completed_at as read, the
        id of its delivery or ''); each job records its delivery's id. Returns how many left."""
        k = self.keys(queue)
        args = [part for entry in done for part in entry]
        return int(self._guard(lambda: self._eval("forwarded", (k.outbox, k.job), args)))

    def heartbeat(self, worker_id: str, info: str) -> None:
        self._guard(lambda: self.client.hset(self.workers_key, worker_id, info))

    def forget_worker(self, worker_id: str) -> None:
        self._guard(lambda: self.client.hdel(self.workers_key, worker_id))
