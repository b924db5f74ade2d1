"""Jobs written by the layout before records were written once (one JSON object per job, changed
in place at every step; COMPLETED ids in a `completed` ZSET) keep working: they are reported as
they were, and a worker of this version converts the queue, recovers, runs and completes them.
The records below are written exactly as that version's scripts left them."""

from __future__ import annotations

import json
import time

import pytest

from chalicelib.jobs import JobController, JobResult, JobState
from chalicelib.jobs.record import compact_json
from tests.jobs_helpers import traces_client

Q = "jobs:{default}:"


def old_record(job_id: str, state: JobState, created: float, **fields: object) -> str:
    """A record as the old enqueue (Python's json) and scripts (cjson) wrote it."""
    record: dict[str, object] = {
        "id": job_id, "type": "test:ok", "queue": "default", "params": json.dumps({"n": job_id}),
        "state": int(state), "max_retry": 3, "timeout": 30.0, "retried": 0,
        "created_at": created, "pending_since": created,
    }  # fmt: skip
    record.update(fields)
    return compact_json(record)


def write_old_queue(redis_url: str, now: float) -> dict[str, str]:
    """One job in each state, as the old layout held them; returns their ids by name."""
    ids = {name: f"default@00000000-0000-4000-8000-00000000000{n}" for n, name in enumerate(
        ["pending", "started", "unstarted", "future", "retrying", "failed", "completed"]
    )}  # fmt: skip
    t = now - 100
    client = traces_client(redis_url)
    records = {
        ids["pending"]: old_record(ids["pending"], JobState.PENDING, t),
        # ACTIVE under a lease that expired: its worker died after the start was recorded...
        ids["started"]: old_record(ids["started"], JobState.ACTIVE, t, token="a" * 32,
                                   leased_at=t + 1, started_at=t + 1.5,
                                   progress='{"fraction":0.5}'),
        # ...and before it was
        ids["unstarted"]: old_record(ids["unstarted"], JobState.ACTIVE, t, token="b" * 32,
                                     leased_at=t + 1),
        ids["future"]: old_record(ids["future"], JobState.FUTURE, t, next_run_at=now - 1),
        ids["retrying"]: old_record(ids["retrying"], JobState.RETRYING, t, retried=1,
                                    next_run_at=now - 1, error="boom", errors=["boom"]),
        ids["failed"]: old_record(ids["failed"], JobState.FAILED, t, error="no", errors=["no"],
                                  completed_at=t + 2, token="c" * 32),
        ids["completed"]: old_record(ids["completed"], JobState.COMPLETED, t, result="41",
                                     completed_at=t + 3, expires_at=t + 3 + 3600,
                                     token="d" * 32, started_at=t + 2.5),
    }  # fmt: skip
    client.hset(Q + "job", mapping=records)  # type: ignore[arg-type]
    client.rpush(Q + "pending", ids["pending"])
    client.zadd(Q + "lease", {ids["started"]: now - 5, ids["unstarted"]: now - 5})
    client.zadd(Q + "scheduled", {ids["future"]: now - 1})
    client.zadd(Q + "retry", {ids["retrying"]: now - 1})
    client.zadd(Q + "failed", {ids["failed"]: t + 2})
    client.zadd(Q + "completed", {ids["completed"]: t + 3 + 3600})
    client.hset(Q + "stats", mapping={"processed": 3, "failed": 2})
    client.sadd("jobs:queues", "default")
    return ids


def make(redis_url: str) -> JobController:
    c = JobController(redis_url, backoff=0.01)
    c.add_handler("test:ok", lambda p: JobResult(True, res=p["n"]))
    return c


def test_old_records_are_reported_as_they_were(any_redis_url: str) -> None:
    now = time.time()
    ids = write_old_queue(any_redis_url, now)
    c = make(any_redis_url)
    states = {name: c.get_status(job_id).state for name, job_id in ids.items()}
    assert states == {
        "pending": JobState.PENDING, "started": JobState.ACTIVE, "unstarted": JobState.ACTIVE,
        "future": JobState.FUTURE, "retrying": JobState.RETRYING, "failed": JobState.FAILED,
        "completed": JobState.COMPLETED,
    }  # fmt: skip
    assert c.get_status(ids["started"]).progress == {"fraction": 0.5}
    assert c.get_status(ids["completed"]).result == 41
    assert c.get_status(ids["failed"]).error == "no"
    retrying = c.inspector.job(ids["retrying"])
    assert (retrying.retried, retrying.errors) == (1, ["boom"])
    assert c.inspector.job(ids["started"]).started_at == pytest.approx(now - 98.5, abs=0.01)
    counts = c.inspector.queues()[0].counts
    assert (counts["ACTIVE"], counts["PENDING"], counts["FAILED"]) == (2, 1, 1)


def test_a_worker_converts_recovers_runs_and_completes_old_jobs(any_redis_url: str) -> None:
    now = time.time()
    ids = write_old_queue(any_redis_url, now)
    c = make(any_redis_url)
    done = 0
    for _ in range(20):
        done += c.drain(0.3)
        if all(c.get_status(ids[n]).finished for n in ids):
            break
    statuses = {name: c.get_status(job_id) for name, job_id in ids.items()}
    for name in ("pending", "started", "unstarted", "future", "retrying"):
        assert (statuses[name].state, statuses[name].result) == (JobState.COMPLETED, ids[name])
    assert statuses["started"].retried == 1, "its started attempt was charged"
    assert statuses["started"].error is None
    assert c.inspector.job(ids["started"]).errors[0].startswith("lease expired")
    assert statuses["unstarted"].retried == 0, "its unstarted attempt was not"
    assert statuses["retrying"].retried == 1
    assert (statuses["completed"].result, statuses["failed"].error) == (41, "no")
    page = c.inspector.jobs("default", "COMPLETED", limit=50).jobs
    assert {j.job_id for j in page} == {ids[n] for n in ids if n != "failed"}
    assert traces_client(any_redis_url).exists(Q + "completed") == 0, "the old ZSET is gone"
    c._worker_side().maintain(now + 3600 * 48)  # noqa: SLF001 - past every retention
    assert c.queue_stats()[0].completed == 0


def test_an_api_cancel_of_an_old_job_converts_the_queue_first(any_redis_url: str) -> None:
    now = time.time()
    ids = write_old_queue(any_redis_url, now)
    c = make(any_redis_url)
    status = c.cancel(ids["future"])
    assert (status.state, status.cancelled) == (JobState.FAILED, True)
    assert c.cancel(ids["started"]).state is JobState.ACTIVE  # asked; its lease has expired
    assert c.inspector.retry(ids["failed"]) is None
    assert c.get_status(ids["failed"]).state is JobState.PENDING
