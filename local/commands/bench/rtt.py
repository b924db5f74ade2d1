"""The drain and create_jobs again through `python -m local delay-proxy`: what a network's round
trip (`--rtt-ms`) costs, as a share of the loopback figures."""

from __future__ import annotations

from chalicelib.business import async_maths
from chalicelib.jobs import JobController

from ...parts.delay_proxy import delay_proxy
from ...parts.redis_server import LOOPBACK
from .context import Bench
from .creating import create_backlog
from .drain import run_drain, verify
from .progress import Progress
from .worker_handle import worker_process


def measure_rtt(bench: Bench) -> None:
    """On a flushed server, a backlog of the drain's size queued by create_jobs through a proxy
    that adds half of rtt_ms each way (timed), then drained through it by a new worker process
    (timed and verified like the first drain). Progress polls and checks go around the proxy."""
    assert bench.rtt_ms is not None
    f = bench.figures
    f.rtt_drain_verified = False
    bench.admin.flushall()
    with delay_proxy(bench.server.port, bench.rtt_ms / 2) as proxy:
        url = f"redis://{LOOPBACK}:{proxy.port}/0"
        client = JobController(url)
        async_maths.register(client)
        bar = Progress("create_jobs, rtt", bench.sizes["jobs"])
        expected, elapsed = create_backlog(bench, bar, client=client)
        f.rtt_create_jobs = len(expected) / elapsed
        with worker_process(url) as worker:
            drain = run_drain(bench, worker, expected)
    f.rtt_drain_s = drain.seconds
    f.rtt_drain_verified = drain.finished and verify(bench, expected, "verify rtt drain")
