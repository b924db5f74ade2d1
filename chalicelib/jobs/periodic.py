"""Periodic jobs: an entry enqueues one job per tick, however many workers and drains run.

Every process computes the same tick times (multiples of `every` seconds since the epoch, or the
cron schedule's times, in UTC), and each tick's job is created with an idempotency key made of the
entry's name and the tick time: the first process to enqueue it writes it, the others' identical
creates answer its id and write nothing (one atomic enqueue script call each). Only the latest
tick that is due is enqueued: ticks missed while nothing ran are not replayed, except that one.
"""

from __future__ import annotations

import json
import logging
import math
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from croniter import croniter

from .client import JobClient, encode_params
from .config import Settings
from .model import IdempotencyConflict, InvalidJob, JobError, JobsUnavailable, check_queue_name
from .options import CreateOptions, positive_seconds
from .store import PeriodicRegistry

log = logging.getLogger("chalicelib.jobs")


@dataclass(frozen=True)
class PeriodicEntry:
    """One periodic job: what it enqueues, where, and when (`every_s` or `cron`)."""

    name: str
    job_type: str
    params: dict[str, Any]
    queue: str
    every_s: float | None = None
    cron: str | None = None

    @property
    def schedule(self) -> str:
        return f"every {self.every_s:g}s" if self.every_s else f"cron {self.cron}"

    def latest_tick(self, now: float) -> float:
        """The latest tick at or before `now`."""
        if self.every_s:
            return math.floor(now / self.every_s) * self.every_s
        # get_prev answers strictly before its start: a second later includes a tick at `now`
        start = datetime.fromtimestamp(math.floor(now) + 1, timezone.utc)
        return float(croniter(self.cron, start).get_prev(float))

    def next_tick(self, now: float) -> float:
        """The first tick after `now`."""
        if self.every_s:
            return self.latest_tick(now) + self.every_s
        start = datetime.fromtimestamp(now, timezone.utc)
        return float(croniter(self.cron, start).get_next(float))


def periodic_entry(
    job_type: str,
    params: dict[str, Any],
    *,
    every: float | None,
    cron: str | None,
    queue: str,
    name: str | None,
    max_params_bytes: int,
) -> PeriodicEntry:
    """A checked entry; InvalidJob naming the bad option (`every`, `cron`, `name`...)."""
    check_queue_name(queue)
    encode_params(params, max_params_bytes)
    if (every is None) == (cron is None):
        raise InvalidJob("a periodic job needs one of every= (seconds) or cron= (5 fields)")
    every_s = None if every is None else positive_seconds("every", every)
    if cron is not None and (
        not isinstance(cron, str) or len(cron.split()) != 5 or not croniter.is_valid(cron)
    ):
        raise InvalidJob(f"cron must be a 5-field cron expression, got {cron!r}")
    name = job_type if name is None else name
    if not isinstance(name, str) or not 1 <= len(name) <= 200:
        raise InvalidJob(f"a periodic job's name is a string of 1-200 characters, got {name!r}")
    return PeriodicEntry(name, job_type, params, queue, every_s, cron)


class Scheduler:
    """Enqueues the due ticks of the entries (shared with the controller: fixed once a worker
    runs). Runs in the fetch duty's thread."""

    def __init__(
        self,
        client: JobClient,
        entries: Mapping[str, PeriodicEntry],
        settings: Settings,
        clock: Callable[[], float],
    ) -> None:
        self.client = client
        self.entries = entries
        self.settings = settings
        self.clock = clock
        #: name -> the latest tick this process enqueued (or found enqueued)
        self.done: dict[str, float] = {}

    def next_at(self, now: float) -> float | None:
        """When the next tick falls due; `now` when one is due already; None without entries."""
        due = [
            now if self.done.get(e.name) != e.latest_tick(now) else e.next_tick(now)
            for e in self.entries.values()
        ]
        return min(due) if due else None

    def run(self, now: float) -> int:
        """Enqueue each entry's latest due tick not yet enqueued: one round trip per queue,
        and one to publish the entries' next runs. Returns how many jobs this call wrote."""
        due = [(e, e.latest_tick(now)) for e in self.entries.values()]
        due = [(e, tick) for e, tick in due if self.done.get(e.name) != tick]
        by_queue: dict[str, list[tuple[PeriodicEntry, float]]] = defaultdict(list)
        for entry, tick in due:
            by_queue[entry.queue].append((entry, tick))
        written = 0
        for queue, ticks in by_queue.items():
            written += self._enqueue(queue, ticks, now)
        if due:
            infos = {e.name: self._info(e, tick, now) for e, tick in due}
            PeriodicRegistry(self.client.store).publish(infos)
        return written

    def _enqueue(self, queue: str, ticks: list[tuple[PeriodicEntry, float]], now: float) -> int:
        """The ticks' jobs, through the one create path: each keyed by its entry's name and
        tick, a key that outlives the tick's period, so a late process never enqueues it
        again. Raises JobsUnavailable (the ticks are tried again at the next pass)."""
        jobs = [
            (e.job_type, e.params, {"idempotency_key": f"periodic:{e.name}:{tick!r}"})
            for e, tick in ticks
        ]
        fields = [{"periodic": e.name, "tick": tick} for e, tick in ticks]
        period_s = max(e.next_tick(now) - tick for e, tick in ticks)
        options: CreateOptions = {"queue": queue}
        try:
            created = self.client.create(
                jobs, options, record_fields=fields, key_ttl_s=self.settings.retention + period_s
            )
        except JobsUnavailable:
            raise
        except IdempotencyConflict as exc:
            log.error(
                "periodic jobs of queue %s: a tick's key is held by other params: %s", queue, exc
            )
            created = []
        except JobError as exc:
            log.error("periodic jobs of queue %s cannot be enqueued: %s", queue, exc)
            created = []
        for entry, tick in ticks:
            self.done[entry.name] = tick
        return sum(1 for job in created if not job.replayed)

    def _info(self, entry: PeriodicEntry, tick: float, now: float) -> str:
        info = {
            "name": entry.name,
            "type": entry.job_type,
            "queue": entry.queue,
            "schedule": entry.schedule,
            "last_tick": tick,
            "next_run_at": entry.next_tick(now),
            "updated_at": now,
        }
        return json.dumps(info, separators=(",", ":"))
