"""`python -m local bench --quick` runs end to end and writes every documented figure.

No timing is asserted: figures depend on the machine. What must hold is that the run finishes,
checks every result, and writes the JSON other tools read.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from local.commands.bench.report import _at_least, _at_most
from tests.local_helpers import descendants, still_alive

ROOT = Path(__file__).resolve().parent.parent

KEYS = {
    "drain": {"jobs", "seconds", "jobs_per_s"},
    "drain_process_jobs_per_s": None,
    "create_job": {"jobs_per_s"},
    "create_jobs": {"jobs_per_s"},
    "min_replicas_1": {"create_job_jobs_per_s", "create_jobs_jobs_per_s"},
    "latency_ms": {"p50", "p95", "p99"},
    "wait_wake_ms": {"p50", "p95", "p99"},
    "api": {"requests_per_s"},
    "cold_start_ms": None,
    "round_trips_per_job": None,
    "commands_per_job": None,
    "redis_benchmark": None,
    "redis_cpu_us_per_job": None,
    "worker_cpu_us_per_job": None,
    "create_job_vs_set": None,
    "memory_bytes_per_job": {"pending", "completed"},
    "rtt": {"ms", "drain_share", "create_jobs_share"},
    "verified": None,
}


def test_quick_bench_writes_every_figure_and_verifies(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    run = subprocess.run(
        [sys.executable, "-m", "local", "bench", "--quick", "--rtt-ms", "1", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    figures = json.loads(out.read_text())
    assert set(figures) == set(KEYS)
    for key, inner in KEYS.items():
        if inner is not None and figures[key] is not None:
            assert set(figures[key]) == inner, key
    assert figures["verified"] is True
    assert figures["min_replicas_1"]["create_job_jobs_per_s"] > 0
    assert figures["drain"]["jobs_per_s"] is not None
    assert figures["drain_process_jobs_per_s"] is not None
    assert "isolation=process" in run.stdout
    assert {"set", "rpop", "set_p16", "rpop_p16"} <= set(figures["redis_benchmark"])
    assert "FAILED" not in run.stdout
    assert "n/a (quick sizes)" in run.stdout and "missed" not in run.stdout
    for key in ("redis_cpu_us_per_job", "worker_cpu_us_per_job"):
        assert figures[key] > 0, key
    wake = figures["wait_wake_ms"]
    assert wake["p99"] is not None and wake["p99"] < 10_000  # woken by the end, not timed out
    assert "wait wake-up" in run.stdout
    assert 0 < figures["create_job_vs_set"] < 1  # a script call does more than a SET
    memory = figures["memory_bytes_per_job"]
    assert 0 < memory["pending"] < memory["completed"]  # a result is kept with each record
    rtt = figures["rtt"]
    assert rtt["ms"] == 1
    assert rtt["drain_share"] > 0
    assert rtt["create_jobs_share"] > 0
    assert "+1 ms round trip" in run.stdout
    assert "a million jobs, Lambda + SQS" in run.stdout and "an idle month" in run.stdout


def test_without_rtt_ms_the_rtt_figure_is_null(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    run = subprocess.run(
        [sys.executable, "-m", "local", "bench", "--quick", "--jobs", "50", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    figures = json.loads(out.read_text())
    assert figures["rtt"] is None
    assert "round trip, share of loopback" not in run.stdout


def test_a_missed_target_says_by_how_much() -> None:
    assert _at_least(5_994, 6_000) == "missed by 0.1% (5,994 of 6,000)"
    assert _at_least(6_000, 6_000) == "met"
    assert _at_most(2.5, 2.0, " ms") == "missed by 25.0% (2.5 ms, at most 2 ms)"


@pytest.mark.timeout(90)
@pytest.mark.parametrize("how", ["SIGTERM to the bench", "Ctrl-C in its terminal"])
def test_an_interrupted_bench_stops_what_it_started_and_says_so(how: str) -> None:
    bench = subprocess.Popen(
        [sys.executable, "-m", "local", "bench", "--quick", "--jobs", "200000"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert bench.stderr is not None
        for line in bench.stderr:
            if "bench: drain" in line:
                break
        time.sleep(0.5)  # the worker process is up and draining
        started = descendants(bench.pid)
        assert started, "the bench started no process"
        if how.startswith("SIGTERM"):
            bench.send_signal(signal.SIGTERM)
        else:
            os.killpg(bench.pid, signal.SIGINT)
        _, err = bench.communicate(timeout=60)
    finally:
        if bench.poll() is None:
            bench.kill()
            bench.wait()
    assert bench.returncode == 130, err
    assert "bench: interrupted" in err and "Traceback" not in err, err
    deadline = time.monotonic() + 10
    while still_alive(started) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert still_alive(started) == []
