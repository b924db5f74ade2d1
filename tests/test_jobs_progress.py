"""current_job() and progress reports: known only inside a handler, written in the worker's
batched calls (never one round trip per report), kept after the job ends."""

from __future__ import annotations

import threading
import time

import pytest

from chalicelib.jobs import (
    InvalidJob,
    JobController,
    JobResult,
    JobState,
    NoCurrentJob,
    current_job,
)
from tests.jobs_helpers import settle, wait_until
from tests.test_jobs_round_trips import RoundTrips, round_trips  # noqa: F401 - a fixture


def test_current_job_outside_a_handler_says_so() -> None:
    with pytest.raises(NoCurrentJob, match="only known inside a job's handler"):
        current_job()


def test_a_handler_knows_its_job(redis_url: str) -> None:
    c = JobController(redis_url)
    seen: list[tuple] = []

    def handler(params: dict) -> JobResult:
        job = current_job()
        seen.append((job.job_id, job.queue, job.retried, job.deadline, job.cancelled))
        return JobResult(True)

    c.add_handler("test:who", handler)
    deadline = time.time() + 60
    job_id = c.create_job("test:who", {}, deadline=deadline)
    settle(c)

    assert seen == [(job_id, "default", 0, pytest.approx(deadline, abs=0.01), False)]


@pytest.mark.parametrize("isolation", ["thread", "process"])
def test_progress_shows_while_active_and_after(redis_url: str, isolation: str) -> None:
    c = JobController(redis_url, isolation=isolation)
    gate = f"{redis_url}-gate"

    def handler(params: dict) -> JobResult:
        job = current_job()
        job.report_progress(0.4, "halfway-ish")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not c.store.client.exists(gate):
            time.sleep(0.02)
        job.report_progress(1.0, "done")
        return JobResult(True, res=job.job_id)

    c.add_handler("test:steps", handler)
    job_id = c.create_job("test:steps", {})
    c.start()
    try:
        running = wait_until(
            lambda: (s := c.get_status(job_id)).progress and s, what="the first report"
        )
        c.store.client.set(gate, 1)
        ended = c.wait(job_id, 5)
    finally:
        c.stop(timeout=2)

    assert running.state is JobState.ACTIVE
    assert running.progress == {"fraction": 0.4, "message": "halfway-ish"}
    assert running.body()["progress"] == running.progress
    assert ended.state is JobState.COMPLETED and ended.result == job_id
    assert ended.progress == {"fraction": 1.0, "message": "done"}


def test_reports_in_a_tight_loop_cost_a_few_round_trips(
    redis_url: str,
    round_trips: RoundTrips,  # noqa: F811
) -> None:
    """The same half-second job with and without 100,000 reports: the reports cost at most
    one write per lease step tick (0.1 s), not one per report."""
    c = JobController(redis_url)

    def handler(params: dict) -> JobResult:
        job = current_job()
        ends = time.monotonic() + 0.5
        n = 0
        while time.monotonic() < ends:
            n += 1
            if params["report"]:
                job.report_progress(min(1.0, n / 1e6))
        return JobResult(True, res=n)

    c.add_handler("test:busy", handler)
    spent = {}
    for report in (False, True):
        job_id = c.create_job("test:busy", {"report": report})
        before = round_trips.count
        c.drain(1.0)
        spent[report] = round_trips.count - before
        assert c.get_status(job_id).state is JobState.COMPLETED
    reports = c.get_status(job_id).result

    assert reports > 1000
    assert spent[True] - spent[False] <= 8, f"{spent} round trips for {reports} reports"


def test_a_bad_report_is_refused(redis_url: str) -> None:
    c = JobController(redis_url)
    errors: list[str] = []

    def handler(params: dict) -> JobResult:
        for fraction, message in ((1.5, None), (float("nan"), None), (0.5, 3)):
            try:
                current_job().report_progress(fraction, message)  # type: ignore[arg-type]
            except InvalidJob as exc:
                errors.append(str(exc))
        return JobResult(True)

    c.add_handler("test:bad", handler)
    c.create_job("test:bad", {})
    settle(c)
    assert len(errors) == 3


def test_reports_from_handler_threads_stay_with_their_jobs(redis_url: str) -> None:
    c = JobController(redis_url, concurrency=4)
    barrier = threading.Barrier(4, timeout=5)

    def handler(params: dict) -> JobResult:
        current_job().report_progress(params["n"] / 10, f"job {params['n']}")
        barrier.wait()
        return JobResult(True)

    c.add_handler("test:many", handler)
    ids = [c.create_job("test:many", {"n": n}) for n in range(4)]
    c.drain(1.0)
    for n, job_id in enumerate(ids):
        assert c.get_status(job_id).progress == {"fraction": n / 10, "message": f"job {n}"}
