"""The figures as a table for people, and as JSON for tools (scripts read its keys)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from chalicelib.service import DEFAULT_IDLE_EXIT_S

from .context import ROOT
from .cost import cost_lines, prod_functions
from .figures import Figures


def as_json(f: Figures) -> dict[str, Any]:
    """Exactly the documented keys; null where a figure is missing or did not verify."""
    latency = f.latency_ms or {}
    wake = f.wait_wake_ms or {}
    return {
        "drain": {
            "jobs": f.drain_jobs,
            "seconds": _round(f.drain_s, 4),
            "jobs_per_s": _round(f.drain_rate, 1),
        },
        "drain_process_jobs_per_s": _round(f.drain_process_rate, 1),
        "create_job": {"jobs_per_s": _round(f.create_job, 1)},
        "create_jobs": {"jobs_per_s": _round(f.create_jobs, 1)},
        "min_replicas_1": {
            "create_job_jobs_per_s": _round(f.durable_create_job, 1),
            "create_jobs_jobs_per_s": _round(f.durable_create_jobs, 1),
        },
        "latency_ms": {k: _round(latency.get(k), 3) for k in ("p50", "p95", "p99")},
        "wait_wake_ms": {k: _round(wake.get(k), 3) for k in ("p50", "p95", "p99")},
        "api": {"requests_per_s": _round(f.api_rps, 1)},
        "cold_start_ms": _round(f.cold_start_median, 1),
        "round_trips_per_job": _round(f.round_trips_per_job, 4),
        "commands_per_job": _round(f.commands_per_job, 3),
        "redis_benchmark": f.redis_benchmark,
        "redis_cpu_us_per_job": _round(f.per_job_us(f.redis_cpu_s), 2),
        "worker_cpu_us_per_job": _round(f.per_job_us(f.worker_cpu_s), 2),
        "create_job_vs_set": _round(f.create_job_vs_set, 4),
        "memory_bytes_per_job": {
            "pending": _round(f.memory_pending_bytes, 1),
            "completed": _round(f.memory_completed_bytes, 1),
        },
        "rtt": None
        if f.rtt_ms is None
        else {
            "ms": int(f.rtt_ms) if f.rtt_ms.is_integer() else f.rtt_ms,
            "drain_share": _round(f.rtt_drain_share, 4),
            "create_jobs_share": _round(f.rtt_create_jobs_share, 4),
        },
        "verified": f.verified,
    }


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def _at_least(value: float | None, target: float) -> str:
    if value is None:
        return "no figure"
    if value >= target:
        return "met"
    return f"missed by {(target - value) / target:.1%} ({value:,.0f} of {target:,.0f})"


def _at_most(value: float | None, target: float, unit: str) -> str:
    if value is None:
        return "no figure"
    if value <= target:
        return "met"
    return (
        f"missed by {(value - target) / target:.1%} ({value:.3g}{unit}, at most {target:g}{unit})"
    )


def _num(value: float | None, fmt: str = ",.0f") -> str:
    return "n/a" if value is None else format(value, fmt)


def _pct(value: float | None) -> str:
    return _num(None if value is None else value * 100, ".1f") + ("" if value is None else "%")


def _rtt_rows(f: Figures) -> list[tuple[str, str, str, str]]:
    if f.rtt_ms is None:
        return []
    through = f"+{f.rtt_ms:g} ms round trip"
    return [
        (f"drain, {through}, share of loopback", _pct(f.rtt_drain_share), "", ""),
        (f"create_jobs, {through}, share of loopback", _pct(f.rtt_create_jobs_share), "", ""),
    ]


def _cost(f: Figures) -> Iterator[str]:
    """What a million jobs and an idle month cost on Lambda, from the worker's CPU per job."""
    cpu_us = f.per_job_us(f.worker_cpu_s)
    if cpu_us is not None:
        functions = prod_functions(ROOT / ".chalice" / "config.json")
        yield from cost_lines(cpu_us / 1e6, functions, DEFAULT_IDLE_EXIT_S)


#: the verdict of a figure with a target after a --quick run, too small to compare with targets
QUICK_VERDICT = "n/a (quick sizes)"


