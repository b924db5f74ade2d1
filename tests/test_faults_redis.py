"""Faults of the queue's Redis: SIGKILLed and restarted on its append-only file, SIGSTOPped,
paused for writes, full. The handlers' traces live on another Redis, which no fault touches.
"""

from __future__ import annotations

import signal
import threading
import time

import pytest
import redis

from chalicelib.jobs import JobController, JobsUnavailable
from local.parts.redis_server import RedisServer
from tests import jobs_worker
from tests.faults import (
    admin,
    half_written,
    jobs_name,
    settled,
    signal_server,
    tally,
    traced_counts,
    workers,
)
from tests.jobs_helpers import wait_until

#: everysec fsyncs once a second; a write can wait for up to two seconds before it is on disk
AOF_EXPOSURE_S = 2.0


def controller_for(
    server: RedisServer, traces_server: RedisServer, **options: object
) -> JobController:
    controller = JobController(server.url, **options)  # type: ignore[arg-type]
    jobs_worker.register(controller, server.url, traces_server.url)
    return controller


def ends_so_far(traces: redis.Redis) -> int:
    return sum(traced_counts(traces, jobs_worker.ENDS_KEY).values())


def first_ends(traces: redis.Redis) -> dict[str, float]:
    """When each job's handler first returned (time.time()), from the traced spans."""
    ends: dict[str, float] = {}
    for raw in traces.lrange(jobs_worker.SPANS_KEY, 0, -1):
        n, _, ended = raw.decode().split()
        ends[n] = min(ends.get(n, float("inf")), float(ended))
    return ends


def test_redis_killed_and_restarted_on_its_aof_loses_no_acknowledged_job(
    queue_server: RedisServer, traces_server: RedisServer, traces: redis.Redis
) -> None:
    creator = controller_for(queue_server, traces_server)
    ids = creator.create_jobs([("test:sleep", {"n": n, "s": 0.01}) for n in range(2000)])
    acknowledged = time.monotonic()
    jobs = {job_id: str(n) for n, job_id in enumerate(ids)}

    with workers(queue_server.url, traces_server.url, 1, "--lease", "2", "--backoff", "0.05"):
        wait_until(
            lambda: ends_so_far(traces) >= 400, timeout_s=20, what="the drain to be under way"
        )
        time.sleep(max(0.0, acknowledged + 1.1 - time.monotonic()))  # creates are > 1 s old
        killed_at = time.time()
        queue_server.kill()
        queue_server.start()
        wait_until(lambda: settled(creator), timeout_s=40, what="the restarted queue to drain")

    t = tally(creator, jobs, traces)
    assert (t.lost, t.failed, t.ran_twice_at_once) == (0, 0, 0), t.line()
    assert t.completed == t.created, t.line()
    # What everysec may lose: the writes of the last AOF_EXPOSURE_S before the kill. A job whose
    # outcome was among them runs again; no other job may.
    ends = traced_counts(traces, jobs_worker.ENDS_KEY)
    first = first_ends(traces)
    rerun = {n for n, count in ends.items() if count > 1}
    assert all(first[n] >= killed_at - AOF_EXPOSURE_S for n in rerun), t.line()
    assert t.charged_never_ran <= len(rerun), t.line()
    assert not half_written(queue_server)


def test_redis_stopped_mid_drain_strands_no_job_and_runs_each_exactly_once(
    queue_server: RedisServer, traces_server: RedisServer, traces: redis.Redis
) -> None:
    # a lease longer than the stop and the 3 s after it: no lease expiry can mend a lost reply.
    # The traced handler runs about 1,200 jobs/s here, and the worker's first call after the
    # stop comes up to 0.5 s after SIGCONT: 1,500 jobs leave the 3 s to the promise, not to
    # the rate of the rest of the drain.
    controller = controller_for(queue_server, traces_server, max_retry=0, lease=10.0)
    ids = controller.create_jobs([("test:count", {"n": n}) for n in range(1500)])
    jobs = {job_id: str(n) for n, job_id in enumerate(ids)}
    controller.start()
    try:
        wait_until(lambda: ends_so_far(traces) >= 300, timeout_s=20, what="the drain to start")
        signal_server(queue_server, signal.SIGSTOP)
        time.sleep(5.0)  # the fault itself
        signal_server(queue_server, signal.SIGCONT)
        resumed = time.monotonic()
        wait_until(lambda: settled(controller), timeout_s=30, what="every job to settle")
        settled_after_s = time.monotonic() - resumed
    finally:
        controller.stop()

    t = tally(controller, jobs, traces)
    assert settled_after_s <= 3.0, f"settled {settled_after_s:.1f}s after SIGCONT; {t.line()}"
    assert (t.failed, t.active, t.lost) == (0, 0, 0), t.line()
    assert (t.completed, t.completed_twice, t.ran_twice_at_once) == (1500, 0, 0), t.line()
    assert t.charged_never_ran == 0, t.line()
    assert controller.counters["lost"] == 0, controller.counters


