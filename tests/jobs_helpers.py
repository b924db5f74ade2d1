"""Small helpers shared by the jobs tests: wait for a state, list keys, run worker processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import redis

from chalicelib.jobs import JobController, JobNotFound, JobState, JobStatus, QueueStats
from chalicelib.jobs.config import Settings, make_client

REPO = Path(__file__).resolve().parent.parent
T = TypeVar("T")


def wait_until(check: Callable[[], T], timeout_s: float = 10.0, what: str = "condition") -> T:
    """Poll check() every 5 ms until it returns something truthy; fail after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(0.005)


def wait_for_state(
    controller: JobController, job_id: str, state: JobState, timeout_s: float = 10.0
) -> JobStatus:
    def reached() -> JobStatus | None:
        try:
            status = controller.get_status(job_id)
        except JobNotFound:
            return None
        return status if status.state is state else None

    return wait_until(reached, timeout_s, f"{job_id} to be {state.name}")


def traces_client(redis_url: str) -> redis.Redis | redis.RedisCluster:
    return make_client(Settings(redis_url=redis_url))


def all_keys(redis_url: str) -> set[str]:
    """Every key in the (flushed-before-the-test) Redis or cluster."""
    client = traces_client(redis_url)
    if isinstance(client, redis.RedisCluster):
        keys = client.keys(target_nodes=redis.RedisCluster.ALL_NODES)
    else:
        keys = client.keys()
    return {k.decode() for k in keys}


def start_worker_process(redis_url: str, *args: str) -> subprocess.Popen[str]:
    """A `tests.jobs_worker` process, returned once it says it is ready."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.jobs_worker", redis_url, *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.strip() == "ready", f"worker process did not start: {line!r}"
    return process


def settle(
    controller: JobController, queues: Sequence[str] | None = None, timeout_s: float = 60.0
) -> int:
    """Drain in 0.2 s slices until no job of `queues` (default: every known queue, those the
    drain itself creates included) is PENDING or ACTIVE, and return how many attempts ended
    meanwhile (the queues' own counters, so an outcome written after a slice ended counts too).
    On an idle machine one slice does it, as a bare drain(0.2) did; on a loaded one a single
    short drain could end before its job did, and the test failed for nothing. Each slice gives
    the jobs in flight, and its hand-back of jobs taken but not started, up to 5 s more (it
    returns as soon as nothing is in flight): cut at 0.2 s on a loaded machine, a hand-back could
    leave a batch ACTIVE until its 30 s lease expired. Fails after timeout_s (a paused queue
    never settles)."""

    def counts() -> dict[str, QueueStats]:
        names = list(queues or controller.known_queues())
        return {s.queue: s for s in controller.queue_stats(names)} if names else {}

    before = {name: s.processed_total for name, s in counts().items()}
    deadline = time.monotonic() + timeout_s
    while True:
        controller.drain(0.2, finish_within=5.0)
        stats = counts()
        if all(s.pending == 0 and s.active == 0 for s in stats.values()):
            return sum(s.processed_total - before.get(name, 0) for name, s in stats.items())
        if time.monotonic() > deadline:
            raise AssertionError(f"queues still busy after {timeout_s}s: {stats}")
