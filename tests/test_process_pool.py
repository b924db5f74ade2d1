"""HandlerProcessPool with real forked processes: results, timeouts, deaths, parallelism, cleanup.

Handlers tell the test they started by writing their pid to a pipe the children inherit, so a
test waits on that event rather than sleeping.
"""

from __future__ import annotations

import gc
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from chalicelib.jobs.attempt import Handler
from chalicelib.jobs.model import JobResult
from chalicelib.jobs.process_pool import HandlerProcessPool

ROOT = Path(__file__).resolve().parent.parent


class StartedPipe:
    """A pipe a handler writes its pid to when it starts; the test reads it."""

    def __init__(self) -> None:
        self.read_fd, self.write_fd = os.pipe()

    def announce(self) -> None:
        os.write(self.write_fd, f"{os.getpid()}\n".encode())

    def wait_pid(self, timeout_s: float = 5.0) -> int:
        ready, _, _ = select.select([self.read_fd], [], [], timeout_s)
        assert ready, "the handler did not start"
        return int(os.read(self.read_fd, 32).split()[0])

    def close(self) -> None:
        os.close(self.read_fd)
        os.close(self.write_fd)


@pytest.fixture
def started() -> Iterator[StartedPipe]:
    pipe = StartedPipe()
    yield pipe
    pipe.close()


@pytest.fixture
def make_pool() -> Iterator[Callable[[dict[str, Handler], int], HandlerProcessPool]]:
    """Started pools, closed at teardown whatever the test did."""
    pools: list[HandlerProcessPool] = []

    def make(handlers: dict[str, Handler], size: int) -> HandlerProcessPool:
        pool = HandlerProcessPool(handlers, size)
        pool.start()
        pools.append(pool)
        return pool

    yield make
    for pool in pools:
        pool.close(timeout_s=0)


def exists(pid: int) -> bool:
    return os.path.exists(f"/proc/{pid}")


def running(pid: int) -> bool:
    """Exists and is not a zombie (an orphan's zombie is for its new parent to reap, not us)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):  # gone, possibly while being read
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def parent_of(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def add(params: dict) -> JobResult:
    return JobResult(True, res=params["a"] + params["b"])


def test_result_comes_back_as_done_with_its_json(make_pool) -> None:
    pool = make_pool({"math:add": add}, 1)
    assert pool.run("math:add", '{"a": 2, "b": 3}', 5) == ("done", "5")


def test_failed_result_is_a_permanent_fail_with_its_message(make_pool) -> None:
    pool = make_pool({"refuse": lambda p: JobResult(False, msg="b must not be 0")}, 1)
    assert pool.run("refuse", "{}", 5) == ("fail", "b must not be 0")


def test_exception_is_a_retry_naming_the_error(make_pool) -> None:
    def boom(params: dict) -> JobResult:
        raise ValueError("no such account")

    pool = make_pool({"boom": boom}, 1)
    assert pool.run("boom", "{}", 5) == ("retry", "ValueError: no such account")
    assert pool.run("unknown", "{}", 5) == ("retry", "no handler for job type 'unknown'")


def test_non_json_result_is_a_fail(make_pool) -> None:
    pool = make_pool({"set": lambda p: JobResult(True, res={1, 2})}, 1)
    kind, payload = pool.run("set", "{}", 5)
    assert kind == "fail"
    assert payload.startswith("result is not JSON")


def test_closures_are_inherited_by_children_in_other_processes(make_pool) -> None:
    secret = f"made in the parent at {time.time()}"

    def tell(params: dict) -> JobResult:
        return JobResult(True, res={"secret": secret, "pid": os.getpid()})

    pool = make_pool({"tell": tell}, 2)
    answer = json.loads(pool.run("tell", "{}", 5)[1])
    assert answer["secret"] == secret
    assert answer["pid"] != os.getpid()
    assert answer["pid"] in pool.pids


def test_hung_handler_is_killed_and_its_child_replaced(make_pool, started) -> None:
    def hang(params: dict) -> JobResult:
        started.announce()
        time.sleep(3600)
        raise AssertionError("unreachable")

    pool = make_pool({"hang": hang, "math:add": add}, 2)
    t0 = time.monotonic()
    outcome = pool.run("hang", "{}", 0.5)
    elapsed_s = time.monotonic() - t0
    hung_pid = started.wait_pid()

    assert outcome == ("retry", "timed out after 0.5s; its process was killed")
    assert elapsed_s < 5  # its 0.5 s timeout, not the handler's hour
    assert not exists(hung_pid)
    assert pool.alive == 2
    assert hung_pid not in pool.pids
    assert pool.run("math:add", '{"a": 1, "b": 1}', 5) == ("done", "2")


def test_handler_that_exits_is_a_retry_with_its_exit_code_and_the_pool_recovers(
    make_pool, started
) -> None:
    def leave(params: dict) -> JobResult:
        started.announce()
        os._exit(3)

    pool = make_pool({"leave": leave, "math:add": add}, 2)
    assert pool.run("leave", "{}", 5) == (
        "retry",
        "the handler's process exited with code 3 while it ran",
    )
    assert not exists(started.wait_pid())
    assert pool.alive == 2
    assert pool.run("math:add", '{"a": 1, "b": 2}', 5) == ("done", "3")


def test_handler_killed_by_a_signal_is_a_retry_naming_the_signal(make_pool) -> None:
    def crash(params: dict) -> JobResult:  # as the OOM killer would; quieter than SIGSEGV
        os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(3600)
        raise AssertionError("unreachable")

    pool = make_pool({"crash": crash, "math:add": add}, 1)
    assert pool.run("crash", "{}", 5) == (
        "retry",
        "the handler's process was killed by SIGKILL while it ran",
    )
    assert pool.run("math:add", '{"a": 1, "b": 2}', 5) == ("done", "3")


def test_runs_on_a_pool_of_n_run_in_parallel(make_pool) -> None:
    def nap(params: dict) -> JobResult:
        start = time.time()
        time.sleep(1.5)  # long enough that four children start before any ends, even loaded
        return JobResult(True, res={"start": start, "end": time.time(), "pid": os.getpid()})

    pool = make_pool({"nap": nap}, 4)
    with ThreadPoolExecutor(4) as threads:
        outcomes = list(threads.map(lambda _: pool.run("nap", "{}", 10), range(4)))
    runs = [json.loads(payload) for kind, payload in outcomes if kind == "done"]

    assert len(runs) == 4
    assert len({run["pid"] for run in runs}) == 4
    assert max(run["start"] for run in runs) < min(run["end"] for run in runs)


def test_close_with_a_hung_handler_kills_it_names_it_and_leaves_no_process(started) -> None:
    def hang(params: dict) -> JobResult:
        started.announce()
        time.sleep(3600)
        raise AssertionError("unreachable")

    pool = HandlerProcessPool({"hang": hang}, 2)
    pool.start()
    zygote_pid = parent_of(pool.pids[0])
    pids = [*pool.pids, zygote_pid]
    outcome: list[tuple[str, str]] = []
    runner = threading.Thread(target=lambda: outcome.append(pool.run("hang", "{}", 60)))
    runner.start()
    hung_pid = started.wait_pid()

    t0 = time.monotonic()
    abandoned = pool.close(timeout_s=0.5)
    elapsed_s = time.monotonic() - t0
    runner.join(5)

    assert elapsed_s < 5  # its 0.5 s timeout, not the handler's hour
    assert len(abandoned) == 1
    assert abandoned[0].startswith(f"hang (pid {hung_pid}, ran ")
    assert outcome == [
        ("retry", "the handler's process was killed as the pool closed while it ran")
    ]
    assert [pid for pid in pids if exists(pid)] == []
    assert pool.alive == 0
    with pytest.raises(RuntimeError, match="closed"):
        pool.run("hang", "{}", 1)


def test_run_before_start_raises() -> None:
    with pytest.raises(RuntimeError, match="not started"):
        HandlerProcessPool({"math:add": add}, 1).run("math:add", "{}", 1)


def test_dropped_pool_leaves_no_process() -> None:
    pool = HandlerProcessPool({"math:add": add}, 2)
    pool.start()
    pool.start()  # idempotent: still two children
    pids = [*pool.pids, parent_of(pool.pids[0])]
    assert len(pids) == 3
    del pool
    gc.collect()
    assert [pid for pid in pids if exists(pid)] == []


ORPHAN_SCRIPT = """
import json, os, sys, threading, time
from chalicelib.jobs.model import JobResult
from chalicelib.jobs.process_pool import HandlerProcessPool
started_r, started_w = os.pipe()
def hang(params):
    os.write(started_w, b"!"); time.sleep(3600)
