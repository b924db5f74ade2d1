"""Round trips are counted like money: each write to a Redis socket is counted at the client."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import redis.connection

from chalicelib.jobs import JobController, JobResult


class RoundTrips:
    def __init__(self) -> None:
        self.count = 0


@pytest.fixture
def round_trips(monkeypatch: pytest.MonkeyPatch) -> Iterator[RoundTrips]:
    """Counts every request sent to Redis (a pipeline's commands go out as one) by this test's
    thread and the threads it starts; workers left waiting by earlier tests do not count."""
    counter = RoundTrips()
    send = redis.connection.Connection.send_packed_command
    earlier = {t.ident for t in threading.enumerate()} - {threading.get_ident()}

    def counting_send(self: redis.connection.Connection, *args: object, **kwargs: object) -> None:
        if threading.get_ident() not in earlier:
            counter.count += 1
        send(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(redis.connection.Connection, "send_packed_command", counting_send)
    yield counter


def make(redis_url: str) -> JobController:
    c = JobController(redis_url)
    c.add_handler("test:ok", lambda p: JobResult(True, res=p["n"]))
    return c


def test_create_job_and_get_status_are_one_round_trip_each(
    any_redis_url: str, round_trips: RoundTrips
) -> None:
    c = make(any_redis_url)
    c.create_job("test:ok", {"n": 0})  # the first one also connects and loads the scripts
    before = round_trips.count
    job_id = c.create_job("test:ok", {"n": 1})
    assert round_trips.count - before == 1
    c.get_status(job_id)
    assert round_trips.count - before == 2


def test_bulk_create_is_one_round_trip_for_many_jobs(
    any_redis_url: str, round_trips: RoundTrips
) -> None:
    c = make(any_redis_url)
    c.create_job("test:ok", {"n": 0})
    before = round_trips.count
    c.create_jobs([("test:ok", {"n": n}) for n in range(500)])
    assert round_trips.count - before == 1


def test_a_drain_costs_at_most_a_tenth_of_a_round_trip_per_job(
    any_redis_url: str, round_trips: RoundTrips
) -> None:
    c = make(any_redis_url)
    c.create_jobs([("test:ok", {"n": n}) for n in range(2000)])
    before = round_trips.count
    processed = 0
    while processed < 2000:
        processed += c.drain(0.5)
    spent = round_trips.count - before
    assert spent <= 2000 * 0.1, f"{spent} round trips for 2,000 jobs"


def test_a_weighted_drain_over_three_queues_costs_at_most_a_fiftieth_per_job(
    any_redis_url: str, round_trips: RoundTrips
) -> None:
    """Each batch takes every queue's share in one round trip, and each flush writes every
    queue's outcomes in one. On a cluster, whose queues sit on three nodes, a pipeline is a
    send to each node, and each node's connections are set up as they are first used: there
    the bound is the single-queue drain's."""
    c = JobController(any_redis_url, queues={"critical": 6, "default": 3, "low": 1})
    c.add_handler("test:ok", lambda p: JobResult(True, res=p["n"]))
    # the worker connects, loads its scripts and makes its bounded clients: once per
    # process, not per job
    c.create_jobs([("test:ok", {"n": n}) for n in range(3)], queue="low")
    while c.drain(0.1) == 0:
        pass
    for queue in ("critical", "default", "low"):
        c.create_jobs([("test:ok", {"n": n}) for n in range(2000)], queue=queue)
    before = round_trips.count
    processed = 0
    while processed < 6000:
        processed += c.drain(0.5)
    spent = round_trips.count - before
    per_job = 0.1 if "cluster=true" in any_redis_url else 0.02
    assert spent <= 6000 * per_job, f"{spent} round trips for 6,000 jobs"
