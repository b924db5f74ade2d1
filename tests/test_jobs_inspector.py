"""The Inspector, as an operator uses it: queues, pages of jobs, one job, retry, delete, pause,
history and workers; on one redis-server and on a 3-master cluster (`any_redis_url`), each call
in a bounded number of round trips."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from chalicelib.jobs import (
    InvalidJob,
    InvalidJobId,
    JobController,
    JobNotFound,
    JobResult,
    JobState,
    JobStateConflict,
    QueueNotFound,
)
from tests.jobs_helpers import settle, wait_for_state, wait_until
from tests.test_jobs_round_trips import RoundTrips, round_trips  # noqa: F401 - a fixture

Q = "jobs:{default}:"
UNKNOWN = "default@2f1e6a52-3c1d-4b7a-9e55-0d6a3b8c9f10"


class Flaky:
    """A handler that fails for good (success=False) until told to succeed."""

    def __init__(self) -> None:
        self.ok = False

    def __call__(self, params: dict) -> JobResult:
        if self.ok:
            return JobResult(True, res=params.get("n"))
        return JobResult(False, "<script>alert(1)</script> refused")


@pytest.fixture
def flaky() -> Flaky:
    return Flaky()


@pytest.fixture
def controller(any_redis_url: str, flaky: Flaky) -> Iterator[JobController]:
    c = JobController(any_redis_url, backoff=60.0)
    c.add_handler("test:ok", lambda p: JobResult(True, res=p.get("n")))
    c.add_handler("test:flaky", flaky)
    c.add_handler("test:boom", lambda p: 1 / 0)
    yield c
    c.stop(timeout=1.0)


def drain_all(c: JobController) -> int:
    return settle(c)


def test_queues_show_counts_pause_today_and_backlog_age(controller: JobController) -> None:
    c = controller
    c.create_job("test:flaky", {})
    c.create_job("test:ok", {"n": 1})
    assert drain_all(c) == 2
    c.create_job("test:ok", {"n": 2}, process_in=3600)
    c.create_job("test:ok", {"n": 3}, queue="reports")
    c.clock = lambda: time.time() + 4  # the pending job has waited 4 s

    by_name = {q.name: q for q in c.inspector.queues()}

    default = by_name["default"]
    assert default.counts == {
        "ACTIVE": 0, "PENDING": 0, "FUTURE": 1, "RETRYING": 0, "FAILED": 1, "COMPLETED": 1,
    }  # fmt: skip
    assert (default.processed_today, default.failed_today) == (2, 1)
    assert default.oldest_pending_s == 0 and not default.paused
    reports = by_name["reports"]
    assert reports.counts["PENDING"] == 1 and 3.5 < reports.oldest_pending_s < 10


def test_a_thousand_jobs_page_without_repeat_or_skip(controller: JobController) -> None:
    c = controller
    ids = c.create_jobs([("test:ok", {"n": n}) for n in range(1000)])
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = c.inspector.jobs("default", "pending", limit=70, cursor=cursor)
        seen += [j.job_id for j in page.jobs]
        pages += 1
        if pages == 3:
            # workers take the head of the queue meanwhile: those left their state, the rest
            # still come exactly once
            taken = c.store.dequeue("default", 100, time.time(), time.time() + 60, "t").jobs
            gone = {j.job_id for j in taken}
        if page.cursor is None:
            break
        cursor = page.cursor
    assert len(seen) == len(set(seen))
    assert set(ids) - gone <= set(seen) and pages == 1000 // 70 + 1


@pytest.mark.parametrize("state", [JobState.FAILED, JobState.FUTURE, JobState.ACTIVE])
def test_pages_of_sorted_states_never_repeat_or_skip(
    controller: JobController, state: JobState
) -> None:
    c = controller
    if state is JobState.FUTURE:
        ids = c.create_jobs([("test:ok", {"n": n}) for n in range(120)], process_in=60)
    else:
        ids = c.create_jobs([("test:flaky", {"n": n}) for n in range(120)])
        if state is JobState.ACTIVE:
            c.store.dequeue("default", 200, time.time(), time.time() + 60, "t")
        else:
            assert drain_all(c) == 120
    seen: list[str] = []
    page = c.inspector.jobs("default", state, limit=25)
    while True:
        seen += [j.job_id for j in page.jobs]
        assert all(j.state is state for j in page.jobs)
        if page.cursor is None:
            break
        if len(seen) == 50:
            c.inspector.delete(page.jobs[-1].job_id) if state is not JobState.ACTIVE else None
        page = c.inspector.jobs("default", state.name, limit=25, cursor=page.cursor)
    assert len(seen) == len(set(seen)) == 120 and set(seen) == set(ids)


def test_job_shows_its_record_and_errors(controller: JobController) -> None:
    c = controller
    job_id = c.create_job("test:boom", {"x": [1, 2]}, max_retry=1)
    settle(c)
    c.inspector.retry(job_id)  # RETRYING: its next try now rather than after the backoff
    settle(c)
    job = c.inspector.job(job_id)
    assert (job.job_id, job.queue, job.job_type, job.params) == (
        job_id,
        "default",
        "test:boom",
        {"x": [1, 2]},
    )
    assert (job.state, job.retried, job.max_retry) == (JobState.FAILED, 1, 1)
    assert len(job.errors) == 2 and "division by zero" in job.error
    assert job.started_at and job.completed_at and job.created_at and job.result is None
    body = job.as_dict()
    assert body["id"] == job_id and body["type"] == "test:boom" and body["state"] == "FAILED"
    with pytest.raises(JobNotFound):
        c.inspector.job(UNKNOWN)
    with pytest.raises(InvalidJobId):
        c.inspector.job("nope")


def test_a_failed_job_retried_keeps_its_errors_and_completes(
    controller: JobController, flaky: Flaky
) -> None:
    c = controller
    job_id = c.create_job("test:flaky", {"n": 7}, max_retry=2)
    settle(c)
    assert c.inspector.job(job_id).state is JobState.FAILED
    c.inspector.retry(job_id)
    job = c.inspector.job(job_id)
    assert (job.state, job.retried, job.errors) == (JobState.PENDING, 0, [job.error])
    flaky.ok = True
    c.start()
    status = wait_for_state(c, job_id, JobState.COMPLETED)
    assert status.result == 7
    assert c.inspector.job(job_id).errors == ["<script>alert(1)</script> refused"]


def test_retry_makes_future_and_retrying_jobs_pending_now(controller: JobController) -> None:
    c = controller
    future = c.create_job("test:ok", {}, process_in=3600)
    retrying = c.create_job("test:boom", {}, max_retry=3)
    settle(c)
    assert c.inspector.job(retrying).state is JobState.RETRYING
    c.inspector.retry(future)
    c.inspector.retry(retrying)
    assert [c.inspector.job(j).state for j in (future, retrying)] == [JobState.PENDING] * 2
    assert c.inspector.job(retrying).retried == 1  # a RETRYING job keeps its count
    stats = c.queue_stats()[0]
    assert (stats.future, stats.retrying, stats.pending) == (0, 0, 2)


def test_actions_in_the_wrong_state_are_refused(controller: JobController) -> None:
    c = controller
    pending = c.create_job("test:ok", {})
    with pytest.raises(JobStateConflict, match="PENDING"):
        c.inspector.retry(pending)
    c.store.dequeue("default", 1, time.time(), time.time() + 60, "t")
    with pytest.raises(JobStateConflict, match="ACTIVE"):
        c.inspector.delete(pending)
    with pytest.raises(JobNotFound):
        c.inspector.retry(UNKNOWN)
    with pytest.raises(JobNotFound):
        c.inspector.delete(UNKNOWN)


def test_delete_leaves_no_trace_of_the_job(controller: JobController) -> None:
    c = controller
    pending = c.create_job("test:ok", {})
    failed = c.create_job("test:flaky", {}, queue="default")
    c.store.dequeue("default", 0, time.time(), time.time() + 60, "t")
    c.inspector.pause("default")
    c.inspector.resume("default")
    c.inspector.delete(pending)
    settle(c)
    assert c.inspector.job(failed).state is JobState.FAILED
    c.inspector.delete(failed)
    with pytest.raises(JobNotFound):
        c.get_status(failed)
    counts = c.inspector.queues()[0].counts
    assert set(counts.values()) == {0}  # the keys left: tests/test_layout_contract.py


def test_retry_failed_retries_every_failed_job(controller: JobController, flaky: Flaky) -> None:
    c = controller
    ids = c.create_jobs([("test:flaky", {"n": n}) for n in range(30)])
    drain_all(c)
    assert c.inspector.retry_failed("default") == 30
    assert c.inspector.retry_failed("default") == 0
    flaky.ok = True
    assert drain_all(c) == 30
    assert {c.get_status(j).state for j in ids} == {JobState.COMPLETED}
    with pytest.raises(QueueNotFound):
        c.inspector.retry_failed("nosuch")


def test_a_paused_queue_is_not_drained_until_resumed(controller: JobController) -> None:
    c = controller
    job_id = c.create_job("test:ok", {"n": 1})
    assert c.inspector.pause("default") is True
    assert c.inspector.pause("default") is False
    assert c.drain(0.3) == 0
    assert c.create_job("test:ok", {"n": 2})  # creating still works
    assert [q.paused for q in c.inspector.queues()] == [True]
    assert c.inspector.resume("default") is True
    assert settle(c) == 2
    assert c.get_status(job_id).state is JobState.COMPLETED


def test_a_running_worker_honours_pause_and_resume(controller: JobController) -> None:
    c = controller
    c.inspector.pause("default")
    c.start()
    job_id = c.create_job("test:ok", {"n": 1})
    time.sleep(0.5)  # the worker is woken by the create and must still take nothing
    assert c.get_status(job_id).state is JobState.PENDING
    started = time.monotonic()
    c.inspector.resume("default")
    wait_for_state(c, job_id, JobState.COMPLETED)
    assert time.monotonic() - started < 4  # at once, not at the next 5 s maintenance pass


def test_unknown_queues_and_bad_arguments_are_refused(controller: JobController) -> None:
    i = controller.inspector
    for call in (i.pause, i.resume, i.history):
        with pytest.raises(QueueNotFound):
            call("nosuch")
    with pytest.raises(QueueNotFound):
        i.jobs("nosuch", "failed")
    assert i.jobs("default", "failed").jobs == []  # a configured queue exists without jobs
    for bad in (
        {"state": "DONE"},
        {"state": "failed", "limit": 0},
        {"state": "failed", "cursor": "x"},
    ):
        with pytest.raises(InvalidJob):
            i.jobs("default", **bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidJob):
        i.history("default", days=0)


def test_history_has_one_row_a_day_today_last(controller: JobController) -> None:
    c = controller
    c.create_job("test:ok", {})
    c.create_job("test:flaky", {})
    drain_all(c)
    rows = c.inspector.history("default", days=3)
    assert [r.date for r in rows] == [
        time.strftime("%Y-%m-%d", time.gmtime(time.time() - 86400 * n)) for n in (2, 1, 0)
    ]
    assert [(r.processed, r.failed) for r in rows] == [(0, 0), (0, 0), (2, 1)]


def test_workers_lists_live_workers_only(controller: JobController) -> None:
    c = controller
    c.start()
    workers = wait_until(c.inspector.workers, what="the heartbeat")
    (worker,) = workers
    assert worker.queues == ["default"] and worker.concurrency == c.settings.concurrency
    assert worker.running == 0 and worker.as_dict()["id"] == worker.worker_id
    c.clock = lambda: time.time() + 60
    assert c.inspector.workers() == []


def test_each_call_costs_a_bounded_number_of_round_trips(
    controller: JobController,
    round_trips: RoundTrips,  # noqa: F811
) -> None:
    c = controller
    ids = c.create_jobs([("test:flaky", {"n": n}) for n in range(300)])
    drain_all(c)
    i = c.inspector
    i.job(ids[0])  # connects, loads the scripts

    def cost(call: object, *args: object, **kwargs: object) -> int:
        before = round_trips.count
        call(*args, **kwargs)  # type: ignore[operator]
        return round_trips.count - before

    assert cost(i.job, ids[0]) == 1
    assert cost(i.jobs, "default", "failed", limit=200) == 1
    assert cost(i.queues) <= 1 + 3  # the queue names, then one pipeline (per cluster node)
    assert cost(i.history, "default", days=30) == 1  # a configured queue needs no check
    assert cost(i.workers) == 1
    assert cost(i.pause, "default") == cost(i.resume, "default") == 1
    assert cost(i.retry, ids[0]) == cost(i.delete, ids[0]) == 1
    assert cost(i.retry_failed, "default") == 1
