"""What an operator asks of Redis (through inspector.py): overviews, pages, retries, deletes
and pauses."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from ..model import JobState
from .base import ScriptRunner, StoredJob, _text
from .worker import MAINTENANCE_BATCH

T = TypeVar("T")


class OperatorCalls(ScriptRunner):
    """An operator's view and actions, each a bounded number of round trips."""

    #: the key holding the ids of each state, and the order `page` walks it in
    STATE_KEYS = {
        JobState.ACTIVE: ("lease", "id"),
        JobState.PENDING: ("pending", "list"),
        JobState.FUTURE: ("scheduled", "score"),
        JobState.RETRYING: ("retry", "score"),
        JobState.FAILED: ("failed", "score"),
        JobState.COMPLETED: ("results", "list"),
    }

    def overviews(self, queues: Sequence[str], day: str) -> list[list[Any]]:
        """The overview script's reply for each queue (see scripts/overview.lua), in one
        pipelined round trip (on a cluster, one per node)."""
        calls: list[tuple[str, Sequence[str], Sequence[Any]]] = []
        for queue in queues:
            k = self.keys(queue)
            keys = (k.job, k.pending, k.lease, k.scheduled, k.retry, k.failed, k.results,
                    k.stats, k.paused)  # fmt: skip
            calls.append(("overview", keys, (day,)))
        if not calls:
            return []
        return self._guard(lambda: self._pipeline_evals(calls))

    def page(
        self, queue: str, state: JobState, limit: int, score: str, after: Sequence[str]
    ) -> list[tuple[str, str, StoredJob | None]]:
        """Up to `limit` jobs of a state following the cursor (`score`, `after`: the previous
        page's last score and ids, last first; empty for the first page), in the order
        scripts/page.lua describes: (id, score, the job or None when it is gone) each."""
        k = self.keys(queue)
        part, order = self.STATE_KEYS[state]
        keys = (k.job, getattr(k, part), k.active)
        reply = [_text(r) for r in self._guard(
            lambda: self._eval("page", keys, (order, limit, score, *after))
        )]  # fmt: skip
        rows = zip(reply[0::4], reply[1::4], reply[2::4], reply[3::4], strict=True)
        return [(i, s, StoredJob(r, a or None) if r else None) for i, s, r, a in rows]

    def retry(self, queue: str, job_ids: Sequence[str], now: float) -> tuple[int, list[int]]:
        """Make FAILED, RETRYING and FUTURE jobs PENDING now; returns how many moved, and each
        one's state after the call (0 for no such job)."""
        k = self.keys(queue)
        keys = (k.job, k.pending, k.scheduled, k.retry, k.failed, k.wake)
        reply = self._guard(lambda: self._eval_converted(queue, "retry", keys, (now, 0, *job_ids)))
        return int(reply[0]), [int(c) for c in reply[1:]]

    def retry_failed(self, queue: str, now: float) -> int:
        """Make up to MAINTENANCE_BATCH FAILED jobs, oldest first, PENDING now; returns how many."""
        k = self.keys(queue)
        keys = (k.job, k.pending, k.scheduled, k.retry, k.failed, k.wake)
        return int(
            self._guard(
                lambda: self._eval_converted(queue, "retry", keys, (now, MAINTENANCE_BATCH))
            )[0]
        )

    def delete(self, queue: str, job_id: str) -> int:
        """Delete a job unless it is ACTIVE; returns the state it was in (0: no such job).
        Its waiters wake (and find it gone)."""
        k = self.keys(queue)
        keys = (k.job, k.pending, k.scheduled, k.retry, k.failed, k.results, k.waiting,
                k.done(job_id), k.active)  # fmt: skip
        return int(self._guard(lambda: self._eval_converted(queue, "delete", keys, (job_id,))))

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

    def workers(self) -> dict[str, str]:
        """Every heartbeat, by worker id (stale ones included: their last_seen says so)."""
        raw = self._guard(lambda: self.client.hgetall(self.workers_key))
        return {_text(k): _text(v) for k, v in raw.items()}
