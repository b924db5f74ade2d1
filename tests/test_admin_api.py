"""The admin API through Chalice's test client: absent without a token, 401 without the right
one, each route's answer (checked against openapi.json), 409 for an action the job's state does
not allow, and the token read from Secrets Manager (moto)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest
from chalice.test import Client, HTTPResponse
from moto import mock_aws

import app
from chalicelib.admin.auth import forget_secret_tokens
from tests.api_helpers import create, dev_client, use_redis
from tests.jobs_helpers import settle
from tests.test_openapi import check_answer

TOKEN = "admin-token-for-tests"
AUTH = {"authorization": f"Bearer {TOKEN}"}
UNKNOWN = "default@2f1e6a52-3c1d-4b7a-9e55-0d6a3b8c9f10"


@pytest.fixture
def client(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    monkeypatch.delenv("JOBS_ADMIN_SECRET_ID", raising=False)
    use_redis(monkeypatch, redis_url, JOBS_ADMIN_TOKEN=TOKEN)
    with dev_client() as test_client:
        yield test_client


def call(
    client: Client, method: str, path: str, headers: dict[str, str] | None = None
) -> HTTPResponse:
    return getattr(client.http, method)(path, headers=AUTH if headers is None else headers)


def checked(client: Client, method: str, path: str, template: str, status: int) -> HTTPResponse:
    """Call an admin API path, assert its status, and that it fits openapi.json."""
    response = call(client, method, path)
    assert response.status_code == status, response.body
    assert response.headers["Cache-Control"] == "no-store"
    check_answer(method, template, response)
    return response


def test_without_a_token_configured_there_is_no_admin_surface(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("JOBS_ADMIN_TOKEN", raising=False)
    monkeypatch.delenv("JOBS_ADMIN_SECRET_ID", raising=False)
    use_redis(monkeypatch, redis_url)
    with dev_client() as client:
        for path in ("/admin", "/admin/", "/admin/dashboard.js", "/admin/api/queues"):
            response = client.http.get(path, headers=AUTH)
            assert response.status_code == 404, path
            assert response.json_body == {"success": False, "error": "not found"}
            assert response.headers["Cache-Control"] == "no-store"
        assert client.http.post("/admin/api/queues/default/pause", headers=AUTH).status_code == 404


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"authorization": "Bearer wrong"},
        {"authorization": TOKEN},
        {"authorization": f"Basic {TOKEN}"},
    ],
)
def test_the_api_wants_the_bearer_token(client: Client, headers: dict[str, str]) -> None:
    for method, path in (
        ("get", "/admin/api/queues"),
        ("post", f"/admin/api/jobs/{UNKNOWN}/retry"),
    ):
        response = call(client, method, path, headers)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert response.headers["Cache-Control"] == "no-store"
        assert response.json_body["success"] is False


def test_the_dashboard_is_served_with_a_strict_policy(client: Client) -> None:
    page = client.http.get("/admin/")
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    policy = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy
    html = page.body.decode()
    assert 'src="/admin/dashboard.js"' in html and "<script>" not in html and "style=" not in html
    script = client.http.get("/admin/dashboard.js")
    assert script.status_code == 200 and "textContent" in script.body.decode()
    assert "innerHTML" not in script.body.decode()
    assert client.http.get("/admin/dashboard.css").headers["Content-Type"].startswith("text/css")
    assert client.http.get("/admin/secrets.txt").status_code == 404


def test_every_route_answers_as_documented(client: Client) -> None:
    ok_id = create(client, "math:add", 1, 2)
    bad_id = create(client, "math:divide", 1, 0)
    settle(app.get_controller())

    queues = checked(client, "get", "/admin/api/queues", "/admin/api/queues", 200).json_body
    (default,) = queues["queues"]
    assert default["counts"]["FAILED"] == default["counts"]["COMPLETED"] == 1
    assert (default["processed_today"], default["failed_today"], default["paused"]) == (2, 1, False)

    page = checked(client, "get", "/admin/api/queues/default/jobs?state=failed&limit=10",
                   "/admin/api/queues/{queue}/jobs", 200).json_body  # fmt: skip
    assert [j["id"] for j in page["jobs"]] == [bad_id] and page["cursor"] is None
    assert page["jobs"][0]["errors"] == ["division by zero"]

    job = checked(client, "get", f"/admin/api/jobs/{ok_id}", "/admin/api/jobs/{job_id}", 200)
    assert job.json_body["job"]["result"] == 3 and job.json_body["job"]["state"] == "COMPLETED"

    history = checked(client, "get", "/admin/api/queues/default/history?days=2",
                      "/admin/api/queues/{queue}/history", 200).json_body["history"]  # fmt: skip
    assert [(d["processed"], d["failed"]) for d in history] == [(0, 0), (2, 1)]

    paused = checked(client, "post", "/admin/api/queues/default/pause",
                     "/admin/api/queues/{queue}/pause", 200).json_body  # fmt: skip
    assert paused == {"success": True, "paused": True, "changed": True}
    assert call(client, "get", "/admin/api/queues").json_body["queues"][0]["paused"] is True
    checked(
        client, "post", "/admin/api/queues/default/resume", "/admin/api/queues/{queue}/resume", 200
    )

    retried = checked(client, "post", "/admin/api/queues/default/retry-failed",
                      "/admin/api/queues/{queue}/retry-failed", 200).json_body  # fmt: skip
    assert retried["retried"] == 1
    checked(client, "delete", f"/admin/api/jobs/{bad_id}", "/admin/api/jobs/{job_id}", 200)
    checked(client, "get", f"/admin/api/jobs/{bad_id}", "/admin/api/jobs/{job_id}", 404)

    workers = checked(client, "get", "/admin/api/workers", "/admin/api/workers", 200).json_body
    assert workers["workers"] == []


def test_retry_of_a_failed_job_then_completes(client: Client) -> None:
    job_id = create(client, "math:divide", 1, 0)
    settle(app.get_controller())
    response = checked(
        client, "post", f"/admin/api/jobs/{job_id}/retry", "/admin/api/jobs/{job_id}/retry", 200
    )
    assert response.json_body == {"success": True, "retried": job_id}
    assert call(client, "get", f"/admin/api/jobs/{job_id}").json_body["job"]["state"] == "PENDING"


def test_wrong_state_actions_are_409_and_bad_input_400_or_404(client: Client) -> None:
    job_id = create(client, "math:add", 1, 2)
    checked(
        client, "post", f"/admin/api/jobs/{job_id}/retry", "/admin/api/jobs/{job_id}/retry", 409
    )
    app.get_controller().store.dequeue("default", 1, 0.0, 9e9, "t")  # ACTIVE now
    response = checked(
        client, "delete", f"/admin/api/jobs/{job_id}", "/admin/api/jobs/{job_id}", 409
    )
    assert "ACTIVE" in response.json_body["error"]
    checked(client, "get", "/admin/api/jobs/nope", "/admin/api/jobs/{job_id}", 400)
    checked(
        client, "post", f"/admin/api/jobs/{UNKNOWN}/retry", "/admin/api/jobs/{job_id}/retry", 404
    )
    jobs = "/admin/api/queues/{queue}/jobs"
    checked(client, "get", "/admin/api/queues/default/jobs", jobs, 400)
    checked(client, "get", "/admin/api/queues/default/jobs?state=DONE", jobs, 400)
    checked(client, "get", "/admin/api/queues/default/jobs?state=FAILED&limit=x", jobs, 400)
    checked(client, "get", "/admin/api/queues/default/jobs?state=FAILED&cursor=zz", jobs, 400)
    checked(client, "get", "/admin/api/queues/nosuch/jobs?state=FAILED", jobs, 404)
    checked(
        client, "post", "/admin/api/queues/nosuch/pause", "/admin/api/queues/{queue}/pause", 404
    )
    checked(
        client,
        "get",
        "/admin/api/queues/default/history?days=91",
        "/admin/api/queues/{queue}/history",
        400,
    )


def test_the_maths_routes_stay_public_and_unchanged(client: Client) -> None:
    response = client.http.get(f"/maths/{UNKNOWN}")
    assert response.status_code == 404
    assert "WWW-Authenticate" not in response.headers and "Content-Security-Policy" not in (
        response.headers
    )


def test_the_token_can_come_from_secrets_manager(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("JOBS_ADMIN_TOKEN", raising=False)
    use_redis(monkeypatch, redis_url, JOBS_ADMIN_SECRET_ID="chalice-jobs/test/admin")
    forget_secret_tokens()
    try:
        with mock_aws():
            secrets = boto3.client("secretsmanager")
            secrets.create_secret(
                Name="chalice-jobs/test/admin",
                SecretString=json.dumps({"token": "from-aws-secrets-manager"}),
            )
            with dev_client() as client:
                good = {"authorization": "Bearer from-aws-secrets-manager"}
                assert client.http.get("/admin/api/queues", headers=good).status_code == 200
                assert client.http.get("/admin/api/queues", headers=AUTH).status_code == 401
                # read again only after 5 minutes (tests/test_admin_hardening.py)
                secrets.put_secret_value(SecretId="chalice-jobs/test/admin", SecretString="rotated")
                assert client.http.get("/admin/api/queues", headers=good).status_code == 200
        forget_secret_tokens()
        with mock_aws(), dev_client() as client:  # a secret that cannot be read: 503, no token
            response = client.http.get("/admin/api/queues", headers=good)
            assert response.status_code == 503 and "from-aws" not in response.body.decode()
    finally:
        forget_secret_tokens()
