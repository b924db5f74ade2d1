"""How often `up` restarts a worker that exits on its own, and how it says why."""

from __future__ import annotations

from local.commands.up import WORKER_EXIT_MEANINGS
from local.parts.restarts import RestartBudget, exit_reason


def test_a_worker_gets_five_restarts_a_minute_each() -> None:
    now = [0.0]
    budget = RestartBudget(5, 60.0, clock=lambda: now[0])
    assert [budget.spend("worker-1") for _ in range(6)] == [True] * 5 + [False]
    assert budget.spend("worker-2")  # each worker has its own budget
    now[0] = 59.0
    assert not budget.spend("worker-1")
    now[0] = 60.5  # the first restarts are more than a minute old now
    assert budget.spend("worker-1")


def test_the_exit_reason_says_what_the_code_means() -> None:
    assert exit_reason(3, WORKER_EXIT_MEANINGS) == "code 3: all its handler threads were stuck"
    assert exit_reason(-9, WORKER_EXIT_MEANINGS) == "code -9: killed by SIGKILL"
    assert exit_reason(1, WORKER_EXIT_MEANINGS) == "code 1"
