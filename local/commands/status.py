"""`python -m local status`: per queue, jobs in each state, counters, and the backlog's age;
then the periodic jobs the workers run, with their last tick and next run.

With `--watch` the table is redrawn in place every `--interval` seconds until Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Sequence
from typing import IO, Any

from chalicelib.jobs import JobController, JobsUnavailable, QueueStats
from chalicelib.service import build_controller

from ..parts.options import positive_float, queue_names
from ..parts.redis_choice import redacted
from ..parts.stack_file import resolve_url
from ..parts.supervisor import Flag

HELP = (
    "show jobs per queue and state, processed and failed counts, the oldest pending job's age, "
    "and the periodic jobs' next runs"
)
COLUMNS = (
    "QUEUE", "ACTIVE", "PENDING", "FUTURE", "RETRYING", "FAILED", "COMPLETED",
    "PROCESSED", "FAILURES", "OLDEST PENDING",
)  # fmt: skip
#: cursor home, then clear to the end of the screen: the next frame replaces this one
REDRAW = "\x1b[H\x1b[J"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--watch", action="store_true", help="redraw the table until Ctrl-C")
    parser.add_argument(
        "--interval",
        type=positive_float,
        default=1.0,
        metavar="S",
        help="seconds between redraws (1)",
    )
    parser.add_argument(
        "--queues", help="comma-separated queues (default: JOBS_QUEUES and every queue in Redis)"
    )


def format_age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"
    return f"{int(seconds // 3600)}h{int(seconds % 3600 // 60):02d}m"


def row_of(s: QueueStats) -> tuple[str, ...]:
    counts = (s.active, s.pending, s.future, s.retrying, s.failed, s.completed)
    totals = (s.processed_total, s.failed_total)
    return (s.queue, *map(str, counts), *map(str, totals), format_age(s.oldest_pending_age_s))


def render(stats: Sequence[QueueStats]) -> str:
    """The table, one row per queue, numbers right-aligned."""
    rows = [COLUMNS, *map(row_of, stats)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = []
    for name, *numbers in rows:
        cells = [name.ljust(widths[0])]
        cells += [cell.rjust(width) for cell, width in zip(numbers, widths[1:], strict=True)]
        lines.append("  ".join(cells).rstrip())
    if not stats:
        lines.append("(no queues yet)")
    return "\n".join(lines)


PERIODIC_COLUMNS = ("PERIODIC", "TYPE", "QUEUE", "SCHEDULE", "LAST TICK", "NEXT RUN")


def render_periodic(infos: Sequence[dict[str, Any]], now: float) -> str:
    """The periodic jobs the workers published: schedule, last tick (UTC), and when the next
    one runs, from now."""
    rows = [PERIODIC_COLUMNS]
    for info in infos:
        last = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(info["last_tick"]))
        next_in = info["next_run_at"] - now
        rows.append((
            info["name"], info["type"], info["queue"], info["schedule"], last,
            f"in {format_age(next_in)}" if next_in >= 0 else f"{format_age(-next_in)} late",
        ))  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(PERIODIC_COLUMNS))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def snapshot(controller: JobController, queues: Sequence[str] | None) -> list[QueueStats]:
    """Stats of the given queues, else of the configured ones and every queue Redis knows."""
    if not queues:
        known = controller.known_queues()
        queues = list(controller.settings.queues) + [
            q for q in known if q not in controller.settings.queues
        ]
    return controller.queue_stats(queues)


def frame(controller: JobController, queues: Sequence[str] | None, source: str) -> tuple[str, bool]:
    """The text to show, and whether Redis answered."""
    url = redacted(controller.settings.redis_url)
    header = f"{url} (from {source}) at {time.strftime('%H:%M:%S')}"
    try:
        text = f"{header}\n\n{render(snapshot(controller, queues))}"
        periodic = controller.periodic_info()
        if periodic:
            text += "\n\n" + render_periodic(periodic, time.time())
        return text, True
    except JobsUnavailable as exc:
        return f"{header}\n\nRedis does not answer: {exc}", False


def run(args: argparse.Namespace, out: IO[str] | None = None) -> int:
    out = out or sys.stdout
    url, source = resolve_url(os.environ)
    controller = build_controller(os.environ, redis_url=url)
    queues = list(queue_names(args.queues)) if args.queues else None
    if not args.watch:
        text, answered = frame(controller, queues, source)
        print(text, file=out)
        return 0 if answered else 1
    in_place = out.isatty()
    stop = Flag()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    while not stop.is_set():
        text, _ = frame(controller, queues, source)
        out.write((REDRAW if in_place else "") + text + "\n" + ("" if in_place else "\n"))
        out.flush()
        stop.wait(args.interval)
    return 0
