"""The worker functions through Chalice's test client: the scheduled worker and the kicked worker
drain jobs the API created within their invocation's time, and each drain logs one EMF line."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from chalice.test import Client

import app
from chalicelib.jobs import InvalidSettings, QueueStats
from chalicelib.metrics import Latencies, emf_record
from chalicelib.service import (
    DEFAULT_IDLE_EXIT_S,
    DEFAULT_KICK_DEBOUNCE_S,
    build_controller,
    idle_exit_s,
)
from chalicelib.worker_lambda import RESERVE_S, drain_budget_s, run_worker
from local.parts.redis_server import free_port
from tests.api_helpers import create, dev_client, get, scheduled_event, use_redis

#: what Chalice's test client gives an invocation (its LambdaContext's default)
TEST_INVOCATION_S = 3.0


@pytest.fixture
def client(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    use_redis(monkeypatch, redis_url)
    with dev_client() as test_client:
        yield test_client


@dataclass
class FakeContext:
    """A Lambda context with a chosen remaining time (the test client's is fixed at 3 s)."""

    remaining_ms: float
    function_name: str = "chalice-jobs-test-worker"

    def get_remaining_time_in_millis(self) -> float:
        return self.remaining_ms


def emf_lines(captured: str) -> list[dict]:
    return [json.loads(line) for line in captured.splitlines() if line.startswith('{"_aws"')]


def test_scheduled_worker_drains_jobs_the_api_created(
    client: Client, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = [create(client, "math:multiply", n, 2) for n in range(5)]
    ids.append(create(client, "math:divide", 1, 0))

    started = time.monotonic()
    result = client.lambda_.invoke("worker", scheduled_event(client)).payload

    assert time.monotonic() - started < TEST_INVOCATION_S
    assert result["processed"] == 6
    assert result["failed"] == 1
    assert [get(client, job_id).json_body["res"] for job_id in ids[:5]] == [0, 2, 4, 6, 8]
    assert get(client, ids[5]).json_body["status"] == "FAILED"
    (line,) = emf_lines(capsys.readouterr().out)
    assert line["JobsProcessed"] == 6
    assert line["JobsFailed"] == 1
    assert line["CompletedJobs"] == 5
    assert line["FailedJobs"] == 1
    assert line["PendingJobs"] == 0
    assert line["Service"] == "chalice-jobs-dev"  # from the dev stage's environment
    assert line["function"] == "worker"
    units = {m["Name"]: m["Unit"] for m in line["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    for name in ("Wait", "Run"):
        assert units[f"{name}P50Seconds"] == units[f"{name}P99Seconds"] == "Seconds"
        assert 0 <= line[f"{name}P50Seconds"] <= line[f"{name}P99Seconds"]


def test_kicked_worker_drains_the_queue(client: Client) -> None:
    job_id = create(client, "math:add", 40, 2)

    result = client.lambda_.invoke("worker_kick", {"queue": "default"}).payload

    assert result["processed"] == 1
    assert get(client, job_id).json_body == {"state_code": 6, "status": "COMPLETED", "res": 42}


def test_idle_worker_waits_for_work_until_its_budget_is_spent(client: Client) -> None:
    outcome: dict = {}
    worker = threading.Thread(
        target=lambda: outcome.update(
            client.lambda_.invoke("worker", scheduled_event(client)).payload
        )
    )
    started = time.monotonic()
    worker.start()
    job_id = create(client, "math:add", 1, 1)  # while the worker listens
    worker.join()
    elapsed = time.monotonic() - started

    assert outcome["processed"] == 1
    assert get(client, job_id).json_body["res"] == 2
    budget_s = TEST_INVOCATION_S - RESERVE_S
    assert budget_s * 0.8 <= elapsed < TEST_INVOCATION_S


def test_worker_runs_due_future_jobs(client: Client) -> None:
    job_id = create(client, "math:add", 1, 1, delay_seconds=30)
    app.get_controller().clock = lambda: time.time() + 31

    client.lambda_.invoke("worker", scheduled_event(client))

    assert get(client, job_id).json_body["status"] == "COMPLETED"


def test_drain_budget_keeps_the_reserve() -> None:
    assert drain_budget_s(60.0) == 60.0 - RESERVE_S
    assert drain_budget_s(30.0) == 30.0 - RESERVE_S
    assert drain_budget_s(RESERVE_S + 0.1) == 0.0  # too short to be worth a drain
    assert drain_budget_s(0.0) == 0.0


def test_invocation_with_too_little_time_only_reports(
    redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    controller = build_controller({"JOBS_REDIS_URL": redis_url})
    controller.create_job("math:add", {"a": 1, "b": 2})

    result = run_worker(controller, FakeContext(remaining_ms=1000), service="test")

    assert result["processed"] == 0
    (line,) = emf_lines(capsys.readouterr().out)
    assert line["PendingJobs"] == 1
    assert line["OldestPendingAgeSeconds"] >= 0


def test_worker_without_redis_still_logs_its_metrics_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    controller = build_controller({"JOBS_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"})

    result = run_worker(controller, FakeContext(remaining_ms=3000), service="test")

    assert result == {"processed": 0, "failed": 0, "budget_s": 0.5, "stats": 0}
    (line,) = emf_lines(capsys.readouterr().out)
    assert line["JobsProcessed"] == 0
    assert "PendingJobs" not in line


def test_emf_record_is_valid_embedded_metric_format() -> None:
    stats = [
        QueueStats("default", 1, 2, 3, 4, 5, 6, 100, 9, 12.5),
        QueueStats("high", 0, 1, 0, 0, 0, 1, 10, 0, 30.25),
    ]

    record = emf_record(
        stats, service="svc", processed=7, failed=2, drain_s=1.5, timestamp_ms=1700000000000
    )

    (directive,) = record["_aws"]["CloudWatchMetrics"]
    assert record["_aws"]["Timestamp"] == 1700000000000
    assert directive["Namespace"] == "ChaliceJobs"
    assert directive["Dimensions"] == [["Service"]]
    names = {metric["Name"] for metric in directive["Metrics"]}
    assert all(name in record for name in names)  # every declared metric has its value
    assert record["Service"] == "svc"
    assert (record["ActiveJobs"], record["PendingJobs"], record["FutureJobs"]) == (1, 3, 3)
    assert (record["RetryingJobs"], record["FailedJobs"], record["CompletedJobs"]) == (4, 5, 7)
    assert (record["JobsProcessed"], record["JobsFailed"]) == (7, 2)
    assert record["OldestPendingAgeSeconds"] == 30.25
    assert record["queues"]["high"]["pending"] == 1
    json.dumps(record, allow_nan=False)


def test_latency_percentiles_are_nearest_rank_and_absent_without_samples() -> None:
    latencies = Latencies()
    assert latencies.percentiles() == {}
    latencies.runs_s = [i / 100 for i in range(100, 0, -1)]  # 0.01 .. 1.00, unsorted
    latencies.waits_s = [5.0]
    assert latencies.percentiles() == {
        "WaitP50Seconds": 5.0, "WaitP99Seconds": 5.0, "RunP50Seconds": 0.5, "RunP99Seconds": 0.99
    }  # fmt: skip
    record = emf_record(
        [], service="s", processed=1, failed=0, drain_s=1.0, latencies={"RunP99Seconds": 0.99}
    )
    assert record["RunP99Seconds"] == 0.99
    assert {"Name": "RunP99Seconds", "Unit": "Seconds"} in record["_aws"]["CloudWatchMetrics"][0][
        "Metrics"
    ]


def test_emf_record_leaves_out_the_age_when_nothing_is_pending() -> None:
    stats = [QueueStats("default", 0, 0, 0, 0, 0, 0, 0, 0, None)]

    record = emf_record(stats, service="svc", processed=0, failed=0, drain_s=0.0)

    assert "OldestPendingAgeSeconds" not in record
    declared = {m["Name"] for m in record["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert "OldestPendingAgeSeconds" not in declared


def test_worker_takes_no_job_it_could_not_run_to_its_timeout(redis_url: str) -> None:
    controller = build_controller({"JOBS_REDIS_URL": redis_url, "JOBS_TIMEOUT_S": "1.0"})
    first = controller.create_job("math:multiply", {"a": 2, "b": 3})
    late: list[str] = []

    def enqueue_late() -> None:
        time.sleep(1.0)  # a 1 s job can start only in the first 0.5 s of this 1.5 s drain
        late.append(controller.create_job("math:multiply", {"a": 3, "b": 3}))

    thread = threading.Thread(target=enqueue_late)
    thread.start()
    summary = run_worker(controller, FakeContext(remaining_ms=(RESERVE_S + 1.5) * 1000))
    thread.join()
    assert summary["processed"] == 1
    assert controller.get_status(first).result == 6
    assert controller.get_status(late[0]).status == "PENDING"


# -- idle exit: with the kick configured, a quiet worker stops early --------------------------

#: the kick is configured but never called here: jobs are created by a controller without it
KICKED_ENV = {
    "JOBS_KICK_FUNCTION": "chalice-jobs-test-worker_kick",
    "JOBS_KICK_DEBOUNCE_S": "0.5",
    "JOBS_IDLE_EXIT_S": "1",
    "JOBS_TIMEOUT_S": "1",
}
#: an invocation with 6 s to take jobs: reserve, then one job timeout kept for the last jobs
IDLE_TEST_CONTEXT_MS = (RESERVE_S + 1 + 6) * 1000


def test_with_the_kick_an_empty_queue_ends_the_worker_after_the_idle_time(
    redis_url: str,
) -> None:
    env = {"JOBS_REDIS_URL": redis_url, **KICKED_ENV}
    controller = build_controller(env)

    started = time.monotonic()
    summary = run_worker(
        controller, FakeContext(IDLE_TEST_CONTEXT_MS), idle_exit_s=idle_exit_s(env)
    )
    elapsed = time.monotonic() - started

    assert summary["processed"] == 0
    assert 1.0 <= elapsed < 5  # one idle slice, not the 6 s of its budget


def test_without_the_kick_an_empty_queue_keeps_the_worker_for_its_budget(
    redis_url: str,
) -> None:
    env = {"JOBS_REDIS_URL": redis_url, **KICKED_ENV}
    del env["JOBS_KICK_FUNCTION"]
    controller = build_controller(env)

    started = time.monotonic()
    summary = run_worker(
        controller, FakeContext(IDLE_TEST_CONTEXT_MS), idle_exit_s=idle_exit_s(env)
    )
    elapsed = time.monotonic() - started

    assert summary["processed"] == 0
    assert elapsed >= 6.0


def test_with_the_kick_jobs_arriving_keep_the_worker_going(redis_url: str) -> None:
    env = {"JOBS_REDIS_URL": redis_url, **KICKED_ENV}
    controller = build_controller(env)
    producer = build_controller({"JOBS_REDIS_URL": redis_url})  # no kick: no boto3 call
    ids: list[str] = []

    def enqueue_for_3_s() -> None:
        for n in range(6):
            ids.append(producer.create_job("math:add", {"a": n, "b": 1}))
            time.sleep(0.5)

    thread = threading.Thread(target=enqueue_for_3_s)
    started = time.monotonic()
    thread.start()
    # 12 s to take jobs, so that stopping early is told from the budget's end with room to spare
    context = FakeContext((RESERVE_S + 1 + 12) * 1000)
    summary = run_worker(controller, context, idle_exit_s=idle_exit_s(env))
    elapsed = time.monotonic() - started
    thread.join()

    assert summary["processed"] == 6
    assert [producer.get_status(job_id).result for job_id in ids] == [1, 2, 3, 4, 5, 6]
    assert 3.0 <= elapsed < 9.0  # past the last job, then one idle slice; not the 12 s


def test_idle_exit_needs_the_kick_and_defaults_to_the_debounce() -> None:
    kick = {"JOBS_KICK_FUNCTION": "worker_kick"}
    assert idle_exit_s({}) == 0.0
    assert idle_exit_s({"JOBS_IDLE_EXIT_S": "30"}) == 0.0  # nothing would start the next one
    assert idle_exit_s(kick) == DEFAULT_IDLE_EXIT_S == DEFAULT_KICK_DEBOUNCE_S
    assert idle_exit_s({**kick, "JOBS_IDLE_EXIT_S": "0"}) == 0.0
    assert idle_exit_s({**kick, "JOBS_IDLE_EXIT_S": "40"}) == 40.0
    # below the debounce, a kicked worker could leave before the jobs it was kicked for arrive
    assert idle_exit_s({**kick, "JOBS_IDLE_EXIT_S": "3"}) == DEFAULT_KICK_DEBOUNCE_S
    assert idle_exit_s({**kick, "JOBS_IDLE_EXIT_S": "3", "JOBS_KICK_DEBOUNCE_S": "2"}) == 3.0
    for bad in ("-1", "soon", "nan"):
        with pytest.raises(InvalidSettings, match="JOBS_IDLE_EXIT_S"):
            idle_exit_s({**kick, "JOBS_IDLE_EXIT_S": bad})
