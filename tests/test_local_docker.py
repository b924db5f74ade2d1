"""The Docker path of the local stack, without a Docker engine: a stand-in `docker` command on
PATH answers as an engine would (or hangs, or fails), and its `compose up` starts a real
redis-server on the published loopback port, as the container would.

What needs a real engine is in test_local_docker_engine.py, which CI runs with one.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from chalicelib.service import build_controller
from local.commands.up import child_env
from local.parts.docker_redis import stop_compose_redis
from local.parts.redis_server import find_redis_binary
from local.parts.supervisor import LogMux, strip_escapes
from tests.local_helpers import READY_LINE, REPO, RunningStack, clean_env, start_stack

#: the stand-in docker command. FAKE_DOCKER_MODE: ok, slow-up (compose up hangs), no-image
#: (compose up fails as an offline engine without redis:7 does), slow-stop (compose stop
#: hangs), no-engine (docker info fails). It records each call in <state>/calls.
FAKE_DOCKER = """#!{python}
import json, os, signal, subprocess, sys, time
state, mode = {state!r}, {mode!r}
args = sys.argv[1:]
with open(os.path.join(state, "calls"), "a") as calls:
    calls.write(json.dumps(args) + "\\n")
words = [a for a in args if not a.startswith("-")]
pidfile = os.path.join(state, "redis.pid")
def redis_pid():
    try:
        pid = int(open(pidfile).read())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return 0
if words[:1] == ["info"]:
    if mode == "no-engine":
        sys.exit("Cannot connect to the Docker daemon")
    print("20.10.24")
elif words[:2] == ["image", "inspect"]:
    if mode == "no-image":
        sys.exit("Error: No such image")
    print("[]")
elif words[:1] == ["inspect"]:
    print("/chalice-jobs-redis-1", redis_pid())
elif words[:1] != ["compose"]:
    sys.exit(f"stand-in docker: unknown command {{args}}")
elif "version" in words:
    print("Docker Compose version v2.40.3")
elif "up" in words:
    if mode == "slow-up":
        time.sleep(600)
    if mode == "no-image":
        sys.exit("Error response from daemon: pull access denied for redis, repository does "
                 "not exist or may require 'docker login'")
    subprocess.run([{redis!r}, "--port", os.environ["REDIS_PORT"], "--bind", "127.0.0.1",
                    "--save", "", "--daemonize", "yes", "--pidfile", pidfile, "--dir", state],
                   check=True, stdout=subprocess.DEVNULL)
    while not redis_pid():
        time.sleep(0.01)
elif "ps" in words:
    print("f00d" if redis_pid() else "")
elif "logs" in words:
    print("\\x1b[1mredis log of this run\\x1b[0m", flush=True)
    while redis_pid():
        time.sleep(0.05)
elif "stop" in words or "kill" in words:
    if mode == "slow-stop" and "stop" in words:
        time.sleep(600)
    if redis_pid():
        os.kill(redis_pid(), signal.SIGKILL if "kill" in words else signal.SIGTERM)
    while redis_pid():
        time.sleep(0.01)
else:
    sys.exit(f"stand-in docker: unknown compose command {{args}}")
"""


def fake_docker(state: Path, mode: str) -> Path:
    """A directory holding the stand-in `docker`, its calls recorded in `state`/calls."""
    bin_dir = state / "bin"
    bin_dir.mkdir(parents=True)
    script = bin_dir / "docker"
    redis = find_redis_binary().server
    script.write_text(
        FAKE_DOCKER.format(python=sys.executable, state=str(state), mode=mode, redis=redis)
    )
    script.chmod(0o755)
    return bin_dir


def calls(state: Path) -> list[list[str]]:
    """The compose subcommands (up, stop, logs...) the stand-in ran, with their arguments."""
    lines = (state / "calls").read_text().splitlines() if (state / "calls").exists() else []
    made = [json.loads(line) for line in lines]
    return [
        [a for a in c[c.index("chalice-jobs") + 1 :] if a not in ("--ansi", "never")]
        for c in made
        if c[:1] == ["compose"] and "chalice-jobs" in c
    ]


@pytest.fixture
def docker_state(tmp_path: Path) -> Iterator[Path]:
    """The stand-in's folder; the redis-server its `compose up` started is ended afterwards."""
    state = tmp_path / "docker"
    yield state
    pidfile = state / "redis.pid"
    if pidfile.exists():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pidfile.read_text()), signal.SIGKILL)


def stack_with_docker(tmp_path: Path, state: Path, mode: str, *args: str) -> RunningStack:
    """`up` with the stand-in first on PATH; its `compose up` may hang for 2 s only."""
    bin_dir = fake_docker(state, mode)
    timeout = {"LOCAL_DOCKER_TIMEOUT": "2"} if mode == "slow-up" else {}
    env = clean_env(PATH=f"{bin_dir}:{os.environ['PATH']}", **timeout)
    return start_stack(tmp_path / "data", "--workers", "1", *args, env=env)


