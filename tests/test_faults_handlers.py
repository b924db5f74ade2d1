"""Handlers that misbehave: hang, overrun, raise, exit, return a huge or a non-JSON result. Each
job ends in its documented state with a clear error, and the worker keeps working."""

from __future__ import annotations

import threading
import time

import pytest
import redis

from chalicelib.jobs import InvalidJob, JobController, JobState
from local.parts.redis_server import RedisServer
from tests import jobs_worker
from tests.faults import settled, tally, workers
from tests.jobs_helpers import wait_until

ISOLATIONS = {"thread": [], "process": ["--isolation", "process"]}
#: type, params, create options, the FAILED job's error must contain this (lower case)
MISBEHAVING = {
    "hang": ("test:hang", {}, {"timeout": 0.5}, "timed out"),
    "overrun": ("test:sleep", {"s": 1.5}, {"timeout": 0.3}, "timed out"),
    "raise": ("test:raise", {}, {"max_retry": 1}, "runtimeerror: job raise raised on purpose"),
    "huge": ("test:huge", {"bytes": 1536 * 1024}, {}, "result"),
    "nonjson": ("test:nonjson", {}, {}, "not json"),
    "exit": ("test:exit", {}, {}, "exited with code 3"),
}


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_misbehaving_handlers_fail_their_jobs_clearly_and_the_worker_keeps_working(
    isolation: str, queue_server: RedisServer, traces_server: RedisServer, traces: redis.Redis
) -> None:
    creator = JobController(queue_server.url, max_retry=0)
    jobs_worker.register(creator, queue_server.url, traces_server.url)
    cases = {k: v for k, v in MISBEHAVING.items() if k != "exit" or isolation == "process"}
    ids = {
        name: creator.create_job(job_type, {"n": name, **params}, **options)  # type: ignore[arg-type]
        for name, (job_type, params, options, _) in cases.items()
    }
    after = creator.create_jobs([("test:count", {"n": n}) for n in range(50)])
    args = ("--max-retry", "0", "--backoff", "0.05", "--concurrency", "4", *ISOLATIONS[isolation])
    with workers(queue_server.url, traces_server.url, 1, *args) as (worker,):
        wait_until(lambda: settled(creator), timeout_s=20, what="every job to settle")
        assert worker.alive()

    for name, job_id in ids.items():
        status = creator.get_status(job_id)
        expected = cases[name][3]
        assert status.state is JobState.FAILED, (name, status)
        assert status.error and expected in status.error.lower(), (name, status.error)
        assert "Traceback" not in status.error
    huge = creator.get_status(ids["huge"])
    assert huge.result is None and huge.error and "bytes" in huge.error, huge.error
    assert creator.get_status(ids["raise"]).retried == 1
    t = tally(creator, {job_id: str(n) for n, job_id in enumerate(after)}, traces)
    assert (t.completed, t.lost, t.completed_twice, t.ran_twice_at_once) == (50, 0, 0, 0), t.line()


def test_params_over_max_params_bytes_are_refused_and_nothing_is_written(
    queue_server: RedisServer, traces_server: RedisServer
) -> None:
    creator = JobController(queue_server.url)
    jobs_worker.register(creator, queue_server.url, traces_server.url)
    with pytest.raises(InvalidJob):
        creator.create_job("test:count", {"n": 1, "pad": "x" * (256 * 1024)})
    small = JobController(queue_server.url, max_params_bytes=1024)  # type: ignore[arg-type]
    jobs_worker.register(small, queue_server.url, traces_server.url)
    with pytest.raises(InvalidJob):
        small.create_job("test:count", {"n": 1, "pad": "x" * 1024})
    assert creator.queue_stats()[0].pending == 0


def test_result_over_max_result_bytes_fails_its_job_saying_why(
    queue_server: RedisServer, traces_server: RedisServer
) -> None:
    controller = JobController(queue_server.url, max_result_bytes=1000)  # type: ignore[arg-type]
    jobs_worker.register(controller, queue_server.url, traces_server.url)
    small, large = controller.create_jobs(
        [("test:huge", {"n": "small", "bytes": 900}), ("test:huge", {"n": "large", "bytes": 1000})]
    )
    deadline = time.monotonic() + 10
    while not settled(controller):
        assert time.monotonic() < deadline
        controller.drain(0.3)
    assert controller.get_status(small).state is JobState.COMPLETED
    status = controller.get_status(large)
    assert status.state is JobState.FAILED and status.error and "1000" in status.error, status


def exec_threads() -> int:
    return sum(t.name.startswith("jobs-exec") for t in threading.enumerate())


def test_overrunning_handlers_never_hold_more_than_concurrency_plus_two_threads(
    queue_server: RedisServer, traces_server: RedisServer, traces: redis.Redis
) -> None:
    before = exec_threads()
    controller = JobController(
        queue_server.url, concurrency=2, timeout=0.2, max_retry=0, backoff=0.05
    )
    jobs_worker.register(controller, queue_server.url, traces_server.url)
    hanging = controller.create_jobs([("test:sleep", {"n": f"o{n}", "s": 1.0}) for n in range(8)])
    quick = controller.create_jobs([("test:count", {"n": n}) for n in range(50)])
    peak = 0
    controller.start()
    try:
        deadline = time.monotonic() + 20
        while not settled(controller):
            assert time.monotonic() < deadline, "the jobs never settled"
            peak = max(peak, exec_threads() - before)
            time.sleep(0.01)
    finally:
        controller.stop()
    assert peak <= 2 + 2, f"{peak} handler threads at once"
    assert all(controller.get_status(i).state is JobState.FAILED for i in hanging)
    t = tally(controller, {job_id: str(n) for n, job_id in enumerate(quick)}, traces)
    assert (t.completed, t.lost, t.ran_twice_at_once) == (50, 0, 0), t.line()
