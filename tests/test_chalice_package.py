"""`chalice package` of the prod stage, offline but for the package registry: the SAM template
has the schedule, the workers' timeouts and reserved concurrency, the kick's wiring, and the
VPC settings exactly when subnets are configured."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.api_helpers import PROJECT_DIR
from tests.test_dependencies import locked, normalized

CHALICE = str(Path(sys.executable).parent / "chalice")
CONFIG = json.loads((PROJECT_DIR / ".chalice" / "config.json").read_text())
PROD = CONFIG["stages"]["prod"]


def copy_project(target: Path) -> Path:
    """What chalice packages, without caches or earlier deployments."""
    target.mkdir()
    shutil.copy(PROJECT_DIR / "app.py", target)
    shutil.copy(PROJECT_DIR / "requirements.txt", target)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(PROJECT_DIR / "chalicelib", target / "chalicelib", ignore=ignore)
    (target / ".chalice").mkdir()
    for config_file in (PROJECT_DIR / ".chalice").glob("*.json"):
        shutil.copy(config_file, target / ".chalice")
    return target


def package(project: Path, stage: str, out: str) -> Path:
    """Run `chalice package` for a stage; return the output directory."""
    command = [CHALICE, "package", "--stage", stage, out]
    merge = project / ".chalice" / f"sam-{stage}.json"
    if merge.exists():
        command[2:2] = ["--merge-template", str(merge)]
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1"}
    done = subprocess.run(
        command, cwd=project, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return project / out


def resources(out: Path) -> dict[str, Any]:
    return dict(json.loads((out / "sam.json").read_text())["Resources"])


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_project(tmp_path_factory.mktemp("package") / "project")


@pytest.fixture(scope="module")
def prod(project: Path) -> dict[str, Any]:
    return resources(package(project, "prod", "out-prod"))


def test_scheduled_worker_runs_every_minute_for_about_a_minute(prod: dict[str, Any]) -> None:
    worker = prod["Worker"]["Properties"]

    assert worker["Handler"] == "app.worker"
    assert worker["Events"]["WorkerEvent"] == {
        "Type": "Schedule",
        "Properties": {"Schedule": "rate(1 minute)"},
    }
    assert worker["Timeout"] == 60
    assert worker["ReservedConcurrentExecutions"] == 2


def test_kicked_worker_has_its_name_timeout_and_concurrency_cap(prod: dict[str, Any]) -> None:
    kick = prod["WorkerKick"]["Properties"]
    api_env = prod["APIHandler"]["Properties"]["Environment"]["Variables"]

    assert kick["Handler"] == "app.worker_kick"
    assert kick["Timeout"] == 30
    assert kick["ReservedConcurrentExecutions"] == 3
    # the merge template names it as `chalice deploy` would, so config and policy hold for both
    assert kick["FunctionName"] == api_env["JOBS_KICK_FUNCTION"] == "chalice-jobs-prod-worker_kick"
    assert "JOBS_KICK_FUNCTION" not in kick["Environment"]["Variables"]


def test_every_function_is_in_the_redis_vpc(prod: dict[str, Any]) -> None:
    for name in ("APIHandler", "Worker", "WorkerKick"):
        assert prod[name]["Properties"]["VpcConfig"] == {
            "SubnetIds": PROD["subnet_ids"],
            "SecurityGroupIds": PROD["security_group_ids"],
        }


def test_roles_allow_the_secret_the_kick_and_the_vpc(prod: dict[str, Any]) -> None:
    def actions(role: str) -> set[str]:
        (policy,) = prod[role]["Properties"]["Policies"]
        found: set[str] = set()
        for statement in policy["PolicyDocument"]["Statement"]:
            action = statement["Action"]
            found.update([action] if isinstance(action, str) else action)
        return found

    for role in ("ApiHandlerRole", "WorkerRole", "WorkerKickRole"):
        assert {"secretsmanager:GetSecretValue", "ec2:CreateNetworkInterface"} <= actions(role)
    assert "lambda:InvokeFunction" in actions("ApiHandlerRole")
    assert "lambda:InvokeFunction" not in actions("WorkerRole")


def test_api_is_regional_so_a_get_may_carry_a_body(prod: dict[str, Any]) -> None:
    # An edge-optimized API sits behind CloudFront, which refuses a GET with a body (403).
    assert prod["RestAPI"]["Properties"]["EndpointConfiguration"] == "REGIONAL"


@pytest.fixture(scope="module")
def zip_names(project: Path) -> set[str]:
    package(project, "prod", "out-zip")
    return set(zipfile.ZipFile(project / "out-zip" / "deployment.zip").namelist())


def test_package_holds_the_app_its_scripts_and_redis_but_not_boto3(zip_names: set[str]) -> None:
    names = zip_names

    assert {"app.py", "chalicelib/jobs/scripts/enqueue.lua", "redis/__init__.py"} <= names
    assert not any(name.startswith(("boto3/", "botocore/", "tests/")) for name in names)


def test_package_ships_exactly_the_locked_versions(zip_names: set[str]) -> None:
    # requirements.txt is the hashed lock: what ships is what the tests ran (Lambda's Python is
    # this one, as chalice picks the runtime from it)
    shipped = {}
    for name in zip_names:
        top = name.split("/", 1)[0]
        if top.endswith(".dist-info"):
            distribution, _, version = top[: -len(".dist-info")].partition("-")
            shipped[normalized(distribution)] = version

    assert shipped == locked(PROJECT_DIR / "requirements.txt")


def test_no_vpc_config_without_subnets(project: Path) -> None:
    config_path = project / ".chalice" / "config.json"
    config = json.loads(config_path.read_text())
    for key in ("subnet_ids", "security_group_ids"):
        del config["stages"]["prod"][key]
    config_path.write_text(json.dumps(config))
    try:
        no_vpc = resources(package(project, "prod", "out-no-vpc"))
    finally:
        shutil.copy(PROJECT_DIR / ".chalice" / "config.json", config_path)

    assert not [name for name, r in no_vpc.items() if "VpcConfig" in r.get("Properties", {})]
