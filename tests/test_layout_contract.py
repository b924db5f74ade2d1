"""The Redis layout contract: the exact keys each step leaves, and the shape of a record and of an
in-flight entry. Every other test asserts behaviour; this file is where the layout is pinned, so
that it changes in one place (docs/architecture.md describes it)."""

from __future__ import annotations

import json
import time
import uuid

import pytest
import redis

from chalicelib.jobs import JobController, JobResult, JobState
from chalicelib.jobs.client import fingerprint_of
from chalicelib.jobs.record import OUTCOME, TOKEN_KEPT, Outcome
from chalicelib.jobs.store import AttemptOutcome
from tests.jobs_helpers import all_keys, traces_client

Q = "jobs:{default}:"
#: a queue's first jobs also mark it as in this layout: stats `layout` (store/legacy.py)
BASE = {"jobs:queues", Q + "job", Q + "stats"}


def make(redis_url: str, **settings: object) -> JobController:
    c = JobController(redis_url, **settings)  # type: ignore[arg-type]
    c.add_handler("test:ok", lambda p: JobResult(True, res=p.get("n")))
    c.add_handler("test:refuse", lambda p: JobResult(False, "no"))
    c.add_handler("test:raise", lambda p: 1 / 0)
    return c


def keys_but_wake(redis_url: str) -> set[str]:
    """The keys left, but the wake list (whether a token is left in it depends on timing)."""
    return all_keys(redis_url) - {Q + "wake"}


def test_create_dequeue_finish_leave_exactly_these_keys(any_redis_url: str) -> None:
    c = make(any_redis_url)
    c.create_job("test:ok", {"n": 1})
    assert all_keys(any_redis_url) == BASE | {Q + "pending", Q + "wake"}
    c.create_job("test:ok", {"n": 2}, process_in=3600)
    assert all_keys(any_redis_url) == BASE | {Q + "pending", Q + "scheduled", Q + "wake"}
    now = time.time()
    [job] = c.store.dequeue("default", 5, now, now + 60, "t").jobs
    assert keys_but_wake(any_redis_url) == BASE | {Q + "scheduled", Q + "lease", Q + "active"}
    assert traces_client(any_redis_url).hkeys(Q + "stats") == [b"layout"]
    assert c.store.requeue("default", "t", [job.job_id]) == 1
    assert keys_but_wake(any_redis_url) == BASE | {Q + "pending", Q + "scheduled"}
    assert c.drain(0.2) == 1
    assert keys_but_wake(any_redis_url) == BASE | {Q + "scheduled", Q + "results"}


def test_retry_and_fail_leave_exactly_these_keys(any_redis_url: str) -> None:
    c = make(any_redis_url, backoff=60)
    c.create_job("test:raise", {})
    assert c.drain(0.2) == 1
    assert keys_but_wake(any_redis_url) == BASE | {Q + "retry"}
    c.create_job("test:refuse", {})
    assert c.drain(0.2) == 1
    assert keys_but_wake(any_redis_url) == BASE | {Q + "retry", Q + "failed"}


def test_a_cancel_and_a_delete_leave_exactly_these_keys(any_redis_url: str) -> None:
    c = make(any_redis_url)
    pending = c.create_job("test:ok", {})
    c.cancel(pending)
    assert keys_but_wake(any_redis_url) == BASE | {Q + "failed"}
    c.inspector.delete(pending)
    assert keys_but_wake(any_redis_url) == {"jobs:queues", Q + "stats"}
    active = c.create_job("test:ok", {})
    now = time.time()
    c.store.dequeue("default", 1, now, now + 60, "t")
    c.cancel(active)  # asked while ACTIVE: marked in its in-flight entry
    assert keys_but_wake(any_redis_url) == BASE | {Q + "lease", Q + "active"}
    c.store.requeue("default", "t", [active])  # handed back: a token-less entry keeps the mark
    entry = traces_client(any_redis_url).hget(Q + "active", active)
    assert entry is not None and entry.decode().split("|")[0::3] == ["", "1"]
    assert c.drain(0.2) == 1
    assert c.get_status(active).cancelled
    assert keys_but_wake(any_redis_url) == BASE | {Q + "failed"}


def test_a_wait_leaves_no_waiter_entry_behind(any_redis_url: str) -> None:
    c = make(any_redis_url)
    job_id = c.create_job("test:ok", {"n": 1})
    assert c.wait(job_id, 0.2).state is JobState.PENDING  # timed out: deregistered
    assert keys_but_wake(any_redis_url) == BASE | {Q + "pending"}
    c.start()
    try:
        done = c.create_job("test:refuse", {})
        assert c.wait(done, 10).state is JobState.FAILED
    finally:
        c.stop()
    assert not any(":waiting" in k or ":done:" in k for k in all_keys(any_redis_url))


