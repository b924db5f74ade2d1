"""Cancelling a job: waiting ones end FAILED "cancelled" at once and never run; a running one
is asked to stop; an ended one is left as it is."""

from __future__ import annotations

import threading
import time

import pytest

from chalicelib.jobs import (
    JobController,
    JobNotFound,
    JobResult,
    JobState,
    JobStateConflict,
    SkipRetry,
    current_job,
)
from tests.jobs_helpers import settle, wait_for_state, wait_until

UNKNOWN_ID = "default@2f1e6a52-3c1d-4b7a-9e55-0d6a3b8c9f10"


def make(url: str, runs: list[str], **options: object) -> JobController:
    c = JobController(url, **options)  # type: ignore[arg-type]

    def ok(params: dict) -> JobResult:
        runs.append(current_job().job_id)
        return JobResult(True, res=1)

    def boom(params: dict) -> JobResult:
        raise RuntimeError("try again")

    c.add_handler("test:ok", ok)
    c.add_handler("test:boom", boom)
    return c


@pytest.mark.parametrize("when", ["pending", "future", "retrying"])
def test_a_waiting_job_ends_failed_cancelled_and_never_runs(any_redis_url: str, when: str) -> None:
    runs: list[str] = []
    c = make(any_redis_url, runs, backoff=30)
    if when == "retrying":
        job_id = c.create_job("test:boom", {})
        settle(c)
        assert c.get_status(job_id).state is JobState.RETRYING
    else:
        job_id = c.create_job("test:ok", {}, process_in=60 if when == "future" else None)

    status = c.cancel(job_id)
    settle(c)

    assert status.state is JobState.FAILED and status.error == "cancelled" and status.cancelled
    assert status.body() == {
        "state_code": 5, "status": "FAILED", "res": None, "error": "cancelled", "cancelled": True,
    }  # fmt: skip
    assert c.get_status(job_id) == status
    assert runs == []
    stats = c.queue_stats()[0]
    assert (stats.pending, stats.future, stats.retrying, stats.failed) == (0, 0, 0, 1)


def test_an_ended_job_is_a_conflict_and_stays_as_it_was(redis_url: str) -> None:
    runs: list[str] = []
    c = make(redis_url, runs)
    job_id = c.create_job("test:ok", {})
    settle(c)
    before = c.get_status(job_id)

    with pytest.raises(JobStateConflict, match="COMPLETED"):
        c.cancel(job_id)
    assert c.get_status(job_id) == before
    with pytest.raises(JobNotFound):
        c.cancel(UNKNOWN_ID)


def test_a_cancelled_unique_job_frees_its_lock(redis_url: str) -> None:
    c = make(redis_url, [])
    job_id = c.create_job("test:ok", {"x": 1}, unique_for=600)
    c.cancel(job_id)

    assert c.create_job("test:ok", {"x": 1}, unique_for=600) != job_id


def test_a_running_handler_sees_the_cancel_and_its_job_ends_cancelled(redis_url: str) -> None:
    c = JobController(redis_url)
    began = threading.Event()

    def patient(params: dict) -> JobResult:
        began.set()
        deadline = time.monotonic() + 10
        while not current_job().cancelled and time.monotonic() < deadline:
            time.sleep(0.01)
        raise SkipRetry("stopped")

    c.add_handler("test:patient", patient)
    job_id = c.create_job("test:patient", {})
    c.start()
    try:
        assert began.wait(5)
        asked = c.cancel(job_id)
        ended = c.wait(job_id, 5)
    finally:
        c.stop(timeout=2)

    assert asked.state is JobState.ACTIVE
    assert ended.state is JobState.FAILED and ended.error == "cancelled" and ended.cancelled


def test_a_job_completing_before_the_cancel_reaches_it_completes(redis_url: str) -> None:
    c = JobController(redis_url)
    go = threading.Event()
    c.add_handler("test:quick", lambda p: go.wait(5) and JobResult(True, res=7))
    job_id = c.create_job("test:quick", {})
    c.start()
    try:
        wait_for_state(c, job_id, JobState.ACTIVE)
        c.cancel(job_id)
        go.set()  # it returns before its worker learns of the cancel
        ended = c.wait(job_id, 5)
    finally:
        c.stop(timeout=2)

    assert ended.state is JobState.COMPLETED and ended.result == 7


def test_a_leased_job_cancelled_before_it_starts_is_never_run(redis_url: str) -> None:
    runs: list[str] = []
    c = make(redis_url, runs, concurrency=1)
    release = threading.Event()
    c.add_handler("test:block", lambda p: release.wait(10) and JobResult(True, res=0))
    first = c.create_job("test:block", {})
    second = c.create_job("test:ok", {})
    c.start()
    try:
        wait_until(lambda: c.get_status(second).state is JobState.ACTIVE, what="the prefetch")
        c.cancel(second)
        worker = c._worker_side()  # noqa: SLF001 - the in-flight table shows what it learnt
        wait_until(lambda: worker.inflight.held[second].cancel, what="the cancel to arrive")
        release.set()
        ended = c.wait(second, 5)
        assert c.wait(first, 5).state is JobState.COMPLETED
    finally:
        c.stop(timeout=2)

    assert ended.state is JobState.FAILED and ended.error == "cancelled"
    assert runs == []


def test_a_cancelled_job_whose_lease_expires_ends_cancelled(redis_url: str) -> None:
    now = [time.time()]
    c = make(redis_url, [], lease=1)
    c.clock = lambda: now[0]
    job_id = c.create_job("test:ok", {})
    c.store.dequeue("default", 1, now[0], now[0] + 1, "tok")  # another worker took it
    c.cancel(job_id)
    now[0] += 5
    c._worker_side().maintain(now[0])  # noqa: SLF001

    status = c.get_status(job_id)
    assert status.state is JobState.FAILED and status.cancelled
