"""What jobs cost on AWS, from the bench's figures: this app on Lambda beside Lambda + SQS.

Pure arithmetic on published prices (PRICES; docs/performance.md says where they come from and
when they were read), except `prod_functions`, which reads .chalice/config.json. Free tiers are
left out on both sides; Redis (ElastiCache) and the API's own invocations are not counted: an
SQS design needs an API that enqueues as well.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: us-east-1, x86, as published by AWS (see docs/performance.md for the date they were read)
LAMBDA_USD_PER_GB_S = 0.0000166667
LAMBDA_USD_PER_REQUEST = 0.20 / 1_000_000
SQS_USD_PER_REQUEST = 0.40 / 1_000_000
#: Lambda gives a function one full vCPU at this memory, and a share in proportion below it
FULL_VCPU_MB = 1769
#: an idle month of a worker scheduled every minute: 30 days
MONTH_S = 30 * 24 * 3600
SCHEDULED_RUNS_PER_MONTH = MONTH_S // 60
#: what a Lambda reading SQS does per message: a message is sent once, and received and
#: deleted in batches of (at most) 10; idle, its pollers long-poll (20 s) at least 5 at a time
SQS_BATCH = 10
SQS_IDLE_POLLERS = 5
SQS_LONG_POLL_S = 20


@dataclass(frozen=True)
class Functions:
    """The worker functions' settings of a stage (.chalice/config.json)."""

    memory_mb: int
    worker_timeout_s: float
    kick_timeout_s: float


def prod_functions(config_path: Path) -> Functions:
    """The prod stage's worker and worker_kick memory and timeouts."""
    config: dict[str, Any] = json.loads(config_path.read_text())
    functions = config["stages"]["prod"]["lambda_functions"]
    return Functions(
        memory_mb=int(functions["worker"]["lambda_memory_size"]),
        worker_timeout_s=float(functions["worker"]["lambda_timeout"]),
        kick_timeout_s=float(functions["worker_kick"]["lambda_timeout"]),
    )


def gb_s_usd(seconds: float, memory_mb: int) -> float:
    return seconds * memory_mb / 1024 * LAMBDA_USD_PER_GB_S


def lambda_s_per_job(worker_cpu_s_per_job: float, memory_mb: int) -> float:
    """Billed seconds per job of a CPU-bound worker: its CPU per job over its vCPU share."""
    return worker_cpu_s_per_job / min(1.0, memory_mb / FULL_VCPU_MB)


def million_jobs_here(
    worker_cpu_s_per_job: float, functions: Functions, idle_exit_s: float
) -> dict[str, float]:
    """USD for a million jobs drained by the worker functions, and the cost of one kick: an
    invocation that listens `idle_exit_s` after its work (its whole timeout without idle exit)."""
    jobs = 1_000_000
    busy_s = jobs * lambda_s_per_job(worker_cpu_s_per_job, functions.memory_mb)
    runs = -(-busy_s // functions.worker_timeout_s)
    tail_s = idle_exit_s if idle_exit_s > 0 else functions.kick_timeout_s
    return {
        "compute": gb_s_usd(busy_s, functions.memory_mb),
        "requests": runs * LAMBDA_USD_PER_REQUEST,
        "per_kick": LAMBDA_USD_PER_REQUEST + gb_s_usd(tail_s, functions.memory_mb),
    }


def million_jobs_sqs(worker_cpu_s_per_job: float, functions: Functions) -> dict[str, float]:
    """USD for a million jobs through SQS to a Lambda at the same memory and, an assumption,
    the same CPU per job: a send each, receives and deletes in batches, an invocation a batch."""
    jobs = 1_000_000
    busy_s = jobs * lambda_s_per_job(worker_cpu_s_per_job, functions.memory_mb)
    return {
        "compute": gb_s_usd(busy_s, functions.memory_mb),
        "requests": jobs / SQS_BATCH * LAMBDA_USD_PER_REQUEST,
        "sqs": (jobs + 2 * jobs / SQS_BATCH) * SQS_USD_PER_REQUEST,
    }


def idle_month_here(functions: Functions, idle_exit_s: float) -> float:
    """USD for a month of the worker scheduled every minute finding nothing to do: each run
    lasts its timeout, or `idle_exit_s` with idle exit."""
    run_s = idle_exit_s if idle_exit_s > 0 else functions.worker_timeout_s
    per_run = LAMBDA_USD_PER_REQUEST + gb_s_usd(run_s, functions.memory_mb)
    return SCHEDULED_RUNS_PER_MONTH * per_run


def idle_month_sqs() -> float:
    """USD for an idle month of a Lambda reading SQS: its pollers' empty long polls only."""
    polls = SQS_IDLE_POLLERS * MONTH_S / SQS_LONG_POLL_S
    return polls * SQS_USD_PER_REQUEST


def cost_lines(worker_cpu_s_per_job: float, functions: Functions, idle_exit_s: float) -> list[str]:
    """The cost section of the bench's report."""
    here = million_jobs_here(worker_cpu_s_per_job, functions, idle_exit_s)
    sqs = million_jobs_sqs(worker_cpu_s_per_job, functions)
    per_job_s = lambda_s_per_job(worker_cpu_s_per_job, functions.memory_mb)
    return [
        f"cost on Lambda (us-east-1 x86 prices of docs/performance.md; prod: "
        f"{functions.memory_mb} MB, worker timeout {functions.worker_timeout_s:g} s; "
        f"{per_job_s * 1e6:.0f} us billed per job = worker CPU per job / "
        f"{min(1.0, functions.memory_mb / FULL_VCPU_MB):.2f} vCPU; no free tier, no Redis, "
        "no API):",
        f"  a million jobs, this app: ${here['compute'] + here['requests']:.4f} "
        f"(compute ${here['compute']:.4f}, worker requests ${here['requests']:.4f}) + "
        f"${here['per_kick']:.6f} per kick (at most one per debounce per queue)",
        f"  a million jobs, Lambda + SQS: ${sum(sqs.values()):.4f} (compute "
        f"${sqs['compute']:.4f}, requests ${sqs['requests']:.4f}, SQS ${sqs['sqs']:.4f})",
        f"  an idle month, this app: ${idle_month_here(functions, 0):.2f} without idle exit, "
        f"${idle_month_here(functions, idle_exit_s):.2f} with JOBS_IDLE_EXIT_S={idle_exit_s:g}"
        f"; Lambda + SQS: ${idle_month_sqs():.2f} (empty long polls)",
    ]
