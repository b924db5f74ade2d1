"""The failover of issue 23, staged on real servers: a replica stopped while creates go on, its
master killed, the stale replica promoted; then which acknowledged jobs survived."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import redis

from chalicelib.jobs import JobController, JobNotFound, JobResult, JobsUnavailable
from local.parts.redis_server import LOOPBACK, RedisServer

#: large enough params that the creates made during the stop outgrow the sockets' buffers, so
#: that the stale replica cannot read them once it runs again
PAD = "x" * 2000
BATCH = 100


def make_controller(url: str, **options: Any) -> JobController:
    """A controller that can create `noop` jobs (no worker runs them here)."""
    controller = JobController(url, **options)
    controller.add_handler("noop", lambda params: JobResult(True, "", None))
    return controller


@dataclass
class Tally:
    acknowledged: list[str] = field(default_factory=list)
    #: acknowledged while the replica was stopped
    acknowledged_in_stop: list[str] = field(default_factory=list)
    refused_in_stop: int = 0
    lost: list[str] = field(default_factory=list)


def create_batches(controller: JobController, batches: int, tally: Tally, in_stop: bool) -> None:
    for n in range(batches):
        jobs = [("noop", {"n": n, "i": i, "pad": PAD}) for i in range(BATCH)]
        try:
            ids = controller.create_jobs(jobs)
        except JobsUnavailable:
            tally.refused_in_stop += 1
            continue
        tally.acknowledged += ids
        if in_stop:
            tally.acknowledged_in_stop += ids


def stage_failover(
    controller: JobController,
    replica: RedisServer,
    master: RedisServer,
    promote: Callable[[], None],
    reader: Callable[[], JobController],
    batches_in_stop: int,
) -> Tally:
    """Creates before the stop (2 batches), `batches_in_stop` batches with the replica
    SIGSTOPped, then the master SIGKILLed, the replica SIGCONTed and promoted; every
    acknowledged id is then looked up through `reader()`."""
    tally = Tally()
    create_batches(controller, 2, tally, in_stop=False)
    assert replica.process is not None and master.process is not None
    # the replica has caught up before it is stopped: what it lacks is what came after
    redis.Redis(host=LOOPBACK, port=master.port).wait(1, 10_000)
    os.kill(replica.process.pid, signal.SIGSTOP)
    try:
        create_batches(controller, batches_in_stop, tally, in_stop=True)
        os.kill(master.process.pid, signal.SIGKILL)
        master.process.wait()
    finally:
        os.kill(replica.process.pid, signal.SIGCONT)
    promote()
    survivor = reader()
    for job_id in tally.acknowledged:
        try:
            survivor.get_status(job_id)
        except JobNotFound:
            tally.lost.append(job_id)
    return tally


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll a condition (a server's state: nothing to wait on but asking it) until it holds."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout_s}s")
        time.sleep(0.05)
