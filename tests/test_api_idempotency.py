"""POST /maths under retries and a full store: Idempotency-Key, 409, 507."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest
import redis
from chalice.test import Client

from chalicelib.jobs import JobController
from local.parts.redis_server import LOOPBACK, RedisServer, start_replica
from tests.api_helpers import dev_client, post_json, use_redis

JSON = {"content-type": "application/json"}
BODY = {"op": "math:add", "a": 1, "b": 2}


def test_a_replayed_post_answers_the_same_job_and_says_so(client: Client, redis_url: str) -> None:
    first = post_json(client, BODY, {**JSON, "Idempotency-Key": "order-1"})
    again = post_json(client, BODY, {**JSON, "Idempotency-Key": "order-1"})

    assert first.status_code == again.status_code == 202
    assert again.json_body == first.json_body
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert JobController(redis_url).queue_stats()[0].pending == 1


def test_the_same_key_with_another_body_is_a_409(client: Client) -> None:
    first = post_json(client, BODY, {**JSON, "Idempotency-Key": "order-2"})
    other = post_json(client, {**BODY, "b": 3}, {**JSON, "Idempotency-Key": "order-2"})

    assert first.status_code == 202
    assert other.status_code == 409
    assert other.json_body["success"] is False
    assert "already used by a job with other params" in other.json_body["error"]


@pytest.mark.parametrize("key", ["", "k" * 256, "caf\u00e9"])
def test_a_malformed_key_is_a_400_that_echoes_at_most_100_characters(
    client: Client, key: str
) -> None:
    response = post_json(client, BODY, {**JSON, "Idempotency-Key": key})

    assert response.status_code == 400
    assert "idempotency key" in response.json_body["error"]
    assert len(response.json_body["error"]) < 250


@pytest.fixture
def full_client(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Client, redis.Redis]]:
    with RedisServer(extra_args=["--maxmemory-policy", "noeviction"]) as server:
        use_redis(monkeypatch, server.url)
        admin = redis.Redis(host=LOOPBACK, port=server.port)
        with dev_client() as test_client:
            yield test_client, admin


def test_a_full_store_is_a_507_not_a_503(full_client: tuple[Client, redis.Redis]) -> None:
    client, admin = full_client
    assert post_json(client, BODY).status_code == 202
    admin.config_set("maxmemory", int(admin.info("memory")["used_memory"]) - 1024)

    response = post_json(client, BODY)

    assert response.status_code == 507
    assert "Retry-After" not in response.headers
    assert "full" in response.json_body["error"]
    port = admin.connection_pool.connection_kwargs["port"]
    assert JobController(f"redis://{LOOPBACK}:{port}").queue_stats()[0].pending == 1


@pytest.fixture
def replicated_client(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Client, RedisServer]]:
    """The app with JOBS_MIN_REPLICAS=1 on a master whose one replica the test may stop."""
    with RedisServer() as master:
        replica = start_replica(master)
        try:
            use_redis(monkeypatch, master.url, JOBS_MIN_REPLICAS="1", JOBS_REPLICA_WAIT_MS="200")
            with dev_client() as test_client:
                yield test_client, replica
        finally:
            assert replica.process is not None
            os.kill(replica.process.pid, signal.SIGCONT)
            replica.stop()


def test_a_create_no_replica_confirmed_is_a_503_to_retry_with_the_same_key(
    replicated_client: tuple[Client, RedisServer],
) -> None:
    client, replica = replicated_client
    assert post_json(client, BODY, JSON).status_code == 202
    assert replica.process is not None
    os.kill(replica.process.pid, signal.SIGSTOP)
    try:
        stalled = post_json(client, BODY, {**JSON, "Idempotency-Key": "order-3"})
    finally:
        os.kill(replica.process.pid, signal.SIGCONT)
    retried = post_json(client, BODY, {**JSON, "Idempotency-Key": "order-3"})

    assert stalled.status_code == 503
    assert "retry with the same Idempotency-Key" in stalled.json_body["error"]
    assert retried.status_code == 202
    assert retried.headers["Idempotent-Replayed"] == "true"
