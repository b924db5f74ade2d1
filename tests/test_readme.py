"""The newcomer's list, checked: what the README and `make run` tell someone who has only them.

The tour's and the API section's requests paste as they are (a job id is a shell variable, or
the text says whose id to put there); the README's sample output is what `make run` prints; no
sentence says the API ignores headers it reads; the "by hand" `chalice local` stops whole on
SIGTERM; the port-in-use hint names a command that works through make; docs/testing.md gives
today's count. (The README's API table is checked in test_openapi.py; the refused callback under
`make run`'s settings in test_jobtypes.py; the CLI's non-ASCII in test_local_jobs.py.)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from local.commands.up import banner
from tests.local_helpers import REPO, clean_env, descendants, spare_port, still_alive

README = (REPO / "README.md").read_text()
FENCE = re.compile(r"```(?P<lang>\w*)\n(?P<body>.*?)```", re.S)
JOB_ID = re.compile(r"default@(?:<uuid4>|[0-9a-f]{8}-[0-9a-f-]{27})")


def commands() -> list[tuple[str, str]]:
    """Every command a reader may paste from the README, with the prose before its block: the
    lines of sh blocks, and the `$ ` lines of text blocks (continuation lines joined)."""
    found = []
    for match in FENCE.finditer(README):
        before = README[max(0, match.start() - 600) : match.start()]
        lines = match["body"].replace("\\\n", " ").splitlines()
        if match["lang"] == "sh":
            found += [(line, before) for line in lines if line.strip() and line[0] != "#"]
        elif match["lang"] == "text":
            found += [(line[2:], before) for line in lines if line.startswith("$ ")]
    return found


def test_every_request_pastes_as_it_is_or_says_where_your_id_goes() -> None:
    checked = 0
    for command, before in commands():
        code, _, comment = command.partition(" # ")
        assert "<" not in code.replace("<<", ""), f"a placeholder the shell reads: {command}"
        if JOB_ID.search(code):
            checked += 1
            says = "your id" in comment or "your job's id" in " ".join(before.split())
            assert says, f"an id that is not the reader's, and nothing says so: {command}"
    assert checked >= 3


def test_the_sample_output_is_what_make_run_prints(monkeypatch: pytest.MonkeyPatch) -> None:
    (sample,) = [m["body"] for m in FENCE.finditer(README) if "$ make run" in m["body"]]
    shown = [line[len("local    | ") :] for line in sample.splitlines() if line.startswith("local")]
    shown = shown[shown.index("the stack is up:") :]
    pid = dict(re.findall(r"^\s+(\S+)\s.*pid (\d+)", "\n".join(shown), re.M))
    token = re.search(r"#token=(\S+)", "\n".join(shown))
    assert token
    monkeypatch.delenv("JOBS_CALLBACK_SECRET", raising=False)
    redis = SimpleNamespace(
        url="redis://127.0.0.1:6380/0",
        description="redis-server from PATH (/usr/bin/redis-server), data in local/.data/redis",
        pid=int(pid["redis"]),
    )
    workers = [SimpleNamespace(name=n, pid=int(pid[n])) for n in ("worker-1", "worker-2")]
    args = argparse.Namespace(
        port=8000, concurrency=10, stage="dev", admin_token=token[1], reload=True
    )
    printed = banner(args, redis, workers, SimpleNamespace(pid=int(pid["api"])))  # type: ignore[arg-type]

    assert shown == printed.splitlines()


def test_the_callback_line_says_how_to_verify_signatures(monkeypatch: pytest.MonkeyPatch) -> None:
    redis = SimpleNamespace(url="redis://127.0.0.1:1/0", description="x", pid=None)
    args = argparse.Namespace(port=1, concurrency=1, stage="dev", admin_token="t", reload=False)
    for secret in ("", "mine"):
        monkeypatch.setenv("JOBS_CALLBACK_SECRET", secret)
        text = banner(args, redis, [], SimpleNamespace(pid=1))  # type: ignore[arg-type]
        (line,) = [line for line in text.splitlines() if line.startswith("callbacks:")]
        assert "chalicelib.jobs.verify_callback" in line
        assert ("JOBS_CALLBACK_SECRET=<yours> make run" in line) is (not secret)


def test_no_sentence_says_the_api_ignores_headers_it_reads() -> None:
    ignores = re.compile(r"ignor\w*,? (?:as it ignores )?(?:any|every|all) (?:other )?header")
    texts = [README, (REPO / "openapi.json").read_text()]
    texts += [p.read_text() for p in (REPO / "docs").glob("*.md")]
    assert [m.group(0) for t in texts for m in ignores.finditer(" ".join(t.split()))] == []


@pytest.mark.timeout(60)
def test_chalice_local_by_hand_leaves_no_server_behind_on_sigterm(redis_url: str) -> None:
    (line,) = [c for c, _ in commands() if c.startswith(".venv/bin/chalice local")]
    port = spare_port()
    argv = line.split("#")[0].replace("8000", str(port)).split()
    argv[0] = str(Path(sys.executable).with_name("chalice"))
    env = clean_env(JOBS_REDIS_URL=redis_url)
    server = subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while socket.socket().connect_ex(("127.0.0.1", port)) != 0:
            assert time.monotonic() < deadline and server.poll() is None, "it did not start"
            time.sleep(0.1)
        started = descendants(server.pid)
        server.send_signal(signal.SIGTERM)
        server.wait(10)
        time.sleep(0.5)  # an orphaned server would still be listening now
        assert still_alive(started) == []
        assert socket.socket().connect_ex(("127.0.0.1", port)) != 0
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)


@pytest.mark.timeout(60)
def test_the_port_in_use_hint_names_a_make_command_that_works() -> None:
    if not (REPO / ".venv" / "bin" / "python").exists():
        pytest.skip("make run uses the repository's .venv, which is not built")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run(
            ["make", "--old-file=.venv/.installed", "run", f"LOCAL_PORT={port}"],
            cwd=REPO, env=clean_env(), capture_output=True, text=True, timeout=50, check=False,
        )  # fmt: skip
    assert done.returncode != 0
    # the port given on make's command line reached the stack, and the hint says the same form
    assert f"port {port} is in use; pick another: make run LOCAL_PORT={port + 1}" in done.stdout


def test_testing_md_gives_todays_count() -> None:
    said = re.search(r"`make test`: about ([\d,]+) tests", (REPO / "docs/testing.md").read_text())
    assert said, "docs/testing.md says how many tests `make test` runs"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    collected = int(re.findall(r"^(\d+) tests? collected", done.stdout, re.M)[-1])
    documented = int(said[1].replace(",", ""))
    assert abs(collected - documented) <= collected * 0.1, (collected, documented)


def test_the_readme_points_to_the_job_type_walkthrough() -> None:
    assert "docs/your-first-job-type.md" in README
    assert json.loads((REPO / "openapi.json").read_text())["paths"]
