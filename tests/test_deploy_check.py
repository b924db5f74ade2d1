"""A rehearsed deployment: `chalice deploy --stage dev` into a private moto server on a loopback
port, what it created checked with boto3, then `chalice delete --stage dev` and nothing left.

Traffic goes to 127.0.0.1 only (AWS_ENDPOINT_URL), with fake credentials. The project is
deployed from a copy in a temporary directory, so `.chalice/deployed/` and
`.chalice/deployments/` of the work tree are never written; the copy and the moto server (by
its pid) are removed at the end. `make deploy-check` runs this file alone. Tests run in order:
the last one deletes the deployment.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from local.parts.redis_server import free_port
from tests.api_helpers import PROJECT_DIR
from tests.test_chalice_package import CHALICE, copy_project
from tests.test_local_docker import fake_docker

CONFIG = json.loads((PROJECT_DIR / ".chalice" / "config.json").read_text())
DEV = CONFIG["stages"]["dev"]
APP = CONFIG["app_name"]
#: function name in AWS -> name in the config
FUNCTIONS = {f"{APP}-dev": "api_handler", f"{APP}-dev-worker": "worker"}
FUNCTIONS[f"{APP}-dev-worker_kick"] = "worker_kick"
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


def wait_for_port(port: int, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            assert time.monotonic() < deadline, f"moto did not listen on {port}"
            time.sleep(0.05)


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """A moto server of our own on a free loopback port; stopped by its pid afterwards."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, str(PROJECT_DIR / "scripts" / "moto_server.py"), str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(5)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


@pytest.fixture(scope="module")
def aws_env(moto_endpoint: str) -> dict[str, str]:
    """The environment of a chalice command: the moto endpoint, fake credentials, no profile."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "JOBS_"))}
    return {**env, **FAKE_AWS, "AWS_ENDPOINT_URL": moto_endpoint}


def aws(service: str, endpoint: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def chalice(project: Path, env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [CHALICE, *args], cwd=project, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    project = copy_project(tmp_path_factory.mktemp("deploy") / "project")
    try:
        yield project
    finally:
        shutil.rmtree(project, ignore_errors=True)


@pytest.fixture(scope="module")
def deployed(project: Path, aws_env: dict[str, str]) -> Iterator[str]:
    """Deploy the dev stage; the deploy's output. Deleted afterwards if a test did not."""
    output = chalice(project, aws_env, "deploy", "--stage", "dev")
    try:
        yield output
    finally:
        deployed_file = project / ".chalice" / "deployed" / "dev.json"
        if deployed_file.exists() and json.loads(deployed_file.read_text())["resources"]:
            chalice(project, aws_env, "delete", "--stage", "dev")


def test_rest_api_has_every_route(deployed: str, moto_endpoint: str) -> None:
    gateway = aws("apigateway", moto_endpoint)
    (api,) = [a for a in gateway.get_rest_apis()["items"] if a["name"] == APP]
    resources = gateway.get_resources(restApiId=api["id"])["items"]
    methods = {(r["path"], m) for r in resources for m in r.get("resourceMethods", {})}

    assert {("/maths", "POST"), ("/maths/{job_id}", "GET"), ("/openapi.json", "GET")} <= methods
    assert "Rest API URL" in deployed


def test_three_functions_with_the_configs_memory_timeout_and_environment(
    deployed: str, moto_endpoint: str
) -> None:
    lambda_ = aws("lambda", moto_endpoint)
    names = {f["FunctionName"] for f in lambda_.list_functions()["Functions"]}
    assert names == set(FUNCTIONS)

    for name, config_name in FUNCTIONS.items():
        expected = DEV["lambda_functions"][config_name]
        got = lambda_.get_function_configuration(FunctionName=name)
        assert got["MemorySize"] == expected["lambda_memory_size"], name
        assert got["Timeout"] == expected["lambda_timeout"], name
        assert got["Environment"]["Variables"] == DEV["environment_variables"], name


def test_worker_runs_every_minute(deployed: str, moto_endpoint: str) -> None:
    events = aws("events", moto_endpoint)
    (rule,) = events.list_rules(NamePrefix=f"{APP}-dev-worker")["Rules"]
    (target,) = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]

    assert rule["ScheduleExpression"] == "rate(1 minute)"
    assert target["Arn"].endswith(f":function:{APP}-dev-worker")


