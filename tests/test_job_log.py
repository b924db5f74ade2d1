"""JOBS_LOG_JOBS=1: one JSON line on stdout per ended attempt, with no params or results."""

from __future__ import annotations

import json

import pytest

from chalicelib.jobs import JobController, JobResult


def lines_of(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith('{"event":"job_end"')]


def test_each_attempt_end_is_one_json_line_without_params_or_results(
    redis_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JOBS_LOG_JOBS", "1")
    controller = JobController.from_env(redis_url=redis_url)
    assert controller.settings.log_jobs

    def flaky(params: dict[str, object]) -> JobResult:
        if params["secret"] == "first-try-fails":
            raise RuntimeError("transient")
        return JobResult(True, "ok", "result-text-never-logged")

    controller.add_handler("t:flaky", flaky)
    ok_id = controller.create_job("t:flaky", {"secret": "params-never-logged"})
    retry_id = controller.create_job("t:flaky", {"secret": "first-try-fails"}, max_retry=0)
    controller.drain(0.5)

    out = capsys.readouterr().out
    assert "never-logged" not in out and "transient" not in out
    by_id = {line["job_id"]: line for line in lines_of(out)}
    assert set(by_id) == {ok_id, retry_id}
    for job_id, outcome in ((ok_id, "done"), (retry_id, "fail")):
        line = by_id[job_id]
        assert (line["type"], line["queue"], line["attempt"]) == ("t:flaky", "default", 1)
        assert line["outcome"] in (outcome, "retry")
        assert isinstance(line["duration_s"], float) and line["duration_s"] >= 0
        assert isinstance(line["wait_s"], float) and line["wait_s"] >= 0
        assert "trace_id" not in line  # no trace in this job
    assert by_id[ok_id]["outcome"] == "done"


def test_without_the_variable_no_line_is_written(
    redis_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("JOBS_LOG_JOBS", raising=False)
    controller = JobController.from_env(redis_url=redis_url)
    controller.add_handler("t:ok", lambda _: JobResult(True, "ok", 1))
    controller.create_job("t:ok", {})
    controller.drain(0.5)
    assert lines_of(capsys.readouterr().out) == []
