"""`python -m local worker` and `python -m local status` as processes, against the test Redis."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading

import pytest

from chalicelib.jobs import JobController, JobResult, JobState
from chalicelib.service import build_controller
from local.commands import worker as worker_command
from local.parts.redis_server import free_port
from local.parts.supervisor import Flag
from tests.jobs_helpers import wait_for_state
from tests.local_helpers import REPO, clean_env


def local_command(
    redis_url: str, *args: str, timeout_s: float = 60.0
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "local", *args],
        cwd=REPO,
        env=clean_env(JOBS_REDIS_URL=redis_url),
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


@pytest.mark.timeout(90)
def test_burst_worker_drains_the_queue_and_exits(redis_url: str) -> None:
    controller = build_controller({"JOBS_REDIS_URL": redis_url})
    ids = controller.create_jobs([("math:multiply", {"a": n, "b": 3}) for n in range(200)])
    broken = controller.create_job("math:divide", {"a": 1, "b": 0})
    later = controller.create_job("math:add", {"a": 1, "b": 1}, process_in=600)

    done = local_command(redis_url, "worker", "--burst", "--concurrency", "4")

    assert done.returncode == 0, done.stdout + done.stderr
    assert "worker stopped: processed 201, failed 1" in done.stdout
    assert [controller.get_status(i).result for i in ids] == [n * 3 for n in range(200)]
    assert controller.get_status(broken).state is JobState.FAILED
    assert controller.get_status(later).state is JobState.FUTURE
    (stats,) = controller.queue_stats()
    assert (stats.pending, stats.active, stats.future, stats.completed) == (0, 0, 1, 200)


@pytest.mark.timeout(60)
def test_burst_worker_on_an_empty_queue_exits_at_once(redis_url: str) -> None:
    done = local_command(redis_url, "worker", "--burst", timeout_s=30)
    assert done.returncode == 0, done.stderr
    assert "worker stopped: processed 0, failed 0" in done.stdout


@pytest.mark.timeout(60)
def test_burst_worker_without_redis_fails_fast() -> None:
    done = local_command(f"redis://127.0.0.1:{free_port()}/0", "worker", "--burst", timeout_s=30)
    assert done.returncode == 1
    assert "does not answer" in done.stderr


@pytest.mark.timeout(60)
def test_worker_runs_jobs_until_sigterm_then_exits_cleanly(redis_url: str) -> None:
    worker = subprocess.Popen(
        [sys.executable, "-m", "local", "worker", "--queues", "default,urgent"],
        cwd=REPO,
        env=clean_env(JOBS_REDIS_URL=redis_url),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert worker.stdout is not None
        ready = worker.stdout.readline()
        assert "worker ready" in ready and "queues default,urgent" in ready
        controller = build_controller({"JOBS_REDIS_URL": redis_url})
        job_id = controller.create_job("math:subtract", {"a": 2, "b": 3}, queue="urgent")
        assert wait_for_state(controller, job_id, JobState.COMPLETED).result == -1
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(20) == 0
        assert "worker stopped: processed 1, failed 0" in worker.stdout.read()
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()


def test_status_shows_jobs_per_state(redis_url: str) -> None:
    controller = build_controller({"JOBS_REDIS_URL": redis_url})
    controller.create_jobs([("math:add", {"a": 1, "b": 2})] * 3)
    controller.create_job("math:add", {"a": 1, "b": 2}, queue="reports", process_in=60)

    done = local_command(redis_url, "status")

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[2].split() == [
        "QUEUE", "ACTIVE", "PENDING", "FUTURE", "RETRYING", "FAILED", "COMPLETED",
        "PROCESSED", "FAILURES", "OLDEST", "PENDING",
    ]  # fmt: skip
    rows = {line.split()[0]: line.split()[1:] for line in lines[3:]}
    assert rows["default"][:8] == ["0", "3", "0", "0", "0", "0", "0", "0"]
    assert rows["default"][8].endswith("s")
    assert rows["reports"] == ["0", "0", "1", "0", "0", "0", "0", "0", "-"]


@pytest.mark.timeout(60)
def test_status_watch_redraws_until_ctrl_c(redis_url: str) -> None:
    watch = subprocess.Popen(
        [sys.executable, "-m", "local", "status", "--watch", "--interval", "0.1"],
        cwd=REPO,
        env=clean_env(JOBS_REDIS_URL=redis_url),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert watch.stdout is not None
        headers = 0
        while headers < 3:
            headers += watch.stdout.readline().startswith("QUEUE")
        watch.send_signal(signal.SIGINT)
        assert watch.wait(10) == 0
    finally:
        if watch.poll() is None:
            watch.kill()
            watch.wait()


def test_status_says_when_redis_does_not_answer() -> None:
    done = local_command(f"redis://127.0.0.1:{free_port()}/0", "status", timeout_s=30)
    assert done.returncode == 1
    assert "Redis does not answer" in done.stdout


@pytest.mark.parametrize(
    ("args", "extra_env", "message"),
    [
        (("status", "--queues", "bad name"), {}, "queue name must match"),
        (("worker", "--burst"), {"JOBS_CONCURRENCY": "abc"}, "JOBS_CONCURRENCY='abc' is not valid"),
    ],
)
def test_bad_settings_get_a_message_and_exit_code_2_not_a_traceback(
    redis_url: str, args: tuple[str, ...], extra_env: dict[str, str], message: str
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "local", *args],
        cwd=REPO,
        env=clean_env(JOBS_REDIS_URL=redis_url, **extra_env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr


def test_options_reach_the_controller_directly_and_win_over_the_variables() -> None:
    environ = {
        "JOBS_REDIS_URL": "redis://127.0.0.1:1/0",
        "JOBS_QUEUES": "a",
        "JOBS_CONCURRENCY": "2",
    }
    controller = build_controller(
        environ, queues=("b", "c"), concurrency=3, redis_url="redis://x/0"
    )
    settings = controller.settings
    assert (settings.queues, settings.concurrency, settings.redis_url) == (
        ("b", "c"),
        3,
        "redis://x/0",
    )


def test_a_worker_whose_handler_threads_are_all_stuck_decides_to_exit(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What `python -m local worker` runs while it waits: it gives up (and exits with code 3,
    which `up` answers with a restart) once every handler thread is stuck for a while."""
    release = threading.Event()
    controller = JobController(redis_url, concurrency=1, max_retry=0)
    controller.add_handler("test:hang", lambda p: JobResult(release.wait(30)))
    controller.create_jobs([("test:hang", {}) for _ in range(3)], timeout=0.1)
    monkeypatch.setattr(worker_command, "STUCK_EXIT_AFTER_S", 0.5)
    controller.start()
    try:
        assert worker_command._wait_while_healthy(controller, Flag()) is True  # noqa: SLF001
        assert controller.health()["all_stuck"]
    finally:
        release.set()
        controller.stop(timeout=1)
    assert worker_command.STUCK_EXIT_CODE == 3


def test_a_healthy_worker_waits_for_its_stop_signal(redis_url: str) -> None:
    controller = JobController(redis_url)
    stopping = Flag()
    threading.Timer(0.3, stopping.set).start()
    assert worker_command._wait_while_healthy(controller, stopping) is False  # noqa: SLF001
