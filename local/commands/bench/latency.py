"""Pick-up latency: with the worker idle, one job at a time from create_job to COMPLETED; and
the wake-up latency of `wait`, from a job's completion to the waiter's answer."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from chalicelib.jobs import JobState, JobStatus

from .context import JOB_TYPE, Bench
from .progress import Progress, say

#: a job not done by then counts as a failure (its sample is kept)
LATENCY_TIMEOUT_S = 10.0


#: one job's run: its id, its status at the end, and its sample in ms (None: no sample)
Measured = tuple[str, JobStatus, float | None]


def measure_latency(bench: Bench) -> tuple[dict[str, float], bool]:
    """Create one job at a time and poll its status until COMPLETED; percentiles in ms."""
    time.sleep(0.2)  # the worker is idle, waiting on Redis for work

    def polled(params: dict[str, int]) -> Measured:
        start = time.perf_counter()
        job_id = bench.client.create_job(JOB_TYPE, params)
        status = bench.client.get_status(job_id)
        while status.state not in (JobState.COMPLETED, JobState.FAILED):
            if time.perf_counter() - start > LATENCY_TIMEOUT_S:
                break
            status = bench.client.get_status(job_id)
        return job_id, status, (time.perf_counter() - start) * 1000

    return _one_job_at_a_time(bench, "latency", polled)


def measure_wait_wake(bench: Bench) -> tuple[dict[str, float], bool]:
    """Create one job at a time and `wait` for it (one blocking call, woken by the job's end):
    percentiles in ms of the time from its completion (the finish script's clock, this host's)
    to the waiter's answer."""

    def waited(params: dict[str, int]) -> Measured:
        job_id = bench.client.create_job(JOB_TYPE, params)
        status = bench.client.wait(job_id, LATENCY_TIMEOUT_S)
        answered = time.time()
        ended = status.completed_at
        return job_id, status, None if ended is None else max(0.0, answered - ended) * 1000

    return _one_job_at_a_time(bench, "wait wake-up", waited)


def _one_job_at_a_time(
    bench: Bench, name: str, run: Callable[[dict[str, int]], Measured]
) -> tuple[dict[str, float], bool]:
    """run() on latency_jobs maths jobs in turn, each checked; the samples' percentiles, and
    whether every job COMPLETED with the right result."""
    count = bench.sizes["latency_jobs"]
    samples: list[float] = []
    ok = True
    bar = Progress(name, count)
    for done in range(1, count + 1):
        a, b = bench.rng.randint(1, 10**6), bench.rng.randint(1, 10**6)
        job_id, status, sample = run({"a": a, "b": b})
        if sample is not None:
            samples.append(sample)
        if status.state is not JobState.COMPLETED or status.result != a * b:
            ok = False
            say(f"bench: FAILED: {name} job {job_id}: {status.status} {status.result!r}")
        bar.update(done)
    bar.close()
    return percentiles(samples), ok


def percentiles(samples: list[float]) -> dict[str, float]:
    if len(samples) < 2:
        only = samples[0] if samples else 0.0
        return {"p50": only, "p95": only, "p99": only}
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return {"p50": cuts[49], "p95": cuts[94], "p99": cuts[98]}