def test_unique_and_idempotency_keys(any_redis_url: str) -> None:
    c = make(any_redis_url)
    lock = Q + "unique:" + fingerprint_of("test:ok", {"n": 1})
    c.create_job("test:ok", {"n": 1}, unique_for=60)
    assert all_keys(any_redis_url) == BASE | {Q + "pending", Q + "wake", lock}
    assert c.drain(0.2) == 1
    # the lock stays until unique_for: a lock whose job ended holds nothing (enqueue reads it)
    assert lock in all_keys(any_redis_url)
    c.create_job("test:ok", {"n": 1}, unique_for=60)
    c.create_job("test:ok", {"n": 5}, idempotency_key="k")
    idem = {k for k in all_keys(any_redis_url) if k.startswith(Q + "idem:")}
    assert len(idem) == 1


def test_an_ended_callback_job_waits_in_the_outbox(any_redis_url: str) -> None:
    c = make(any_redis_url, callback_secret="s", callback_allow_private=True)
    job_id = c.create_job("test:ok", {"n": 1}, callback_url="http://127.0.0.1:9/done")
    now = time.time()
    [job] = c.store.dequeue("default", 1, now, now + 60, "t").jobs
    done = AttemptOutcome(job.job_id, "t", Outcome.DONE, "1")
    assert c.store.finish("default", [done], now, 60, "2026-01-01") == [JobState.COMPLETED]
    assert keys_but_wake(any_redis_url) == BASE | {Q + "results", Q + "outbox"}
    assert c.store.outbox("default", 10)[0][0] == job_id
    assert c.store.forwarded("default", [(job_id, "", "callbacks@x")]) == 1
    assert Q + "outbox" not in all_keys(any_redis_url)


def test_trim_leaves_only_the_counters(any_redis_url: str) -> None:
    c = make(any_redis_url, retention=0.2, failed_retention=0.2)
    c.create_jobs([("test:ok", {"n": 1}), ("test:refuse", {})])
    assert c.drain(0.2) == 2
    c._worker_side().maintain(time.time() + 61)  # noqa: SLF001 - a trim, without waiting
    assert keys_but_wake(any_redis_url) == {"jobs:queues", Q + "stats"}


def test_every_queue_key_shares_the_queue_hash_tag(any_redis_url: str) -> None:
    c = make(any_redis_url, queues=("default", "reports"))
    c.create_job("test:ok", {}, queue="reports")
    c.create_job("test:refuse", {}, queue="reports")
    c.drain(0.2)
    keys = all_keys(any_redis_url) - {"jobs:queues"}
    assert keys and all(k.startswith("jobs:{reports}:") for k in keys)


def test_a_record_is_lines_of_short_keys_written_at_create_and_when_settled(
    redis_url: str,
) -> None:
    c = make(redis_url)
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    job_id = c.create_job("test:ok", {"n": 1})
    created = client.hget(Q + "job", job_id)
    assert created is not None
    state, header = created[0], json.loads(created[1:].split("\n")[0])
    assert (state, created.split("\n")[1]) == (str(int(JobState.PENDING)), '{"n":1}')
    assert set(header) == {"t", "c"}  # type; created, Unix ms; defaults left out
    now = time.time()
    token = uuid.uuid4().hex
    c.store.dequeue("default", 1, now, now + 60, token)
    assert client.hget(Q + "job", job_id) == created, "dequeue does not touch the record"
    entry = client.hget(Q + "active", job_id)
    assert entry is not None and entry.split("|")[0] == token and entry.endswith("|||")
    c.store.extend("default", {token: [(job_id, True)]}, now + 60, now)
    assert client.hget(Q + "job", job_id) == created, "nor does a lease extension"
    done = AttemptOutcome(job_id, token, Outcome.DONE, "1")
    c.store.finish("default", [done], now + 1, 60, "2026-01-01")
    lines = client.hget(Q + "job", job_id).split("\n")  # type: ignore[union-attr]
    assert lines[0] == str(int(JobState.COMPLETED)) + created[1:].split("\n")[0]
    outcome = json.loads(lines[2])
    # a result kept 60 s, not the default 24 h, says so; started_at is left out when equal
    assert set(outcome) == {OUTCOME[n] for n in ("token", "started_at", "completed_at",
                                                  "kept_ms")}  # fmt: skip
    assert outcome[OUTCOME["token"]] == token[:TOKEN_KEPT] and lines[3] == "1"
    assert client.hget(Q + "active", job_id) is None


@pytest.mark.parametrize("field", ["id", "queue", "state", "params"])
def test_a_record_does_not_repeat_what_its_place_says(redis_url: str, field: str) -> None:
    c = make(redis_url)
    job_id = c.create_job("test:ok", {"n": 1})
    raw = redis.Redis.from_url(redis_url, decode_responses=True).hget(Q + "job", job_id)
    assert raw is not None and f'"{field}"' not in raw
