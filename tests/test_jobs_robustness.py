"""What a careless handler, a hung Redis or a heavy load must not do to a worker: lose jobs, stop
it, or hold the API past its two seconds."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator

import pytest
import redis

from chalicelib.jobs import InvalidJob, JobController, JobResult, JobState, JobsUnavailable
from chalicelib.jobs.controller import MAX_JOBS_PER_CALL
from local.parts.redis_server import LOOPBACK, RedisServer
from tests.jobs_helpers import all_keys, wait_for_state, wait_until


class Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no text for you")


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """Set at the end of the test, so that handlers that 'hang' return and their threads end."""
    event = threading.Event()
    yield event
    event.set()


def test_handlers_with_unprintable_or_odd_errors_fail_cleanly_and_others_complete(
    any_redis_url: str,
) -> None:
    c = JobController(any_redis_url, concurrency=2, backoff=60.0)

    def unprintable(params: dict) -> JobResult:
        raise Unprintable()

    c.add_handler("test:unprintable", unprintable)
    c.add_handler("test:surrogate", lambda p: JobResult(False, "bad \udcff byte"))
    c.add_handler("test:dict-msg", lambda p: JobResult(False, {"why": "x"}))  # type: ignore[arg-type]
    c.add_handler("test:exit", lambda p: (_ for _ in ()).throw(SystemExit(3)))
    c.add_handler("test:ok", lambda p: JobResult(True, res=p["n"]))
    odd = {
        job_type: c.create_job(job_type, {})
        for job_type in ("test:unprintable", "test:surrogate", "test:dict-msg", "test:exit")
    }
    fine = c.create_jobs([("test:ok", {"n": n}) for n in range(20)])
    c.start()
    try:
        assert wait_for_state(c, odd["test:unprintable"], JobState.RETRYING).error == (
            "Unprintable: <Unprintable that cannot be shown>"
        )
        assert wait_for_state(c, odd["test:surrogate"], JobState.FAILED).error == (
            "bad \\udcff byte"
        )
        assert wait_for_state(c, odd["test:dict-msg"], JobState.FAILED).error == "{'why': 'x'}"
        assert wait_for_state(c, odd["test:exit"], JobState.RETRYING).error == "SystemExit: 3"
        for n, job_id in enumerate(fine):
            assert wait_for_state(c, job_id, JobState.COMPLETED).result == n
    finally:
        c.stop(timeout=1)


def test_handlers_that_never_return_do_not_stop_a_process_isolated_worker(
    any_redis_url: str, release: threading.Event
) -> None:
    c = JobController(any_redis_url, concurrency=2, max_retry=0, isolation="process")
    c.add_handler("test:hang", lambda p: JobResult(release.wait(60)))
    c.add_handler("test:ok", lambda p: JobResult(True, res=p["n"]))
    hung = c.create_jobs([("test:hang", {}) for _ in range(6)], timeout=0.2)
    c.start()
    try:
        for job_id in hung:
            error = wait_for_state(c, job_id, JobState.FAILED).error
            assert error == "timed out after 0.2s; its process was killed"
        quick = c.create_jobs([("test:ok", {"n": n}) for n in range(10)])
        for n, job_id in enumerate(quick):
            assert wait_for_state(c, job_id, JobState.COMPLETED).result == n
    finally:
        release.set()
        c.stop(timeout=1)


def test_hung_handler_threads_stay_within_two_of_concurrency_and_say_so(
    any_redis_url: str, release: threading.Event
) -> None:
    c = JobController(any_redis_url, concurrency=2, max_retry=0)
    c.add_handler("test:hang", lambda p: JobResult(release.wait(60)))
    hung = c.create_jobs([("test:hang", {}) for _ in range(6)], timeout=0.2)
    before = threading.active_count()
    c.start()
    try:
        failed = [wait_for_state(c, job_id, JobState.FAILED) for job_id in hung[:4]]
        assert {s.error for s in failed} == {"timed out after 0.2s"}
        wait_until(lambda: c.health()["all_stuck"], what="the worker to say it is stuck")
        assert c.health() == {"threads": 4, "stuck": 4, "all_stuck": True}

        def heartbeat() -> dict | None:
            beats = [json.loads(b) for b in c.store.workers().values()]
            return beats[0] if beats and beats[0]["all_stuck"] else None

        beat = wait_until(heartbeat, what="the heartbeat to say the worker is stuck")
        assert (beat["stuck"], beat["concurrency"], beat["pid"]) == (4, 2, os.getpid())
        # executors (at most concurrency + 2), the fetch, flush and lease threads
        assert threading.active_count() - before <= 4 + 3
        release.set()
        for job_id in hung[4:]:
            assert wait_for_state(c, job_id, JobState.COMPLETED, timeout_s=15)
        wait_until(lambda: not c.health()["all_stuck"], what="the stuck threads to come back")
        assert c.health()["threads"] == 2
    finally:
        release.set()
        c.stop(timeout=1)
    assert c.store.workers() == {}, "a stopped worker takes its heartbeat away"


def test_completed_job_shows_no_error_from_an_earlier_attempt(any_redis_url: str) -> None:
    attempts: list[int] = []

    def flaky_once(params: dict) -> JobResult:
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("transient glitch")
        return JobResult(True, res="fine")

    c = JobController(any_redis_url, backoff=0.01, backoff_max=0.02)
    c.add_handler("test:flaky", flaky_once)
    c.start()
    try:
        job_id = c.create_job("test:flaky", {})
        status = wait_for_state(c, job_id, JobState.COMPLETED)
    finally:
        c.stop(timeout=1)
    assert (status.result, status.error, status.retried) == ("fine", None, 1)


def test_drain_with_finish_within_lets_a_job_in_flight_complete(any_redis_url: str) -> None:
    def slow(params: dict) -> JobResult:
        time.sleep(0.6)
        return JobResult(True, res="done")

    c = JobController(any_redis_url)
    c.add_handler("test:slow", slow)
    job_id = c.create_job("test:slow", {})
    started = time.monotonic()
    assert c.drain(0.2, finish_within=10.0) == 1
    took_s = time.monotonic() - started
    assert took_s < 5, f"{took_s:.1f}s: the drain returns once nothing is in flight"
    assert c.get_status(job_id).result == "done"


def test_a_worker_trims_a_large_backlog_of_expired_results_in_one_pass(redis_url: str) -> None:
    c = JobController(redis_url, retention=0.2)
    c.add_handler("test:ok", lambda p: JobResult(True))
    c.create_jobs([("test:ok", {}) for _ in range(3000)])
    while c.queue_stats()[0].completed < 3000:
        c.drain(0.5)
    time.sleep(0.3)
    c._worker_side().maintain(time.time())  # noqa: SLF001 - one maintenance pass
    stats = c.queue_stats()[0]
    assert stats.completed == 0
    assert c.inspector.jobs("default", "COMPLETED").jobs == []


def test_a_failed_kick_does_not_hold_back_the_next_one(any_redis_url: str) -> None:
    calls: list[str] = []

    def kick(queue: str) -> None:
        calls.append(queue)
        if len(calls) == 1:
            raise RuntimeError("throttled")

    c = JobController(any_redis_url)
    c.add_handler("test:ok", lambda p: JobResult(True))
    c.set_kick(kick, debounce=30.0)
    c.create_job("test:ok", {})
    c.create_job("test:ok", {})
    c.create_job("test:ok", {})
    assert calls == ["default", "default"], "after the failure one kick, then the debounce"


def test_too_many_jobs_in_one_call_are_refused(any_redis_url: str) -> None:
    c = JobController(any_redis_url)
    c.add_handler("test:ok", lambda p: JobResult(True))
    with pytest.raises(InvalidJob, match="at most"):
        c.create_jobs([("test:ok", {})] * (MAX_JOBS_PER_CALL + 1))
    assert all_keys(any_redis_url) == set()


def test_a_hung_redis_gets_jobs_unavailable_within_about_two_seconds() -> None:
    with RedisServer() as server:
        c = JobController(server.url)
        c.add_handler("test:ok", lambda p: JobResult(True))
        job_id = c.create_job("test:ok", {})
        redis.Redis(host=LOOPBACK, port=server.port).execute_command("CLIENT", "PAUSE", 6000)
        for call in (lambda: c.get_status(job_id), lambda: c.create_job("test:ok", {})):
            started = time.monotonic()
            with pytest.raises(JobsUnavailable):
                call()
            assert time.monotonic() - started < 4.5  # about two seconds, not the 6 s pause


def test_a_hung_cluster_gets_jobs_unavailable_within_about_two_seconds(
    cluster_url: str, redis_cluster: list[RedisServer]
) -> None:
    c = JobController(cluster_url)
    c.add_handler("test:ok", lambda p: JobResult(True))
    job_id = c.create_job("test:ok", {})
    for node in redis_cluster:
        redis.Redis(host=LOOPBACK, port=node.port).execute_command("CLIENT", "PAUSE", 8000)
    try:
        started = time.monotonic()
        with pytest.raises(JobsUnavailable):
            c.get_status(job_id)
        assert time.monotonic() - started < 4.5  # about two seconds, not the 8 s pause
    finally:
        for node in redis_cluster:
            redis.Redis(host=LOOPBACK, port=node.port).execute_command("CLIENT", "UNPAUSE")


@pytest.mark.parametrize("isolation", ["thread", "process"])
def test_stop_returns_within_its_timeout_and_names_the_handler_it_abandoned(
    redis_url: str, release: threading.Event, isolation: str
) -> None:
    c = JobController(redis_url, concurrency=2, isolation=isolation, timeout=60)
    c.add_handler("test:hang", lambda p: JobResult(release.wait(60)))
    job_id = c.create_job("test:hang", {})
    c.start()
    try:
        wait_for_state(c, job_id, JobState.ACTIVE)
        wait_until(
            lambda: c.inspector.job(job_id).started_at is not None,
            what="the handler to be running",
        )
        started = time.monotonic()
        abandoned = c.stop(timeout=0.5)
        took_s = time.monotonic() - started
    finally:
        release.set()
    # within its timeout (and the margin a loaded machine needs), not the handler's 60 s
    assert took_s < 3.0, f"stop(timeout=0.5) took {took_s:.2f}s"
    assert len(abandoned) == 1 and abandoned[0].startswith(f"test:hang {job_id}")
    status = c.get_status(job_id)
    assert (status.state, status.retried) == (JobState.PENDING, 0), "handed back, untried"


def test_calls_left_behind_by_a_stalled_redis_do_not_delay_the_next_calls_near_a_deadline(
    queue_server: RedisServer,
) -> None:
    # calls near a deadline to a Redis that stalled mid-drain give up within their bound, more
    # of them than a pool would hold; then a call to the Redis, healthy again, near a deadline:
    # it answers, and is not held up by them
    from chalicelib.jobs.config import make_client, settings_from_env  # noqa: PLC0415
    from chalicelib.jobs.store import Store  # noqa: PLC0415
    from chalicelib.jobs.worker.deadline import Bounded  # noqa: PLC0415
    from tests.faults import signal_server  # noqa: PLC0415

    settings = settings_from_env({"JOBS_REDIS_URL": queue_server.url})
    store = Store(make_client(settings, retry=False))
    bounded = Bounded(store, lambda s: store.sharing_scripts(make_client(settings, timeout_s=s)))
    bounded.prepare()
    signal_server(queue_server, signal.SIGSTOP)
    try:
        for _ in range(10):
            started = time.monotonic()
            with pytest.raises(JobsUnavailable):
                bounded.before(time.monotonic() + 0.05).ping()
            assert time.monotonic() - started < 1.5, "a bounded call waited for its answer"
    finally:
        signal_server(queue_server, signal.SIGCONT)
    bounded.before(time.monotonic() + 0.2).ping()
