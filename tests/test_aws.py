"""AWS with moto: the Redis password read from Secrets Manager, and the kick of the worker
function by Lambda's asynchronous invoke, including what happens when AWS answers with an
error (the job stays enqueued and the client still gets its 202)."""

from __future__ import annotations

import io
import json
import logging
import time
import zipfile
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import redis
from chalice.test import Client
from moto import mock_aws

import app
import chalicelib.aws
from chalicelib.aws import read_secret_once
from chalicelib.jobs import JobController, JobResult, JobState, JobStatus, verify_callback
from local.parts.redis_server import LOOPBACK, RedisServer, free_port
from tests.api_helpers import PROJECT_DIR, create, dev_client, get, scheduled_event, use_redis
from tests.callback_receiver import Receiver
from tests.jobs_helpers import wait_until

REGION = "us-east-1"
SECRET_ID = "chalice-jobs/test/redis"
KICK_FUNCTION = "chalice-jobs-dev-worker_kick"
PASSWORD = "s3cret-for-tests"


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fake credentials and a region, and a fresh secret cache: each test reads its own."""
    for name, value in {
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    read_secret_once.cache_clear()
    yield
    read_secret_once.cache_clear()


# -- the Redis password from Secrets Manager ---------------------------------------------------


@pytest.fixture(scope="module")
def locked_redis() -> Iterator[RedisServer]:
    """A redis-server that wants a password, and an RBAC user "worker".

    Locked after it starts: RedisServer waits for an unauthenticated PING to answer PONG."""
    with RedisServer() as server:
        admin = redis.Redis(host=LOOPBACK, port=server.port)
        admin.execute_command("ACL", "SETUSER", "worker", "on", ">worker-pw", "~*", "&*", "+@all")
        admin.config_set("requirepass", PASSWORD)
        yield server


@pytest.fixture
def locked_redis_url(locked_redis: RedisServer) -> str:
    redis.Redis(host=LOOPBACK, port=locked_redis.port, password=PASSWORD).flushall()
    return locked_redis.url  # no password in the URL: it comes from the secret


def client_with_secret(monkeypatch: pytest.MonkeyPatch, redis_url: str, secret: str) -> Client:
    """A test client whose controller reads the Redis password from a (moto) secret."""
    boto3.client("secretsmanager").create_secret(Name=SECRET_ID, SecretString=secret)
    use_redis(monkeypatch, redis_url, JOBS_REDIS_SECRET_ID=SECRET_ID)
    return Client(app.app, stage_name="dev", project_dir=str(PROJECT_DIR))


@pytest.mark.parametrize(
    "secret",
    [
        json.dumps({"password": PASSWORD}),
        PASSWORD,
        json.dumps({"username": "worker", "password": "worker-pw"}),
    ],
    ids=["json-password", "plain-password", "rbac-user"],
)
@mock_aws
def test_password_from_the_secret_unlocks_redis(
    locked_redis_url: str, monkeypatch: pytest.MonkeyPatch, secret: str
) -> None:
    client = client_with_secret(monkeypatch, locked_redis_url, secret)
    job_id = create(client, "math:multiply", 6, 7)

    client.lambda_.invoke("worker_kick", {"queue": "default"})

    assert get(client, job_id).json_body == {"state_code": 6, "status": "COMPLETED", "res": 42}


@mock_aws
def test_secret_is_read_once_per_process(
    locked_redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = client_with_secret(monkeypatch, locked_redis_url, PASSWORD)
    create(client, "math:add", 1, 2)
    boto3.client("secretsmanager").delete_secret(
        SecretId=SECRET_ID, ForceDeleteWithoutRecovery=True
    )
    app.reset_controller()  # even a new controller (a new client) reuses what was read

    assert create(client, "math:add", 1, 2)


@mock_aws
def test_wrong_password_is_503(locked_redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    client = client_with_secret(monkeypatch, locked_redis_url, "not-the-password")

    response = client.http.post("/maths", body=b'{"op": "math:add", "a": 1, "b": 2}')

    assert response.status_code == 503
    assert response.json_body["success"] is False


@mock_aws
def test_unreadable_secret_is_503(locked_redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    use_redis(monkeypatch, locked_redis_url, JOBS_REDIS_SECRET_ID="no/such/secret")
    with dev_client() as client:
        response = client.http.post("/maths", body=b'{"op": "math:add", "a": 1, "b": 2}')

    assert response.status_code == 503


# -- the kick ----------------------------------------------------------------------------------


@pytest.fixture
def kicks(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every Invoke call the kicker's real boto3 client makes: its parameters, and the HTTP
    status AWS (here moto) answered, recorded through botocore's event hooks."""
    calls: list[dict[str, Any]] = []
    make_client = chalicelib.aws._lambda_client

    def remember(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["kick"] = {**params, "Payload": json.loads(params["Payload"])}

    def record(http_response: Any, context: dict[str, Any], **_: Any) -> None:
        calls.append({**context["kick"], "status": http_response.status_code})

    def recording_client() -> Any:
        client = make_client()
        client.meta.events.register("provide-client-params.lambda.Invoke", remember)
        client.meta.events.register("after-call.lambda.Invoke", record)
        return client

    monkeypatch.setattr(chalicelib.aws, "_lambda_client", recording_client)
    return calls


def create_kick_function() -> None:
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return event\n")
    role = boto3.client("iam").create_role(RoleName="worker", AssumeRolePolicyDocument="{}")
    boto3.client("lambda").create_function(
        FunctionName=KICK_FUNCTION,
        Runtime="python3.11",
        Role=role["Role"]["Arn"],
        Handler="app.handler",
        Code={"ZipFile": code.getvalue()},
    )


@pytest.fixture
def kick_client(redis_url: str, monkeypatch: pytest.MonkeyPatch, kicks: list) -> Iterator[Client]:
    use_redis(monkeypatch, redis_url, JOBS_KICK_FUNCTION=KICK_FUNCTION)
    with dev_client() as client:
        yield client


@mock_aws(config={"lambda": {"use_docker": False}})
def test_enqueue_kicks_the_worker_function_asynchronously(
    kick_client: Client, kicks: list[dict[str, Any]]
) -> None:
    create_kick_function()

    response = kick_client.http.post("/maths", body=b'{"op": "math:add", "a": 1, "b": 2}')

    assert response.status_code == 202
    assert kicks == [
        {
            "FunctionName": KICK_FUNCTION,
            "InvocationType": "Event",
            "Payload": {"queue": "default"},
            "status": 202,
        }
    ]


@mock_aws(config={"lambda": {"use_docker": False}})
def test_a_burst_of_requests_kicks_once_per_debounce_window(
    kick_client: Client, kicks: list[dict[str, Any]]
) -> None:
    create_kick_function()

    ids = [create(kick_client, "math:add", n, 1) for n in range(10)]

    assert len(kicks) == 1
    kick_client.lambda_.invoke("worker_kick", kicks[0]["Payload"])
    assert [get(kick_client, job_id).json_body["res"] for job_id in ids] == list(range(1, 11))


@mock_aws(config={"lambda": {"use_docker": False}})
def test_the_next_window_kicks_again(
    redis_url: str, monkeypatch: pytest.MonkeyPatch, kicks: list
) -> None:
    create_kick_function()
    use_redis(monkeypatch, redis_url, JOBS_KICK_FUNCTION=KICK_FUNCTION, JOBS_KICK_DEBOUNCE_S="0.2")
    deadline = time.monotonic() + 5
    with dev_client() as client:
        while len(kicks) < 2 and time.monotonic() < deadline:
            create(client, "math:add", 1, 1)

    assert len(kicks) == 2


@mock_aws  # no such function: Lambda answers ResourceNotFoundException
def test_kick_error_keeps_the_job_and_still_answers_202(
    kick_client: Client, kicks: list[dict[str, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="chalicelib.jobs"):
        response = kick_client.http.post("/maths", body=b'{"op": "math:add", "a": 1, "b": 2}')

    assert response.status_code == 202
    assert [kick["status"] for kick in kicks] == [404]
    assert "kicking a worker for queue default failed" in caplog.text
    assert "ResourceNotFoundException" in caplog.text
    job_id = response.json_body["res"]
    assert get(kick_client, job_id).json_body["status"] == "PENDING"
    kick_client.lambda_.invoke("worker", scheduled_event(kick_client))  # a minute later
    assert get(kick_client, job_id).json_body["res"] == 3


def test_unreachable_lambda_api_still_answers_202_quickly(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_LAMBDA", f"http://127.0.0.1:{free_port()}")
    use_redis(monkeypatch, redis_url, JOBS_KICK_FUNCTION=KICK_FUNCTION)
    with dev_client() as client:
        started = time.monotonic()
        response = client.http.post("/maths", body=b'{"op": "math:add", "a": 1, "b": 2}')
        elapsed = time.monotonic() - started

        assert response.status_code == 202
        assert elapsed < 5
        assert get(client, response.json_body["res"]).json_body["status"] == "PENDING"


# -- the callback signing secret from Secrets Manager ------------------------------------------


@pytest.mark.parametrize(
    "stored", [json.dumps({"secret": "from-aws"}), "from-aws"], ids=["json", "plain"]
)
@mock_aws
def test_callbacks_are_signed_with_the_secret_named_by_jobs_callback_secret_id(
    redis_url: str, stored: str
) -> None:
    read_secret_once.cache_clear()
    boto3.client("secretsmanager").create_secret(Name="chalice-jobs/test/cb", SecretString=stored)
    controller = JobController.from_env(
        {"JOBS_CALLBACK_SECRET_ID": "chalice-jobs/test/cb", "JOBS_CALLBACK_ALLOW_PRIVATE": "1"},
        redis_url=redis_url,
        read_secret=read_secret_once,
    )
    controller.add_handler("test:ok", lambda p: JobResult(True, res=1))
    receiver = Receiver()
    with receiver.running():
        controller.create_job("test:ok", {}, callback_url=receiver.url())
        (request,) = receiver.drain_until_received(controller.drain)

    assert verify_callback(request.body, request.headers["Jobs-Signature"], "from-aws")
    read_secret_once.cache_clear()


@mock_aws
def test_an_unreadable_callback_secret_leaves_the_delivery_to_retry(redis_url: str) -> None:
    read_secret_once.cache_clear()
    controller = JobController(
        redis_url,
        callback_secret_id="chalice-jobs/test/missing",
        callback_allow_private=True,
        read_secret=read_secret_once,
    )
    controller.add_handler("test:ok", lambda p: JobResult(True, res=1))
    receiver = Receiver()
    with receiver.running():
        job_id = controller.create_job("test:ok", {}, callback_url=receiver.url())

        def delivery_tried() -> JobStatus | None:
            controller.drain(0.3)
            delivery_id = controller.get_status(job_id).callback_id
            status = controller.get_status(delivery_id) if delivery_id else None
            return status if status and status.state is JobState.RETRYING else None

        delivery = wait_until(delivery_tried, 10, "a delivery tried")

    assert delivery.error is not None and "cannot read the callback secret" in delivery.error
    assert receiver.received == []
