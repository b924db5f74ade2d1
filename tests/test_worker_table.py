"""The worker's decisions over its in-flight table: pure functions of the table and a time,
checked here without Redis or threads."""

from __future__ import annotations

from chalicelib.jobs.record import LeasedJob, Outcome
from chalicelib.jobs.store import AttemptOutcome
from chalicelib.jobs.worker.table import (
    BATCH_MAX,
    FLUSH_BATCH,
    FLUSH_LINGER_S,
    RECORD_START_AFTER_S,
    Held,
    Phase,
    Table,
)


def held(n: int, recovered: int = 0) -> Held:
    job = LeasedJob(f"job-{n}", "test:ok", "{}", 0, None, recovered=recovered)
    return Held(job, "default", "token")


def handed(table: Table, job: Held) -> None:
    """What the coordinator does when it hands a job to the slots."""
    table.held[job.job_id] = job
    table.unclaimed[job.job_id] = job
    table.in_slots += 1


def test_a_job_is_claimed_by_a_slot_or_taken_back_never_both() -> None:
    table = Table(concurrency=2)
    first, second = held(1), held(2)
    handed(table, first)
    handed(table, second)

    assert table.claim(first) is True
    assert table.take_back(first) is False, "a claimed job runs: it cannot go back"
    assert table.take_back(second) is True
    assert table.claim(second) is False, "a job taken back is not run"
    assert table.in_slots == 1


def test_a_job_waiting_to_run_alone_takes_nothing_more_until_it_ran() -> None:
    table = Table(concurrency=4)
    table.alone.append(held(1, recovered=1))
    assert table.room() == 0
    job = table.alone.pop()
    table.alone_running = job
    handed(table, job)
    assert table.room() == 0, "nothing runs beside a job that runs alone"


def test_a_job_to_run_alone_handed_back_before_it_started_frees_the_worker() -> None:
    table = Table(concurrency=4)
    job = held(1, recovered=1)
    table.alone_running = job
    handed(table, job)

    assert table.take_back(job) is True  # a drain ended before its slot claimed it
    assert table.alone_running is None
    assert table.room() == 4 + 4, "the next drain takes work again"


def test_quick_jobs_are_prefetched_in_batches_and_slow_ones_only_as_slots_free_up() -> None:
    table = Table(concurrency=10)
    assert table.prefetch() == 10, "before any job ran, one batch of the concurrency"
    table.ran(0.0001)
    assert table.prefetch() == BATCH_MAX
    slow = Table(concurrency=10)
    slow.ran(5.0)
    assert slow.prefetch() == 0
    for n in range(9):
        handed(slow, held(n))
    assert slow.room() == 1, "a free slot takes one job"


def test_outcomes_wait_a_moment_for_company_while_jobs_run_and_go_at_once_otherwise() -> None:
    table = Table(concurrency=2)
    running = held(1)
    handed(table, running)
    done = held(2)
    outcome = AttemptOutcome(done.job_id, "token", Outcome.DONE, "1")
    table.queue_outcome(done, outcome, now_mono=100.0)
    assert table.flush_due(100.0) == 100.0 + FLUSH_LINGER_S

    for n in range(FLUSH_BATCH):
        table.queue_outcome(held(10 + n), outcome, now_mono=100.0)
    assert table.flush_due(100.0) == 100.0, "a full batch goes at once"

    idle = Table(concurrency=2)
    idle.queue_outcome(done, outcome, now_mono=100.0)
    assert idle.flush_due(100.0) == 100.0, "nothing else is about to end"
    assert Table(concurrency=2).flush_due(100.0) is None


def test_starts_are_recorded_only_for_handlers_still_running_a_moment_later() -> None:
    table = Table(concurrency=2)
    job = held(1)
    handed(table, job)
    table.start(job, started=100.0, watch_s=30.0)
    assert job.phase is Phase.RUNNING

    assert table.starts_due(100.0) == []
    assert table.next_start_due() == 100.0 + RECORD_START_AFTER_S
    assert table.starts_due(100.0 + RECORD_START_AFTER_S) == [job]
    job.start_recorded = True
    assert table.next_start_due() is None
    assert table.overrunning(129.0) == [] and table.overrunning(130.5) == [job]


def test_written_outcomes_are_counted_by_what_the_script_answered() -> None:
    table = Table(concurrency=2)
    jobs = [held(n) for n in range(4)]
    for job in jobs:
        table.held[job.job_id] = job
    items = [
        (jobs[0], AttemptOutcome("job-0", "token", Outcome.DONE, "1")),
        (jobs[1], AttemptOutcome("job-1", "token", Outcome.RETRY, "boom")),
        (jobs[2], AttemptOutcome("job-2", "token", Outcome.DEFER, "later")),
        (jobs[3], AttemptOutcome("job-3", "token", Outcome.DONE, "1")),
    ]
    table.written(items, [6, 4, 4, 0])
    c = table.counters
    assert (c.processed, c.failed, c.lost, c.unconfirmed) == (2, 1, 1, 0)
    assert table.held == {}


def test_a_job_running_alone_that_overruns_frees_the_worker() -> None:
    from chalicelib.jobs.config import Settings  # noqa: PLC0415
    from chalicelib.jobs.worker.slots import Slots  # noqa: PLC0415

    table = Table(concurrency=2)
    slots = Slots(table, {}, Settings(timeout=1.0), clock=lambda: 0.0, post=lambda m: None)
    job = held(1, recovered=1)
    table.alone_running = job
    handed(table, job)
    assert table.claim(job)
    table.start(job, started=100.0, watch_s=1.0)

    assert slots.fail_overruns(101.5) is True
    assert job.phase is Phase.OVERRAN and table.alone_running is None
    assert table.room() > 0, "a hung handler that ran alone does not stop the worker"
    assert slots.threads == 1, "its slot got a replacement"
    slots.stop(timeout_s=0.0)
