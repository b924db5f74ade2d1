"""Unique jobs (`unique_for`): one unfinished job per queue, type and params, its lock held in
Redis under the queue's hash tag and released when the job ends for good."""

from __future__ import annotations

import time
import uuid

import pytest

from chalicelib.jobs import DuplicateJob, InvalidJob, JobController, JobResult, JobState
from chalicelib.jobs.client import fingerprint_of
from tests.jobs_helpers import all_keys, settle

Q = "jobs:{default}:"


def make(redis_url: str, **settings: object) -> JobController:
    c = JobController(redis_url, **settings)  # type: ignore[arg-type]
    c.add_handler("test:ok", lambda p: JobResult(True, res=p.get("n")))
    c.add_handler("test:refuse", lambda p: JobResult(False, "no"))
    c.add_handler("test:raise", lambda p: 1 / 0)
    return c


def lock_of(job_type: str, params: dict) -> str:
    return Q + "unique:" + fingerprint_of(job_type, params)


def test_a_second_create_while_the_first_is_pending_is_a_duplicate(any_redis_url: str) -> None:
    c = make(any_redis_url)
    first = c.create_job("test:ok", {"n": 1}, unique_for=60)
    keys = all_keys(any_redis_url)
    with pytest.raises(DuplicateJob) as raised:
        c.create_job("test:ok", {"n": 1}, unique_for=60)
    assert raised.value.job_id == first
    assert all_keys(any_redis_url) == keys
    assert c.queue_stats()[0].pending == 1
    c.create_job("test:ok", {"n": 2}, unique_for=60)  # other params: another job
    c.create_job("test:ok", {"n": 1})  # not unique itself: not refused
    assert c.queue_stats()[0].pending == 3


def test_the_lock_goes_when_the_job_completes(any_redis_url: str) -> None:
    c = make(any_redis_url)
    first = c.create_job("test:ok", {"n": 1}, unique_for=60)
    assert settle(c) == 1
    assert c.get_status(first).state is JobState.COMPLETED
    second = c.create_job("test:ok", {"n": 1}, unique_for=60)
    assert second != first


def test_the_lock_goes_when_the_job_fails_for_good_and_stays_while_it_retries(
    any_redis_url: str,
) -> None:
    c = make(any_redis_url, backoff=60)
    c.create_job("test:refuse", {}, unique_for=60)
    retried = c.create_job("test:raise", {}, unique_for=60)
    assert settle(c) == 2
    assert c.get_status(retried).state is JobState.RETRYING
    with pytest.raises(DuplicateJob):
        c.create_job("test:raise", {}, unique_for=60)
    c.create_job("test:refuse", {}, unique_for=60)


def test_the_lock_expires_after_unique_for(any_redis_url: str) -> None:
    c = make(any_redis_url)
    first = c.create_job("test:ok", {"n": 1}, unique_for=0.2)
    time.sleep(0.3)
    assert c.create_job("test:ok", {"n": 1}, unique_for=0.2) != first
    assert c.queue_stats()[0].pending == 2


def test_a_job_failed_for_good_by_lease_recovery_releases_its_lock(any_redis_url: str) -> None:
    c = make(any_redis_url, max_retry=0)
    job_id = c.create_job("test:ok", {"n": 1}, unique_for=60)
    token, now = uuid.uuid4().hex, time.time()
    assert len(c.store.dequeue("default", 1, now, now + 0.05, token).jobs) == 1
    c.store.extend("default", {token: [(job_id, True)]}, now + 0.05, now)  # it started
    time.sleep(0.1)
    now = time.time()
    charged, *_ = c.store.maintain(
        "default", now, "2026-01-01", failed_keep_since=now - 60, failed_keep_count=10
    )
    assert charged == 1
    assert c.get_status(job_id).state is JobState.FAILED
    assert c.create_job("test:ok", {"n": 1}, unique_for=60) != job_id


def test_create_jobs_refuses_the_whole_call_naming_each_duplicate(any_redis_url: str) -> None:
    c = make(any_redis_url)
    held = c.create_job("test:ok", {"n": 1}, unique_for=60)
    keys = all_keys(any_redis_url)
    with pytest.raises(DuplicateJob) as raised:
        c.create_jobs(
            [
                ("test:ok", {"n": 0}, {"unique_for": 60}),
                ("test:ok", {"n": 1}, {"unique_for": 60}),
                ("test:ok", {"n": 2}),
            ]
        )
    assert raised.value.duplicates == [(1, held)]
    assert raised.value.job_id == held
    assert all_keys(any_redis_url) == keys
    assert c.queue_stats()[0].pending == 1
    ids = c.create_jobs([("test:ok", {"n": 3}), ("test:ok", {"n": 4})], unique_for=60)
    with pytest.raises(DuplicateJob) as raised:
        c.create_jobs([("test:ok", {"n": 4})], unique_for=60)
    assert raised.value.duplicates == [(0, ids[1])]


def test_the_same_unique_job_twice_in_one_call_is_refused(any_redis_url: str) -> None:
    c = make(any_redis_url)
    with pytest.raises(InvalidJob, match="entries 0 and 1 are the same unique job"):
        c.create_jobs([("test:ok", {"n": 1}), ("test:ok", {"n": 1})], unique_for=60)
    assert all_keys(any_redis_url) == set()


def test_an_idempotent_replay_of_a_unique_job_answers_its_id(any_redis_url: str) -> None:
    c = make(any_redis_url)
    first = c.submit("test:ok", {"n": 1}, unique_for=60, idempotency_key="k1")
    again = c.submit("test:ok", {"n": 1}, unique_for=60, idempotency_key="k1")
    assert again.job_id == first.job_id and again.replayed


def test_a_stale_lock_whose_job_is_gone_holds_nothing(any_redis_url: str) -> None:
    c = make(any_redis_url, retention=0.1)
    c.create_job("test:ok", {"n": 1}, unique_for=60)
    lock = lock_of("test:ok", {"n": 1})
    c.store.client.set(lock, "default@" + str(uuid.uuid4()))  # a holder that no longer exists
    assert c.create_job("test:ok", {"n": 1}, unique_for=60)


@pytest.mark.parametrize("bad", [0, -1, "60", float("nan"), True])
def test_a_bad_unique_for_is_refused_by_name_and_writes_nothing(
    any_redis_url: str, bad: object
) -> None:
    c = make(any_redis_url)
    with pytest.raises(InvalidJob, match="unique_for"):
        c.create_job("test:ok", {"n": 1}, unique_for=bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidJob, match="unique_for"):
        c.create_jobs([("test:ok", {"n": 1}, {"unique_for": bad})])
    assert all_keys(any_redis_url) == set()
