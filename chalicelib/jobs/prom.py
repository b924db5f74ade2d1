"""Prometheus metrics: the queues' depths (from Redis) and a worker process's job counters.

`prometheus_client` is imported only when metrics are made or asked for, so a cold start that
never serves them does not pay for it. The per-job counters are recorded by the coordinator's
thread alone, where it takes each ended job (`JobMetrics.ended`): no lock is taken in the
handlers' threads.
"""

from __future__ import annotations

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


class JobMetrics:
    """A worker process's counters: jobs ended by queue, type and outcome, and the run and wait
    time histograms. `ended` is called by the coordinator's thread only."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = CollectorRegistry(auto_describe=True)
        self.processed = Counter(
            "jobs_processed",
            "Attempts that ended in this worker process, by outcome",
            ["queue", "job_type", "outcome"],
            registry=self.registry,
        )
        self.run_s = Histogram(
            "jobs_run_seconds", "How long a handler ran", ["queue"],
            buckets=BUCKETS_S, registry=self.registry,
        )  # fmt: skip
        self.wait_s = Histogram(
            "jobs_wait_seconds", "From when a job became due to its start", ["queue"],
            buckets=BUCKETS_S, registry=self.registry,
        )  # fmt: skip

    def ended(self, job: Held, outcome: Any, ran_s: float) -> None:
        """Count one ended attempt (the coordinator's thread)."""
        queue = job.queue
        kind = outcome.outcome.value
        self.processed.labels(queue, job.job.job_type, kind).inc()
        self.run_s.labels(queue).observe(ran_s)
        due_at = job.job.due_at
        if due_at:
            self.wait_s.labels(queue).observe(max(0.0, time.time() - ran_s - due_at))

    def text(self) -> str:
        from prometheus_client import generate_latest

        return generate_latest(self.registry).decode()
