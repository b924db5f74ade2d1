"""`python -m local jobs ...`: each action's output and exit code, as a table and as --json."""

from __future__ import annotations

import json

import pytest

from chalicelib.jobs import JobController, JobResult, JobState
from local.__main__ import main
from tests.jobs_helpers import settle

UNKNOWN = "default@2f1e6a52-3c1d-4b7a-9e55-0d6a3b8c9f10"


@pytest.fixture
def controller(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> JobController:
    monkeypatch.setenv("JOBS_REDIS_URL", redis_url)
    monkeypatch.delenv("JOBS_QUEUES", raising=False)
    c = JobController(redis_url)
    c.add_handler("test:ok", lambda p: JobResult(True, res=p["n"]))
    c.add_handler("test:refuse", lambda p: JobResult(False, "refused:\n<b>no</b>"))
    return c


def jobs(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(["jobs", *argv])
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_queues_ls_and_show(controller: JobController, capsys: pytest.CaptureFixture[str]) -> None:
    ok = controller.create_job("test:ok", {"n": 4})
    bad = controller.create_job("test:refuse", {"n": 5})
    settle(controller)

    code, out, _ = jobs(capsys, "queues")
    header, row = out.splitlines()
    assert code == 0 and header.split()[:7] == ["QUEUE", *(s.name for s in JobState)]
    assert row.split()[:7] == ["default", "0", "0", "0", "0", "1", "1"] and "running" in row
    code, out, _ = jobs(capsys, "queues", "--json")
    assert json.loads(out)[0]["counts"]["FAILED"] == 1

    code, out, _ = jobs(capsys, "ls", "default", "--state", "failed")
    assert code == 0 and bad in out and ok not in out and "refused:" in out
    code, out, _ = jobs(capsys, "ls", "default", "--state", "completed", "--json")
    assert [j["id"] for j in json.loads(out)["jobs"]] == [ok]

    code, out, _ = jobs(capsys, "show", bad)
    assert code == 0 and "state:        FAILED" in out and "1. refused:\n<b>no</b>" in out
    code, out, _ = jobs(capsys, "show", ok, "--json")
    assert json.loads(out)["result"] == 4


def test_actions_and_their_exit_codes(
    controller: JobController, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = controller.create_job("test:refuse", {"n": 5})
    settle(controller)

    assert jobs(capsys, "retry", bad)[:2] == (0, f"{bad}: PENDING now\n")
    code, _, err = jobs(capsys, "retry", bad)
    assert code == 1 and "PENDING" in err and "only FAILED, RETRYING, FUTURE" in err
    settle(controller)
    assert jobs(capsys, "retry-failed", "default")[:2] == (
        0,
        "default: 1 failed job(s) PENDING now\n",
    )
    assert jobs(capsys, "pause", "default")[:2] == (0, "default: paused\n")
    assert jobs(capsys, "pause", "default")[:2] == (0, "default: paused already\n")
    assert controller.drain(0.3) == 0
    assert json.loads(jobs(capsys, "resume", "default", "--json")[1]) == {
        "paused": False,
        "changed": True,
    }
    assert settle(controller) == 1
    assert jobs(capsys, "delete", bad)[:2] == (0, f"{bad}: deleted\n")

    code, out, _ = jobs(capsys, "history", "default", "--days", "2")
    assert code == 0 and out.splitlines()[-1].split()[1:] == ["3", "3"]
    assert jobs(capsys, "workers")[1].splitlines()[-1] == "(no live workers)"
    assert json.loads(jobs(capsys, "workers", "--json")[1]) == []


@pytest.mark.parametrize(
    ("argv", "code", "message"),
    [
        (["show", UNKNOWN], 1, f"no job {UNKNOWN}"),
        (["delete", UNKNOWN], 1, f"no job {UNKNOWN}"),
        (["pause", "nosuch"], 1, "no queue 'nosuch'"),
        (["ls", "nosuch", "--state", "failed"], 1, "no queue 'nosuch'"),
        (["history", "nosuch"], 1, "no queue 'nosuch'"),
        (["show", "nope"], 2, "job id must look like"),
        (["ls", "default"], 2, "--state"),
        (["ls", "default", "--state", "done"], 2, "invalid choice"),
        (["ls", "default", "--state", "failed", "--limit", "0"], 2, "limit must be"),
        ([], 2, "ACTION"),
    ],
)
def test_missing_jobs_and_queues_exit_1_and_usage_errors_2(
    controller: JobController,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    code: int,
    message: str,
) -> None:
    got, out, err = jobs(capsys, *argv)
    assert (got, out) == (code, "") and message in err


def test_non_ascii_is_printed_as_is(
    controller: JobController, capsys: pytest.CaptureFixture[str]
) -> None:
    controller.add_handler("test:echo", lambda p: JobResult(True, res=p["text"].upper()))
    job_id = controller.create_job("test:echo", {"text": "héllo wörld ✓"})
    settle(controller)

    code, out, _ = jobs(capsys, "show", job_id)
    assert code == 0
    assert '{"text": "héllo wörld ✓"}' in out and '"HÉLLO WÖRLD ✓"' in out
    code, out, _ = jobs(capsys, "show", job_id, "--json")
    assert '"héllo wörld ✓"' in out and "\\u" not in out
