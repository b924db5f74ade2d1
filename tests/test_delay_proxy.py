"""`python -m local delay-proxy`: a real redis-server behind it answers through it, each direction
late by the delay; a host that is not loopback is refused before any socket; SIGTERM ends it."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from local.commands.delay_proxy import endpoint, loopback_host
from local.parts.delay_proxy import delay_proxy
from local.parts.redis_server import LOOPBACK, RedisServer, free_port
from tests.local_helpers import descendants, still_alive

ROOT = Path(__file__).resolve().parent.parent


def test_redis_commands_work_through_the_proxy(redis_server: RedisServer) -> None:
    with delay_proxy(redis_server.port, 1) as proxy:
        client = redis.Redis(host=LOOPBACK, port=proxy.port)
        client.set("through", "the proxy")
        pipe = client.pipeline(transaction=False)
        for n in range(500):
            pipe.rpush("order", n)
        pipe.execute()
        big = b"x" * 3_000_000  # more than the buffers: the proxy must push back, not drop
        client.set("big", big)
        assert client.get("through") == b"the proxy"
        assert client.lrange("order", 0, -1) == [str(n).encode() for n in range(500)]
        assert client.get("big") == big
        client.close()


def test_a_round_trip_through_20_ms_takes_at_least_40_ms(redis_server: RedisServer) -> None:
    with delay_proxy(redis_server.port, 20) as proxy:
        client = redis.Redis(host=LOOPBACK, port=proxy.port)
        client.ping()  # connected: what follows is one round trip
        samples = []
        for _ in range(3):
            start = time.perf_counter()
            assert client.ping()
            samples.append(time.perf_counter() - start)
        client.close()
    assert min(samples) >= 0.040


@pytest.mark.parametrize("host", ["10.0.0.1", "192.168.1.1", "example.com", "::2", "0.0.0.0"])
def test_a_host_that_is_not_loopback_is_refused(host: str) -> None:
    with pytest.raises(ValueError):
        loopback_host(host)
    with pytest.raises(argparse.ArgumentTypeError, match="refused"):
        endpoint(f"{host}:6379")


def test_loopback_hosts_are_accepted() -> None:
    assert endpoint("127.0.0.1:6379") == ("127.0.0.1", 6379)
    assert endpoint("127.1.2.3:1") == ("127.1.2.3", 1)
    assert endpoint("localhost:80") == ("127.0.0.1", 80)
    assert endpoint("[::1]:6379") == ("::1", 6379)
    assert endpoint("7000", default_host="127.0.0.1") == ("127.0.0.1", 7000)


@pytest.mark.parametrize(
    "option", [["--upstream", "10.1.2.3:6379"], ["--listen", "192.168.0.1:7000"]]
)
def test_the_command_refuses_a_remote_host_with_exit_code_2(option: list[str]) -> None:
    args = {"--listen": "0", "--upstream": f"127.0.0.1:{free_port()}", "--delay-ms": "1"}
    args[option[0]] = option[1]
    run = subprocess.run(
        [sys.executable, "-m", "local", "delay-proxy", *(x for kv in args.items() for x in kv)],
        cwd=ROOT, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert run.returncode == 2
    assert "refused" in run.stderr and "loopback" in run.stderr
    assert "listening" not in run.stdout  # it stopped before opening any socket


def test_a_port_in_use_is_exit_code_1(redis_server: RedisServer) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "local", "delay-proxy", "--listen", str(redis_server.port),
         "--upstream", f"127.0.0.1:{redis_server.port}", "--delay-ms", "1"],
        cwd=ROOT, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert run.returncode == 1
    assert "cannot listen" in run.stderr


def test_a_connection_past_the_limit_is_closed(redis_server: RedisServer) -> None:
    with delay_proxy(redis_server.port, 0, "--max-connections", "1") as proxy:
        first = redis.Redis(host=LOOPBACK, port=proxy.port)
        assert first.ping()
        second = redis.Redis(host=LOOPBACK, port=proxy.port)
        with pytest.raises(redis.ConnectionError):
            second.ping()
        assert first.ping()
        first.close()


def test_sigterm_closes_connections_and_leaves_no_process(redis_server: RedisServer) -> None:
    with delay_proxy(redis_server.port, 5) as proxy:
        client = redis.Redis(host=LOOPBACK, port=proxy.port)
        assert client.ping()
        children = descendants(proxy.process.pid)
        proxy.process.send_signal(signal.SIGTERM)
        assert proxy.process.wait(10) == 0  # it ended by itself, and was reaped
        with pytest.raises(redis.ConnectionError):
            client.ping()  # its connection was closed, and nobody listens any more
    assert still_alive(children) == []
    with pytest.raises(ProcessLookupError):
        os.kill(proxy.process.pid, 0)
