"""The drain: one worker process empties the backlog; timed, counted and every result checked.
Then the same with isolation="process", and, if asked, under cProfile."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from chalicelib.jobs import JobState

from .context import QUEUE, Bench
from .creating import create_backlog
from .latency import measure_latency, measure_wait_wake
from .profiling import profile_summary
from .progress import Progress, say
from .redis_reference import command_stats, redis_cpu_s, used_memory
from .worker_handle import WorkerProcess, worker_process

#: how often the drain looks whether the last result is written
DRAIN_POLL_S = 0.003


@dataclass
class Drain:
    seconds: float
    #: the worker's answer to `report`: round trips, CPU seconds, its counters
    report: dict[str, Any]
    #: Redis commands the drain cost, by name, less the completion polls
    commands: dict[str, int]
    redis_cpu_s: float
    finished: bool


def measure_worker(bench: Bench, expected: dict[str, int], empty_bytes: int) -> None:
    """The drain, then pick-up latency and the wait's wake-up on the same worker process, now
    idle. `empty_bytes`: Redis's used_memory before the backlog was queued, for the memory a
    completed job keeps."""
    f = bench.figures
    spawned = time.perf_counter()
    with worker_process(bench.url) as worker:
        f.worker_ready_ms = (time.perf_counter() - spawned) * 1000
        drain = run_drain(bench, worker, expected)
        jobs = len(expected)
        f.drain_s = drain.seconds
        f.worker_cpu_s = drain.report.get("cpu_s")
        f.round_trips_per_job = drain.report["round_trips"] / jobs
        f.commands_per_job = sum(drain.commands.values()) / jobs
        f.command_breakdown = {k: v / jobs for k, v in drain.commands.items()}
        f.redis_cpu_s = drain.redis_cpu_s
        f.memory_completed_bytes = (used_memory(bench.admin) - empty_bytes) / jobs
        f.drain_verified = drain.finished and verify(bench, expected, "verify drain")
        f.latency_ms, f.latency_verified = measure_latency(bench)
        f.wait_wake_ms, f.wait_wake_verified = measure_wait_wake(bench)


def measure_process_drain(bench: Bench) -> None:
    """A second backlog of the same size, drained by a worker process whose handlers run in
    child processes (isolation="process"), timed and verified like the first drain."""
    f = bench.figures
    bench.admin.flushall()
    expected, _ = create_backlog(bench)
    with worker_process(bench.url, isolation="process") as worker:
        drain = run_drain(bench, worker, expected)
    f.drain_process_s = drain.seconds
    f.drain_process_verified = drain.finished and verify(bench, expected, "verify process drain")


def measure_profile(bench: Bench) -> None:
    """A second drain of the same size by a worker under cProfile (not in the figures: the
    profiler slows it down); writes pstats and keeps the top functions for the table."""
    assert bench.profile is not None
    bench.admin.flushall()
    expected, _ = create_backlog(bench)
    bench.figures.profile_verified = False
    with worker_process(bench.url, profile=bench.profile) as worker:
        drain = run_drain(bench, worker, expected)
    bench.figures.profile_drain_s = drain.seconds
    bench.figures.profile_verified = drain.finished and verify(bench, expected, "verify profile")
    bench.figures.profile_top = profile_summary(bench.profile)
    say(f"bench: worker profile written to {bench.profile} (python -m pstats {bench.profile})")


def run_drain(bench: Bench, worker: WorkerProcess, expected: dict[str, int]) -> Drain:
    """Start the idle worker on the backlog; time it until the last result is written."""
    per_poll = poll_cost(bench)
    before, cpu_before = command_stats(bench.admin), redis_cpu_s(bench.admin)
    polls, done, total = 0, 0, len(expected)
    deadline = time.perf_counter() + max(120.0, total / 200)
    bar = Progress("drain", total)
    start = time.perf_counter()
    worker.send("go")
    while done < total and time.perf_counter() < deadline:
        stats = bench.client.queue_stats([QUEUE])[0]
        polls += 1
        done = stats.completed + stats.failed
        bar.update(done)
        if done < total:
            time.sleep(DRAIN_POLL_S)
    seconds = time.perf_counter() - start
    bar.close()
    report = worker.ask("report")
    cpu = redis_cpu_s(bench.admin) - cpu_before
    after = command_stats(bench.admin)
    commands = {}
    for name, calls in after.items():
        calls -= before.get(name, 0) + polls * per_poll.get(name, 0)
        if calls > 0 and not name.startswith(("info", "config")):
            commands[name] = calls
    if done < total:
        say(f"bench: FAILED: the drain wrote {done} of {total} results before its deadline")
    return Drain(seconds, report, commands, cpu, done >= total)


def poll_cost(bench: Bench) -> dict[str, int]:
    """What one completion poll (queue_stats) costs Redis, so the drain's count omits it."""
    before = command_stats(bench.admin)
    bench.client.queue_stats([QUEUE])
    return {k: v - before.get(k, 0) for k, v in command_stats(bench.admin).items()}


def verify(bench: Bench, expected: dict[str, int], label: str) -> bool:
    """Every job COMPLETED with its expected result; the first three misses are printed."""
    bar = Progress(label, len(expected))
    wrong = 0
    for index, (job_id, result) in enumerate(expected.items()):
        status = bench.client.get_status(job_id)
        if status.state is not JobState.COMPLETED or status.result != result:
            wrong += 1
            if wrong <= 3:
                say(f"bench: FAILED: {job_id}: {status.status} {status.result!r} != {result}")
        if index % 512 == 0:
            bar.update(index)
    bar.close()
    if wrong:
        bench.figures.notes.append(f"{label}: {wrong} of {len(expected)} results wrong/missing")
    return wrong == 0
