"""Per-job options and the retry rules: deadlines, SkipRetry, a custom retry delay, retention."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.jobs import (
    InvalidJob,
    InvalidSettings,
    JobController,
    JobNotFound,
    JobResult,
    JobState,
    SkipRetry,
)
from chalicelib.jobs.attempt import backoff_s
from tests.jobs_helpers import all_keys, settle

Q = "jobs:{default}:"


def skip(params: dict) -> JobResult:
    raise SkipRetry("bad input: give up")


def make(redis_url: str, **settings: object) -> JobController:
    c = JobController(redis_url, **settings)  # type: ignore[arg-type]
    c.add_handler("test:ok", lambda p: JobResult(True, res=p.get("n")))
    c.add_handler("test:sleep", lambda p: time.sleep(p["s"]) or JobResult(True))
    c.add_handler("test:raise", lambda p: 1 / 0)
    c.add_handler("test:skip", skip)
    return c


def test_a_job_taken_after_its_deadline_fails_without_running(any_redis_url: str) -> None:
    c = make(any_redis_url)
    late = c.create_job("test:ok", {"n": 1}, deadline=time.time() + 0.1)
    on_time = c.create_job(
        "test:ok", {"n": 2}, deadline=datetime.now(timezone.utc) + timedelta(hours=1)
    )
    time.sleep(0.15)
    assert settle(c) == 2
    status = c.get_status(late)
    assert (status.state, status.error, status.result) == (
        JobState.FAILED, "deadline exceeded", None,
    )  # fmt: skip
    assert c.get_status(on_time).state is JobState.COMPLETED


def test_a_run_still_going_at_its_deadline_fails_and_is_not_retried(any_redis_url: str) -> None:
    c = make(any_redis_url, timeout=30)
    job_id = c.create_job("test:sleep", {"s": 1.0}, deadline=time.time() + 0.3, max_retry=3)
    started = time.monotonic()
    c.drain(0.8, finish_within=0.5)
    status = c.get_status(job_id)
    assert (status.state, status.error) == (JobState.FAILED, "deadline exceeded")
    assert time.monotonic() - started < 3  # its 1.3 s at most, not the handler's 1 s past it


def test_a_retry_past_the_deadline_fails_for_good(any_redis_url: str) -> None:
    c = make(any_redis_url, backoff=0.01, backoff_max=0.01)
    job_id = c.create_job("test:raise", {}, deadline=time.time() + 0.2, max_retry=100)
    until = time.monotonic() + 3
    while c.get_status(job_id).state is not JobState.FAILED and time.monotonic() < until:
        c.drain(0.1)
    status = c.get_status(job_id)
    assert status.state is JobState.FAILED
    assert status.error is not None and status.error.startswith("deadline exceeded")


def test_skip_retry_fails_the_job_at_once_with_its_message(any_redis_url: str) -> None:
    c = make(any_redis_url)
    job_id = c.create_job("test:skip", {}, max_retry=5)
    assert settle(c) == 1
    status = c.get_status(job_id)
    assert (status.state, status.error, status.retried) == (
        JobState.FAILED, "bad input: give up", 0,
    )  # fmt: skip


def test_skip_retry_also_works_in_a_child_process(any_redis_url: str) -> None:
    c = make(any_redis_url, isolation="process", concurrency=1)
    job_id = c.create_job("test:skip", {}, max_retry=5)
    try:
        until = time.monotonic() + 20
        while c.get_status(job_id).state is not JobState.FAILED and time.monotonic() < until:
            c.drain(0.5)
    finally:
        c.stop()
    assert c.get_status(job_id).error == "bad input: give up"


def test_retry_delay_sets_when_a_failed_job_runs_again(any_redis_url: str) -> None:
    seen: list[tuple[int, str]] = []

    def delay(retried: int, error: str) -> float:
        seen.append((retried, error))
        return 100.0 * (retried + 1)

    c = make(any_redis_url, retry_delay=delay)
    job_id = c.create_job("test:raise", {})
    before = time.time()
    settle(c)
    status = c.get_status(job_id)
    assert status.state is JobState.RETRYING
    assert status.next_run_at is not None and before + 99 < status.next_run_at < before + 102
    assert seen == [(0, "ZeroDivisionError: division by zero")]


@pytest.mark.parametrize("answer", [-1, float("nan"), "soon", ValueError("oops")])
def test_a_broken_retry_delay_falls_back_to_the_default(any_redis_url: str, answer: object) -> None:
    def delay(retried: int, error: str) -> float:
        if isinstance(answer, Exception):
            raise answer
        return answer  # type: ignore[return-value]

    c = make(any_redis_url, retry_delay=delay, backoff=50, backoff_max=50)
    job_id = c.create_job("test:raise", {})
    before = time.time()
    settle(c)
    next_run_at = c.get_status(job_id).next_run_at
    assert next_run_at is not None and before + 37 < next_run_at < before + 63


def test_the_default_retry_delay_is_exponential_with_jitter_and_capped() -> None:
    for retried, centre in ((0, 1), (1, 2), (3, 8)):
        delays = [backoff_s(retried, 1.0, 300.0) for _ in range(200)]
        assert centre * 0.75 <= min(delays) and max(delays) <= centre * 1.25
    assert max(backoff_s(20, 1.0, 300.0) for _ in range(200)) <= 300 * 1.25


def test_a_job_retention_overrides_the_controller_retention(any_redis_url: str) -> None:
    now = [time.time()]
    c = make(any_redis_url, retention=3600, clock=lambda: now[0])
    short = c.create_job("test:ok", {"n": 1}, retention=5)
    default = c.create_job("test:ok", {"n": 2})
    assert settle(c) == 2
    assert c.get_status(short).result == 1
    now[0] += 10
    with pytest.raises(JobNotFound):
        c.get_status(short)
    assert c.get_status(default).result == 2


@pytest.mark.parametrize(
    ("options", "name"),
    [
        ({"retention": 0}, "retention"),
        ({"retention": -5}, "retention"),
        ({"deadline": datetime(2099, 1, 1)}, "deadline"),
        ({"deadline": 1.0}, "deadline"),
        ({"deadline": "tomorrow"}, "deadline"),
        ({"deadline": time.time() + 60, "process_in": 120}, "deadline"),
    ],
    ids=["zero-retention", "negative-retention", "naive", "past", "string", "before-run"],
)
def test_bad_options_are_refused_by_name_and_write_nothing(
    any_redis_url: str, options: dict, name: str
) -> None:
    c = make(any_redis_url)
    with pytest.raises(InvalidJob, match=name):
        c.create_job("test:ok", {"n": 1}, **options)
    assert all_keys(any_redis_url) == set()


def test_a_retry_delay_that_is_not_callable_is_refused() -> None:
    with pytest.raises(InvalidSettings, match="retry_delay"):
        JobController("redis://127.0.0.1:1/0", retry_delay=5)
