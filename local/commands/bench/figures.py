"""The figures of one run, and the few derived from others."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Figures:
    """Everything measured; None where a figure could not be taken (see `notes`)."""

    drain_jobs: int = 0
    drain_s: float | None = None
    drain_verified: bool = False
    worker_ready_ms: float | None = None
    worker_cpu_s: float | None = None
    #: the same backlog drained by a worker with isolation="process"
    drain_process_s: float | None = None
    drain_process_verified: bool = False
    create_job: float | None = None
    #: a plain redis-py SET one at a time, same process and server (requests/s)
    set_loop: float | None = None
    create_jobs: float | None = None
    batch: int = 0
    latency_ms: dict[str, float] | None = None
    latency_verified: bool = False
    #: controller.wait: from a job's completion to its waiter's answer
    wait_wake_ms: dict[str, float] | None = None
    wait_wake_verified: bool = False
    api_rps: float | None = None
    cold_start_ms: list[float] = field(default_factory=list)
    cold_start_boto3: bool | None = None
    cold_start_imports: list[tuple[str, float]] = field(default_factory=list)
    round_trips_per_job: float | None = None
    commands_per_job: float | None = None
    command_breakdown: dict[str, float] = field(default_factory=dict)
    redis_cpu_s: float | None = None
    #: INFO used_memory over the empty server, per job: the backlog queued, then drained
    memory_pending_bytes: float | None = None
    memory_completed_bytes: float | None = None
    #: --rtt-ms: the round trip added by the delay proxy, and the figures taken through it
    rtt_ms: float | None = None
    rtt_drain_s: float | None = None
    rtt_drain_verified: bool = True
    rtt_create_jobs: float | None = None
    #: the same two figures on loopback, taken just before those through the proxy
    rtt_loopback_drain_s: float | None = None
    rtt_loopback_create_jobs: float | None = None
    #: the PING round trip through the proxy less that on loopback (medians, ms)
    rtt_added_ms: float | None = None
    #: create_job and create_jobs (jobs/s) with min_replicas=1 against a local replica
    durable_create_job: float | None = None
    durable_create_jobs: float | None = None
    profile_drain_s: float | None = None
    redis_benchmark: dict[str, Any] = field(default_factory=dict)
    profile_verified: bool = True
    profile_top: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def verified(self) -> bool:
        return (
            self.drain_verified
            and self.drain_process_verified
            and self.latency_verified
            and self.wait_wake_verified
            and self.profile_verified
            and self.rtt_drain_verified
        )

    def per_job_us(self, seconds: float | None) -> float | None:
        """`seconds` of the drain per job, in microseconds."""
        return None if seconds is None or not self.drain_jobs else seconds / self.drain_jobs * 1e6

    @property
    def create_job_vs_set(self) -> float | None:
        """create_job's rate as a share of the plain SET loop's."""
        return _share(self.create_job, self.set_loop)

    @property
    def rtt_drain_share(self) -> float | None:
        """The drain's rate through the delay proxy, as a share of its rate on loopback."""
        if not self.rtt_drain_verified or not self.rtt_drain_s or not self.rtt_loopback_drain_s:
            return None
        return self.rtt_loopback_drain_s / self.rtt_drain_s

    @property
    def rtt_create_jobs_share(self) -> float | None:
        return _share(self.rtt_create_jobs, self.rtt_loopback_create_jobs)

    @property
    def drain_rate(self) -> float | None:
        """jobs/s, only for a drain whose every result checked out."""
        if not self.drain_verified or not self.drain_s:
            return None
        return self.drain_jobs / self.drain_s

    @property
    def drain_process_rate(self) -> float | None:
        """jobs/s of the isolation="process" drain, only if its every result checked out."""
        if not self.drain_process_verified or not self.drain_process_s:
            return None
        return self.drain_jobs / self.drain_process_s

    @property
    def cold_start_median(self) -> float | None:
        return statistics.median(self.cold_start_ms) if self.cold_start_ms else None


def _share(value: float | None, reference: float | None) -> float | None:
    return None if value is None or not reference else value / reference