def test_create_retried_with_its_idempotency_key_through_a_redis_stop_makes_one_job(
    queue_server: RedisServer, traces_server: RedisServer
) -> None:
    creator = controller_for(queue_server, traces_server)
    signal_server(queue_server, signal.SIGSTOP)
    resume = threading.Timer(5.0, signal_server, (queue_server, signal.SIGCONT))
    resume.start()
    failures = 0
    deadline = time.monotonic() + 20
    try:
        while True:
            try:
                job_id = creator.create_job("test:count", {"n": "k"}, idempotency_key="k")  # type: ignore[call-arg]
                break
            except JobsUnavailable:
                failures += 1
                assert time.monotonic() < deadline
    finally:
        resume.cancel()  # a failed test leaves the SIGCONT to the fixture
        resume.join()
    assert failures >= 1, "a create whose reply was lost raises JobsUnavailable"
    again = creator.create_job("test:count", {"n": "k"}, idempotency_key="k")  # type: ignore[call-arg]
    assert again == job_id
    stats = creator.queue_stats()[0]
    assert stats.pending == 1, stats
    assert not half_written(queue_server)


def test_drain_returns_within_its_budget_while_redis_pauses_writes(
    queue_server: RedisServer, traces_server: RedisServer, traces: redis.Redis
) -> None:
    controller = controller_for(queue_server, traces_server, lease=2.0, backoff=0.05)
    ids = controller.create_jobs([("test:sleep", {"n": n, "s": 0.005}) for n in range(3000)])
    jobs = {job_id: str(n) for n, job_id in enumerate(ids)}

    def pause() -> None:
        admin(queue_server).execute_command("CLIENT", "PAUSE", 3000, "WRITE")

    threading.Timer(0.5, pause).start()
    started = time.monotonic()
    controller.drain(2.0)
    took_s = time.monotonic() - started
    deadline = time.monotonic() + 15
    while not settled(controller) and time.monotonic() < deadline:
        controller.drain(0.5)
    controller.stop()

    t = tally(controller, jobs, traces)
    assert took_s <= 2.5, f"drain(2.0) took {took_s:.2f}s; {t.line()}"
    assert settled(controller), f"the paused drain's jobs never settled: {t.line()}"
    assert (t.completed, t.lost, t.charged_never_ran, t.ran_twice_at_once) == (3000, 0, 0, 0), (
        t.line()
    )


def fill(server: RedisServer, headroom_bytes: int = 64 * 1024) -> int:
    """Make the server full: noeviction and a maxmemory a little above what it uses; returns
    that maxmemory."""
    client = admin(server)
    used = int(client.info("memory")["used_memory"])
    client.config_set("maxmemory-policy", "noeviction")
    client.config_set("maxmemory", used + headroom_bytes)
    return used + headroom_bytes


def test_full_redis_refuses_creates_whole_with_job_store_full(
    queue_server: RedisServer, traces_server: RedisServer
) -> None:
    job_store_full = jobs_name("JobStoreFull")
    assert issubclass(job_store_full, JobsUnavailable)
    creator = controller_for(queue_server, traces_server)
    creator.create_jobs([("test:count", {"n": n}) for n in range(100)])
    fill(queue_server)
    with pytest.raises(job_store_full):
        for n in range(10_000):
            creator.create_job("test:count", {"n": n, "pad": "x" * 1024})
    with pytest.raises(job_store_full):
        creator.create_jobs([("test:count", {"n": n}) for n in range(500)])
    assert not half_written(queue_server)


def test_worker_takes_no_job_while_redis_is_over_maxmemory(
    queue_server: RedisServer, traces_server: RedisServer, traces: redis.Redis
) -> None:
    controller = controller_for(queue_server, traces_server)
    controller.create_jobs([("test:huge", {"n": n, "bytes": 20_000}) for n in range(300)])
    maxmemory = fill(queue_server)
    client = admin(queue_server)
    peak = 0
    controller.start()
    try:
        until = time.monotonic() + 3.0
        while time.monotonic() < until:
            peak = max(peak, int(client.info("memory")["used_memory"]))
            time.sleep(0.02)
    finally:
        controller.stop()
    assert peak <= 1.1 * maxmemory, f"used_memory reached {peak / maxmemory:.2f} x maxmemory"
    assert not half_written(queue_server)
