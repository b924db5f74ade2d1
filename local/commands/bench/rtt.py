"""The drain and create_jobs through `python -m local delay-proxy`: what a network's round trip
(`--rtt-ms`) costs, as a share of the same figures taken on loopback just before."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import redis

from chalicelib.business import async_maths
from chalicelib.jobs import JobController

from ...parts.delay_proxy import delay_proxy
from ...parts.redis_server import LOOPBACK
from .context import Bench
from .creating import create_backlog
from .drain import run_drain, verify
from .progress import Progress
from .worker_handle import worker_process

#: PINGs timed each way round, for the round trip the proxy really adds
PINGS = 50


def measure_rtt(bench: Bench) -> None:
    """Twice on a flushed server, first straight to Redis, then through a proxy that adds half
    of rtt_ms each way: a backlog of the drain's size queued by create_jobs (timed), drained by
    a new worker process (timed and verified like the first drain). Shares compare the two
    neighbours, not the first drain taken minutes before on a host whose load moves. Progress
    polls and checks go around the proxy."""
    assert bench.rtt_ms is not None
    f = bench.figures
    f.rtt_drain_verified = False
    f.rtt_loopback_create_jobs, f.rtt_loopback_drain_s, loopback_ok = _create_and_drain(
        bench, bench.url, "loopback"
    )
    with delay_proxy(bench.server.port, bench.rtt_ms / 2) as proxy:
        url = f"redis://{LOOPBACK}:{proxy.port}/0"
        f.rtt_added_ms = _ping_ms(proxy.port) - _ping_ms(bench.server.port)
        f.rtt_create_jobs, f.rtt_drain_s, proxied_ok = _create_and_drain(bench, url, "rtt")
    f.rtt_drain_verified = loopback_ok and proxied_ok


def _create_and_drain(bench: Bench, url: str, label: str) -> tuple[float, float, bool]:
    """create_jobs' rate, the drain's seconds and whether it verified, both through `url`."""
    bench.admin.flushall()
    client = JobController(url)
    async_maths.register(client)
    bar = Progress(f"create_jobs, {label}", bench.sizes["jobs"])
    expected, elapsed = create_backlog(bench, bar, client=client)
    with worker_process(url) as worker:
        drain = run_drain(bench, worker, expected)
    ok = drain.finished and verify(bench, expected, f"verify {label} drain")
    return len(expected) / elapsed, drain.seconds, ok


def _ping_ms(port: int) -> float:
    """The median PING round trip through `port`, in ms."""
    client = redis.Redis(host=LOOPBACK, port=port)
    client.ping()
    clock: Callable[[], float] = time.perf_counter
    samples = []
    for _ in range(PINGS):
        start = clock()
        client.ping()
        samples.append((clock() - start) * 1000)
    client.close()
    return statistics.median(samples)
