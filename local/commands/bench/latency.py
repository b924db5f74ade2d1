"""Pick-up latency: with the worker idle, one job at a time from create_job to COMPLETED; and
the wake-up latency of `wait`, from a job's completion to the waiter's answer."""

from __future__ import annotations

import statistics
import time

from chalicelib.jobs import JobState

from .context import JOB_TYPE, Bench
from .progress import Progress, say

#: a job not done by then counts as a failure (its sample is kept)
LATENCY_TIMEOUT_S = 10.0


def measure_latency(bench: Bench) -> tuple[dict[str, float], bool]:
    """Create one job at a time and poll its status until COMPLETED; percentiles in ms."""
    count = bench.sizes["latency_jobs"]
    time.sleep(0.2)  # the worker is idle, waiting on Redis for work
    samples: list[float] = []
    ok = True
    bar = Progress("latency", count)
    for _ in range(count):
        a, b = bench.rng.randint(1, 10**6), bench.rng.randint(1, 10**6)
        start = time.perf_counter()
        job_id = bench.client.create_job(JOB_TYPE, {"a": a, "b": b})
        status = bench.client.get_status(job_id)
        while status.state not in (JobState.COMPLETED, JobState.FAILED):
            if time.perf_counter() - start > LATENCY_TIMEOUT_S:
                break
            status = bench.client.get_status(job_id)
        samples.append((time.perf_counter() - start) * 1000)
        if status.state is not JobState.COMPLETED or status.result != a * b:
            ok = False
            say(f"bench: FAILED: latency job {job_id}: {status.status} {status.result!r}")
        bar.update(len(samples))
    bar.close()
    return percentiles(samples), ok


def measure_wait_wake(bench: Bench) -> tuple[dict[str, float], bool]:
    """Create one job at a time and `wait` for it (one blocking call, woken by the job's end):
    percentiles in ms of the time from its completion (the finish script's clock, this host's)
    to the waiter's answer."""
    count = bench.sizes["latency_jobs"]
    samples: list[float] = []
    ok = True
    bar = Progress("wait wake-up", count)
    for _ in range(count):
        a, b = bench.rng.randint(1, 10**6), bench.rng.randint(1, 10**6)
        job_id = bench.client.create_job(JOB_TYPE, {"a": a, "b": b})
        status = bench.client.wait(job_id, LATENCY_TIMEOUT_S)
        answered = time.time()
        if status.state is not JobState.COMPLETED or status.result != a * b:
            ok = False
            say(f"bench: FAILED: wait for job {job_id}: {status.status} {status.result!r}")
        elif status.completed_at is not None:
            samples.append(max(0.0, answered - status.completed_at) * 1000)
        bar.update(len(samples))
    bar.close()
    return percentiles(samples), ok


def percentiles(samples: list[float]) -> dict[str, float]:
    if len(samples) < 2:
        only = samples[0] if samples else 0.0
        return {"p50": only, "p95": only, "p99": only}
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return {"p50": cuts[49], "p95": cuts[94], "p99": cuts[98]}
