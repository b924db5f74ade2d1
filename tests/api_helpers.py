"""Shared by the API and worker tests: a Chalice test client on the real project config, the
seed's sample requests, and waiting for a job's state without sleeping blindly."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from chalice.test import Client, HTTPResponse

import app

PROJECT_DIR = Path(__file__).resolve().parent.parent
#: the original service's sample requests send these headers (and the GET sends the POST's body too)
SEED_HEADERS = {
    "cache-control": "no-cache",
    "content-type": "application/json",
    "postman-token": "c305cb26-1c5e-4c64-a493-3cb756995a47",
}
#: the sample requests' body, verbatim: it opens with three spaces and a newline
SEED_BODY = b'   \n   {\n     "a": 2,\n     "b": 3,\n     "op": "math:multiply"\n   }'
#: variables a test environment must not inherit from the shell
JOBS_VARIABLES = (
    "JOBS_REDIS_URL",
    "JOBS_REDIS_CLUSTER",
    "JOBS_REDIS_SECRET_ID",
    "JOBS_QUEUES",
    "JOBS_CONCURRENCY",
    "JOBS_RETENTION_S",
    "JOBS_KEY_PREFIX",
    "JOBS_MAX_RETRY",
    "JOBS_TIMEOUT_S",
    "JOBS_LEASE_S",
    "JOBS_KICK_FUNCTION",
    "JOBS_KICK_DEBOUNCE_S",
    "JOBS_CALLBACK_SECRET",
    "JOBS_CALLBACK_SECRET_ID",
    "JOBS_CALLBACK_ALLOW_PRIVATE",
    "JOBS_MIN_REPLICAS",
    "JOBS_REPLICA_WAIT_MS",
    "JOBS_DURABLE_AOF",
)


def use_redis(monkeypatch: pytest.MonkeyPatch, redis_url: str, **variables: str) -> None:
    """Point the app at `redis_url` with only the given JOBS_* variables, and make the next
    request build a fresh controller from them."""
    for name in JOBS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("JOBS_REDIS_URL", redis_url)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    app.reset_controller()


@contextmanager
def dev_client() -> Iterator[Client]:
    """A test client of the app with the dev stage of the project's .chalice/config.json."""
    app.reset_controller()
    try:
        with Client(app.app, stage_name="dev", project_dir=str(PROJECT_DIR)) as client:
            yield client
    finally:
        app.reset_controller()


def post_json(client: Client, body: Any, headers: dict[str, str] | None = None) -> HTTPResponse:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.http.post(
        "/maths", headers=headers or {"content-type": "application/json"}, body=raw
    )


def create(client: Client, op: str, a: Any, b: Any, **extra: Any) -> str:
    """POST a maths job and return its id (asserting the 202)."""
    response = post_json(client, {"op": op, "a": a, "b": b, **extra})
    assert response.status_code == 202, response.body
    return str(response.json_body["res"])


def get(client: Client, job_id: str) -> HTTPResponse:
    return client.http.get(f"/maths/{job_id}", headers=SEED_HEADERS, body=SEED_BODY)


def drain_until(client: Client, job_id: str, status: str, timeout_s: float = 10.0) -> dict:
    """Run the app's controller in short drains until GET shows `status`; return that body."""
    deadline = time.monotonic() + timeout_s
    while True:
        body = get(client, job_id).json_body
        if body.get("status") == status:
            return dict(body)
        assert time.monotonic() < deadline, f"{job_id} stayed {body} (waited for {status})"
        app.get_controller().drain(0.2)


def scheduled_event(client: Client) -> dict[str, Any]:
    """The event CloudWatch sends the scheduled worker."""
    return client.events.generate_cw_event(
        source="aws.events",
        detail_type="Scheduled Event",
        detail={},
        resources=["arn:aws:events:us-west-2:123456789012:rule/chalice-jobs-dev-worker-event"],
    )


@contextmanager
def serving_over_http() -> Iterator[str]:
    """The app (dev stage) behind a real HTTP server on 127.0.0.1, on a free port, in a thread:
    its base URL. For clients that speak HTTP themselves (a generated client, curl)."""
    import threading  # noqa: PLC0415

    from chalice.config import Config  # noqa: PLC0415
    from chalice.local import LocalDevServer  # noqa: PLC0415

    config = Config.create(chalice_stage="dev", app_name="chalice-jobs", chalice_app=app.app)
    server = LocalDevServer(app.app, config, "127.0.0.1", 0)
    thread = threading.Thread(target=server.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server.server_address[1]}"
    finally:
        server.shutdown()
        server.server.server_close()
        thread.join(timeout=10)
