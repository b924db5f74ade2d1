"""The Redis side: exactly which keys each step leaves, retention, caps, and the kick debounce."""

from __future__ import annotations

import logging
import time

import pytest

from chalicelib.jobs import JobController, JobNotFound, JobResult, JobState
from tests.jobs_helpers import wait_for_state


def make(redis_url: str, **settings: object) -> JobController:
    c = JobController(redis_url, **settings)  # type: ignore[arg-type]
    c.add_handler("test:ok", lambda p: JobResult(True, res=p.get("n")))
    c.add_handler("test:refuse", lambda p: JobResult(False, "no"))
    return c


def test_known_queues_are_the_queues_jobs_were_created_in(any_redis_url: str) -> None:
    c = make(any_redis_url, queues=("default", "reports"))
    c.create_job("test:ok", {}, queue="reports")
    c.create_job("test:refuse", {}, queue="reports")
    c.drain(0.2)
    assert c.known_queues() == ["reports"]


def test_completed_jobs_are_trimmed_after_their_retention(any_redis_url: str) -> None:
    c = make(any_redis_url, retention=0.5)
    job_id = c.create_job("test:ok", {"n": 1})
    c.drain(0.1)
    time.sleep(0.6)
    c._worker_side().maintain(time.time() + 61)  # noqa: SLF001 - a trim, without waiting a minute
    with pytest.raises(JobNotFound):
        c.get_status(job_id)
    assert c.queue_stats()[0].completed == 0


def test_failed_jobs_are_capped_in_count_oldest_first(any_redis_url: str) -> None:
    c = make(any_redis_url, failed_max=2)
    ids = []
    for _ in range(3):
        ids.append(c.create_job("test:refuse", {}))
        assert c.drain(0.1) == 1
    c._worker_side().maintain(time.time() + 61)  # noqa: SLF001
    with pytest.raises(JobNotFound):
        c.get_status(ids[0])
    assert [c.get_status(j).state for j in ids[1:]] == [JobState.FAILED] * 2


def test_failed_jobs_are_dropped_after_their_age_cap(any_redis_url: str) -> None:
    c = make(any_redis_url, failed_retention=0.2)
    job_id = c.create_job("test:refuse", {})
    c.drain(0.1)
    assert c.get_status(job_id).state is JobState.FAILED
    time.sleep(0.25)
    c._worker_side().maintain(time.time() + 61)  # noqa: SLF001
    with pytest.raises(JobNotFound):
        c.get_status(job_id)


def test_kick_is_debounced_across_a_burst_and_its_errors_do_not_lose_jobs(
    any_redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    kicks: list[str] = []
    c = make(any_redis_url)
    c.set_kick(kicks.append, debounce=5.0)
    ids = [c.create_job("test:ok", {"n": n}) for n in range(20)]
    assert kicks == ["default"]

    def broken(queue: str) -> None:
        raise RuntimeError("AWS said no")

    other = make(any_redis_url, queues=("other",))
    other.set_kick(broken)
    with caplog.at_level(logging.ERROR):
        job_id = other.create_job("test:ok", {"n": 1}, queue="other")
    assert "kicking a worker for queue other failed" in caplog.text
    assert other.get_status(job_id).state is JobState.PENDING
    assert len({c.get_status(j).state for j in ids}) == 1


def test_queue_stats_count_every_state_and_the_backlog_age(any_redis_url: str) -> None:
    c = make(any_redis_url, backoff=60.0)
    c.add_handler("test:raise", lambda p: 1 / 0)
    c.create_job("test:ok", {"n": 1}, process_in=3600)
    done = c.create_job("test:ok", {"n": 2})
    c.create_job("test:refuse", {})
    c.create_job("test:raise", {})
    c.drain(0.2)
    wait_for_state(c, done, JobState.COMPLETED)
    c.create_job("test:ok", {"n": 3})
    time.sleep(0.1)
    stats = c.queue_stats()[0]
    assert (stats.active, stats.pending, stats.future, stats.retrying) == (0, 1, 1, 1)
    assert (stats.failed, stats.completed) == (1, 1)
    assert (stats.processed_total, stats.failed_total) == (3, 2)
    assert stats.oldest_pending_age_s is not None and 0.1 <= stats.oldest_pending_age_s < 5
