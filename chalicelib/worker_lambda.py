"""The worker Lambda: drain the queues for the time the invocation has left, then report.

The drain takes jobs only while one could still run to its timeout (JOBS_TIMEOUT_S) before the
invocation's budget ends, then lets the jobs in flight finish; a job that overruns its timeout
fails that attempt as anywhere else. What the invocation keeps in reserve is the time for what
follows the drain: the hand-back's writes, one stats round trip per queue and the metrics line,
with room for a slow Redis (its commands time out after two seconds). So JOBS_TIMEOUT_S should be
well under the worker's lambda_timeout: the worker takes no new job in its last JOBS_TIMEOUT_S.

With an idle exit (chalicelib/service.py reads it: JOBS_IDLE_EXIT_S, only when the kick is
configured), the drain also ends once that long has passed with no job done: the kick starts a
worker on the next enqueue, so a quiet minute need not be paid for in full.
"""

from __future__ import annotations

import json
import logging
import time
import weakref
from collections.abc import Callable
from typing import Any, Protocol

from chalicelib.jobs import JobController, JobsUnavailable, QueueStats
from chalicelib.metrics import Latencies, emf_record

log = logging.getLogger("chalicelib.worker_lambda")

#: seconds kept back from the drain for the work after it (see the module docstring)
RESERVE_S = 2.5
#: below this budget a drain is not worth starting: the invocation only reports
MIN_BUDGET_S = 0.2
DEFAULT_SERVICE = "chalice-jobs"
#: each controller's latency samples: observed once, cleared at each invocation
_LATENCIES: weakref.WeakKeyDictionary[JobController, Latencies] = weakref.WeakKeyDictionary()


class LambdaContext(Protocol):
    function_name: str

    def get_remaining_time_in_millis(self) -> float: ...


def drain_budget_s(remaining_s: float, reserve_s: float = RESERVE_S) -> float:
    """Seconds to drain in an invocation with `remaining_s` left; 0 when too little is left."""
    budget_s = remaining_s - reserve_s
    return budget_s if budget_s >= MIN_BUDGET_S else 0.0


def drain_within(controller: JobController, budget_s: float, idle_exit_s: float = 0.0) -> int:
    """Drain for `budget_s` seconds in all, taking jobs only while one could still run to its
    timeout before the budget ends, then letting those in flight finish. With `idle_exit_s`
    > 0, return sooner once a stretch of `idle_exit_s` to twice that passes with no job done.

    When the budget cannot hold even one job timeout (a function timeout too short for
    JOBS_TIMEOUT_S), the drain takes jobs for the whole budget and hands back what is still
    running at its end, to run again elsewhere."""
    job_timeout_s = controller.settings.timeout
    if budget_s > job_timeout_s:
        fetch_s = budget_s - job_timeout_s
        if 0 < idle_exit_s < fetch_s:
            return drain_until_idle(controller, fetch_s, job_timeout_s, idle_exit_s)
        return controller.drain(fetch_s, finish_within=job_timeout_s)
    log.warning(
        "a drain of %.1fs cannot hold a job timeout of %.1fs: raise the function's timeout "
        "or lower JOBS_TIMEOUT_S",
        budget_s,
        job_timeout_s,
    )
    return controller.drain(budget_s)


def drain_until_idle(
    controller: JobController, fetch_s: float, finish_s: float, idle_exit_s: float
) -> int:
    """Drain in slices of `idle_exit_s` (each taking jobs for the slice, then letting those in
    flight finish within `finish_s`) until a slice does no job or `fetch_s` has passed."""
    # Slices rather than a hook inside the worker: the worker's threads and clients live on
    # between drain calls, so a slice costs one hand-back of prefetched jobs, not a restart.
    fetch_until = time.monotonic() + fetch_s
    processed = 0
    while (left_s := fetch_until - time.monotonic()) > 0:
        done = controller.drain(min(idle_exit_s, left_s), finish_within=finish_s)
        processed += done
        if not done:
            break
    return processed


def run_worker(
    controller: JobController,
    context: LambdaContext,
    *,
    service: str | None = None,
    emit: Callable[[str], None] = print,
    idle_exit_s: float = 0.0,
) -> dict[str, Any]:
    """Drain until the invocation's budget is spent (or, with `idle_exit_s` > 0, until that
    long passes with no job done), then emit one EMF line (to stdout, where Lambda sends it to
    CloudWatch Logs). Returns a summary of the drain."""
    budget_s = drain_budget_s(context.get_remaining_time_in_millis() / 1000)
    latencies = _latencies(controller)
    failed_before = controller.counters["failed"]
    started = time.monotonic()
    processed = drain_within(controller, budget_s, idle_exit_s) if budget_s else 0
    drain_s = time.monotonic() - started
    failed = controller.counters["failed"] - failed_before
    stats = _queue_stats(controller)
    record = emf_record(
        stats,
        service=service or DEFAULT_SERVICE,
        processed=processed,
        failed=failed,
        drain_s=drain_s,
        properties={"function": context.function_name, "budget_s": round(budget_s, 3)},
        latencies=latencies.percentiles(),
    )
    emit(json.dumps(record, separators=(",", ":")))
    return {"processed": processed, "failed": failed, "budget_s": budget_s, "stats": len(stats)}


def _latencies(controller: JobController) -> Latencies:
    """The controller's latency samples, emptied for this invocation."""
    latencies = _LATENCIES.get(controller)
    if latencies is None:
        latencies = _LATENCIES[controller] = Latencies()
        controller.observe_jobs(latencies.ended)
    latencies.clear()
    return latencies


def _queue_stats(controller: JobController) -> list[QueueStats]:
    """The queues' stats, or none when Redis is down: the drain's own numbers still get out."""
    try:
        return controller.queue_stats()
    except JobsUnavailable as exc:
        log.warning("no queue stats for the metrics line: %s", exc)
        return []
