"""The HTTP contract through Chalice's test client: the sample requests, every op, every state a
client can see, and every bad input. Real redis-server; jobs are run by draining the app's
controller, as the worker Lambda does."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from chalice.test import Client

import app
from chalicelib.jobs import JobResult
from local.parts.redis_server import free_port
from tests.api_helpers import (
    SEED_BODY,
    SEED_HEADERS,
    create,
    dev_client,
    drain_until,
    get,
    post_json,
    use_redis,
)
from tests.jobs_helpers import settle

JOB_ID = re.compile(r"default@[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
UNKNOWN_ID = "default@2f1e6a52-3c1d-4b7a-9e55-0d6a3b8c9f10"


# -- the sample requests, verbatim ---------------------------------------------------------------


def test_seed_post_answers_202_with_the_job_id_and_its_location(client: Client) -> None:
    response = client.http.post("/maths", headers=SEED_HEADERS, body=SEED_BODY)

    assert response.status_code == 202
    assert response.json_body == {"success": True, "res": response.json_body["res"]}
    assert JOB_ID.fullmatch(response.json_body["res"])
    assert response.headers["Location"] == f"/maths/{response.json_body['res']}"


def test_seed_get_with_a_body_and_extra_headers_shows_the_result(client: Client) -> None:
    job_id = client.http.post("/maths", headers=SEED_HEADERS, body=SEED_BODY).json_body["res"]
    settle(app.get_controller())

    response = client.http.get(f"/maths/{job_id}", headers=SEED_HEADERS, body=SEED_BODY)

    assert response.status_code == 200
    assert response.json_body == {"state_code": 6, "status": "COMPLETED", "res": 6}
    assert b'"res":6' in response.body  # an integer, not 6.0


def test_percent_encoded_id_finds_the_same_job(client: Client) -> None:
    job_id = create(client, "math:add", 1, 2)

    response = client.http.get(f"/maths/{job_id.replace('@', '%40')}")

    assert response.status_code == 200
    assert response.json_body["status"] == "PENDING"


def test_location_header_leads_to_the_status(client: Client) -> None:
    response = post_json(client, {"op": "math:add", "a": 1, "b": 1})

    assert client.http.get(response.headers["Location"]).status_code == 200


# -- every op ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("op", "a", "b", "expected"),
    [
        ("math:add", 2, 3, b"5"),
        ("math:subtract", 2, 3, b"-1"),
        ("math:multiply", 2, 3, b"6"),
        ("math:divide", 7, 2, b"3.5"),
        ("math:divide", 6, 3, b"2"),
        ("math:add", 0.1, 0.2, b"0.3"),
        ("math:multiply", 2.5, 2, b"5"),
        ("math:divide", 1, 3, b"0.3333333333333333"),
        ("math:multiply", 2**63 - 1, 2**63 - 1, b"85070591730234615847396907784232501249"),
        ("math:subtract", -(2**63), 1, b"-9223372036854775809"),
        ("math:multiply", 1e300, 10, b"1e+301"),
    ],
)
def test_each_op_completes_with_an_exact_json_number(
    client: Client, op: str, a: Any, b: Any, expected: bytes
) -> None:
    job_id = create(client, op, a, b)

    drain_until(client, job_id, "COMPLETED")

    expected_body = b'{"state_code":6,"status":"COMPLETED","res":' + expected + b"}"
    assert get(client, job_id).body == expected_body


# -- every state a client can see --------------------------------------------------------------


def test_new_job_is_pending_with_no_result(client: Client) -> None:
    job_id = create(client, "math:add", 1, 2)

    assert get(client, job_id).json_body == {"state_code": 2, "status": "PENDING", "res": None}


def test_delayed_job_is_future_then_runs_when_due(client: Client) -> None:
    job_id = create(client, "math:add", 1, 2, delay_seconds=60)

    assert get(client, job_id).json_body == {"state_code": 3, "status": "FUTURE", "res": None}
    controller = app.get_controller()
    controller.clock = lambda: time.time() + 61  # a minute later
    assert drain_until(client, job_id, "COMPLETED")["res"] == 3


def test_zero_delay_is_pending(client: Client) -> None:
    job_id = create(client, "math:add", 1, 2, delay_seconds=0)

    assert get(client, job_id).json_body["status"] == "PENDING"


def test_running_job_is_active(client: Client) -> None:
    started, release = threading.Event(), threading.Event()

    def slow_multiply(params: dict[str, Any]) -> JobResult:
        started.set()
        release.wait(5)
        return JobResult(True, res=params["a"] * params["b"])

    controller = app.get_controller()
    controller.add_handler("math:multiply", slow_multiply)
    job_id = create(client, "math:multiply", 2, 3)
    drain = threading.Thread(target=controller.drain, args=(1.0,))
    drain.start()
    try:
        assert started.wait(5)
        assert get(client, job_id).json_body == {"state_code": 1, "status": "ACTIVE", "res": None}
    finally:
        release.set()
        drain.join()
    assert get(client, job_id).json_body["res"] == 6


def test_division_by_zero_fails_at_once_without_retries(client: Client) -> None:
    job_id = create(client, "math:divide", 1, 0)

    body = drain_until(client, job_id, "FAILED")

    assert body == {"state_code": 5, "status": "FAILED", "res": None, "error": "division by zero"}
    assert app.get_controller().get_status(job_id).retried == 0


def test_result_beyond_a_double_fails_with_a_clear_error(client: Client) -> None:
    job_id = create(client, "math:multiply", 1e308, 10.0)

    body = drain_until(client, job_id, "FAILED")

    assert "out of range" in body["error"]


def test_crashing_handler_shows_retrying_with_its_error(client: Client) -> None:
    def crash(params: dict[str, Any]) -> JobResult:
        raise RuntimeError("disk on fire")

    app.get_controller().add_handler("math:add", crash)
    job_id = create(client, "math:add", 1, 2)

    body = drain_until(client, job_id, "RETRYING")

    assert body == {
        "state_code": 4,
        "status": "RETRYING",
        "res": None,
        "error": "RuntimeError: disk on fire",
    }


def test_job_out_of_retries_is_failed(
    client: Client, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_redis(monkeypatch, redis_url, JOBS_MAX_RETRY="0")

    def crash(params: dict[str, Any]) -> JobResult:
        raise RuntimeError("disk on fire")

    app.get_controller().add_handler("math:add", crash)
    job_id = create(client, "math:add", 1, 2)

    assert drain_until(client, job_id, "FAILED")["error"] == "RuntimeError: disk on fire"


def test_expired_result_is_404(client: Client) -> None:
    job_id = create(client, "math:add", 1, 2)
    drain_until(client, job_id, "COMPLETED")

    app.get_controller().clock = lambda: time.time() + 86400 + 1  # past the 24 h retention
    response = get(client, job_id)

    assert response.status_code == 404
    assert response.json_body["success"] is False
    assert "expired" in response.json_body["error"]


def test_unknown_id_is_404(client: Client) -> None:
    response = get(client, UNKNOWN_ID)

    assert response.status_code == 404
    assert response.json_body == {"success": False, "error": f"no job {UNKNOWN_ID}"}


@pytest.mark.parametrize(
    "job_id",
    [
        "nope",
        "default@not-a-uuid",
        "default@2f1e6a52-3c1d-1b7a-9e55-0d6a3b8c9f10",  # a version-1 UUID
        "bad%20queue@2f1e6a52-3c1d-4b7a-9e55-0d6a3b8c9f10",
        "@2f1e6a52-3c1d-4b7a-9e55-0d6a3b8c9f10",
    ],
)
def test_malformed_id_is_400(client: Client, job_id: str) -> None:
    response = get(client, job_id)

    assert response.status_code == 400
    assert response.json_body["success"] is False
    assert "job id" in response.json_body["error"]


# -- bad input ---------------------------------------------------------------------------------

KNOWN_OPS = "math:add, math:divide, math:multiply, math:subtract"


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"", "body is not valid JSON"),
        (b"{", "body is not valid JSON"),
        (b"a=2&b=3", "body is not valid JSON"),
        (b"\xff\xfe{}", "body is not valid JSON"),
        (b"[" * 5000 + b"]" * 5000, "body is nested too deeply"),
        (b"[2, 3]", "body must be a JSON object, got an array"),
        (b'"2 * 3"', "body must be a JSON object, got a string"),
        (b"null", "body must be a JSON object, got null"),
        (b"6", "body must be a JSON object, got a number"),
        (b"{}", "missing field(s): a, b, op"),
        (b'{"a": 2, "b": 3}', "missing field(s): op"),
        (b'{"a": 2, "op": "math:add"}', "missing field(s): b"),
        (b'{"a": 2, "b": 3, "op": "math:add", "c": 4}', "unknown field(s): c"),
        (b'{"a": 2, "a": 5, "b": 3, "op": "math:add"}', "field 'a' is given twice"),
        (b'{"a": true, "b": 3, "op": "math:add"}', "a must be a number, got a boolean"),
        (b'{"a": 2, "b": false, "op": "math:add"}', "b must be a number, got a boolean"),
        (b'{"a": "2", "b": 3, "op": "math:add"}', "a must be a number, got a string"),
        (b'{"a": null, "b": 3, "op": "math:add"}', "a must be a number, got null"),
        (b'{"a": [2], "b": 3, "op": "math:add"}', "a must be a number, got an array"),
        (b'{"a": {"n": 2}, "b": 3, "op": "math:add"}', "a must be a number, got an object"),
        (b'{"a": NaN, "b": 3, "op": "math:add"}', "NaN is not a number JSON allows"),
        (b'{"a": 2, "b": Infinity, "op": "math:add"}', "Infinity is not a number JSON allows"),
        (b'{"a": -Infinity, "b": 3, "op": "math:add"}', "-Infinity is not a number JSON allows"),
        (b'{"a": 1e999, "b": 3, "op": "math:add"}', "a must be a finite number"),
        (b'{"a": 9223372036854775808, "b": 3, "op": "math:add"}', "a is an integer outside"),
        (b'{"a": 2, "b": -9223372036854775809, "op": "math:add"}', "b is an integer outside"),
        (b'{"a": 2, "b": 3, "op": "math:pow"}', f"unknown op 'math:pow' (known: {KNOWN_OPS})"),
        (b'{"a": 2, "b": 3, "op": 1}', f"unknown op 1 (known: {KNOWN_OPS})"),
        (b'{"a": 2, "b": 3, "op": "add"}', "unknown op 'add'"),
        (b'{"a": 2, "b": 3, "op": "math:add", "delay_seconds": -1}', "delay_seconds must be"),
        (b'{"a": 2, "b": 3, "op": "math:add", "delay_seconds": 86401}', "delay_seconds must be"),
        (b'{"a": 2, "b": 3, "op": "math:add", "delay_seconds": "5"}', "delay_seconds must be"),
        (b'{"a": 2, "b": 3, "op": "math:add", "delay_seconds": true}', "delay_seconds must be"),
    ],
)
def test_bad_body_is_400_with_what_is_wrong(client: Client, body: bytes, error: str) -> None:
    response = post_json(client, body)

    assert response.status_code == 400
    assert response.json_body["success"] is False
    assert response.json_body["error"].startswith(error)
    assert set(response.json_body) == {"success", "error"}


def test_bad_input_writes_nothing(client: Client, redis_url: str) -> None:
    post_json(client, {"op": "math:pow", "a": 1, "b": 2})

    assert app.get_controller().queue_stats()[0].pending == 0


def test_64_bit_limits_are_accepted(client: Client) -> None:
    job_id = create(client, "math:add", 2**63 - 1, -(2**63))

    assert drain_until(client, job_id, "COMPLETED")["res"] == -1


def test_longest_delay_is_accepted(client: Client) -> None:
    job_id = create(client, "math:add", 1, 2, delay_seconds=86400)

    assert get(client, job_id).json_body["status"] == "FUTURE"


def test_body_over_16_kib_is_413(client: Client) -> None:
    body = b'{"a": 2, "b": 3, "op": "math:add"}'
    response = post_json(client, body + b" " * (16 * 1024 - len(body) + 1))

    assert response.status_code == 413
    assert response.json_body == {
        "success": False,
        "error": "body is 16385 bytes; the limit is 16384",
    }


def test_body_of_exactly_16_kib_is_accepted(client: Client) -> None:
    body = b'{"a": 2, "b": 3, "op": "math:add"}'

    response = post_json(client, body + b" " * (16 * 1024 - len(body)))

    assert response.status_code == 202


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_body_not_declared_json_is_415(client: Client, content_type: str) -> None:
    response = post_json(client, {"op": "math:add", "a": 1, "b": 2}, {"content-type": content_type})

    assert response.status_code == 415
    assert response.json_body == {
        "success": False,
        "error": f"content-type must be application/json, got '{content_type}'",
    }


@pytest.mark.parametrize(
    "headers",
    [{}, {"content-type": "application/json; charset=utf-8"}, {"Content-Type": "APPLICATION/JSON"}],
)
def test_json_content_types_and_none_are_accepted(client: Client, headers: dict[str, str]) -> None:
    body = b'{"op": "math:add", "a": 1, "b": 2}'

    assert client.http.post("/maths", headers=headers, body=body).status_code == 202


def test_get_ignores_the_content_type(client: Client) -> None:
    job_id = create(client, "math:add", 1, 2)

    response = client.http.get(f"/maths/{job_id}", headers={"content-type": "text/plain"})

    assert response.status_code == 200


# -- Redis unreachable -------------------------------------------------------------------------


@pytest.fixture
def client_without_redis(monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    use_redis(monkeypatch, f"redis://127.0.0.1:{free_port()}/0")
    with dev_client() as test_client:
        yield test_client


def test_post_without_redis_is_503_within_two_seconds(client_without_redis: Client) -> None:
    started = time.monotonic()
    response = post_json(client_without_redis, {"op": "math:add", "a": 1, "b": 2})

    assert time.monotonic() - started < 2.5
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert response.json_body == {
        "success": False,
        "error": "the job store is unavailable, try again shortly",
    }


def test_get_without_redis_is_503(client_without_redis: Client) -> None:
    started = time.monotonic()
    response = get(client_without_redis, UNKNOWN_ID)

    assert time.monotonic() - started < 2.5
    assert response.status_code == 503


def test_bad_input_without_redis_is_still_400(client_without_redis: Client) -> None:
    assert post_json(client_without_redis, {"op": "x", "a": 1, "b": 2}).status_code == 400
    assert get(client_without_redis, "nope").status_code == 400


def test_controller_is_built_once_per_process(client: Client) -> None:
    create(client, "math:add", 1, 2)
    first = app.get_controller()
    create(client, "math:add", 1, 2)

    assert app.get_controller() is first
