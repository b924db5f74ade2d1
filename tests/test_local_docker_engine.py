"""The Docker path of `python -m local up` against a real Docker engine: Redis in compose, the
worker image built and scaled, and the fall-back to a binary when the image is missing.

These run only with CHALICE_JOBS_DOCKER_TESTS=1, which .ci/docker-path sets once it has started
an engine of its own and built the images `redis:7` and `python:3.11-slim` locally. The engine
must reach no registry: a missing image fails at once. With the variable set, a missing engine
or image is a failure, not a skip. Traffic goes to 127.0.0.1 only (Redis is published there).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local.parts.redis_choice import compose_command, docker_problem
from local.parts.redis_server import free_port
from tests.local_helpers import (
    READY_LINE,
    REPO,
    SEED_BODY,
    SEED_POST_HEADERS,
    RunningStack,
    clean_env,
    curl,
    descendants,
    http_json,
    start_stack,
    still_alive,
)

pytestmark = pytest.mark.skipif(
    os.environ.get("CHALICE_JOBS_DOCKER_TESTS") != "1",
    reason="needs a Docker engine with the images built: .ci/docker-path runs these",
)
PROJECT_LABEL = "label=com.docker.compose.project=chalice-jobs"


def docker(*args: str, env: dict[str, str] | None = None, timeout_s: float = 60) -> str:
    done = subprocess.run(
        ["docker", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout_s
    )
    assert done.returncode == 0, f"docker {' '.join(args)}:\n{done.stdout}{done.stderr}"
    return done.stdout + done.stderr


def compose(*args: str, port: int | None = None, timeout_s: float = 60) -> str:
    env = {**os.environ, **({"REDIS_PORT": str(port)} if port else {})}
    return docker(*compose_command(*args)[1:], env=env, timeout_s=timeout_s)


@pytest.fixture
def stacks() -> Iterator[list[RunningStack]]:
    """Stacks a test starts (kept here to be killed if it fails); afterwards no container of
    the project is left, running or stopped (its volume and images stay)."""
    assert docker_problem() is None, "CHALICE_JOBS_DOCKER_TESTS=1 but Docker is not usable"
    started: list[RunningStack] = []
    yield started
    for stack in started:
        stack.kill()
    compose("down", "--remove-orphans")


def up(stacks: list[RunningStack], data_dir: Path, *args: str) -> RunningStack:
    """`python -m local up` choosing for itself (JOBS_REDIS_URL unset: Docker comes first)."""
    stack = start_stack(data_dir, *args, env=clean_env())
    stacks.append(stack)
    stack.wait_for_line(READY_LINE, timeout_s=120)
    stack.wait_for_line("stop: Ctrl-C")  # the banner's last line
    return stack


def finished(stack: RunningStack, job_id: str, timeout_s: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while (answer := http_json("GET", f"{stack.base_url}/maths/{job_id}")[1])["status"] not in (
        "COMPLETED",
        "FAILED",
    ):
        assert time.monotonic() < deadline, f"{job_id} still {answer}:\n{stack.output}"
        time.sleep(0.1)
    return dict(answer)


def worker_logs(port: int, text: str, count: int, timeout_s: float = 15) -> str:
    """The compose workers' logs once `text` is in them `count` times: the engine may still be
    copying a stopped container's last lines when `compose stop` returns."""
    deadline = time.monotonic() + timeout_s
    while (logs := compose("logs", "--no-log-prefix", "worker", port=port)).count(text) < count:
        assert time.monotonic() < deadline, logs
        time.sleep(0.2)
    return logs


def running_containers() -> list[str]:
    return docker("ps", "--quiet", "--filter", PROJECT_LABEL).split()


