"""No silent default Redis: JOBS_REDIS_URL, else (dev only) a running local stack's Redis, else a
503 that says so; a deployed stage without its Redis URL or secret refuses to start."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from chalice.test import Client

import app
from chalicelib import redis_url
from chalicelib.redis_url import RedisNotConfigured
from tests.api_helpers import JOBS_VARIABLES, PROJECT_DIR, create, dev_client, post_json

UNKNOWN_ID = "default@2f1e6a52-3c1d-4b7a-9e55-0d6a3b8c9f10"


@pytest.fixture
def dead_pid() -> int:
    """The pid of a process that has exited."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def write_stack(data_dir: Path, url: str, pid: int) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "stack.json").write_text(json.dumps({"pid": pid, "redis_url": url}))


@pytest.fixture
def app_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """caplog, also fed by the app's own logger (which does not propagate)."""
    app.app.log.addHandler(caplog.handler)
    try:
        yield caplog
    finally:
        app.app.log.removeHandler(caplog.handler)


@pytest.fixture
def no_redis_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No JOBS_* variable, and a stack file location with nothing in it; returns that dir."""
    for name in (*JOBS_VARIABLES, "JOBS_STAGE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LOCAL_DATA_DIR", str(tmp_path / "data"))
    app.reset_controller()
    return tmp_path / "data"


# -- resolving ---------------------------------------------------------------------------------


def test_jobs_redis_url_wins() -> None:
    url, source = redis_url.resolve({"JOBS_REDIS_URL": "redis://127.0.0.1:7000/0"})

    assert (url, source) == ("redis://127.0.0.1:7000/0", "JOBS_REDIS_URL")


def test_dev_uses_a_live_local_stack(tmp_path: Path) -> None:
    write_stack(tmp_path, "redis://127.0.0.1:6390/0", pid=os.getpid())

    url, source = redis_url.resolve({"LOCAL_DATA_DIR": str(tmp_path)})

    assert url == "redis://127.0.0.1:6390/0"
    assert str(tmp_path / "stack.json") in source


def test_dev_ignores_the_stack_file_of_a_dead_stack(tmp_path: Path, dead_pid: int) -> None:
    write_stack(tmp_path, "redis://127.0.0.1:6390/0", pid=dead_pid)

    with pytest.raises(RedisNotConfigured, match="JOBS_REDIS_URL is not set"):
        redis_url.resolve({"LOCAL_DATA_DIR": str(tmp_path), "JOBS_STAGE": "dev"})


@pytest.mark.parametrize("content", ["", "{", "[]", '{"pid": true, "redis_url": "redis://x"}'])
def test_dev_ignores_a_broken_stack_file(tmp_path: Path, content: str) -> None:
    (tmp_path / "stack.json").write_text(content)

    with pytest.raises(RedisNotConfigured):
        redis_url.resolve({"LOCAL_DATA_DIR": str(tmp_path)})


def test_no_6379_default_anywhere_without_configuration(tmp_path: Path) -> None:
    with pytest.raises(RedisNotConfigured) as refused:
        redis_url.resolve({"LOCAL_DATA_DIR": str(tmp_path)})

    assert not refused.value.refuses_to_start


@pytest.mark.parametrize(
    ("environ", "missing"),
    [
        ({}, "JOBS_REDIS_URL and JOBS_REDIS_SECRET_ID"),
        ({"JOBS_REDIS_SECRET_ID": "s"}, "JOBS_REDIS_URL not set"),
        ({"JOBS_REDIS_URL": "rediss://cache:6379/0"}, "JOBS_REDIS_SECRET_ID not set"),
    ],
)
def test_prod_needs_its_url_and_secret_even_with_a_stack(
    tmp_path: Path, environ: dict[str, str], missing: str
) -> None:
    write_stack(tmp_path, "redis://127.0.0.1:6390/0", pid=os.getpid())
    environ = {**environ, "JOBS_STAGE": "prod", "LOCAL_DATA_DIR": str(tmp_path)}

    with pytest.raises(RedisNotConfigured, match=f"stage 'prod' refuses to start: {missing}") as e:
        redis_url.resolve(environ)

    assert e.value.refuses_to_start


def test_stages_name_themselves_in_the_config() -> None:
    config = json.loads((PROJECT_DIR / ".chalice" / "config.json").read_text())

    for stage, settings in config["stages"].items():
        assert settings["environment_variables"]["JOBS_STAGE"] == stage


# -- through the app ---------------------------------------------------------------------------


def test_dev_without_redis_answers_503_saying_so_and_logs_it_once(
    no_redis_env: Path, app_log: pytest.LogCaptureFixture
) -> None:
    with app_log.at_level(logging.ERROR), dev_client() as client:
        first = post_json(client, {"a": 1, "b": 2, "op": "math:add"})
        second = client.http.get(f"/maths/{UNKNOWN_ID}")

    assert first.status_code == second.status_code == 503
    assert first.headers["Retry-After"] == "1"
    assert first.json_body["success"] is False
    assert first.json_body["error"].startswith("JOBS_REDIS_URL is not set")
    assert second.json_body == first.json_body
    logged = [r for r in app_log.records if "JOBS_REDIS_URL is not set" in r.getMessage()]
    assert len(logged) == 1


def test_dev_finds_a_stack_started_after_the_app(no_redis_env: Path, redis_url: str) -> None:
    with dev_client() as client:
        assert post_json(client, {"a": 1, "b": 2, "op": "math:add"}).status_code == 503

        write_stack(no_redis_env, redis_url, pid=os.getpid())
        job_id = create(client, "math:add", 1, 2)

        assert client.http.get(f"/maths/{job_id}").json_body["status"] == "PENDING"


@pytest.fixture
def prod_without_redis(tmp_path: Path, no_redis_env: Path) -> Iterator[Client]:
    """A test client of the prod stage whose config names no Redis."""
    project = tmp_path / "project"
    shutil.copytree(PROJECT_DIR / ".chalice", project / ".chalice")
    config_path = project / ".chalice" / "config.json"
    config = json.loads(config_path.read_text())
    prod_env = config["stages"]["prod"]["environment_variables"]
    del prod_env["JOBS_REDIS_URL"], prod_env["JOBS_REDIS_SECRET_ID"]
    config_path.write_text(json.dumps(config))
    app.reset_controller()
    try:
        with Client(app.app, stage_name="prod", project_dir=str(project)) as client:
            yield client
    finally:
        app.reset_controller()


def test_prod_without_redis_refuses_the_first_request(
    prod_without_redis: Client, app_log: pytest.LogCaptureFixture
) -> None:
    with app_log.at_level(logging.ERROR):
        response = post_json(prod_without_redis, {"a": 1, "b": 2, "op": "math:add"})

    assert response.status_code == 500
    assert response.json_body == {
        "success": False,
        "error": "the service is not configured; see its log",
    }
    assert "stage 'prod' refuses to start: JOBS_REDIS_URL and JOBS_REDIS_SECRET_ID not set" in (
        app_log.text
    )


def test_prod_worker_without_redis_fails_its_invocation(prod_without_redis: Client) -> None:
    with pytest.raises(RedisNotConfigured, match="stage 'prod' refuses to start"):
        prod_without_redis.lambda_.invoke("worker_kick", {})


# -- TLS outside dev ---------------------------------------------------------------------------

PROD_SECRET = {"JOBS_STAGE": "prod", "JOBS_REDIS_SECRET_ID": "chalice-jobs/prod/redis"}


def test_prod_refuses_a_plaintext_redis_url_naming_the_setting_that_allows_it() -> None:
    environ = {**PROD_SECRET, "JOBS_REDIS_URL": "redis://:hunter2@cache:6379/0"}

    with pytest.raises(RedisNotConfigured, match="JOBS_REDIS_ALLOW_PLAINTEXT=1") as refused:
        redis_url.resolve(environ)

    assert refused.value.refuses_to_start
    assert "hunter2" not in str(refused.value)


@pytest.mark.parametrize("allow", ["1", "true"])
def test_prod_takes_a_plaintext_url_when_the_setting_allows_it(allow: str) -> None:
    environ = {**PROD_SECRET, "JOBS_REDIS_URL": "redis://cache:6379/0"}

    url, _ = redis_url.resolve({**environ, "JOBS_REDIS_ALLOW_PLAINTEXT": allow})

    assert url == "redis://cache:6379/0"


@pytest.mark.parametrize(
    "query", ["ssl_cert_reqs=none", "ssl_check_hostname=false", "ssl_check_hostname=N"]
)
def test_prod_refuses_a_tls_url_that_turns_the_certificate_check_off(query: str) -> None:
    environ = {**PROD_SECRET, "JOBS_REDIS_URL": f"rediss://cache:6379/0?{query}"}

    with pytest.raises(RedisNotConfigured, match="turns off the check"):
        redis_url.resolve({**environ, "JOBS_REDIS_ALLOW_PLAINTEXT": "1"})


def test_dev_takes_a_plaintext_url() -> None:
    url, _ = redis_url.resolve({"JOBS_STAGE": "dev", "JOBS_REDIS_URL": "redis://127.0.0.1:1/0"})

    assert url == "redis://127.0.0.1:1/0"
