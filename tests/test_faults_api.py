"""The API while its Redis is stopped, paused, killed or full: a 5xx the client can act on, in
JSON, quickly; never a 500, never a traceback. And a client that retries with its
Idempotency-Key through an outage makes one job."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable, Iterator

import pytest
from chalice.test import Client, HTTPResponse

from chalicelib.jobs.store import QueueKeys
from local.parts.redis_server import RedisServer
from tests.api_helpers import dev_client, post_json, use_redis
from tests.faults import admin, signal_server
from tests.test_faults_redis import fill

BODY = {"op": "math:add", "a": 1, "b": 2}
#: a request meets a hung Redis for at most about two seconds (the command timeout)
ANSWER_WITHIN_S = 3.0


@pytest.fixture
def client(queue_server: RedisServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    use_redis(monkeypatch, queue_server.url)
    with dev_client() as test_client:
        yield test_client


def stop(server: RedisServer) -> None:
    signal_server(server, signal.SIGSTOP)


def pause(server: RedisServer) -> None:
    admin(server).execute_command("CLIENT", "PAUSE", 20_000, "WRITE")


def kill(server: RedisServer) -> None:
    server.kill()


def make_full(server: RedisServer) -> None:
    fill(server, headroom_bytes=-1024)  # already over: the very next write is refused


#: fault -> (how to cause it, POST status, GET status)
FAULTS: dict[str, tuple[Callable[[RedisServer], None], int, int]] = {
    "stopped": (stop, 503, 503),
    "paused": (pause, 503, 200),
    "killed": (kill, 503, 503),
    "full": (make_full, 507, 200),
}


def timed(call: Callable[[], HTTPResponse]) -> tuple[HTTPResponse, float]:
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def assert_clean(response: HTTPResponse) -> dict:
    assert response.status_code != 500
    assert b"Traceback" not in response.body and b'File "' not in response.body
    body = json.loads(response.body)
    assert isinstance(body, dict)
    return body


@pytest.mark.parametrize("fault", FAULTS)
def test_api_answers_each_redis_fault_in_json_never_500(
    fault: str, client: Client, queue_server: RedisServer
) -> None:
    job_id = post_json(client, BODY).json_body["res"]
    cause, post_status, get_status = FAULTS[fault]
    try:
        cause(queue_server)
        posted, post_s = timed(lambda: post_json(client, BODY))
        got, get_s = timed(lambda: client.http.get(f"/maths/{job_id}"))
    finally:
        if fault == "paused":
            admin(queue_server).execute_command("CLIENT", "UNPAUSE")
    body = assert_clean(posted)
    assert (posted.status_code, body["success"]) == (post_status, False), posted.body
    assert isinstance(body["error"], str) and body["error"], body
    assert_clean(got)
    assert got.status_code == get_status, got.body
    assert max(post_s, get_s) <= ANSWER_WITHIN_S, (post_s, get_s)
    if post_status == 503:
        assert posted.headers.get("Retry-After") == "1"
    else:
        assert posted.headers.get("Retry-After") != "1", "a full store is not mended in a second"


def test_post_retried_with_its_idempotency_key_through_a_redis_stop_makes_one_job(
    client: Client, queue_server: RedisServer
) -> None:
    headers = {"content-type": "application/json", "Idempotency-Key": "order-17"}
    stop(queue_server)
    try:
        lost = post_json(client, BODY, headers)
    finally:
        signal_server(queue_server, signal.SIGCONT)
    assert lost.status_code == 503, lost.body
    first = post_json(client, BODY, headers)
    again = post_json(client, BODY, headers)
    assert first.status_code == again.status_code == 202, (first.body, again.body)
    assert again.json_body == first.json_body
    assert again.headers.get("Idempotent-Replayed") == "true"
    other = post_json(client, {**BODY, "b": 3}, headers)
    assert other.status_code == 409, other.body
    assert_clean(other)
    assert admin(queue_server).hlen(QueueKeys.of("jobs", "default").job) == 1
