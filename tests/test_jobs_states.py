"""Every state a job goes through, with the code, status, result and error a user sees.

Each test runs on one redis-server and again on a 3-master Redis Cluster (`any_redis_url`).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator

import pytest

from chalicelib.jobs import JobController, JobResult, JobState
from tests.jobs_helpers import wait_for_state

JOB_ID = re.compile(r"default@[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def multiply(params: dict) -> JobResult:
    return JobResult(success=True, res=params["a"] * params["b"])


@pytest.fixture
def controller(any_redis_url: str) -> Iterator[JobController]:
    c = JobController(any_redis_url, backoff=60.0)
    c.add_handler("math:multiply", multiply)
    yield c
    c.stop(timeout=1.0)


def test_seed_flow_multiplies_two_and_three(controller: JobController) -> None:
    controller.start()
    job_id = controller.create_job("math:multiply", {"a": 2, "b": 3})
    assert JOB_ID.fullmatch(job_id)
    status = wait_for_state(controller, job_id, JobState.COMPLETED)
    assert (status.state_code, status.status, status.result) == (6, "COMPLETED", 6)
    assert status.error is None and status.retried == 0
    assert status.completed_at is not None and status.completed_at >= status.created_at


def test_job_without_a_running_worker_is_pending(controller: JobController) -> None:
    job_id = controller.create_job("math:multiply", {"a": 1, "b": 1})
    status = controller.get_status(job_id)
    assert (status.state_code, status.status, status.result) == (2, "PENDING", None)
    assert status.job_type == "math:multiply" and status.queue == "default"


def test_running_job_is_active_then_completed(controller: JobController) -> None:
    release = threading.Event()

    def blocked(params: dict) -> JobResult:
        release.wait(10)
        return JobResult(True, res="done")

    controller.add_handler("test:blocked", blocked)
    controller.start()
    job_id = controller.create_job("test:blocked", {})
    active = wait_for_state(controller, job_id, JobState.ACTIVE)
    assert (active.state_code, active.status, active.result) == (1, "ACTIVE", None)
    release.set()
    assert wait_for_state(controller, job_id, JobState.COMPLETED).result == "done"


def test_job_with_process_in_is_future_until_due(controller: JobController) -> None:
    later = controller.create_job("math:multiply", {"a": 2, "b": 2}, process_in=3600)
    status = controller.get_status(later)
    assert (status.state_code, status.status) == (3, "FUTURE")
    assert status.next_run_at == pytest.approx(time.time() + 3600, abs=5)

    soon = controller.create_job("math:multiply", {"a": 3, "b": 3}, process_in=0.3)
    assert controller.get_status(soon).state is JobState.FUTURE
    controller.start()
    done = wait_for_state(controller, soon, JobState.COMPLETED)
    assert done.result == 9 and done.completed_at - done.created_at >= 0.3
    assert controller.get_status(later).state is JobState.FUTURE


def test_raising_handler_is_retrying_with_its_error(controller: JobController) -> None:
    def flaky(params: dict) -> JobResult:
        raise ValueError("upstream is down")

    controller.add_handler("test:flaky", flaky)
    controller.start()
    job_id = controller.create_job("test:flaky", {})
    status = wait_for_state(controller, job_id, JobState.RETRYING)
    assert (status.state_code, status.status) == (4, "RETRYING")
    assert status.error == "ValueError: upstream is down"
    assert status.retried == 1 and status.max_retry == 3
    assert status.next_run_at is not None and status.next_run_at > time.time() + 30


def test_unsuccessful_result_fails_at_once_without_retry(controller: JobController) -> None:
    controller.add_handler("test:refuse", lambda p: JobResult(False, "division by zero"))
    controller.start()
    job_id = controller.create_job("test:refuse", {})
    status = wait_for_state(controller, job_id, JobState.FAILED)
    assert (status.state_code, status.status, status.error) == (5, "FAILED", "division by zero")
    assert status.retried == 0 and status.result is None


def test_exhausted_retries_end_failed_with_the_last_error(any_redis_url: str) -> None:
    attempts: list[int] = []

    def always_fails(params: dict) -> JobResult:
        attempts.append(1)
        raise RuntimeError(f"attempt {len(attempts)}")

    c = JobController(any_redis_url, backoff=0.01, backoff_max=0.05)
    c.add_handler("test:fails", always_fails)
    c.start()
    try:
        job_id = c.create_job("test:fails", {}, max_retry=2)
        status = wait_for_state(c, job_id, JobState.FAILED)
    finally:
        c.stop(timeout=1.0)
    assert status.retried == 2 and status.max_retry == 2
    assert status.error == "RuntimeError: attempt 3" and len(attempts) == 3


def test_handler_overrunning_its_timeout_fails_and_its_late_result_is_dropped(
    controller: JobController,
) -> None:
    finished = threading.Event()

    def slow(params: dict) -> JobResult:
        time.sleep(1.0)
        finished.set()
        return JobResult(True, res="late")

    controller.add_handler("test:slow", slow)
    controller.start()
    job_id = controller.create_job("test:slow", {}, timeout=0.2, max_retry=0)
    status = wait_for_state(controller, job_id, JobState.FAILED)
    assert status.error == "timed out after 0.2s"
    assert finished.wait(5)
    time.sleep(0.1)
    after = controller.get_status(job_id)
    assert after.state is JobState.FAILED and after.result is None


def test_handler_returning_non_json_result_fails_clearly(controller: JobController) -> None:
    controller.add_handler("test:set", lambda p: JobResult(True, res={1, 2}))
    controller.start()
    job_id = controller.create_job("test:set", {})
    status = wait_for_state(controller, job_id, JobState.FAILED)
    assert status.error is not None and status.error.startswith("result is not JSON")


def test_add_handler_after_start_has_no_effect_and_says_so(
    controller: JobController, caplog: pytest.LogCaptureFixture
) -> None:
    controller.start()
    with caplog.at_level(logging.WARNING, logger="chalicelib.jobs"):
        controller.add_handler("math:add", multiply)
    assert "math:add" not in controller.job_types
    assert "after start() has no effect" in caplog.text


def test_json_params_and_results_round_trip_exactly(controller: JobController) -> None:
    controller.add_handler("test:echo", lambda p: JobResult(True, res=p))
    controller.start()
    params = {"big": 2**63 - 1, "list": [], "obj": {}, "text": 'é "q" /', "f": 0.1}
    job_id = controller.create_job("test:echo", params)
    assert wait_for_state(controller, job_id, JobState.COMPLETED).result == params