def process_name(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None


@pytest.mark.timeout(240)
def test_up_chooses_docker_answers_the_seed_requests_and_ctrl_c_leaves_nothing(
    tmp_path: Path, stacks: list[RunningStack]
) -> None:
    stack = up(stacks, tmp_path / "data", "--workers", "2")
    assert "local    | Redis: Docker compose (local/docker-compose.yml" in stack.output
    redis_pid = stack.state()["pids"]["redis"]
    assert process_name(redis_pid) == "redis-server"
    assert f"container chalice-jobs-redis-1, pid {redis_pid}" in stack.output
    started = descendants(stack.process.pid)

    headers = [arg for header in SEED_POST_HEADERS for arg in ("-H", header)]
    created = json.loads(curl("-X", "POST", f"{stack.base_url}/maths", *headers, "-d", SEED_BODY))
    assert finished(stack, created["res"]) == {"state_code": 6, "status": "COMPLETED", "res": 6}

    assert stack.interrupt() == 0
    assert still_alive(started) == [] and process_name(redis_pid) is None
    assert running_containers() == []
    assert not (stack.data_dir / "stack.json").exists()
    assert "Traceback" not in stack.output and "\x1b" not in stack.output


@pytest.mark.timeout(240)
def test_a_job_survives_a_second_up_whose_log_starts_afresh(
    tmp_path: Path, stacks: list[RunningStack]
) -> None:
    # the same port both times: the container is started again, not made anew, and keeps the
    # first run's log
    port = str(free_port())
    first = up(stacks, tmp_path / "data", "--workers", "0", "--redis-port", port)
    _, created = http_json("POST", f"{first.base_url}/maths", {"a": 6, "b": 7, "op": "math:add"})
    assert http_json("GET", f"{first.base_url}/maths/{created['res']}")[1]["status"] == "PENDING"
    assert first.interrupt() == 0

    second = up(stacks, tmp_path / "data", "--workers", "1", "--redis-port", port)
    made = [line for line in second.lines if "chalice-jobs-redis-1" in line and "Creat" in line]
    assert made == [], second.output
    assert finished(second, created["res"]) == {"state_code": 6, "status": "COMPLETED", "res": 13}
    assert second.interrupt() == 0
    # the first run's lines (its shutdown among them) are not shown again as the second's
    redis_lines = [line for line in second.lines if line.startswith("redis    |")]
    assert sum("Ready to accept connections" in line for line in redis_lines) == 1
    assert sum("Received SIGTERM" in line for line in redis_lines) == 1, second.output


@pytest.mark.timeout(300)
def test_the_worker_image_is_built_and_two_containers_complete_the_apis_jobs(
    tmp_path: Path, stacks: list[RunningStack]
) -> None:
    # the legacy builder, which reads only the context root's .dockerignore (the engine CI
    # starts has no default bridge, and the build needs no network)
    built = docker("build", "--network", "none", "--file", "local/Dockerfile", "--tag",
                   "chalice-jobs-ci/legacy", ".", env={**os.environ, "DOCKER_BUILDKIT": "0"},
                   timeout_s=180)  # fmt: skip
    docker("image", "rm", "chalice-jobs-ci/legacy")
    sent = re.search(r"Sending build context to Docker daemon\s+([\d.]+)([kMG]?B)", built)
    assert sent and sent[2] in ("B", "kB"), built  # not the .venv's hundreds of MB

    stack = up(stacks, tmp_path / "data", "--workers", "0")
    port = int(stack.state()["redis_url"].rsplit(":", 1)[1].split("/")[0])
    compose("up", "--detach", "--wait", "--build", "--scale", "worker=2", "worker", port=port,
            timeout_s=200)  # fmt: skip
    jobs = [
        http_json("POST", f"{stack.base_url}/maths", {"a": n, "b": 2, "op": "math:multiply"})[1]
        for n in range(6)
    ]
    for n, job in enumerate(jobs):
        assert finished(stack, job["res"])["res"] == 2 * n
    compose("stop", "worker", port=port)
    logs = worker_logs(port, "worker stopped", 2)
    ready = re.findall(r"worker ready: .* queues (\S+), concurrency", logs)
    assert ready == ["default,callbacks", "default,callbacks"], logs
    processed = re.findall(r"worker stopped: processed (\d+)", logs)
    assert sum(map(int, processed)) >= len(jobs), logs
    assert stack.interrupt() == 0


@pytest.mark.timeout(180)
def test_without_the_redis_image_up_uses_the_binary_and_says_why(
    tmp_path: Path, stacks: list[RunningStack]
) -> None:
    compose("rm", "--force", "--stop", "redis")  # a container would still start without its tag
    docker("image", "tag", "redis:7", "chalice-jobs-ci/redis-7-kept")
    docker("image", "rm", "redis:7")
    try:
        stack = up(stacks, tmp_path / "data", "--workers", "1")
    finally:
        docker("image", "tag", "chalice-jobs-ci/redis-7-kept", "redis:7")
        docker("image", "rm", "chalice-jobs-ci/redis-7-kept")
    assert "passed over: Docker's Redis did not start: docker compose up redis failed" in (
        stack.output
    )
    assert "local    | Redis: redis-server from" in stack.output
    _, created = http_json("POST", f"{stack.base_url}/maths", {"a": 1, "b": 1, "op": "math:add"})
    assert finished(stack, created["res"])["res"] == 2
    assert stack.interrupt() == 0
    assert running_containers() == []