def test_each_role_allows_only_writing_logs(deployed: str, moto_endpoint: str) -> None:
    iam = aws("iam", moto_endpoint)
    policy_file = json.loads((PROJECT_DIR / ".chalice" / DEV["iam_policy_file"]).read_text())
    roles = [r for r in iam.list_roles()["Roles"] if r["RoleName"].startswith(f"{APP}-dev")]
    assert {r["RoleName"] for r in roles} == {
        f"{APP}-dev-{name}" for name in ("api_handler", "worker", "worker_kick")
    }

    for role in roles:
        (policy_name,) = iam.list_role_policies(RoleName=role["RoleName"])["PolicyNames"]
        policy = iam.get_role_policy(RoleName=role["RoleName"], PolicyName=policy_name)
        document = policy["PolicyDocument"]
        document = json.loads(document) if isinstance(document, str) else document
        actions = {a for s in document["Statement"] for a in s["Action"]}
        assert document == policy_file, role["RoleName"]
        assert actions == {"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"}


def lambda_image_problem(runtime: str, path: str | None = None) -> str | None:
    """None when a Docker engine answers and holds an image moto can run `runtime` in; else why
    the invoke is skipped. moto would pull a missing image from a registry, which fails offline
    and must not be tried from a test."""
    docker = shutil.which("docker", path=path)
    if docker is None:
        return "no docker command on PATH"

    def docker_ok(*args: str) -> bool:
        try:
            done = subprocess.run([docker, *args], capture_output=True, timeout=10, check=False)
        except subprocess.TimeoutExpired:
            return False
        return done.returncode == 0

    if not docker_ok("info"):
        return "no Docker engine answers"
    images = lambda_images(runtime)
    if any(docker_ok("image", "inspect", image) for image in images):
        return None
    return f"the engine has none of the Lambda images moto runs {runtime} in ({', '.join(images)})"


def lambda_images(runtime: str) -> list[str]:
    """The images moto 5 tries, in its order, for a function of `runtime` ("python3.11")."""
    language, version = runtime.rstrip("0123456789."), runtime.lstrip("abcdefghijklmnopqrstuvwxyz")
    chosen = os.environ.get("MOTO_DOCKER_LAMBDA_IMAGE")
    own = [chosen if ":" in chosen else f"{chosen}:{runtime}"] if chosen else []
    return [
        *own,
        f"ghcr.io/shogo82148/lambda-{language}:{version}",
        f"mlupin/docker-lambda:{runtime}",
        f"lambci/lambda:{runtime}",
    ]


def test_worker_function_runs_once(deployed: str, moto_endpoint: str) -> None:
    lambda_ = aws("lambda", moto_endpoint)
    name = f"{APP}-dev-worker_kick"
    problem = lambda_image_problem(lambda_.get_function_configuration(FunctionName=name)["Runtime"])
    if problem:
        pytest.skip(f"{problem}: moto runs Lambda code in Docker, so not invoked")
    answer = lambda_.invoke(FunctionName=name, Payload=b"{}")

    # the dev stage names no Redis on AWS: the worker refuses clearly instead of guessing one
    assert answer["StatusCode"] == 200
    assert "JOBS_REDIS_URL is not set" in answer["Payload"].read().decode()


def test_delete_leaves_nothing(
    deployed: str, project: Path, aws_env: dict[str, str], moto_endpoint: str
) -> None:
    chalice(project, aws_env, "delete", "--stage", "dev")

    gateway, lambda_ = aws("apigateway", moto_endpoint), aws("lambda", moto_endpoint)
    iam, events = aws("iam", moto_endpoint), aws("events", moto_endpoint)
    assert gateway.get_rest_apis()["items"] == []
    assert lambda_.list_functions()["Functions"] == []
    assert [r for r in iam.list_roles()["Roles"] if r["RoleName"].startswith(APP)] == []
    assert events.list_rules(NamePrefix=APP)["Rules"] == []
    state = json.loads((project / ".chalice" / "deployed" / "dev.json").read_text())
    assert state["resources"] == []


def test_the_invoke_is_skipped_unless_the_engine_holds_a_lambda_image(tmp_path: Path) -> None:
    bin_dir = fake_docker(tmp_path, "ok")
    assert lambda_image_problem("python3.11", path=str(bin_dir)) is None
    bin_dir = fake_docker(tmp_path / "bare", "no-image")
    assert lambda_image_problem("python3.11", path=str(bin_dir)) == (
        "the engine has none of the Lambda images moto runs python3.11 in "
        "(ghcr.io/shogo82148/lambda-python:3.11, mlupin/docker-lambda:python3.11, "
        "lambci/lambda:python3.11)"
    )
    bin_dir = fake_docker(tmp_path / "down", "no-engine")
    assert lambda_image_problem("python3.11", path=str(bin_dir)) == "no Docker engine answers"
    assert lambda_image_problem("python3.11", path=str(tmp_path / "empty")) == (
        "no docker command on PATH"
    )
