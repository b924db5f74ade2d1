"""Durable accept: create_job and create_jobs with min_replicas=1 against a local replica of the
bench's server, to read beside the plain figures."""

from __future__ import annotations

import time

from chalicelib.business import async_maths
from chalicelib.jobs import JobController

from ...parts.redis_server import start_replica
from .context import JOB_TYPE, Bench
from .creating import create_backlog, random_jobs


def measure_min_replicas(bench: Bench) -> None:
    """Rates of create_job (one at a time) and create_jobs (batches) when each create waits for
    one replica (WAIT 1 in the same round trip). The replica is stopped afterwards."""
    replica = start_replica(bench.server)
    try:
        client = JobController(bench.url, min_replicas=1)
        async_maths.register(client)
        client.create_job(JOB_TYPE, {"a": 1, "b": 1})  # connect, check the replica, load
        jobs = random_jobs(bench.sizes["create_jobs_single"], bench.rng)
        start = time.perf_counter()
        for job_type, params in jobs:
            client.create_job(job_type, params)
        bench.figures.durable_create_job = len(jobs) / (time.perf_counter() - start)
        expected, elapsed = create_backlog(bench, client=client)
        bench.figures.durable_create_jobs = len(expected) / elapsed
        client.stop(timeout=1.0)
    finally:
        replica.stop()
