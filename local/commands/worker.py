"""`python -m local worker`: one long-running worker process, or a burst that drains and exits.

It works against JOBS_REDIS_URL, else the Redis of the running local stack; with neither, it says
so and exits. SIGTERM (or Ctrl-C) stops it taking work; jobs in flight finish within the shutdown
timeout or go back to PENDING for another worker. Nothing is lost.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import time
from typing import Any

from chalicelib.jobs import JobController, JobsUnavailable, QueueStats

from ..parts.options import non_negative_float, positive_int, queue_names
from ..parts.redis_choice import redacted
from ..parts.stack_file import resolve_url
from ..parts.supervisor import Flag

HELP = "run one worker process (until SIGTERM, or with --burst until the queues are empty)"
#: printed once the worker takes work; `up` waits for it
READY_TEXT = "worker ready"
#: the exit code of a worker whose handler threads were all stuck; `up` restarts it
STUCK_EXIT_CODE = 3
#: how often a burst looks at the queues
BURST_POLL_S = 0.1
#: a worker whose handler threads are all stuck for this long exits with STUCK_EXIT_CODE
STUCK_EXIT_AFTER_S = 5.0

log = logging.getLogger("local.worker")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--queues", help="comma-separated queues, by priority (default: JOBS_QUEUES, else default)"
    )
    parser.add_argument(
        "--concurrency", type=positive_int, help="handler threads (default: JOBS_CONCURRENCY or 10)"
    )
    parser.add_argument(
        "--burst",
        action="store_true",
        help="run until no job is PENDING or ACTIVE, then exit (jobs not yet due stay queued)",
    )
    parser.add_argument(
        "--shutdown-timeout",
        type=non_negative_float,
        default=8.0,
        metavar="S",
        help="seconds that jobs in flight get to finish on SIGTERM before they go back (default 8)",
    )
    parser.add_argument(
        "--metrics-port",
        type=int,
        metavar="N",
        help="answer Prometheus scrapes at http://127.0.0.1:N/metrics (queues and this worker)",
    )


def build_controller(args: argparse.Namespace) -> tuple[JobController, str]:
    """The app's controller (maths handlers registered), and where its Redis URL came from."""
    from chalicelib.service import build_controller as app_controller  # noqa: PLC0415

    url, source = resolve_url(os.environ)
    overrides: dict[str, Any] = {"redis_url": url}
    if args.queues:
        overrides["queues"] = queue_names(args.queues)
    if args.concurrency is not None:
        overrides["concurrency"] = args.concurrency
    return app_controller(os.environ, **overrides), source


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    controller, source = build_controller(args)
    settings = controller.settings
    shown_url = redacted(settings.redis_url)
    try:
        controller.ping()
    except JobsUnavailable as exc:
        if args.burst:
            log.error("Redis at %s (from %s) does not answer: %s", shown_url, source, exc)
            return 1
        log.warning("Redis at %s does not answer yet (%s); retrying", shown_url, exc)
    if args.metrics_port is not None:
        serve_metrics(controller, args.metrics_port)
    stopping = Flag()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    controller.start()
    print(
        f"{READY_TEXT}: pid {os.getpid()}, redis {redacted(settings.redis_url)} (from {source}), "
        f"queues {','.join(settings.queues)}, concurrency {settings.concurrency}",
        flush=True,
    )
    code = 0
    if args.burst:
        _wait_until_drained(controller, stopping)
    elif _wait_while_healthy(controller, stopping):
        code = STUCK_EXIT_CODE
    abandoned = controller.stop(timeout=args.shutdown_timeout)
    counters = controller.counters
    print(
        f"worker stopped: processed {counters['processed']}, failed {counters['failed']}"
        + (f", abandoned {len(abandoned)} running handler(s)" if abandoned else ""),
        flush=True,
    )
    return code


def serve_metrics(controller: JobController, port: int) -> Any:
    """/metrics on 127.0.0.1:port: the queues' gauges (read from Redis at each scrape) and this
    process's job counters, recorded by its coordinator."""
    from prometheus_client import start_http_server  # noqa: PLC0415

    from chalicelib.jobs.prom import JobMetrics, QueueCollector  # noqa: PLC0415

    metrics = JobMetrics()
    metrics.registry.register(QueueCollector(controller.inspector.queues))  # type: ignore[arg-type]
    controller.observe_jobs(metrics.ended)
    server, _ = start_http_server(port, addr="127.0.0.1", registry=metrics.registry)
    log.info("metrics at http://127.0.0.1:%d/metrics", port)
    return server


def _wait_while_healthy(controller: JobController, stopping: Flag) -> bool:
    """Wait for a stop signal; True instead when every handler thread has been stuck past its
    timeout for STUCK_EXIT_AFTER_S (the worker runs nothing: better restarted)."""
    stuck_since: float | None = None
    while not stopping.wait(0.5):
        if not controller.health()["all_stuck"]:
            stuck_since = None
            continue
        stuck_since = stuck_since or time.monotonic()
        if time.monotonic() - stuck_since >= STUCK_EXIT_AFTER_S:
            log.error(
                "every handler thread has been stuck for %gs; exiting with code %d so that the "
                "worker is replaced",
                STUCK_EXIT_AFTER_S,
                STUCK_EXIT_CODE,
            )
            return True
    return False


def _wait_until_drained(controller: JobController, stopping: Flag) -> None:
    """Return once the worker's queues hold nothing PENDING or ACTIVE (or on a stop signal)."""
    while not stopping.wait(BURST_POLL_S):
        try:
            stats = controller.queue_stats()
        except JobsUnavailable as exc:
            log.warning("Redis does not answer: %s", exc)
            time.sleep(0.5)
            continue
        if drained(stats):
            left = sum(s.future + s.retrying for s in stats)
            if left:
                log.info("burst done; %d jobs wait for a later time (FUTURE or RETRYING)", left)
            return


def drained(stats: list[QueueStats]) -> bool:
    return all(s.pending == 0 and s.active == 0 for s in stats)
