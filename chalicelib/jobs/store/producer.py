"""What an API process asks of Redis: create jobs, read them, wait for their end, cancel them."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import suppress
from typing import Any, TypeVar

import redis

from ..model import QueueStats
from ..record import Record
from .base import Enqueued, NewJob, ScriptRunner, StoredJob, _stored, _text
from .durable import check_node, enqueue_and_wait, node_client

T = TypeVar("T")


class ProducerCalls(ScriptRunner):
    """Creating, reading, waiting and cancelling: each one round trip."""

    def enqueue(
        self,
        queue: str,
        jobs: Sequence[NewJob],
        kick_debounce_ms: int = 0,
        idempotency_ttl_ms: int = 0,
    ) -> Enqueued:
        """Store jobs atomically, each unless its idempotency key is already held; none when a
        unique job's lock is held (`Enqueued.duplicates`) or a key conflicts.

        With `durability` on, it answers only once the replicas (or the append-only file) hold
        the write, whether new or already there (a replay); else it raises JobsUnavailable with
        `may_have_written`. A node that cannot give it is refused (InvalidSettings)."""
        k = self.keys(queue)
        args: list[Any] = [kick_debounce_ms, idempotency_ttl_ms]
        keys = [k.job, k.pending, k.scheduled, k.wake, k.kick, k.stats]
        for job in jobs:
            idem = lock = 0
            if job.idempotency_key is not None:
                keys.append(self.idempotency_key(queue, job.idempotency_key))
                idem = len(keys)
            if job.unique is not None:
                keys.append(self.unique_key(queue, job.unique))
                lock = len(keys)
            args += (job.job_id, job.record, job.run_at, job.fingerprint, idem, lock, job.unique_ms)
        if self.durability.enabled:
            reply = self._guard(lambda: self._enqueue_durably(queue, keys, args))
        elif queue in self._known_queues:
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

    def _enqueue_durably(self, queue: str, keys: list[str], args: list[Any]) -> Any:
        node = node_client(self.client, keys[0])
        if queue not in self._durable_nodes:
            check_node(node, self.durability, queue)
            self._durable_nodes.add(queue)
        if queue not in self._known_queues:
            self.client.sadd(self.queues_key, queue)
            self._known_queues.add(queue)
        try:
            return enqueue_and_wait(node, self._shas["enqueue"], keys, args, self.durability)
        except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError) as exc:
            moved = not isinstance(exc, redis.ResponseError) or any(
                word in str(exc) for word in ("MOVED", "CLUSTERDOWN", "READONLY")
            )
            if isinstance(self.client, redis.RedisCluster) and moved:
                # the node may be gone or no longer own the slot: relearn the slots, so that
                # the retry goes to the queue's new node
                self._durable_nodes.discard(queue)
                with suppress(redis.RedisError, redis.exceptions.RedisClusterException):
                    self.client.nodes_manager.initialize()
            raise

    def wait_register(self, queue: str, job_id: str) -> StoredJob | None:
        """The job as read() finds it (None: no such job), and, unless it is COMPLETED or
        FAILED, one waiter registered for its end: the script that ends it pushes a token to
        its done list. Call wait_unregister if the wait ends without taking that token."""
        k = self.keys(queue)
        keys = (k.job, k.waiting, k.active)
        return _stored(self._guard(lambda: self._eval("wait", keys, (job_id, 1))))

    def wait_unregister(self, queue: str, job_id: str) -> StoredJob | None:
        """Deregister a waiter that gave up, and read the job (None: no such job)."""
        k = self.keys(queue)
        keys = (k.job, k.waiting, k.active)
        return _stored(self._guard(lambda: self._eval("wait", keys, (job_id, -1))))

    def wait_done(
        self, queue: str, job_id: str, timeout_s: float, client: redis.Redis | redis.RedisCluster
    ) -> bool:
        """Block on `client` (whose socket timeout outlasts `timeout_s`) until the job's end
        pushes a token for a registered waiter, or the timeout passes; True when woken."""
        key = self.keys(queue).done(job_id)
        timeout_s = max(0.01, round(timeout_s, 3))
        return self._guard(lambda: client.blpop([key], timeout=timeout_s)) is not None

    def cancel(self, queue: str, job_id: str, now: float) -> tuple[int, StoredJob | None]:
        """Cancel a job (see scripts/cancel.lua); returns its state code before and the job
        after (0, None for no such job)."""
        k = self.keys(queue)
        keys = (k.job, k.pending, k.scheduled, k.retry, k.failed, k.waiting, k.done(job_id),
                k.outbox, k.active)  # fmt: skip
        before, after, entry = self._guard(
            lambda: self._eval_converted(queue, "cancel", keys, (job_id, now))
        )
        if not int(before):
            return 0, None
        return int(before), StoredJob(_text(after), _text(entry) or None)

    def clear_kick(self, queue: str) -> None:
        """Forget the kick debounce of a queue (its kick failed: the next enqueue tries again)."""
        key = self.keys(queue).kick
        self._guard(lambda: self.client.delete(key))

    def read(self, queue: str, job_id: str) -> StoredJob | None:
        """The job's record and, while it is ACTIVE, its in-flight entry; None: no such job."""
        k = self.keys(queue)
        return _stored(self._guard(lambda: self._eval("read", (k.job, k.active), (job_id,))))

    def stats(self, queue: str, now: float) -> QueueStats:
        k = self.keys(queue)
        keys = (k.job, k.pending, k.lease, k.scheduled, k.retry, k.failed, k.results, k.stats)
        reply = self._guard(lambda: self._eval("stats", keys, ()))
        active, pending, future, retrying, failed, completed, processed, failed_total = (
            int(n) for n in reply[:8]
        )
        oldest_age_s = max(0.0, now - Record.decode(reply[8]).pending_since) if reply[8] else None
        return QueueStats(
            queue, active, pending, future, retrying, failed, completed, processed, failed_total,
            oldest_age_s,
        )  # fmt: skip

    def known_queues(self) -> list[str]:
        members = self._guard(lambda: self.client.smembers(self.queues_key))
        return sorted(m.decode() if isinstance(m, bytes) else m for m in members)
