"""docs/your-first-job-type.md, followed literally: in a copy of the project, `python -m local up
--reload` (what `make run` runs) is started, the page's file and line are written in, the stack
reloads its API and workers, and the page's requests get the page's answers."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.local_helpers import READY_LINE, REPO, RunningStack, start_stack

PAGE = REPO / "docs" / "your-first-job-type.md"
BLOCK = re.compile(r"<!-- walkthrough: (?P<name>[^>]+?) -->\n```\w+\n(?P<text>.*?)```", re.S)
#: what the copy needs to run the stack: the app, its package, the runner, the Chalice config
COPIED = ("app.py", "chalicelib", "local", ".chalice")


def blocks() -> dict[str, str]:
    return {m["name"]: m["text"] for m in BLOCK.finditer(PAGE.read_text())}


def copy_project(into: Path) -> Path:
    into.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", ".data", "deployed")
    for name in COPIED:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, into / name, ignore=ignore)
        else:
            shutil.copy2(source, into / name)
    return into


def follow(text: str, stack: RunningStack) -> str:
    """Run a shell block of the page against the stack (its address for the page's)."""
    script = text.replace("http://127.0.0.1:8000", stack.base_url)
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.timeout(240)
def test_the_walkthrough_builds_a_job_type_that_runs_under_make_run(tmp_path: Path) -> None:
    page = blocks()
    project = copy_project(tmp_path / "project")
    stack = start_stack(tmp_path / "data", "--workers", "1", "--reload", cwd=project)
    try:
        stack.wait_for_line(READY_LINE)
        (file_name,) = [name for name in page if name.startswith("file ")]
        (project / file_name.split()[1]).write_text(page[file_name])
        # one save at a time, as a person makes them: each reloads the stack
        stack.wait_for_line("restarted for the code change", timeout_s=60)
        installed = project / "chalicelib" / "jobtypes" / "installed.py"
        source = installed.read_text()
        line = page["line chalicelib/jobtypes/installed.py"]
        installed.write_text(source.replace("MODULES = (\n", f"MODULES = (\n{line}", 1))
        stack.wait_for_line("restarted for the code change", timeout_s=60)
        api_reloaded(stack)
        answer = follow(page["run"], stack)
        assert json.loads(answer) == json.loads(page["answer"])
        refused = follow(page["refused"], stack)
        assert json.loads(refused) == json.loads(page["refused answer"])
        assert stack.interrupt() == 0, stack.output
    finally:
        stack.kill()


def api_reloaded(stack: RunningStack, timeout_s: float = 60.0) -> None:
    """Wait until chalice local serves the new routes (its own reload takes a moment)."""
    deadline = time.monotonic() + timeout_s
    while True:
        done = subprocess.run(
            ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", f"{stack.base_url}/text/x"],
            capture_output=True, text=True, timeout=20, check=False,
        )  # fmt: skip
        if done.stdout == "400":  # the route exists and refuses the id: it is served
            return
        assert time.monotonic() < deadline, f"no /text route after {timeout_s}s:\n{stack.output}"
        time.sleep(0.2)
