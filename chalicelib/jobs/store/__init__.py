"""Every Redis key and every script call of the jobs package. Nothing else spells a key.

All keys of a queue carry the queue as a hash tag (`jobs:{q}:part`, see keys.py), so a queue lives
in one slot of a Redis Cluster, and every script declares in KEYS every key it touches. Each call
is one round trip unless it says otherwise. Times are Unix seconds (float) from the caller's
clock, passed in as `now`. The calls are grouped by who makes them: producer.py (an API
process), worker.py (a worker), operator.py (the inspector); base.py holds the plumbing.
"""

from __future__ import annotations

from typing import Any

from .base import AttemptOutcome, Dequeued, Enqueued, NewJob, StoredJob, _text
from .keys import GlobalKeys, QueueKeys
from .operator import OperatorCalls
from .producer import ProducerCalls
from .worker import LEASE_LOST_ERROR, MAINTENANCE_BATCH, TRIM_BUDGET_S, WorkerCalls

__all__ = [
    "LEASE_LOST_ERROR",
    "MAINTENANCE_BATCH",
    "TRIM_BUDGET_S",
    "AttemptOutcome",
    "Dequeued",
    "Enqueued",
    "GlobalKeys",
    "NewJob",
    "PeriodicRegistry",
    "QueueKeys",
    "Store",
    "StoredJob",
]


class Store(ProducerCalls, WorkerCalls, OperatorCalls):
    """The Redis side of the queue. Wraps every Redis error in JobsUnavailable."""


class PeriodicRegistry:
    """`jobs:periodic`, HASH name -> JSON of each periodic job's schedule, last tick and next
    run, as the workers last enqueued it (plain commands only: it belongs to no queue)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.key = store.global_keys.periodic

    def publish(self, infos: dict[str, str]) -> None:
        mapping: dict[Any, Any] = dict(infos)
        self.store._guard(lambda: self.store.client.hset(self.key, mapping=mapping))  # noqa: SLF001

    def read(self) -> dict[str, str]:
        raw = self.store._guard(lambda: self.store.client.hgetall(self.key))  # noqa: SLF001
        return {_text(k): _text(v) for k, v in raw.items()}
