"""Queue priorities: weighted shares without starving a light queue, or strict order."""

from __future__ import annotations

import threading
from collections import Counter

import pytest

from chalicelib.jobs import InvalidSettings, JobController, JobResult
from chalicelib.jobs.config import Settings, settings_from_env
from chalicelib.jobs.worker.priority import QueuePicker

WEIGHTS = {"critical": 6, "default": 3, "low": 1}


def run_all(redis_url: str, per_queue: int, **settings: object) -> list[str]:
    """Create `per_queue` jobs in each of WEIGHTS' queues, run them all with one worker of
    concurrency 1, and return the queue of each completion, in order."""
    done: list[str] = []
    lock = threading.Lock()

    def record(params: dict) -> JobResult:
        with lock:
            done.append(params["q"])
        return JobResult(True)

    c = JobController(redis_url, concurrency=1, **settings)  # type: ignore[arg-type]
    c.add_handler("test:record", record)
    for queue in WEIGHTS:
        c.create_jobs(
            [("test:record", {"q": queue, "n": n}) for n in range(per_queue)], queue=queue
        )
    while len(done) < per_queue * len(WEIGHTS):
        c.drain(1.0)
    return done


def test_completions_follow_the_weights_within_ten_percent(any_redis_url: str) -> None:
    done = run_all(any_redis_url, 1000, queues=WEIGHTS)
    # while every queue still has work: the first 1,500 completions (critical runs dry at ~1,667)
    shares = Counter(done[:1500])
    for queue, weight in WEIGHTS.items():
        expected = 1500 * weight / 10
        assert abs(shares[queue] - expected) <= expected * 0.1, (queue, shares)
    # and the light queue is served from the start, not after the others
    assert "low" in done[:20]
    assert len(done) == 3000


def test_strict_priority_empties_each_queue_before_the_next(any_redis_url: str) -> None:
    done = run_all(any_redis_url, 100, queues=WEIGHTS, strict_priority=True)
    assert done == ["critical"] * 100 + ["default"] * 100 + ["low"] * 100


def test_queue_names_alone_mean_equal_weights(any_redis_url: str) -> None:
    done = run_all(any_redis_url, 200, queues=tuple(WEIGHTS))
    shares = Counter(done[:300])
    assert all(90 <= shares[q] <= 110 for q in WEIGHTS), shares


def test_the_picker_interleaves_and_keeps_its_credit_across_batches() -> None:
    picker = QueuePicker(["a", "b", "c"], [6, 3, 1])
    assert Counter(picker.plan(10)) == {"a": 6, "b": 3, "c": 1}
    one_at_a_time = [q for _ in range(100) for q in picker.plan(1)]
    assert Counter(one_at_a_time) == {"a": 60, "b": 30, "c": 10}


def test_jobs_queues_takes_weights_and_strict_priority_from_the_environment() -> None:
    s = settings_from_env({"JOBS_QUEUES": "critical:6, default:3,low", "JOBS_STRICT_PRIORITY": "1"})
    assert (s.queues, s.weights, s.strict_priority) == (
        ("critical", "default", "low"), (6, 3, 1), True,
    )  # fmt: skip
    plain = settings_from_env({"JOBS_QUEUES": "a,b"})
    assert (plain.queues, plain.weights, plain.strict_priority) == (("a", "b"), (1, 1), False)


@pytest.mark.parametrize("queues", [{"a": 0}, {"a": -1}, {"a": 1.5}, {"a": True}, {"bad name": 1}])
def test_bad_weights_are_refused(queues: dict) -> None:
    with pytest.raises(InvalidSettings):
        Settings(queues=queues)  # type: ignore[arg-type]


def test_a_bad_weight_in_jobs_queues_is_refused() -> None:
    with pytest.raises(InvalidSettings, match="JOBS_QUEUES"):
        settings_from_env({"JOBS_QUEUES": "a:x"})
