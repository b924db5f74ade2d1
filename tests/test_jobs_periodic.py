"""Periodic jobs: one job per tick whatever runs them, the latest missed tick only, and their
schedule shown by `python -m local status`."""

from __future__ import annotations

import math
import signal
import time

import pytest

from chalicelib.jobs import InvalidJob, JobController, JobResult, UnknownJobType
from chalicelib.jobs.periodic import PeriodicEntry
from chalicelib.jobs.record import Record
from chalicelib.jobs.store import QueueKeys
from local.commands.status import render_periodic
from tests.jobs_helpers import all_keys, settle, start_worker_process, traces_client


def periodic_jobs(redis_url: str, queue: str = "default") -> list[dict]:
    """The fields of every job a periodic entry made, by tick (read through the record module,
    which owns the record's encoding)."""
    raw = traces_client(redis_url).hvals(QueueKeys.of("jobs", queue).job)
    records = [Record.decode(r).fields for r in raw]
    return sorted((r for r in records if "periodic" in r), key=lambda r: r["tick"])


def test_three_workers_enqueue_each_tick_once(any_redis_url: str) -> None:
    started = time.time()
    workers = [start_worker_process(any_redis_url, "--every", "1") for _ in range(3)]
    try:
        time.sleep(10)
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            worker.wait(timeout=20)
    stopped = time.time()
    ticks = [r["tick"] for r in periodic_jobs(any_redis_url)]
    assert len(ticks) == len(set(ticks)), "a tick was enqueued twice"
    assert ticks == [ticks[0] + i for i in range(len(ticks))], "a tick was lost"
    assert ticks[0] >= math.floor(started)
    assert 10 <= len(ticks) <= math.floor(stopped) - math.floor(started) + 1


def test_a_drain_enqueues_the_latest_tick_only_after_a_pause(any_redis_url: str) -> None:
    now = [1_800_000_030.0]
    c = JobController(any_redis_url, clock=lambda: now[0])
    c.add_handler("test:ok", lambda p: JobResult(True, res=p))
    c.add_periodic("test:ok", {"n": 1}, every=60)
    assert settle(c) == 1
    assert c.drain(0.2) == 0  # the same tick: nothing new
    now[0] += 600  # ten ticks missed: only the latest is enqueued
    assert settle(c) == 1
    ticks = [r["tick"] for r in periodic_jobs(any_redis_url)]
    assert ticks == [1_800_000_000.0, 1_800_000_600.0]
    [info] = c.periodic_info()
    assert (info["name"], info["schedule"], info["last_tick"], info["next_run_at"]) == (
        "test:ok", "every 60s", 1_800_000_600.0, 1_800_000_660.0,
    )  # fmt: skip


def test_cron_ticks_are_the_schedule_times_in_utc() -> None:
    entry = PeriodicEntry("e", "t", {}, "default", cron="*/15 * * * *")
    at = 1_800_000_000.0  # 2027-01-15 08:00:00 UTC, a multiple of 900 s
    assert entry.latest_tick(at) == at
    assert entry.latest_tick(at + 899) == at
    assert entry.next_tick(at) == at + 900
    assert entry.latest_tick(at - 1) == at - 900


def test_periodic_jobs_show_in_status(any_redis_url: str) -> None:
    c = JobController(any_redis_url)
    c.add_handler("report:daily", lambda p: JobResult(True))
    c.add_periodic("report:daily", {}, cron="0 6 * * *", queue="reports", name="daily")
    c.add_periodic("report:daily", {"short": True}, every=30, name="often")
    c.drain(0.1)
    text = render_periodic(c.periodic_info(), now=time.time())
    assert "daily" in text and "cron 0 6 * * *" in text and "reports" in text
    assert "often" in text and "every 30s" in text


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"every": 0}, "every"),
        ({"every": -5}, "every"),
        ({"cron": "not a cron"}, "cron"),
        ({"cron": "* * * *"}, "cron"),
        ({"cron": "61 * * * *"}, "cron"),
        ({}, "every= .* or cron="),
        ({"every": 5, "cron": "* * * * *"}, "every= .* or cron="),
        ({"every": 5, "queue": "a b"}, "queue"),
        ({"every": 5, "name": ""}, "name"),
    ],
)
def test_bad_periodic_options_are_refused_by_name(
    any_redis_url: str, options: dict, match: str
) -> None:
    c = JobController(any_redis_url)
    c.add_handler("test:ok", lambda p: JobResult(True))
    with pytest.raises(InvalidJob, match=match):
        c.add_periodic("test:ok", {}, **options)
    with pytest.raises(UnknownJobType):
        c.add_periodic("test:nope", {}, every=5)
    c.drain(0.05)
    assert all_keys(any_redis_url) == set()


def test_two_entries_with_one_name_are_refused(redis_url: str) -> None:
    c = JobController(redis_url)
    c.add_handler("test:ok", lambda p: JobResult(True))
    c.add_periodic("test:ok", {}, every=5)
    with pytest.raises(InvalidJob, match="named 'test:ok' exists"):
        c.add_periodic("test:ok", {"other": 1}, every=10)
