"""What a drain leaves in CloudWatch: one log line in Embedded Metric Format (EMF).

CloudWatch turns the line into metrics on its own, so the worker makes no PutMetricData call
(no extra latency, and no monitoring endpoint needed inside the VPC). Depths are summed over the
configured queues, so one line carries one value per metric; the per-queue numbers ride along as
plain properties, for Logs Insights.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from chalicelib.jobs import QueueStats

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
) -> dict[str, Any]:
    """The EMF document of one drain: depth per state, jobs processed and failed by the drain,
    the oldest pending job's age (when anything is pending) and how long the drain ran."""
    values: dict[str, float] = {"JobsProcessed": processed, "JobsFailed": failed}
    units = {"JobsProcessed": "Count", "JobsFailed": "Count", "DrainSeconds": "Seconds"}
    values["DrainSeconds"] = round(drain_s, 3)
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
