"""The admin surface's hardening: a short token is refused (500, the reason in the log, never the
token), a token from Secrets Manager is read again every 5 minutes, every action leaves one JSON
audit line, and the IAM policies name what they allow."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

import app
from chalicelib.admin import auth
from tests.api_helpers import PROJECT_DIR, create, dev_client, use_redis
from tests.jobs_helpers import settle

TOKEN = "admin-token-for-tests"
AUTH = {"authorization": f"Bearer {TOKEN}"}
SECRET_ID = "chalice-jobs/test/admin"


@pytest.fixture
def app_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """caplog, also fed by the app's own logger (which does not propagate)."""
    app.app.log.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.ERROR):
            yield caplog
    finally:
        app.app.log.removeHandler(caplog.handler)


def test_a_token_shorter_than_16_characters_is_refused_and_logged_without_it(
    redis_url: str, monkeypatch: pytest.MonkeyPatch, app_log: pytest.LogCaptureFixture
) -> None:
    short = "fifteen-chars-x"
    monkeypatch.delenv("JOBS_ADMIN_SECRET_ID", raising=False)
    use_redis(monkeypatch, redis_url, JOBS_ADMIN_TOKEN=short)
    with dev_client() as client:
        for path in ("/admin/api/queues", "/admin/"):
            response = client.http.get(path, headers={"authorization": f"Bearer {short}"})

            assert response.status_code == 500
            assert response.json_body == {
                "success": False,
                "error": "the admin surface is not configured; see its log",
            }
    assert "is 15 characters long; at least 16 are needed" in app_log.text
    assert short not in app_log.text


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }.items():
        monkeypatch.setenv(name, value)
    auth.forget_secret_tokens()
    try:
        with mock_aws():
            yield
    finally:
        auth.forget_secret_tokens()


def test_a_rotated_secret_takes_effect_within_5_minutes(
    aws: None, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [1000.0]
    monkeypatch.setattr(auth, "clock", lambda: now[0])
    monkeypatch.delenv("JOBS_ADMIN_TOKEN", raising=False)
    use_redis(monkeypatch, redis_url, JOBS_ADMIN_SECRET_ID=SECRET_ID)
    secrets = boto3.client("secretsmanager")
    secrets.create_secret(Name=SECRET_ID, SecretString="the-first-token-of-20")
    old, new = (
        {"authorization": "Bearer the-first-token-of-20"},
        {"authorization": "Bearer the-rotated-token-of-22"},
    )
    with dev_client() as client:
        assert client.http.get("/admin/api/queues", headers=old).status_code == 200
        secrets.put_secret_value(SecretId=SECRET_ID, SecretString="the-rotated-token-of-22")

        now[0] += 299
        assert client.http.get("/admin/api/queues", headers=old).status_code == 200

        now[0] += 2
        assert client.http.get("/admin/api/queues", headers=old).status_code == 401
        assert client.http.get("/admin/api/queues", headers=new).status_code == 200


def test_every_admin_action_leaves_one_json_line_without_secrets(
    redis_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("JOBS_ADMIN_SECRET_ID", raising=False)
    use_redis(monkeypatch, redis_url, JOBS_ADMIN_TOKEN=TOKEN)
    with dev_client() as client:
        job_id = create(client, "math:divide", 1, 0)
        settle(app.get_controller())
        capsys.readouterr()
        for method, path in (
            ("post", "/admin/api/queues/default/pause"),
            ("post", "/admin/api/queues/default/resume"),
            ("post", "/admin/api/queues/default/retry-failed"),
            ("post", f"/admin/api/jobs/{job_id}/retry"),  # PENDING now: 409
            ("delete", f"/admin/api/jobs/{job_id}"),
            ("get", f"/admin/api/jobs/{job_id}"),  # a read: no line
        ):
            getattr(client.http, method)(path, headers=AUTH)
        out = capsys.readouterr().out

    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert [(x["action"], x["target"], x["status"]) for x in lines] == [
        ("pause", "default", 200),
        ("resume", "default", 200),
        ("retry_failed", "default", 200),
        ("retry", job_id, 409),
        ("delete", job_id, 200),
    ]
    for line in lines:
        assert line["event"] == "admin_action"
        assert line["at"].endswith("Z") and line["at"][:2] == "20"
        assert set(line) == {"event", "action", "target", "status", "at", "source_ip", "request_id"}
    assert TOKEN not in out


# -- the IAM policies ----------------------------------------------------------------------------

POLICIES = sorted((PROJECT_DIR / ".chalice").glob("policy-*.json"))


def statements(path: Path) -> list[dict[str, object]]:
    return list(json.loads(path.read_text())["Statement"])


def test_the_prod_api_may_read_the_admin_secret_and_nothing_wider() -> None:
    api = statements(PROJECT_DIR / ".chalice" / "policy-prod-api.json")
    secrets = [s for s in api if s["Action"] == "secretsmanager:GetSecretValue"]

    resources = {str(s["Resource"]) for s in secrets}
    assert "arn:*:secretsmanager:*:*:secret:chalice-jobs/prod/admin-??????" in resources
    assert all(
        r.startswith("arn:*:secretsmanager:*:*:secret:chalice-jobs/prod/") for r in resources
    )


@pytest.mark.parametrize("path", POLICIES, ids=lambda p: p.name)
def test_policies_name_their_resources_where_the_name_is_known(path: Path) -> None:
    stage = path.stem.split("-")[1]
    for statement in statements(path):
        resources = statement["Resource"]
        resources = [resources] if isinstance(resources, str) else resources
        assert isinstance(resources, list)
        if statement["Sid"] == "AttachToTheRedisVpc":
            # EC2's network interface calls take no resource names (Describe* never does)
            assert resources == ["*"]
            continue
        for resource in resources:
            assert resource.startswith("arn:*:"), resource
            if ":logs:" in resource:
                assert f":log-group:/aws/lambda/chalice-jobs-{stage}-" in resource, resource
            else:
                assert f"chalice-jobs-{stage}-" in resource or f"chalice-jobs/{stage}/" in resource
