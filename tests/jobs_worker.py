"""A worker process for the jobs tests: `python -m tests.jobs_worker REDIS_URL [options]`.

With `--every S` it also runs a periodic `test:count` job every S seconds. Its handlers leave
traces in Redis (outside the jobs keys) so a test can count how often each job
really ran: by default in the queue's Redis, or with `--traces-url` in a Redis of their own, which
survives a fault of the queue's. Every handler start adds 1 to `test:starts` and every handler end
adds 1 to `test:ends` (fields: the job's params["n"]), and an end also records the run's span. It
prints "ready" once it works, and stops cleanly on SIGTERM.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from chalicelib.jobs import JobController, JobResult
from chalicelib.jobs.config import Settings, make_client

RUNS_KEY = "test:runs"
STARTED_KEY = "test:started"
#: handler starts and ends per job (field: params["n"]), and each ended run's "n t0 t1"
STARTS_KEY = "test:starts"
ENDS_KEY = "test:ends"
SPANS_KEY = "test:spans"
#: lets in-process hangs end when a test is over
HANG_RELEASE = threading.Event()

Handler = Callable[[dict], JobResult]


def warm_up(client: Any, connections: int = 16) -> None:
    """Open the traces client's connections now: a handler's start trace must land within a
    moment of its start, not wait for a connection to be made while its worker is busy."""
    pool = getattr(client, "connection_pool", None)
    if pool is None:  # a cluster client: its pools are per node
        return
    held = [pool.get_connection() for _ in range(connections)]
    for connection in held:
        connection.connect()
        pool.release(connection)


def handlers_for(redis_url: str, traces_url: str | None = None) -> dict[str, Handler]:
    """The test handlers, with a Redis client of their own for their traces."""
    traces = make_client(Settings(redis_url=traces_url or redis_url))
    warm_up(traces)

    def traced(handler: Handler) -> Handler:
        def run(params: dict) -> JobResult:
            n = str(params.get("n", ""))
            traces.hincrby(STARTS_KEY, n, 1)
            began = time.time()
            result = handler(params)
            pipe = traces.pipeline(transaction=False)
            pipe.hincrby(ENDS_KEY, n, 1)
            pipe.rpush(SPANS_KEY, f"{n} {began!r} {time.time()!r}")
            pipe.execute()
            return result

        return run

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

    def sleep(params: dict) -> JobResult:
        time.sleep(params["s"])
        return JobResult(True, res=params["n"])

    def exit_process(params: dict) -> JobResult:
        os._exit(3)

    def hang(params: dict) -> JobResult:
        HANG_RELEASE.wait(params.get("s", 600))
        return JobResult(True, res="released")

    def fail_loudly(params: dict) -> JobResult:
        raise RuntimeError(f"job {params['n']} raised on purpose")

    def huge(params: dict) -> JobResult:
        return JobResult(True, res="x" * params["bytes"])

    def not_json(params: dict) -> JobResult:
        return JobResult(True, res={"a set", "is not JSON"})

    return {
        "test:count": traced(count),
        "test:stall": stall_first_attempt,
        "test:sleep": traced(sleep),
        "test:exit": traced(exit_process),
        "test:hang": traced(hang),
        "test:raise": traced(fail_loudly),
        "test:huge": traced(huge),
        "test:nonjson": traced(not_json),
    }


def register(controller: JobController, redis_url: str, traces_url: str | None = None) -> None:
    for job_type, handler in handlers_for(redis_url, traces_url).items():
        controller.add_handler(job_type, handler)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("redis_url")
    parser.add_argument("--traces-url", default=None)
    parser.add_argument("--lease", type=float, default=30.0)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--max-retry", type=int, default=None)
    parser.add_argument("--timeout", type=float, default=None)
    parser.add_argument("--backoff", type=float, default=None)
    parser.add_argument("--isolation", choices=("thread", "process"), default=None)
    parser.add_argument("--every", type=float, help="also run a periodic test:count this often")
    args = parser.parse_args(argv)
    options: dict[str, Any] = {"lease": args.lease, "concurrency": args.concurrency}
    for name in ("max_retry", "timeout", "backoff", "isolation"):
        if getattr(args, name) is not None:  # only what the test asked for: older cores lack some
            options[name] = getattr(args, name)
    controller = JobController(args.redis_url, **options)
    register(controller, args.redis_url, args.traces_url)
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
