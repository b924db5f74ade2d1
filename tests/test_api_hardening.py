"""The public API shows nothing internal and leaks nothing small: a callback delivery is 404 like
an unknown job, answers are not cached or sniffed, a huge integer and a crafted cursor are plain
400s, a callback host's DNS lookup is bounded, and JOBS_CALLBACK_ALLOW_PRIVATE holds only on dev."""

from __future__ import annotations

import base64
import json
import logging
import threading
import time

import pytest
from chalice.test import Client

import app
from chalicelib.jobs import InvalidJob, callbacks
from chalicelib.service import build_controller
from tests.api_helpers import create, dev_client, post_json, use_redis
from tests.callback_receiver import Receiver
from tests.jobs_helpers import settle

UNKNOWN_UUID = "2f1e6a52-3c1d-4b7a-9e55-0d6a3b8c9f10"
SAFE = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


def not_found_answers(client: Client, job_id: str) -> list[tuple[int, object]]:
    """GET, GET ?wait and DELETE of a job id, as (status, body) with the id made neutral."""
    answers = []
    for method, path in (
        ("get", f"/maths/{job_id}"),
        ("get", f"/maths/{job_id}?wait=0.2"),
        ("delete", f"/maths/{job_id}"),
    ):
        response = getattr(client.http, method)(path)
        answers.append((response.status_code, response.body.decode().replace(job_id, "<id>")))
    return answers


def test_a_callback_delivery_is_404_exactly_like_an_unknown_job(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_redis(
        monkeypatch, redis_url, JOBS_CALLBACK_SECRET="s3cret", JOBS_CALLBACK_ALLOW_PRIVATE="1"
    )
    receiver = Receiver()
    with dev_client() as client, receiver.running():
        job_id = create(client, "math:add", 2, 3, callback_url=receiver.url("/done?token=t0p"))
        receiver.drain_until_received(app.get_controller().drain)
        delivery_id = app.get_controller().get_status(job_id).callback_id
        assert delivery_id and delivery_id.startswith("callbacks@")

        internal = not_found_answers(client, delivery_id)
        unknown = not_found_answers(client, f"callbacks@{UNKNOWN_UUID}")
        other_queue = not_found_answers(client, f"default@{UNKNOWN_UUID}")
        status = client.http.get(f"/maths/{job_id}").json_body

    assert internal == unknown == other_queue
    assert internal[0] == (404, '{"success":false,"error":"no job <id>"}')
    assert "callback_id" not in status
    # the delivery was not cancelled by the DELETE
    assert app.get_controller().get_status(delivery_id).status == "COMPLETED"


def test_every_public_answer_is_uncacheable_and_not_sniffed(client: Client) -> None:
    job_id = create(client, "math:add", 1, 2)
    answers = [
        post_json(client, {"op": "math:add", "a": 1, "b": 2}),
        client.http.get(f"/maths/{job_id}"),
        client.http.get(f"/maths/default@{UNKNOWN_UUID}"),
        client.http.get("/maths/nope"),
        client.http.put("/maths"),
        client.http.get("/openapi.json"),
    ]

    for response in answers:
        assert SAFE.items() <= response.headers.items(), response.status_code


def test_a_4301_digit_integer_is_a_plain_400(client: Client) -> None:
    body = b'{"op": "math:add", "a": ' + b"7" * 4301 + b', "b": 1}'

    response = post_json(client, body)

    assert response.status_code == 400
    assert response.json_body == {
        "success": False,
        "error": "body has an integer of 4301 digits; at most 4300",
    }


def test_a_crafted_admin_cursor_is_a_400_not_a_503(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = "admin-token-for-tests"
    monkeypatch.delenv("JOBS_ADMIN_SECRET_ID", raising=False)
    use_redis(monkeypatch, redis_url, JOBS_ADMIN_TOKEN=token)
    crafted = base64.urlsafe_b64encode(json.dumps(["abc", ["x"]]).encode()).decode()
    with dev_client() as client:
        create(client, "math:add", 1, 2)
        settle(app.get_controller())
        response = client.http.get(
            f"/admin/api/queues/default/jobs?state=COMPLETED&cursor={crafted}",
            headers={"authorization": f"Bearer {token}"},
        )

    assert response.status_code == 400
    assert response.json_body["error"].startswith("not a cursor this API gave")


def test_a_callback_host_that_does_not_resolve_within_2_s_is_a_400(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    released = threading.Event()

    def hanging(host: str, port: int, **kwargs: object) -> list[tuple]:
        released.wait(30)
        return []

    monkeypatch.setattr(callbacks, "getaddrinfo", hanging)
    use_redis(monkeypatch, redis_url, JOBS_CALLBACK_SECRET="s3cret")
    body = {"op": "math:add", "a": 1, "b": 2, "callback_url": "https://tarpit.example/hook"}
    with dev_client() as client:
        started = time.monotonic()
        try:
            response = post_json(client, body)
            elapsed = time.monotonic() - started
        finally:
            released.set()

    assert response.status_code == 400
    assert "did not resolve within 2 s" in response.json_body["error"]
    assert elapsed < 10  # the 2 s bound, not the 30 s the lookup would hang


@pytest.mark.parametrize(("stage", "honoured"), [("prod", False), ("dev", True)])
def test_allow_private_callbacks_is_ignored_with_a_warning_outside_dev(
    redis_url: str, caplog: pytest.LogCaptureFixture, stage: str, honoured: bool
) -> None:
    environ = {
        "JOBS_STAGE": stage,
        "JOBS_CALLBACK_SECRET": "s3cret",
        "JOBS_CALLBACK_ALLOW_PRIVATE": "1",
    }
    with caplog.at_level(logging.WARNING):
        controller = build_controller(environ, redis_url=redis_url)

    assert controller.settings.callback_allow_private is honoured
    warned = "JOBS_CALLBACK_ALLOW_PRIVATE is ignored on stage 'prod'" in caplog.text
    assert warned is not honoured
    controller.add_handler("test:ok", lambda p: None)
    if not honoured:
        with pytest.raises(InvalidJob, match="must be an https URL"):
            controller.create_job("test:ok", {}, callback_url="http://127.0.0.1:9/hook")
