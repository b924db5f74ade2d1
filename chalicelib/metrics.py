"""What a drain leaves in CloudWatch: one log line in Embedded Metric Format (EMF).

CloudWatch turns the line into metrics on its own, so the worker makes no PutMetricData call
(no extra latency, and no monitoring endpoint needed inside the VPC). Depths are summed over the
configured queues, so one line carries one value per metric; the per-queue numbers ride along as
plain properties, for Logs Insights.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from chalicelib.jobs import QueueStats

#: a drain keeps at most this many wait and run samples for its percentiles (the first ones)
MAX_SAMPLES = 100_000

NAMESPACE = "ChaliceJobs"
DIMENSION = "Service"
#: metric name -> QueueStats field, for the depth of each visible state
DEPTHS = {
    "ActiveJobs": "active",
    "PendingJobs": "pending",
    "FutureJobs": "future",
    "RetryingJobs": "retrying",
    "FailedJobs": "failed",
    "CompletedJobs": "completed",
}


def emf_record(
    stats: Sequence[QueueStats],
    *,
    service: str,
    processed: int,
    failed: int,
    drain_s: float,
    properties: dict[str, Any] | None = None,
    timestamp_ms: int | None = None,
    latencies: dict[str, float] | None = None,
) -> dict[str, Any]:
    """The EMF document of one drain: depth per state, jobs processed and failed by the drain,
    the oldest pending job's age (when anything is pending), how long the drain ran, and the
    `latencies` given (Latencies.percentiles: seconds)."""
    values: dict[str, float] = {"JobsProcessed": processed, "JobsFailed": failed}
    units = {"JobsProcessed": "Count", "JobsFailed": "Count", "DrainSeconds": "Seconds"}
    values["DrainSeconds"] = round(drain_s, 3)
    for name, seconds in (latencies or {}).items():
        values[name], units[name] = round(seconds, 6), "Seconds"
    if stats:
        for metric, field in DEPTHS.items():
            values[metric] = sum(getattr(s, field) for s in stats)
            units[metric] = "Count"
        ages = [s.oldest_pending_age_s for s in stats if s.oldest_pending_age_s is not None]
        if ages:
            values["OldestPendingAgeSeconds"] = round(max(ages), 3)
            units["OldestPendingAgeSeconds"] = "Seconds"
    directive = {
        "Namespace": NAMESPACE,
        "Dimensions": [[DIMENSION]],
        "Metrics": [{"Name": name, "Unit": units[name]} for name in values],
    }
    now_ms = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
    return {
        "_aws": {"Timestamp": now_ms, "CloudWatchMetrics": [directive]},
        DIMENSION: service,
        **values,
        "queues": {s.queue: asdict(s) for s in stats},
        **(properties or {}),
    }


class Latencies:
    """The waits and runs of the attempts a drain ended: `ended` is a worker observer
    (JobController.observe_jobs), called in the coordinator's thread; an append each."""

    def __init__(self) -> None:
        self.waits_s: list[float] = []
        self.runs_s: list[float] = []

    def clear(self) -> None:
        self.waits_s, self.runs_s = [], []

    def ended(self, job: Any, outcome: Any, ran_s: float) -> None:
        if len(self.runs_s) >= MAX_SAMPLES:
            return
        self.runs_s.append(ran_s)
        due_at = job.job.due_at
        if due_at:
            self.waits_s.append(max(0.0, time.time() - ran_s - due_at))

    def percentiles(self) -> dict[str, float]:
        """p50 and p99 of wait and run (`WaitP50Seconds`, ...): none for no samples."""
        out: dict[str, float] = {}
        for name, samples in (("Wait", list(self.waits_s)), ("Run", list(self.runs_s))):
            if samples:
                samples.sort()
                for p in (50, 99):
                    out[f"{name}P{p}Seconds"] = nearest_rank(samples, p)
        return out


def nearest_rank(sorted_values: Sequence[float], percent: float) -> float:
    """The nearest-rank percentile of sorted, non-empty values."""
    rank = max(1, math.ceil(percent / 100 * len(sorted_values)))
    return sorted_values[rank - 1]
