"""Prometheus metrics: the queues' depths (from Redis) and a worker process's job counters.

`prometheus_client` is imported only when metrics are made or asked for, so a cold start that
never serves them does not pay for it. The per-job counters are recorded by the coordinator's
thread alone, where it takes each ended job (`JobMetrics.ended`): no lock is taken in the
handlers' threads.
"""

from __future__ import annotations

import bisect
import math
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .inspector import QueueInfo
    from .worker.table import Held

#: the text format's content type
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: histogram buckets in seconds: from a millisecond to ten minutes
BUCKETS_S = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 600)


class QueueCollector:
    """`jobs_queue_jobs{queue,state}` and `jobs_queue_oldest_pending_seconds{queue}`, read
    through `queues` (Inspector.queues: every known queue) at each collect."""

    def __init__(self, queues: Callable[[], Iterable[QueueInfo]]) -> None:
        self.queues = queues

    def collect(self) -> Iterable[Any]:
        from prometheus_client.core import GaugeMetricFamily

        jobs = GaugeMetricFamily(
            "jobs_queue_jobs", "Jobs in each state, per queue", labels=["queue", "state"]
        )
        oldest = GaugeMetricFamily(
            "jobs_queue_oldest_pending_seconds",
            "Seconds since the oldest PENDING job became ready (0: none pending)",
            labels=["queue"],
        )
        for info in self.queues():
            for state, count in info.counts.items():
                jobs.add_metric([info.name, state.lower()], count)
            oldest.add_metric([info.name], info.oldest_pending_s)
        return [jobs, oldest]


def queue_text(queues: Callable[[], Iterable[QueueInfo]]) -> str:
    """The text format of the queues' gauges (see QueueCollector)."""
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(QueueCollector(queues))  # type: ignore[arg-type]
    return generate_latest(registry).decode()


class _Histograms:
    """Per-queue bucket counts and sums of one histogram, in plain lists (one writer)."""

    def __init__(self) -> None:
        #: queue -> [count per bucket (the last: above every bound)..., sum]
        self.by_queue: dict[str, list[float]] = {}

    def observe(self, queue: str, value_s: float) -> None:
        counts = self.by_queue.get(queue)
        if counts is None:
            counts = self.by_queue[queue] = [0.0] * (len(BUCKETS_S) + 2)
        counts[bisect.bisect_left(BUCKETS_S, value_s)] += 1
        counts[-1] += value_s

    def family(self, name: str, documentation: str) -> Any:
        from prometheus_client.core import HistogramMetricFamily

        family = HistogramMetricFamily(name, documentation, labels=["queue"])
        for queue, counts in list(self.by_queue.items()):
            counts = list(counts)
            cumulative, buckets = 0.0, []
            for bound, count in zip((*BUCKETS_S, math.inf), counts[:-1], strict=True):
                cumulative += count
                buckets.append((_bound_text(bound), cumulative))
            family.add_metric([queue], buckets, counts[-1])
        return family


def _bound_text(bound: float) -> str:
    return "+Inf" if bound == math.inf else repr(float(bound))


class JobMetrics:
    """A worker process's counters: attempts ended by queue, type and outcome, and the run and
    wait time histograms. `ended` is called by the coordinator's thread only and touches plain
    dicts and lists (no lock, no prometheus_client call): the families are made at each scrape.
    """

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry

        #: (queue, job type, outcome) -> attempts ended
        self.processed: dict[tuple[str, str, str], int] = {}
        self.run_s, self.wait_s = _Histograms(), _Histograms()
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)  # type: ignore[arg-type]

    def ended(self, job: Held, outcome: Any, ran_s: float) -> None:
        """Count one ended attempt (the coordinator's thread)."""
        queue, leased = job.queue, job.job
        key = (queue, leased.job_type, outcome.outcome.value)
        self.processed[key] = self.processed.get(key, 0) + 1
        self.run_s.observe(queue, ran_s)
        if leased.due_at:
            self.wait_s.observe(queue, max(0.0, time.time() - ran_s - leased.due_at))

    def collect(self) -> Iterable[Any]:
        from prometheus_client.core import CounterMetricFamily

        processed = CounterMetricFamily(
            "jobs_processed",
            "Attempts that ended in this worker process, by outcome",
            labels=["queue", "job_type", "outcome"],
        )
        for labels, count in list(self.processed.items()):
            processed.add_metric(list(labels), count)
        yield processed
        yield self.run_s.family("jobs_run_seconds", "How long a handler ran")
        yield self.wait_s.family("jobs_wait_seconds", "From when a job became due to its start")

    def text(self) -> str:
        from prometheus_client import generate_latest

        return generate_latest(self.registry).decode()