def add(params):
    return JobResult(True, res=params["a"] + params["b"])
pool = HandlerProcessPool({"add": add, "hang": hang}, 2)
if sys.argv[1] == "thread":  # started from a thread that ends: the pool must outlive it
    starter = threading.Thread(target=pool.start); starter.start(); starter.join()
else:
    pool.start()
report = {"pids": pool.pids, "sum": pool.run("add", '{"a": 1, "b": 2}', 5)}
threading.Thread(target=pool.run, args=("hang", "{}", 3600), daemon=True).start()
os.read(started_r, 1)  # one child idle, one running a handler when this process dies
print(json.dumps(report), flush=True)
sys.stdin.read()
"""


@pytest.mark.parametrize("started_on", ["main", "thread"])
def test_children_die_with_their_parent(started_on: str) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", ORPHAN_SCRIPT, started_on],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert parent.stdout is not None
        report = json.loads(parent.stdout.readline())
        pids = [*report["pids"], parent_of(report["pids"][0])]
        assert report["sum"] == ["done", "3"]
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 5
    while any(running(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)  # orphans: no event of theirs reaches this process
    assert [pid for pid in pids if running(pid)] == []


def test_children_ignore_sigint_and_drop_the_parents_signal_handlers(make_pool) -> None:
    def signals(params: dict) -> JobResult:
        names = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGUSR1)}
        return JobResult(True, res={s.name: getattr(h, "name", repr(h)) for s, h in names.items()})

    previous = signal.signal(signal.SIGUSR1, lambda signum, frame: None)
    try:
        pool = make_pool({"signals": signals}, 1)
    finally:
        signal.signal(signal.SIGUSR1, previous)
    [child_pid] = pool.pids
    os.kill(child_pid, signal.SIGINT)

    assert json.loads(pool.run("signals", "{}", 5)[1]) == {
        "SIGINT": "SIG_IGN",
        "SIGUSR1": "SIG_DFL",
    }
    assert pool.pids == [child_pid]


def test_replacement_children_do_not_inherit_locks_the_parent_took_after_start(make_pool) -> None:
    lock = threading.Lock()

    def take_lock(params: dict) -> JobResult:
        return JobResult(True, res=lock.acquire(timeout=0.2))

    pool = make_pool({"take_lock": take_lock, "hang": lambda p: time.sleep(3600)}, 1)
    with lock:  # as a thread of the worker might hold one while a child is replaced
        [first_pid] = pool.pids
        assert pool.run("hang", "{}", 0.2)[0] == "retry"
        assert pool.pids != [first_pid]
        assert pool.run("take_lock", "{}", 5) == ("done", "true")