@pytest.mark.timeout(120)
def test_a_compose_up_that_hangs_is_ended_its_container_stopped_and_the_binary_used(
    tmp_path: Path, docker_state: Path
) -> None:
    stack = stack_with_docker(tmp_path, docker_state, "slow-up")
    try:
        stack.wait_for_line(READY_LINE)
        assert (
            "passed over: Docker's Redis did not start: docker compose up redis did not finish "
            "within 2s"
        ) in stack.output
        assert "redis-server from" in stack.wait_for_line("  redis     redis://")
        assert [c[0] for c in calls(docker_state)] == ["up", "stop"]
        assert stack.interrupt() == 0
    finally:
        stack.kill()
    assert "Traceback" not in stack.output
    assert not (stack.data_dir / "stack.json").exists()


@pytest.mark.timeout(60)
def test_with_docker_asked_for_a_hanging_compose_up_fails_cleanly(
    tmp_path: Path, docker_state: Path
) -> None:
    stack = stack_with_docker(tmp_path, docker_state, "slow-up", "--redis", "docker")
    try:
        assert stack.process.wait(40) == 1
    finally:
        stack.kill()
    stack.drain()
    assert "docker compose up redis did not finish within 2s" in stack.output
    assert [c[0] for c in calls(docker_state)] == ["up", "stop"]
    assert "Traceback" not in stack.output
    assert not (stack.data_dir / "stack.json").exists()


def test_a_compose_stop_that_hangs_is_ended_and_the_container_killed(
    docker_state: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bin_dir = fake_docker(docker_state, "slow-stop")
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    monkeypatch.setattr("local.parts.docker_redis.DOCKER_STOP_TIMEOUT_S", 1.0)
    stop_compose_redis(LogMux(sys.stdout))
    said = capsys.readouterr().out
    assert "docker compose stop redis did not finish within 1s; killing the container" in said
    assert [c[0] for c in calls(docker_state)] == ["stop", "kill"]


@pytest.mark.timeout(120)
def test_an_engine_without_the_redis_image_falls_back_to_the_binary_saying_why(
    tmp_path: Path, docker_state: Path
) -> None:
    stack = stack_with_docker(tmp_path, docker_state, "no-image")
    try:
        stack.wait_for_line(READY_LINE)
        assert (
            "passed over: Docker's Redis did not start: docker compose up redis failed with "
            "code 1: Error response from daemon: pull access denied for redis"
        ) in stack.output
        assert "redis-server from" in stack.wait_for_line("  redis     redis://")
        assert stack.interrupt() == 0
    finally:
        stack.kill()
    assert "Traceback" not in stack.output


@pytest.mark.timeout(120)
def test_docker_redis_shows_this_runs_log_without_escapes_and_the_servers_pid(
    tmp_path: Path, docker_state: Path
) -> None:
    stack = stack_with_docker(tmp_path, docker_state, "ok")
    try:
        stack.wait_for_line(READY_LINE)
        banner_line = stack.wait_for_line("  redis     redis://")
        server_pid = int((docker_state / "redis.pid").read_text())
        assert banner_line.rstrip().endswith(f"container chalice-jobs-redis-1, pid {server_pid}"), (
            banner_line
        )
        assert stack.state()["pids"]["redis"] == server_pid
        assert stack.interrupt() == 0
    finally:
        stack.kill()
    assert "redis    | redis log of this run\n" in stack.output
    assert "\x1b" not in stack.output
    (logs,) = [c for c in calls(docker_state) if c[0] == "logs"]
    since = logs[logs.index("--since") + 1]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", since), since
    assert [c[0] for c in calls(docker_state)] == ["up", "ps", "logs", "stop"]
    assert "Traceback" not in stack.output


def test_escape_sequences_are_dropped_from_log_lines() -> None:
    assert strip_escapes("\x1b[1m\x1b[31mred\x1b[0m plain \x1b]0;title\x07") == "red plain "
    assert strip_escapes("1:M * Ready to accept connections") == "1:M * Ready to accept connections"


def test_the_worker_image_context_is_small_for_the_legacy_builder_too() -> None:
    from docker.utils.build import exclude_paths  # noqa: PLC0415 - moto's docker client

    # the legacy builder reads only the context root's .dockerignore, BuildKit that one too
    assert not (REPO / "local" / "Dockerfile.dockerignore").exists()
    patterns = [
        line for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]  # fmt: skip
    sent = exclude_paths(str(REPO), patterns, dockerfile="local/Dockerfile")
    assert {"requirements.txt", "local/Dockerfile", "chalicelib/jobs/__init__.py"} <= sent
    assert not [path for path in sent if path.startswith((".venv", ".git/", "tests/"))]
    size = sum((REPO / path).stat().st_size for path in sent if (REPO / path).is_file())
    assert size < 5_000_000, size


def test_compose_workers_serve_the_queues_of_ups_workers_with_a_secret() -> None:
    compose = yaml.safe_load((REPO / "local" / "docker-compose.yml").read_text())
    environment = compose["services"]["worker"]["environment"]
    # as compose fills ${NAME:-default} in a shell without those variables
    unset = {k: re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", str(v)) for k, v in environment.items()}
    in_compose = build_controller(unset).settings
    of_up = build_controller(child_env("redis://127.0.0.1:6380/0")).settings
    assert in_compose.queues == of_up.queues == ("default", "callbacks")
    assert in_compose.callbacks_enabled and in_compose.callback_allow_private
    assert of_up.callback_allow_private
