"""Creating jobs: `create_job` one at a time, and `create_jobs` in batches (the drain's backlog)."""

from __future__ import annotations

import random
import time
from typing import Any

import redis

from chalicelib.jobs import JobController

from ...parts.redis_server import LOOPBACK
from .context import JOB_TYPE, Bench
from .progress import Progress


def random_jobs(count: int, rng: random.Random) -> list[tuple[str, dict[str, Any]]]:
    return [
        (JOB_TYPE, {"a": rng.randint(-(10**6), 10**6), "b": rng.randint(-(10**6), 10**6)})
        for _ in range(count)
    ]


def measure_create_job(bench: Bench) -> float:
    """jobs/s of create_job called once per job, scripts already loaded."""
    jobs = random_jobs(bench.sizes["create_jobs_single"], bench.rng)
    bench.client.create_job(JOB_TYPE, {"a": 1, "b": 1})  # connect and load the scripts
    bar = Progress("create_job", len(jobs))
    start = time.perf_counter()
    for index, (job_type, params) in enumerate(jobs):
        bench.client.create_job(job_type, params)
        if index % 256 == 0:
            bar.update(index)
    elapsed = time.perf_counter() - start
    bar.close()
    bench.figures.set_loop = measure_set_loop(bench, len(jobs))
    return len(jobs) / elapsed


def measure_set_loop(bench: Bench, count: int) -> float:
    """requests/s of a plain redis-py SET one at a time, in this process, on the same server:
    what one round trip costs here, against which create_job is read."""
    client = redis.Redis(host=LOOPBACK, port=bench.server.port)
    client.set("bench:set", "0")  # connected
    start = time.perf_counter()
    for index in range(count):
        client.set(f"bench:set:{index % 64}", '{"a": 123456, "b": -654321}')
    elapsed = time.perf_counter() - start
    client.close()
    return count / elapsed


def measure_create_jobs(bench: Bench) -> dict[str, int]:
    """Queue the drain's backlog with create_jobs; returns job id -> expected result."""
    expected, elapsed = create_backlog(bench, Progress("create_jobs", bench.sizes["jobs"]))
    bench.figures.create_jobs = len(expected) / elapsed
    return expected


def create_backlog(
    bench: Bench, bar: Progress | None = None, client: JobController | None = None
) -> tuple[dict[str, int], float]:
    """N jobs queued in batches (by `client`, else the bench's): job id -> expected result, and
    the seconds it took."""
    client = client or bench.client
    jobs = random_jobs(bench.sizes["jobs"], bench.rng)
    batch = bench.sizes["batch"]
    expected: dict[str, int] = {}
    elapsed = 0.0
    for i in range(0, len(jobs), batch):
        chunk = jobs[i : i + batch]
        start = time.perf_counter()
        ids = client.create_jobs(chunk)
        elapsed += time.perf_counter() - start
        expected.update((j, p["a"] * p["b"]) for j, (_, p) in zip(ids, chunk, strict=True))
        if bar:
            bar.update(len(expected))
    if bar:
        bar.close()
    return expected, elapsed
