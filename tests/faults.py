"""The fault harness: a queue Redis to fault, a traces Redis that keeps the evidence, worker
processes to kill or stop, and a `Tally` of what became of every job once a scenario settles.

The handlers of `tests.jobs_worker` add 1 to `test:starts` when they begin and to `test:ends` when
they return, on the traces server; the controller's `get_status` says what the queue believes.
A fault that costs a job shows up as a difference between the two.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis

import chalicelib.jobs
from chalicelib.jobs import JobController, JobNotFound, JobState, JobsUnavailable
from chalicelib.jobs.store import QueueKeys
from local.parts.redis_server import LOOPBACK, RedisServer
from tests import jobs_worker
from tests.jobs_helpers import REPO, wait_until

FINAL = (JobState.COMPLETED, JobState.FAILED)


def jobs_name(name: str) -> Any:
    """A name the core will export (JobStoreFull, IdempotencyConflict): the test fails, rather
    than the module, while the core does not have it yet."""
    value = getattr(chalicelib.jobs, name, None)
    if value is None:
        pytest.fail(f"chalicelib.jobs has no {name} yet")
    return value


def admin(server: RedisServer) -> redis.Redis:
    """A plain client of one of our servers, for the test's own commands (CONFIG, INFO...)."""
    return redis.Redis(host=LOOPBACK, port=server.port, socket_timeout=10)


# -- the tally ---------------------------------------------------------------------------------


@dataclass
class Tally:
    """What became of the created jobs, from the queue's statuses and the handlers' traces."""

    created: int = 0
    completed: int = 0
    failed: int = 0
    #: not in a final state after settling (ACTIVE, PENDING, RETRYING, FUTURE)
    unsettled: int = 0
    active: int = 0
    #: created ids without a record, or not in a final state after settling
    lost: int = 0
    #: jobs whose handler ended more than once (it did its work twice)
    completed_twice: int = 0
    #: jobs two of whose handler runs overlapped in time
    ran_twice_at_once: int = 0
    #: jobs charged more attempts (retried, +1 when FAILED) than their handler started without
    #: succeeding: a job recovered unstarted, charged, then completed counts here too
    charged_never_ran: int = 0
    #: handler starts and ends, over every job
    starts: int = 0
    ends: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    def line(self) -> str:
        fields = ("created", "completed", "failed", "lost", "completed_twice",
                  "ran_twice_at_once", "charged_never_ran", "starts", "ends")  # fmt: skip
        return ", ".join(f"{name}={getattr(self, name)}" for name in fields)


def traced_counts(traces: redis.Redis, key: str) -> dict[str, int]:
    return {k.decode(): int(v) for k, v in traces.hgetall(key).items()}


def overlapping(traces: redis.Redis) -> set[str]:
    """Jobs (their n) two of whose ended runs overlapped in time."""
    spans: dict[str, list[tuple[float, float]]] = {}
    for raw in traces.lrange(jobs_worker.SPANS_KEY, 0, -1):
        n, began, ended = raw.decode().split()
        spans.setdefault(n, []).append((float(began), float(ended)))
    twice = set()
    for n, runs in spans.items():
        runs.sort()
        if any(later[0] < earlier[1] for earlier, later in zip(runs, runs[1:], strict=False)):
            twice.add(n)
    return twice


def tally(controller: JobController, jobs: dict[str, str], traces: redis.Redis) -> Tally:
    """Count what became of `jobs` (id -> the n its handler traces under)."""
    starts = traced_counts(traces, jobs_worker.STARTS_KEY)
    ends = traced_counts(traces, jobs_worker.ENDS_KEY)
    t = Tally(created=len(jobs), starts=sum(starts.values()), ends=sum(ends.values()))
    t.ran_twice_at_once = len(overlapping(traces) & set(jobs.values()))
    for job_id, n in jobs.items():
        try:
            status = controller.get_status(job_id)
        except JobNotFound:
            t.lost += 1
            continue
        if status.state is JobState.COMPLETED:
            t.completed += 1
        elif status.state is JobState.FAILED:
            t.failed += 1
            kind = (status.error or "").split(":")[0][:40]
            t.errors[kind] = t.errors.get(kind, 0) + 1
        else:
            t.unsettled += 1
            t.lost += 1
            t.active += status.state is JobState.ACTIVE
        t.completed_twice += ends.get(n, 0) > 1
        charged = status.retried + (status.state is JobState.FAILED)
        # charged attempts beyond the handler starts that did not end in success
        t.charged_never_ran += charged > starts.get(n, 0) - (status.state is JobState.COMPLETED)
    record(t)
    return t


