"""A job's state tells the truth: what is charged, what is written when, what is refused.

These drive the store's transitions directly where a fault would be slow to stage (a lease that
expires, a reply that was lost); the fault suite stages the real faults."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
import redis

from chalicelib.jobs import (
    IdempotencyConflict,
    InvalidJob,
    JobController,
    JobResult,
    JobState,
    JobStoreFull,
)
from chalicelib.jobs.record import Outcome
from chalicelib.jobs.store import AttemptOutcome
from local.parts.redis_server import LOOPBACK, RedisServer
from tests.jobs_helpers import all_keys, settle


def make(redis_url: str, **settings: object) -> JobController:
    c = JobController(redis_url, **settings)  # type: ignore[arg-type]
    c.add_handler("test:ok", lambda p: JobResult(True, res=p.get("n")))
    c.add_handler("test:big", lambda p: JobResult(True, res="x" * p["size"]))
    return c


def lease_one(c: JobController, lease_s: float) -> tuple[str, str, float]:
    """Take one job as a worker would, under a token nobody else knows; (id, token, expiry)."""
    token = uuid.uuid4().hex
    now = time.time()
    batch = c.store.dequeue("default", 1, now, now + lease_s, token)
    assert len(batch.jobs) == 1
    return batch.jobs[0].job_id, token, now + lease_s


def recover(c: JobController) -> tuple[int, int, int, int]:
    now = time.time()
    return c.store.maintain(
        "default", now, "2026-01-01", failed_keep_since=now - 3600, failed_keep_count=10
    )


# -- leases ------------------------------------------------------------------------------------


def test_an_expired_lease_of_a_job_that_never_started_charges_nothing(any_redis_url: str) -> None:
    c = make(any_redis_url, max_retry=0)
    job_id = c.create_job("test:ok", {"n": 1})
    lease_one(c, lease_s=0.05)
    time.sleep(0.1)
    assert recover(c)[:2] == (0, 1)
    status = c.get_status(job_id)
    assert (status.state, status.retried, status.error) == (JobState.PENDING, 0, None)
    assert settle(c) == 1
    assert c.get_status(job_id).state is JobState.COMPLETED


def test_an_expired_lease_of_a_started_job_charges_the_attempt(any_redis_url: str) -> None:
    c = make(any_redis_url, max_retry=1)
    job_id = c.create_job("test:ok", {"n": 1})
    _, token, expiry = lease_one(c, lease_s=0.05)
    assert c.store.extend("default", {token: [(job_id, True)]}, expiry, time.time()) == []
    time.sleep(0.1)
    assert recover(c)[:2] == (1, 0)
    status = c.get_status(job_id)  # retried at once: the same pass forwards it to PENDING
    assert (status.state, status.retried) == (JobState.PENDING, 1)
    assert status.error is not None and status.error.startswith("lease expired")


def test_a_job_returned_unstarted_has_its_next_start_recorded_before_it_runs(
    any_redis_url: str,
) -> None:
    c = make(any_redis_url, max_retry=0)
    seen: list[float | None] = []

    def peek(params: dict) -> JobResult:
        seen.append(c.inspector.job(job_id).started_at)
        return JobResult(True)

    c.add_handler("test:peek", peek)
    job_id = c.create_job("test:peek", {})
    lease_one(c, lease_s=0.05)
    time.sleep(0.1)
    recover(c)
    assert settle(c) == 1
    assert seen[0] is not None, "the start was in Redis before the handler ran"


def test_a_lost_dequeue_reply_is_released_untried(any_redis_url: str) -> None:
    c = make(any_redis_url, max_retry=0)
    ids = c.create_jobs([("test:ok", {"n": n}) for n in range(3)])
    token = uuid.uuid4().hex
    now = time.time()
    c.store.dequeue("default", 3, now, now + 30, token)  # its reply "lost": nobody holds them
    assert c.store.release("default", token, now + 30) == 3
    assert {c.get_status(j).state for j in ids} == {JobState.PENDING}
    assert settle(c) == 3
    assert [c.get_status(j).retried for j in ids] == [0, 0, 0]


def test_a_repeated_finish_answers_the_written_state_and_counts_nothing_twice(
    any_redis_url: str,
) -> None:
    c = make(any_redis_url)
    job_id = c.create_job("test:ok", {"n": 1})
    _, token, _ = lease_one(c, lease_s=30)
    outcome = AttemptOutcome(job_id, token, Outcome.DONE, "1")
    first = c.store.finish("default", [outcome], time.time(), 60, "2026-01-01")
    again = c.store.finish("default", [outcome], time.time(), 60, "2026-01-01")
    assert first == again == [int(JobState.COMPLETED)]
    assert c.queue_stats()[0].processed_total == 1
    stolen = AttemptOutcome(job_id, "another-token", Outcome.DONE, "2")
    assert c.store.finish("default", [stolen], time.time(), 60, "2026-01-01") == [0]
    assert c.get_status(job_id).result == 1


# -- idempotent creates ------------------------------------------------------------------------


def test_the_same_idempotency_key_returns_the_first_job_and_writes_nothing(
    any_redis_url: str,
) -> None:
    c = make(any_redis_url)
    first = c.create_job("test:ok", {"n": 1}, idempotency_key="order-7")
    keys = all_keys(any_redis_url)
    replay = c.submit("test:ok", {"n": 1}, idempotency_key="order-7")
    assert (replay.job_id, replay.replayed) == (first, True)
    assert all_keys(any_redis_url) == keys
    assert c.queue_stats()[0].pending == 1
    with pytest.raises(IdempotencyConflict) as conflict:
        c.create_job("test:ok", {"n": 2}, idempotency_key="order-7")
    assert conflict.value.job_id == first
    assert c.create_job("test:ok", {"n": 1}, idempotency_key="order-8") != first


def test_create_jobs_takes_a_key_per_entry_and_refuses_a_conflict_whole(
    any_redis_url: str,
) -> None:
    c = make(any_redis_url)
    a, b, again = c.create_jobs(
        [
            ("test:ok", {"n": 1}, {"idempotency_key": "a"}),
            ("test:ok", {"n": 2}, {"idempotency_key": "b"}),
            ("test:ok", {"n": 1}, {"idempotency_key": "a"}),
        ]
    )
    assert again == a and a != b
    with pytest.raises(IdempotencyConflict):
        c.create_jobs([("test:ok", {"n": 3}), ("test:ok", {"n": 9}, {"idempotency_key": "b"})])
    assert c.queue_stats()[0].pending == 2


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\there", "é", 7])
def test_a_bad_idempotency_key_is_refused_and_nothing_written(
    any_redis_url: str, key: object
) -> None:
    c = make(any_redis_url)
    with pytest.raises(InvalidJob, match="idempotency key"):
        c.create_job("test:ok", {"n": 1}, idempotency_key=key)  # type: ignore[arg-type]
    assert all_keys(any_redis_url) == set()


# -- sizes -------------------------------------------------------------------------------------


def test_params_over_the_limit_are_refused_and_nothing_written(any_redis_url: str) -> None:
    c = make(any_redis_url, max_params_bytes=100)
    with pytest.raises(InvalidJob, match="max_params_bytes"):
        c.create_job("test:ok", {"n": "x" * 100})
    assert all_keys(any_redis_url) == set()


def test_a_result_over_the_limit_fails_its_job_saying_why(any_redis_url: str) -> None:
    c = make(any_redis_url, max_result_bytes=1000)
    small = c.create_job("test:big", {"size": 10})
    big = c.create_job("test:big", {"size": 5000})
    assert settle(c) == 2
    assert c.get_status(small).state is JobState.COMPLETED
    failed = c.get_status(big)
    assert failed.state is JobState.FAILED
    assert failed.error == "result is 5002 bytes of JSON; the limit is 1000 (max_result_bytes)"


# -- a full Redis ------------------------------------------------------------------------------


@pytest.fixture
def small_redis() -> Iterator[RedisServer]:
    with RedisServer(extra_args=["--maxmemory-policy", "noeviction"]) as server:
        yield server


def test_a_full_redis_refuses_creates_as_full_and_workers_take_nothing(
    small_redis: RedisServer,
) -> None:
    c = make(small_redis.url)
    waiting = c.create_jobs([("test:ok", {"n": n}) for n in range(50)])
    admin = redis.Redis(host=LOOPBACK, port=small_redis.port)
    used = int(admin.info("memory")["used_memory"])
    admin.config_set("maxmemory", used - 1024)
    with pytest.raises(JobStoreFull, match="full"):
        c.create_job("test:ok", {"n": 99})
    assert c.drain(0.3) == 0
    assert c.queue_stats()[0].pending == 50
    admin.config_set("maxmemory", 0)
    processed = 0
    while processed < 50:
        processed += c.drain(0.3)
    assert {c.get_status(j).state for j in waiting} == {JobState.COMPLETED}
