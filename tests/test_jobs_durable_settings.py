"""Durable accept's settings: bad values are refused with a clear error; a server that cannot
give what is asked (no replica, no WAITAOF, no append-only file) is refused at first use,
naming the setting; a durable create, a batch and an idempotent replay each answer normally."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from chalicelib.jobs import InvalidSettings, JobController
from chalicelib.jobs.config import settings_from_env
from local.parts.redis_server import RedisServer, start_replica
from tests.durable_helpers import make_controller


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("JOBS_MIN_REPLICAS", "-1"),
        ("JOBS_MIN_REPLICAS", "two"),
        ("JOBS_MIN_REPLICAS", "17"),
        ("JOBS_REPLICA_WAIT_MS", "0"),
        ("JOBS_REPLICA_WAIT_MS", "0.5"),
    ],
)
def test_bad_durability_values_are_refused(variable: str, value: str) -> None:
    with pytest.raises(InvalidSettings, match=r"JOBS_|min_replicas|replica_wait_ms"):
        settings_from_env({variable: value})


def test_durability_settings_come_from_the_environment() -> None:
    env = {"JOBS_MIN_REPLICAS": "1", "JOBS_REPLICA_WAIT_MS": "250", "JOBS_DURABLE_AOF": "1"}
    settings = settings_from_env(env)
    assert (settings.min_replicas, settings.replica_wait_ms, settings.durable_aof) == (1, 250, True)
    assert settings_from_env({}).min_replicas == 0


def test_more_replicas_than_the_server_has_is_refused_naming_the_setting(redis_url: str) -> None:
    controller = make_controller(redis_url, min_replicas=1)
    with pytest.raises(InvalidSettings, match="JOBS_MIN_REPLICAS=1.*0 connected replica"):
        controller.create_job("noop", {})


@pytest.fixture
def master_url() -> Iterator[str]:
    master = RedisServer().start()
    replica = start_replica(master)
    yield master.url
    replica.stop()
    master.stop()


def test_durable_creates_and_replays_answer_once_the_replica_has_them(master_url: str) -> None:
    controller = make_controller(master_url, min_replicas=1)
    first = controller.create_job("noop", {"a": 1}, idempotency_key="k1")
    assert controller.create_job("noop", {"a": 1}, idempotency_key="k1") == first
    ids = controller.create_jobs([("noop", {"i": i}) for i in range(10)])
    assert len(ids) == 10
    with pytest.raises(InvalidSettings, match="JOBS_MIN_REPLICAS=2"):
        make_controller(master_url, min_replicas=2).create_job("noop", {})


def _has_waitaof(url: str) -> bool:
    try:
        redis.Redis.from_url(url).execute_command("WAITAOF", 0, 0, 1)
    except redis.ResponseError as exc:
        return "unknown command" not in str(exc).lower()
    return True


def test_durable_aof_waits_for_the_fsync_or_is_refused(redis_url: str, tmp_path: str) -> None:
    """Redis 7.2+/Valkey: a create waits for the local fsync, and a server without an append-only
    file is refused; Redis before 7.2 (no WAITAOF) is refused, naming the setting."""
    if not _has_waitaof(redis_url):
        with pytest.raises(InvalidSettings, match="JOBS_DURABLE_AOF"):
            make_controller(redis_url, durable_aof=True).create_job("noop", {})
        return
    with pytest.raises(InvalidSettings, match="JOBS_DURABLE_AOF.*appendonly"):
        make_controller(redis_url, durable_aof=True).create_job("noop", {})
    with RedisServer(appendonly=True, data_dir=f"{tmp_path}/aof") as server:
        controller = make_controller(server.url, durable_aof=True)
        job_id = controller.create_job("noop", {})
        assert JobController(server.url).get_status(job_id).state.name == "PENDING"
