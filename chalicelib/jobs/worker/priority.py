"""Which queue the next jobs come from: in proportion to the queues' weights (smooth weighted
round robin, as nginx balances upstreams), or strictly in order.

Weighted, every queue gets its share of each batch, interleaved (6:3:1 gives c d c c d c l c d c),
so a low queue is never starved, and its share holds across batches of any size, down to one job
at a time, because the picker keeps its credits from one batch to the next.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeVar

T = TypeVar("T")


class QueuePicker:
    """Plans batches over weighted queues. Not thread-safe: the fetch duty owns it."""

    def __init__(self, queues: Sequence[str], weights: Sequence[int]) -> None:
        self.queues = tuple(queues)
        self.weights = dict(zip(queues, weights, strict=True))
        self.total = sum(weights)
        self.credit = dict.fromkeys(queues, 0)

    def plan(self, count: int) -> list[str]:
        """The queues of the next `count` jobs, in the order they should run."""
        picks = []
        for _ in range(count):
            for queue in self.queues:
                self.credit[queue] += self.weights[queue]
            best = max(self.queues, key=self.credit.__getitem__)
            self.credit[best] -= self.total
            picks.append(best)
        return picks


def interleave(plan: Sequence[str], taken: Mapping[str, list[T]], extra: Sequence[T]) -> list[T]:
    """The jobs taken per queue, in the order of the plan (a queue that gave fewer is skipped
    where it falls short), then `extra` (jobs taken to fill those gaps)."""
    queues = {q: iter(jobs) for q, jobs in taken.items()}
    ordered = [job for q in plan if (job := next(queues[q], None)) is not None]
    return ordered + list(extra)
