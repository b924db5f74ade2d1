"""The bench's cost arithmetic: published prices times what the bench measured, by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from local.commands.bench.cost import (
    SCHEDULED_RUNS_PER_MONTH,
    Functions,
    cost_lines,
    gb_s_usd,
    idle_month_here,
    idle_month_sqs,
    lambda_s_per_job,
    million_jobs_here,
    million_jobs_sqs,
    prod_functions,
)

ROOT = Path(__file__).resolve().parent.parent
PROD = Functions(memory_mb=512, worker_timeout_s=60, kick_timeout_s=30)


def test_prod_functions_come_from_the_chalice_config() -> None:
    assert prod_functions(ROOT / ".chalice" / "config.json") == PROD


def test_a_gb_second_costs_the_published_price() -> None:
    assert gb_s_usd(1.0, 1024) == pytest.approx(0.0000166667)
    assert gb_s_usd(3600.0, 512) == pytest.approx(0.03000006)


def test_a_job_is_billed_its_cpu_over_the_vcpu_share_of_the_memory() -> None:
    assert lambda_s_per_job(30e-6, 1769) == pytest.approx(30e-6)
    assert lambda_s_per_job(30e-6, 3538) == pytest.approx(30e-6)  # never more than one vCPU
    assert lambda_s_per_job(30e-6, 512) == pytest.approx(30e-6 * 1769 / 512)


def test_a_million_jobs_here_and_through_sqs() -> None:
    cpu_s = 512 / 1769 * 30e-6  # 30 us billed per job at 512 MB
    here = million_jobs_here(cpu_s, PROD, idle_exit_s=15)
    assert here["compute"] == pytest.approx(30.0 * 0.5 * 0.0000166667)
    assert here["requests"] == pytest.approx(0.2e-6)  # 30 s of work fits one 60 s run
    assert here["per_kick"] == pytest.approx(0.2e-6 + 15 * 0.5 * 0.0000166667)
    no_idle_exit = million_jobs_here(cpu_s, PROD, idle_exit_s=0)
    assert no_idle_exit["per_kick"] == pytest.approx(0.2e-6 + 30 * 0.5 * 0.0000166667)

    sqs = million_jobs_sqs(cpu_s, PROD)
    assert sqs["compute"] == pytest.approx(here["compute"])
    assert sqs["requests"] == pytest.approx(100_000 * 0.2e-6)
    assert sqs["sqs"] == pytest.approx(1_200_000 * 0.4e-6)


def test_an_idle_month() -> None:
    assert SCHEDULED_RUNS_PER_MONTH == 43_200
    assert idle_month_here(PROD, 0) == pytest.approx(43_200 * (0.2e-6 + 60 * 0.5 * 0.0000166667))
    assert idle_month_here(PROD, 15) == pytest.approx(43_200 * (0.2e-6 + 15 * 0.5 * 0.0000166667))
    assert idle_month_here(PROD, 15) < idle_month_here(PROD, 0) / 3.9
    assert idle_month_sqs() == pytest.approx(5 * 3 * 43_200 * 0.4e-6)


def test_the_cost_lines_name_both_sides_and_the_idle_exit() -> None:
    text = "\n".join(cost_lines(20e-6, PROD, 15))
    assert "Lambda + SQS" in text and "without idle exit" in text
    assert "JOBS_IDLE_EXIT_S=15" in text and "$21.61" in text
