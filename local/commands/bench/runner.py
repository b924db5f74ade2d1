"""The phases of a run, in order: each one's failure becomes a note, not the end of the run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .api import measure_api
from .cold_start import measure_cold_start
from .context import INTERRUPTED, Bench
from .creating import measure_create_job, measure_create_jobs
from .drain import measure_process_drain, measure_profile, measure_worker
from .durable import measure_min_replicas
from .figures import Figures
from .progress import say
from .redis_reference import redis_benchmark, used_memory
from .rtt import measure_rtt


def run_phases(bench: Bench) -> Figures:
    """Every phase in turn on a flushed server where it matters; the figures, complete or not."""
    f = bench.figures
    f.redis_benchmark = phase(bench, "redis-benchmark", redis_benchmark, {})
    bench.admin.flushall()
    f.create_job = phase(bench, "create_job, one at a time", measure_create_job, None)
    bench.admin.flushall()
    empty = used_memory(bench.admin)
    expected = phase(bench, "create_jobs, in batches", measure_create_jobs, {})
    if expected:
        f.memory_pending_bytes = (used_memory(bench.admin) - empty) / len(expected)
        phase(bench, "drain, then latency", lambda b: measure_worker(b, expected, empty), None)
        phase(bench, "drain, isolation=process", measure_process_drain, None)
        if bench.rtt_ms is not None:
            phase(
                bench,
                f"through a delay proxy, +{bench.rtt_ms:g} ms a round trip",
                measure_rtt,
                None,
            )
    phase(bench, "API in process", measure_api, None)
    phase(bench, "cold start", measure_cold_start, None)
    bench.admin.flushall()
    phase(bench, "create_job(s), min_replicas=1", measure_min_replicas, None)
    bench.admin.flushall()
    if bench.profile:
        phase(bench, "drain under cProfile", measure_profile, None)
    return f


def phase(bench: Bench, name: str, measure: Callable[[Bench], Any], fallback: Any) -> Any:
    """measure(bench), or `fallback` with a note saying why it failed."""
    if INTERRUPTED.is_set():
        raise KeyboardInterrupt
    say(f"bench: {name}")
    try:
        return measure(bench)
    except Exception as exc:  # noqa: BLE001 - one broken phase must not hide the others
        if INTERRUPTED.is_set():  # it failed because the run was being stopped
            raise KeyboardInterrupt from None
        bench.figures.notes.append(f"{name}: {type(exc).__name__}: {exc}")
        say(f"bench: {name} failed: {type(exc).__name__}: {exc}")
        return fallback
