"""Handing back: how a worker lets go of its jobs when a drain ends or the worker stops. The
coordinator runs it as a step of its loop until it is done, so outcomes are written and leases
kept meanwhile."""

from __future__ import annotations

import concurrent.futures
import logging
import time
from collections import defaultdict
from typing import TYPE_CHECKING

from ..model import JobsUnavailable
from .table import Held, Phase

if TYPE_CHECKING:
    from .coordinator import Coordinator

log = logging.getLogger("chalicelib.jobs.worker")

#: when handing back, outcomes still unwritten after this long are left to lease recovery
HAND_BACK_WRITE_S = 1.0
#: the outcomes of a drain's last jobs get at least this long to be written, even past its
#: budget: a loaded machine's writes take a moment; a stalled Redis costs no more than this
HAND_BACK_MIN_WRITE_S = 0.2
#: after a failed write, try again this soon while time is left
WRITE_RETRY_S = 0.05

#: what a hand-back answers: how many jobs went back, and the handlers abandoned while running
Answer = concurrent.futures.Future[tuple[int, list[str]]]


class HandBack:
    """Unstarted jobs go back to PENDING at once; running ones get most of `wait_s` to finish.

    Without `final` (the end of a drain), handlers still running then are left to finish: the
    coordinator writes their outcomes later, under leases it keeps extending, so no job runs
    twice. With `final` (the worker is stopping), their jobs go back to PENDING too, and their
    late outcomes are dropped; handlers in child processes are killed first."""

    def __init__(self, coordinator: Coordinator, wait_s: float, final: bool, answer: Answer):
        self.coordinator = coordinator
        self.final = final
        self.answer = answer
        self.deadline = time.monotonic() + wait_s
        self.quiet_by = self.deadline - min(HAND_BACK_WRITE_S, wait_s / 2)
        coordinator.calls_until = self.deadline
        table = coordinator.table
        self.jobs: list[Held] = [j for j in list(table.unclaimed.values()) if table.take_back(j)]
        self.jobs += table.alone
        table.alone = []
        for job in self.jobs:
            job.phase = Phase.HANDED_BACK

    def step(self) -> bool:
        """One turn of the coordinator's loop; True when the hand-back is done."""
        table = self.coordinator.table
        if table.in_slots > 0 and time.monotonic() < self.quiet_by:
            return False
        abandoned = []
        if self.final:
            now = time.monotonic()
            running = [j for j in table.held.values() if j.phase in (Phase.LEASED, Phase.RUNNING)]
            for job in running:
                table.leave(job, Phase.HANDED_BACK)
                ran_s = now - job.started if job.started else 0.0
                abandoned.append(f"{job.job.job_type} {job.job_id} (running for {ran_s:.1f}s)")
            self.jobs += running
            self.coordinator.slots.stop(timeout_s=0.0)  # kills handlers in child processes
        coordinator = self.coordinator
        writes_until = max(self.deadline, time.monotonic() + HAND_BACK_MIN_WRITE_S)
        coordinator.calls_until = writes_until
        try:
            writer = coordinator.writer
            while time.monotonic() < writes_until and not writer.write(
                coordinator.store, give_up_at=writes_until
            ):
                time.sleep(min(WRITE_RETRY_S, max(0.0, writes_until - time.monotonic())))
            writer.give_up("the hand-back's time is up")
            moved = self._requeue()
        finally:
            coordinator.calls_until = None
        self.answer.set_result((moved, abandoned))
        return True

    def _requeue(self) -> int:
        """Put the jobs back to PENDING, every dequeue's in one round trip (bounded like the
        hand-back's writes): if it does not go through (Redis stalls), their leases expire and
        recovery puts them back, untried."""
        groups: dict[tuple[str, str], list[str]] = defaultdict(list)
        for job in self.jobs:
            groups[(job.queue, job.token)].append(job.job_id)
        moved, why = 0, ""
        if groups:
            try:
                moved = self.coordinator.store.requeue_many(
                    [(queue, token, ids) for (queue, token), ids in groups.items()]
                )
            except JobsUnavailable as exc:
                why = str(exc)
        if why:
            log.warning(
                "handing back %d jobs is not confirmed (%s): if it did not go through, their "
                "leases expire and they return to PENDING untried",
                len(self.jobs), why,
            )  # fmt: skip
        self.coordinator.table.forget(self.jobs)
        return moved