def render_table(f: Figures, quick: bool = False) -> Iterator[str]:
    """One row per figure with its target and verdict, then the details behind them. With
    `quick`, figures with a target get QUICK_VERDICT instead of a comparison."""
    lat = f.latency_ms or {}
    wake = f.wait_wake_ms or {}
    rb = f.redis_benchmark
    cold = f.cold_start_median
    boto3 = {None: "n/a", True: "imported", False: "not imported"}[f.cold_start_boto3]
    rows = [
        ("drain, 1 worker process (jobs/s)",
         _num(f.drain_rate) if f.drain_verified else "FAILED", ">= 20,000",
         _at_least(f.drain_rate, 20_000)),
        ("drain, 1 worker process, isolation=process (jobs/s)",
         _num(f.drain_process_rate) if f.drain_process_verified else "FAILED", "", ""),
        ("create_job one at a time (jobs/s)", _num(f.create_job), ">= 6,000",
         _at_least(f.create_job, 6_000)),
        (f"create_jobs, batches of {f.batch} (jobs/s)", _num(f.create_jobs), ">= 50,000",
         _at_least(f.create_jobs, 50_000)),
        ("create_job, min_replicas=1, local replica (jobs/s)", _num(f.durable_create_job),
         "", ""),
        ("create_jobs, min_replicas=1, local replica (jobs/s)", _num(f.durable_create_jobs),
         "", ""),
        ("pick-up latency p50 (ms)", _num(lat.get("p50"), ".2f"), "<= 2",
         _at_most(lat.get("p50"), 2.0, " ms")),
        ("pick-up latency p95 (ms)", _num(lat.get("p95"), ".2f"), "", ""),
        ("pick-up latency p99 (ms)", _num(lat.get("p99"), ".2f"), "<= 10",
         _at_most(lat.get("p99"), 10.0, " ms")),
        ("wait wake-up, completion to answer, p50 (ms)", _num(wake.get("p50"), ".2f"), "", ""),
        ("wait wake-up, completion to answer, p99 (ms)", _num(wake.get("p99"), ".2f"), "", ""),
        ("Redis round trips per job (drain)", _num(f.round_trips_per_job, ".4f"), "<= 0.1",
         _at_most(f.round_trips_per_job, 0.1, "")),
        ("Redis commands per job (drain)", _num(f.commands_per_job, ".2f"), "", ""),
        ("API POST+GET in process (requests/s)", _num(f.api_rps), "", ""),
        ("cold start: import + 1st POST (ms)", _num(cold), "<= 400",
         _at_most(cold, 400.0, " ms")),
        ("boto3 on the cold-start path", boto3, "not imported",
         "" if f.cold_start_boto3 is None else ("missed" if f.cold_start_boto3 else "met")),
        ("Redis CPU per job, drain (us)", _num(f.per_job_us(f.redis_cpu_s), ".1f"), "", ""),
        ("worker CPU per job, drain (us)", _num(f.per_job_us(f.worker_cpu_s), ".1f"), "", ""),
        ("create_job as a share of a SET loop", _pct(f.create_job_vs_set), "", ""),
        ("Redis memory per PENDING job (bytes)", _num(f.memory_pending_bytes), "", ""),
        ("Redis memory per COMPLETED job (bytes)", _num(f.memory_completed_bytes), "", ""),
        *_rtt_rows(f),
        ("redis-benchmark SET (requests/s)", _num(rb.get("set")), "", "reference"),
        ("redis-benchmark RPOP (requests/s)", _num(rb.get("rpop")), "", "reference"),
        ("redis-benchmark SET -P 16 (requests/s)", _num(rb.get("set_p16")), "", "reference"),
        ("redis-benchmark RPOP -P 16 (requests/s)", _num(rb.get("rpop_p16")), "", "reference"),
    ]  # fmt: skip
    width = max(len(row[0]) for row in rows)
    yield f"{'figure':<{width}} {'measured':>12}  {'target':<12} verdict"
    yield "-" * (width + 60)
    for label, value, target, verdict in rows:
        if quick and target:
            verdict = QUICK_VERDICT
        yield f"{label:<{width}} {value:>12}  {target:<12} {verdict}"
    yield from render_details(f)


def render_details(f: Figures) -> Iterator[str]:
    """What a figure alone does not say: CPU, command mix, each cold start, notes."""
    yield ""
    if f.drain_s is not None:
        yield (
            f"drain: {f.drain_jobs} jobs in {f.drain_s:.3f} s from the worker's start() (process "
            f"imported {_num(f.worker_ready_ms)} ms after spawn, not counted); worker CPU "
            f"{_num(f.worker_cpu_s, '.2f')} s, Redis CPU {_num(f.redis_cpu_s, '.2f')} s (INFO cpu)"
        )
    if f.drain_process_s is not None:
        share = f.drain_s / f.drain_process_s if f.drain_s else None
        ratio = f" ({share:.0%} of the thread drain's rate)" if share else ""
        yield (
            f"drain, isolation=process: {f.drain_jobs} jobs in {f.drain_process_s:.3f} s from the "
            f"worker's start(), its pool of handler processes started within it{ratio}"
        )
    if f.command_breakdown:
        parts = sorted(f.command_breakdown.items(), key=lambda kv: -kv[1])
        yield "commands per job (INFO commandstats, which counts commands run by scripts too): "
        yield "  " + ", ".join(f"{name} {per:.3f}" for name, per in parts)
    if f.cold_start_ms:
        runs = ", ".join(f"{ms:.0f}" for ms in f.cold_start_ms)
        yield f"cold starts (ms): {runs}; median {_num(f.cold_start_median)}"
    if f.cold_start_imports:
        yield "heaviest imports of a cold start (ms, cumulative): " + ", ".join(
            f"{name} {ms:.0f}" for name, ms in f.cold_start_imports
        )
    if "reason" in f.redis_benchmark:
        yield f"redis-benchmark: {f.redis_benchmark['reason']}"
    if f.profile_top:
        yield (
            f"worker profile: drain of {f.drain_jobs} jobs under cProfile in "
            f"{_num(f.profile_drain_s, '.2f')} s; CPU time per thread, top functions by own time:"
        )
        yield from ("  " + line for line in f.profile_top)
    if f.rtt_added_ms is not None:
        yield (
            f"through the delay proxy (+{_num(f.rtt_ms, 'g')} ms asked): a PING took "
            f"{f.rtt_added_ms:.2f} ms more than on loopback (median of 50); loopback beside it: "
            f"drain {_num(f.rtt_loopback_drain_s, '.3f')} s, create_jobs "
            f"{_num(f.rtt_loopback_create_jobs)} jobs/s"
        )
    yield from _cost(f)
    for note in f.notes:
        yield f"note: {note}"
    yield "verified: every result checked" if f.verified else "verified: FAILED"
