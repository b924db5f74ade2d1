"""The client's side through the HTTP API: GET with ?wait=N, DELETE to cancel, progress in the
status body; every answer fits the OpenAPI document."""

from __future__ import annotations

import json
import threading
import time

import pytest
from chalice.test import Client

import app
from chalicelib.jobs import verify_callback
from tests.api_helpers import create, post_json, use_redis
from tests.callback_receiver import Receiver
from tests.jobs_helpers import settle
from tests.test_openapi import check_answer

UNKNOWN_ID = "default@2f1e6a52-3c1d-4b7a-9e55-0d6a3b8c9f10"


def test_get_with_wait_answers_when_the_job_ends(client: Client) -> None:
    job_id = create(client, "math:add", 1, 2)
    drain = threading.Timer(0.3, lambda: settle(app.get_controller()))
    drain.start()
    began = time.monotonic()

    response = client.http.get(f"/maths/{job_id}?wait=10")

    drain.join()
    assert response.status_code == 200
    assert response.json_body == {"state_code": 6, "status": "COMPLETED", "res": 3}
    assert time.monotonic() - began < 8  # as the job ended, not after the 10 s asked for
    check_answer("get", "/maths/{job_id}", response)


def test_get_with_wait_times_out_with_the_state_then(client: Client) -> None:
    job_id = create(client, "math:add", 1, 2)
    began = time.monotonic()

    response = client.http.get(f"/maths/{job_id}?wait=0.3")

    assert response.json_body["status"] == "PENDING"
    assert 0.28 < time.monotonic() - began < 5  # the 0.3 s asked for, not the 25 s at most


@pytest.mark.parametrize("wait", ["-1", "25.1", "abc", "nan", "inf", ""])
def test_a_bad_wait_is_a_400(client: Client, wait: str) -> None:
    job_id = create(client, "math:add", 1, 2)

    response = client.http.get(f"/maths/{job_id}?wait={wait}")

    assert response.status_code == 400
    assert "wait must be 0 to 25 seconds" in response.json_body["error"]
    check_answer("get", "/maths/{job_id}", response)


def test_wait_on_an_unknown_id_is_a_404_at_once(client: Client) -> None:
    began = time.monotonic()
    response = client.http.get(f"/maths/{UNKNOWN_ID}?wait=10")
    assert response.status_code == 404
    assert time.monotonic() - began < 5  # at once, not after the 10 s asked for


def test_delete_cancels_a_pending_job(client: Client) -> None:
    job_id = create(client, "math:add", 1, 2)

    response = client.http.delete(f"/maths/{job_id}")
    settle(app.get_controller())

    assert response.status_code == 200
    assert response.json_body == {
        "state_code": 5, "status": "FAILED", "res": None, "error": "cancelled", "cancelled": True,
    }  # fmt: skip
    assert client.http.get(f"/maths/{job_id}").json_body == response.json_body
    check_answer("delete", "/maths/{job_id}", response)


def test_delete_of_an_ended_job_is_a_409_and_changes_nothing(client: Client) -> None:
    job_id = create(client, "math:add", 1, 2)
    settle(app.get_controller())

    response = client.http.delete(f"/maths/{job_id}")

    assert response.status_code == 409
    assert "too late to cancel" in response.json_body["error"]
    assert client.http.get(f"/maths/{job_id}").json_body["status"] == "COMPLETED"
    check_answer("delete", "/maths/{job_id}", response)


@pytest.mark.parametrize(
    ("job_id", "status"), [("nope", 400), ("x" * 20_000, 400), (UNKNOWN_ID, 404)]
)
def test_refused_deletes_fit_the_error_schema(client: Client, job_id: str, status: int) -> None:
    response = client.http.delete(f"/maths/{job_id}")

    assert response.status_code == status
    check_answer("delete", "/maths/{job_id}", response)


# -- callbacks ---------------------------------------------------------------------------------


def test_a_post_with_a_callback_url_is_called_back_signed_when_the_job_ends(
    client: Client, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_redis(
        monkeypatch, redis_url, JOBS_CALLBACK_SECRET="s3cret", JOBS_CALLBACK_ALLOW_PRIVATE="1"
    )
    receiver = Receiver()
    with receiver.running():
        job_id = create(client, "math:add", 2, 3, callback_url=receiver.url("/done"))
        # runs the job, then its delivery
        (request,) = receiver.drain_until_received(app.get_controller().drain)

    assert verify_callback(request.body, request.headers["Jobs-Signature"], "s3cret")
    assert json.loads(request.body) == {
        "id": job_id,
        "state_code": 6,
        "status": "COMPLETED",
        "res": 5,
    }
    status = client.http.get(f"/maths/{job_id}")
    check_answer("get", "/maths/{job_id}", status)
    assert "callback_id" not in status.json_body  # an internal job's id
    delivery_id = app.get_controller().get_status(job_id).callback_id
    assert delivery_id and app.get_controller().get_status(delivery_id).result["status"] == 200


@pytest.mark.parametrize(
    ("variables", "callback_url", "why"),
    [
        ({}, "https://93.184.216.34/hook", "callbacks are not enabled here"),
        ({"JOBS_CALLBACK_SECRET": "s"}, "http://93.184.216.34/hook", "must be an https URL"),
        ({"JOBS_CALLBACK_SECRET": "s"}, "https://127.0.0.1/hook", "not a public address"),
        ({"JOBS_CALLBACK_SECRET": "s"}, "https://169.254.169.254/", "not a public address"),
        ({"JOBS_CALLBACK_SECRET": "s"}, "https://x.example/" + "a" * 2048, "at most 2048"),
        ({"JOBS_CALLBACK_SECRET": "s"}, 12, "callback_url must be a string, got a number"),
    ],
)
def test_a_callback_url_that_is_not_allowed_is_a_400_and_creates_nothing(
    client: Client,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
    variables: dict[str, str],
    callback_url: object,
    why: str,
) -> None:
    use_redis(monkeypatch, redis_url, **variables)

    response = post_json(client, {"op": "math:add", "a": 1, "b": 2, "callback_url": callback_url})

    assert response.status_code == 400
    assert why in response.json_body["error"]
    check_answer("post", "/maths", response)
    assert app.get_controller().queue_stats(["default"])[0].pending == 0
