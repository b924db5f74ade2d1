"""Waiting for a job's end: pushed by Redis through the job's done list, bounded per process,
and quiet while it waits (one blocking call)."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Iterator

import pytest
import redis.connection

from chalicelib.jobs import InvalidJob, JobController, JobNotFound, JobResult, JobState
from tests.jobs_helpers import all_keys, settle, traces_client, wait_until

UNKNOWN_ID = "default@2f1e6a52-3c1d-4b7a-9e55-0d6a3b8c9f10"


def make(url: str, **options: object) -> JobController:
    c = JobController(url, **options)  # type: ignore[arg-type]
    c.add_handler("test:ok", lambda p: JobResult(True, res=p["n"]))
    c.add_handler("test:sleep", lambda p: time.sleep(p["s"]) or JobResult(True, res=p["s"]))
    c.add_handler("test:fail", lambda p: JobResult(False, msg="no"))
    return c


def waiters_registered(redis_url: str, count: int) -> None:
    """Wait until `count` waiters are registered in Redis: then a wake-up can reach them."""

    def registered() -> bool:
        client = traces_client(redis_url)
        keys = [k for k in all_keys(redis_url) if k.endswith(":waiting")]
        return sum(int(v) for k in keys for v in client.hvals(k)) >= count

    wait_until(registered, what=f"{count} waiter(s) registered")


@pytest.fixture
def started(any_redis_url: str) -> Iterator[JobController]:
    c = make(any_redis_url, concurrency=20, max_waiters=64)
    c.start()
    yield c
    c.stop(timeout=2)


def test_wait_answers_when_the_job_completes(started: JobController) -> None:
    job_id = started.create_job("test:sleep", {"s": 0.3})
    began = time.monotonic()

    status = started.wait(job_id, 10)

    assert status.state is JobState.COMPLETED and status.result == 0.3
    assert 0.25 < time.monotonic() - began < 8  # as the job ended, not after the 10 s


def test_wait_answers_a_failed_job(started: JobController) -> None:
    job_id = started.create_job("test:fail", {})

    assert started.wait(job_id, 10).state is JobState.FAILED


def test_wait_times_out_with_the_state_then(any_redis_url: str) -> None:
    c = make(any_redis_url)
    job_id = c.create_job("test:ok", {"n": 1})
    began = time.monotonic()

    status = c.wait(job_id, 0.3)

    assert status.state is JobState.PENDING
    assert 0.28 < time.monotonic() - began < 5  # the 0.3 s asked for, not the 25 s at most


def test_wait_on_an_unknown_job_is_not_found_at_once(any_redis_url: str) -> None:
    c = make(any_redis_url)
    began = time.monotonic()
    with pytest.raises(JobNotFound):
        c.wait(UNKNOWN_ID, 10)
    assert time.monotonic() - began < 5  # at once, not after the 10 s asked for


@pytest.mark.parametrize("timeout", [-1, 25.5, float("nan"), "3", True])
def test_wait_refuses_a_bad_timeout(redis_url: str, timeout: object) -> None:
    with pytest.raises(InvalidJob, match="wait must be 0 to 25"):
        make(redis_url).wait(UNKNOWN_ID, timeout)  # type: ignore[arg-type]


def test_past_max_waiters_a_wait_answers_at_once(redis_url: str) -> None:
    c = make(redis_url, max_waiters=1)
    job_id = c.create_job("test:ok", {"n": 1})
    first = threading.Thread(target=c.wait, args=(job_id, 1.0))
    first.start()
    waiters_registered(redis_url, 1)
    began = time.monotonic()

    assert c.wait(job_id, 5).state is JobState.PENDING
    assert time.monotonic() - began < 2.5  # at once, not after the 5 s asked for
    first.join()


def test_cancel_and_delete_wake_their_waiters(redis_url: str) -> None:
    c = make(redis_url)
    ids = [c.create_job("test:ok", {"n": n}) for n in range(2)]
    answers: dict[str, object] = {}

    def wait(job_id: str) -> None:
        try:
            answers[job_id] = c.wait(job_id, 10).state
        except JobNotFound:
            answers[job_id] = "gone"

    threads = [threading.Thread(target=wait, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    waiters_registered(redis_url, 2)
    began = time.monotonic()
    c.cancel(ids[0])
    c.inspector.delete(ids[1])
    for t in threads:
        t.join()

    assert time.monotonic() - began < 5  # woken, not after the 10 s they asked for
    assert answers == {ids[0]: JobState.FAILED, ids[1]: "gone"}


def test_a_lease_recovered_for_good_wakes_its_waiters(redis_url: str) -> None:
    now = [time.time()]
    c = make(redis_url, max_retry=0, lease=1)
    c.clock = lambda: now[0]
    job_id = c.create_job("test:ok", {"n": 1})
    c.store.dequeue("default", 1, now[0], now[0] + 1, "tok")
    c.store.extend("default", {"tok": [(job_id, True)]}, now[0] + 1, now[0])  # it started
    waiter = threading.Thread(target=lambda: c.wait(job_id, 10))
    waiter.start()
    waiters_registered(redis_url, 1)
    now[0] += 5
    began = time.monotonic()
    c._worker_side().maintain(now[0])  # noqa: SLF001 - the maintenance pass, without threads
    waiter.join()

    assert time.monotonic() - began < 5  # woken, not after the 10 s it asked for
    assert c.get_status(job_id).state is JobState.FAILED


def test_a_waiter_sends_three_requests_however_long_it_waits(redis_url: str) -> None:
    c = make(redis_url)
    job_id = c.create_job("test:ok", {"n": 1})
    c.wait(job_id, 0.05)  # connects both clients: once per process, not per wait
    sent: list[object] = []
    send = redis.connection.Connection.send_packed_command
    waiter_ident: list[int] = []

    def counting(self: redis.connection.Connection, *args: object, **kwargs: object) -> None:
        if threading.get_ident() in waiter_ident:
            sent.append(repr(args)[:120])
        send(self, *args, **kwargs)  # type: ignore[arg-type]

    def wait() -> None:
        waiter_ident.append(threading.get_ident())
        c.wait(job_id, 10)
        waiter_ident.clear()  # a later thread may get the same ident

    redis.connection.Connection.send_packed_command = counting  # type: ignore[method-assign]
    try:
        waiter = threading.Thread(target=wait)
        waiter.start()
        time.sleep(1.0)  # a long wait: still three requests
        settle(c)
        waiter.join()
    finally:
        redis.connection.Connection.send_packed_command = send  # type: ignore[method-assign]

    assert len(sent) == 3, sent  # register and read, the blocking pop, the last read


def test_waiters_wake_within_50_ms_of_completion(redis_url: str) -> None:
    c = make(redis_url, concurrency=10, max_waiters=64)
    c.start()
    latencies: list[float] = []
    lock = threading.Lock()

    def wait(job_id: str) -> None:
        status = c.wait(job_id, 20)
        answered = time.time()
        assert status.completed_at is not None
        with lock:
            latencies.append(answered - status.completed_at)

    try:
        for _ in range(10):  # 200 jobs, 20 waiters at a time
            ids = [c.create_job("test:sleep", {"s": 0.05 + 0.005 * n}) for n in range(20)]
            threads = [threading.Thread(target=wait, args=(i,)) for i in ids]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
    finally:
        c.stop(timeout=2)

    assert len(latencies) == 200
    p95 = statistics.quantiles(latencies, n=20)[-1]
    # pushed, so milliseconds on an idle machine; the bound leaves room for a loaded one
    assert p95 < 0.25, f"p95 {p95 * 1000:.1f} ms"