def record(t: Tally) -> None:
    """With FAULTS_TALLY_FILE set, append the test's tally to it (docs/guarantees.md quotes
    these figures); otherwise say nothing."""
    path = os.environ.get("FAULTS_TALLY_FILE")
    if path:
        test = os.environ.get("PYTEST_CURRENT_TEST", "?").split(" ")[0]
        with open(path, "a") as out:
            out.write(f"{test}: {t.line()}\n")


def settled(controller: JobController, queue: str = "default") -> bool:
    """Nothing of the queue is ACTIVE, PENDING, RETRYING or FUTURE (False while Redis is away)."""
    try:
        s = controller.queue_stats([queue])[0]
    except JobsUnavailable:
        return False
    return s.active + s.pending + s.retrying + s.future == 0


def half_written(server: RedisServer, queue: str = "default") -> set[str]:
    """Ids with a record in the queue but in none of its state sets, or the other way round."""
    client = admin(server)
    k = QueueKeys.of("jobs", queue)
    records = {i.decode() for i in client.hkeys(k.job)}
    placed = {i.decode() for key in (k.pending, k.results) for i in client.lrange(key, 0, -1)}
    for key in (k.lease, k.scheduled, k.retry, k.failed):
        placed |= {i.decode() for i in client.zrange(key, 0, -1)}
    return records ^ placed


# -- processes ---------------------------------------------------------------------------------


class Worker:
    """A `tests.jobs_worker` process this test started; signalled by its PID only."""

    def __init__(self, queue_url: str, traces_url: str, *args: str) -> None:
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - closed by stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.jobs_worker", queue_url, "--traces-url", traces_url,
             *args],
            cwd=REPO, stdout=subprocess.PIPE, stderr=self._log, text=True,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )  # fmt: skip
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if line.strip() != "ready":
            self.process.wait(10)
            pytest.fail(f"worker process did not start:\n{self.stderr()[-600:]}")

    @property
    def pid(self) -> int:
        return self.process.pid

    def stderr(self) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None

    def signal(self, signum: int) -> None:
        if self.alive():
            os.kill(self.pid, signum)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self, timeout_s: float = 15.0) -> int:
        """SIGTERM, then SIGKILL if it does not exit in time; its exit code."""
        self.signal(signal.SIGCONT)
        self.signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()
            return -9
        finally:
            self._log.close()


@contextmanager
def workers(queue_url: str, traces_url: str, count: int, *args: str) -> Iterator[list[Worker]]:
    """`count` worker processes, stopped (SIGTERM, then SIGKILL) when the block ends."""
    started: list[Worker] = []
    try:
        for _ in range(count):
            started.append(Worker(queue_url, traces_url, *args))
        yield started
    finally:
        for worker in started:
            worker.stop()


def signal_server(server: RedisServer, signum: int) -> None:
    """Send a signal to a redis-server we started, by its PID."""
    assert server.process is not None and server.process.poll() is None
    os.kill(server.process.pid, signum)


def descendants(pid: int | None = None) -> set[int]:
    """PIDs of every living process below `pid` (this one by default), from /proc."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rpartition(")")[2].split()
        if fields[0] == "Z":
            continue
        parents.setdefault(int(fields[1]), []).append(int(entry.name))
    found: set[int] = set()
    todo = [os.getpid() if pid is None else pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def assert_none_left(before: Iterable[int], timeout_s: float = 10.0) -> None:
    """Every process started since `before` was taken has ended; SIGKILL (by PID) any left."""
    before = set(before)

    def gone() -> bool:
        return not descendants() - before

    try:
        wait_until(gone, timeout_s, "the processes the test started to end")
    except AssertionError:
        left = descendants() - before
        for pid in left:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        raise AssertionError(f"processes left behind: {sorted(left)}") from None


def elapsed_since(started: float) -> float:
    return time.monotonic() - started
