"""A worker process for the jobs tests: `python -m tests.jobs_worker REDIS_URL [--lease S]
[--every S]`.

Its handlers leave traces in Redis (outside the jobs keys) so a test can count how often each job
really ran. It prints "ready" once it works, and stops cleanly on SIGTERM.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from typing import Any

from chalicelib.jobs import JobController, JobResult
from chalicelib.jobs.config import Settings, make_client

RUNS_KEY = "test:runs"
STARTED_KEY = "test:started"


def handlers_for(redis_url: str) -> dict[str, Any]:
    """The test handlers, with a Redis client of their own for their traces."""
    traces = make_client(Settings(redis_url=redis_url))

    def count(params: dict) -> JobResult:
        runs = traces.hincrby(RUNS_KEY, str(params["n"]), 1)
        return JobResult(True, res={"n": params["n"], "runs": runs})

    def stall_first_attempt(params: dict) -> JobResult:
        """Blocks for params["s"] seconds on its first attempt only; returns the attempt number."""
        attempt = traces.hincrby(RUNS_KEY, params["tag"], 1)
        if attempt == 1:
            traces.rpush(STARTED_KEY, params["tag"])
            time.sleep(params["s"])
        return JobResult(True, res=attempt)

    return {"test:count": count, "test:stall": stall_first_attempt}


def register(controller: JobController, redis_url: str) -> None:
    for job_type, handler in handlers_for(redis_url).items():
        controller.add_handler(job_type, handler)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("redis_url")
    parser.add_argument("--lease", type=float, default=30.0)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--every", type=float, help="also run a periodic test:count this often")
    args = parser.parse_args(argv)
    controller = JobController(args.redis_url, lease=args.lease, concurrency=args.concurrency)
    register(controller, args.redis_url)
    if args.every:
        controller.add_periodic("test:count", {"n": "tick"}, every=args.every, name="tick")
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    controller.start()
    print("ready", flush=True)
    stopping.wait()
    controller.stop(timeout=5.0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
