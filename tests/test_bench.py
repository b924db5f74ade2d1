"""`python -m local bench --quick` runs end to end and writes every figure issue 5 names.

No timing is asserted: figures depend on the machine. What must hold is that the run finishes,
checks every result, and writes the JSON other tools read.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

KEYS = {
    "drain": {"jobs", "seconds", "jobs_per_s"},
    "create_job": {"jobs_per_s"},
    "create_jobs": {"jobs_per_s"},
    "latency_ms": {"p50", "p95", "p99"},
    "api": {"requests_per_s"},
    "cold_start_ms": None,
    "round_trips_per_job": None,
    "commands_per_job": None,
    "redis_benchmark": None,
    "verified": None,
}


def test_quick_bench_writes_every_figure_and_verifies(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    run = subprocess.run(
        [sys.executable, "-m", "local", "bench", "--quick", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    figures = json.loads(out.read_text())
    assert set(figures) == set(KEYS)
    for key, inner in KEYS.items():
        if inner is not None:
            assert set(figures[key]) == inner, key
    assert figures["verified"] is True
    assert figures["drain"]["jobs_per_s"] is not None
    assert {"set", "rpop", "set_p16", "rpop_p16"} <= set(figures["redis_benchmark"])
    assert "FAILED" not in run.stdout
