"""The job-end line: one JSON line on stdout per ended attempt, when JOBS_LOG_JOBS=1.

For CloudWatch Logs Insights (Lambda sends stdout there) and for a local worker's terminal:
`{"event": "job_end", "job_id": "default@...", "type": "math:add", "queue": "default",
"outcome": "done", "attempt": 1, "duration_s": 0.0012, "wait_s": 0.031}`, with `trace_id` when
the job carries one. Never params, results or error texts. Written by the coordinator's thread.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from .table import Held

EVENT = "job_end"


def job_end_line(job: Held, outcome: Any, ran_s: float, now: float) -> dict[str, Any]:
    """The fields of one ended attempt's line (`now`: Unix time of its end)."""
    leased = job.job
    line: dict[str, Any] = {
        "event": EVENT,
        "job_id": job.job_id,
        "type": leased.job_type,
        "queue": job.queue,
        "outcome": outcome.outcome.value,
        "attempt": leased.retried + 1,
        "duration_s": round(ran_s, 6),
    }
    if leased.due_at:
        line["wait_s"] = round(max(0.0, now - ran_s - leased.due_at), 6)
    trace_id = getattr(leased, "trace_id", "")
    if trace_id:
        line["trace_id"] = trace_id
    return line


def log_job_end(job: Held, outcome: Any, ran_s: float) -> None:
    """Write the line of one ended attempt on stdout; never raises (it must not stop the
    coordinator)."""
    try:
        text = json.dumps(job_end_line(job, outcome, ran_s, time.time()), separators=(",", ":"))
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
    except (OSError, ValueError):
        pass
