"""`python -m local jobs ACTION`: see and act on queues and jobs (the jobs package's Inspector).

Against the local stack's Redis, or JOBS_REDIS_URL when it is set. Tables for a terminal,
`--json` for scripts. Exit code 1 for a job or queue that does not exist (or an action its
state does not allow, or a Redis that does not answer), 2 for a usage error.

  queues                      every queue: jobs per state, paused, today's counters, backlog age
  ls QUEUE --state STATE      a page of a queue's jobs in one state (--limit, --cursor)
  show ID                     everything about one job
  retry ID                    a FAILED, RETRYING or FUTURE job becomes PENDING now
  retry-failed QUEUE          every FAILED job of the queue becomes PENDING now
  delete ID                   delete a job that is not ACTIVE
  pause QUEUE / resume QUEUE  workers take nothing from a paused queue; creating still works
  workers                     the live long-running workers
  history QUEUE               processed and failed per day (--days, 7)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import IO, Any

from chalicelib.jobs import (
    Inspector,
    JobNotFound,
    JobState,
    JobStateConflict,
    JobsUnavailable,
)
from chalicelib.jobs.inspector import MAX_DAYS, MAX_PAGE
from chalicelib.service import build_controller

from ..parts.stack_file import resolve_url
from .status import format_age

HELP = "see and act on queues and jobs: queues, ls, show, retry, delete, pause, workers..."
STATES = [s.name.lower() for s in JobState]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print JSON instead of a table")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    def action(name: str, help_text: str, *args: str) -> argparse.ArgumentParser:
        sub = actions.add_parser(name, help=help_text, parents=[common], description=help_text)
        for arg in args:
            sub.add_argument(arg.lower(), metavar=arg)
        return sub

    action("queues", "every queue: jobs per state, paused, today's counters, backlog age")
    ls = action("ls", "a page of a queue's jobs in one state", "QUEUE")
    ls.add_argument("--state", required=True, type=str.lower, choices=STATES)
    ls.add_argument("--limit", type=int, default=50, help=f"jobs per page, 1-{MAX_PAGE} (50)")
    ls.add_argument("--cursor", help="the cursor the previous page printed")
    action("show", "everything about one job", "ID")
    action("retry", "a FAILED, RETRYING or FUTURE job becomes PENDING now", "ID")
    action("retry-failed", "every FAILED job of the queue becomes PENDING now", "QUEUE")
    action("delete", "delete a job that is not ACTIVE", "ID")
    action("pause", "workers take nothing from the queue; creating jobs still works", "QUEUE")
    action("resume", "workers take the queue's jobs again", "QUEUE")
    action("workers", "the live long-running workers (from their heartbeats)")
    history = action("history", "processed and failed per day (UTC), today last", "QUEUE")
    history.add_argument("--days", type=int, default=7, help=f"1-{MAX_DAYS} (7)")


def table(columns: Sequence[str], rows: Sequence[Sequence[Any]], empty: str) -> str:
    """Aligned columns: numbers to the right, text to the left."""
    cells = [list(columns), *([str(c) for c in row] for row in rows)]
    numeric = [all(isinstance(row[i], int | float) for row in rows) for i in range(len(columns))]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    lines = [
        "  ".join(
            c.rjust(w) if numeric[i] and rows else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in cells
    ]
    return "\n".join(lines if rows else [*lines, empty])


def first_line(text: str | None, most: int = 60) -> str:
    lines = (text or "").splitlines()
    return lines[0][:most] if lines else ""


def when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "-"


def show_queues(inspector: Inspector, args: argparse.Namespace) -> tuple[Any, str]:
    queues = inspector.queues()
    rows = [
        (q.name, *(q.counts[s.name] for s in JobState), q.processed_today, q.failed_today,
         format_age(q.oldest_pending_s or None), "paused" if q.paused else "running")
        for q in queues
    ]  # fmt: skip
    columns = ("QUEUE", *(s.name for s in JobState), "TODAY", "FAILED TODAY", "OLDEST PENDING", "")
    return [q.as_dict() for q in queues], table(columns, rows, "(no queues yet)")


def show_page(inspector: Inspector, args: argparse.Namespace) -> tuple[Any, str]:
    page = inspector.jobs(args.queue, args.state, limit=args.limit, cursor=args.cursor)
    rows = [
        (j.job_id, j.job_type, j.retried, when(j.created_at), first_line(j.error))
        for j in page.jobs
    ]
    text = table(("ID", "TYPE", "RETRIED", "CREATED", "LAST ERROR"), rows, "(none)")
    if page.cursor:
        text += f"\nmore: --cursor {page.cursor}"
    return {"jobs": [j.as_dict() for j in page.jobs], "cursor": page.cursor}, text


def show_job(inspector: Inspector, args: argparse.Namespace) -> tuple[Any, str]:
    job = inspector.job(args.id).as_dict()
    lines = []
    for key, value in job.items():
        if key == "errors":
            continue
        shown = (
            when(value)
            if key.endswith("_at")
            else json.dumps(value, ensure_ascii=False)
            if key in ("params", "result")
            else value
        )
        lines.append(f"{key + ':':<14}{'-' if shown is None else shown}")
    lines += (
        ["errors:", *(f"  {n}. {e}" for n, e in enumerate(job["errors"], 1))]
        if job["errors"]
        else []
    )
    return job, "\n".join(lines)


def show_workers(inspector: Inspector, args: argparse.Namespace) -> tuple[Any, str]:
    workers = inspector.workers()
    rows = [
        (w.worker_id, w.host, w.pid, ",".join(w.queues), w.running, w.concurrency,
         when(w.started_at), when(w.last_seen))
        for w in workers
    ]  # fmt: skip
    columns = ("ID", "HOST", "PID", "QUEUES", "RUNNING", "CONCURRENCY", "STARTED", "LAST SEEN")
    return [w.as_dict() for w in workers], table(columns, rows, "(no live workers)")


def show_history(inspector: Inspector, args: argparse.Namespace) -> tuple[Any, str]:
    rows = inspector.history(args.queue, args.days)
    body = [{"date": r.date, "processed": r.processed, "failed": r.failed} for r in rows]
    return body, table(
        ("DATE", "PROCESSED", "FAILED"), [(r.date, r.processed, r.failed) for r in rows], ""
    )


def act(inspector: Inspector, args: argparse.Namespace) -> tuple[Any, str]:
    """The actions: what was done, as JSON and as a line."""
    if args.action == "retry":
        inspector.retry(args.id)
        return {"retried": args.id}, f"{args.id}: PENDING now"
    if args.action == "delete":
        inspector.delete(args.id)
        return {"deleted": args.id}, f"{args.id}: deleted"
    if args.action == "retry-failed":
        n = inspector.retry_failed(args.queue)
        return {"retried": n}, f"{args.queue}: {n} failed job(s) PENDING now"
    pause = args.action == "pause"
    changed = inspector.pause(args.queue) if pause else inspector.resume(args.queue)
    state = "paused" if pause else "running"
    return {"paused": pause, "changed": changed}, f"{args.queue}: {state}" + (
        "" if changed else " already"
    )


ACTIONS: dict[str, Callable[[Inspector, argparse.Namespace], tuple[Any, str]]] = {
    "queues": show_queues,
    "ls": show_page,
    "show": show_job,
    "workers": show_workers,
    "history": show_history,
    "retry": act,
    "retry-failed": act,
    "delete": act,
    "pause": act,
    "resume": act,
}


def run(args: argparse.Namespace, out: IO[str] | None = None, err: IO[str] | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    url, _ = resolve_url(os.environ)
    inspector = build_controller(os.environ, redis_url=url).inspector
    try:
        body, text = ACTIONS[args.action](inspector, args)
    except (JobNotFound, JobStateConflict, JobsUnavailable) as exc:
        print(f"python -m local jobs {args.action}: {exc}", file=err)
        return 1
    print(json.dumps(body, indent=2, ensure_ascii=False) if args.json else text, file=out)
    return 0
