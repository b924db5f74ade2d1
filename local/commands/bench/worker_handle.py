"""The parent's side of the worker process: spawn it, send a command, read its JSON answer."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .context import ROOT, without_jobs_vars

#: spawning includes importing the jobs package and the maths handlers
WORKER_READY_TIMEOUT_S = 30.0


class WorkerProcess:
    """The parent's handle on a worker process: one command, one JSON line back."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc

    def send(self, command: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def read(self, timeout_s: float) -> dict[str, Any]:
        """The next JSON line; RuntimeError if none comes within timeout_s."""
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout_s)
        line = self.proc.stdout.readline() if ready else ""
        if not line:
            raise RuntimeError(f"the worker process did not answer (exit code {self.proc.poll()})")
        return dict(json.loads(line))

    def ask(self, command: str, timeout_s: float = 60.0) -> dict[str, Any]:
        self.send(command)
        return self.read(timeout_s)


@contextmanager
def worker_process(
    url: str, profile: str | None = None, isolation: str = "thread"
) -> Iterator[WorkerProcess]:
    """A worker process with default settings but `isolation`, imported and waiting for `go`;
    stopped (or killed) on the way out."""
    command = [sys.executable, "-m", "local.commands.bench.worker_process", url]
    command += ["--isolation", isolation]
    if profile:
        command += ["--profile", profile]
    # its own session: a terminal's Ctrl-C (even while it still imports) is the bench's to
    # handle, which stops it; it also ends when its stdin does (the bench died)
    proc = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=str(ROOT),
        env=without_jobs_vars(os.environ), start_new_session=True,
    )  # fmt: skip
    worker = WorkerProcess(proc)
    try:
        worker.read(WORKER_READY_TIMEOUT_S)
        yield worker
    except BaseException:
        # a failed phase or an interrupted run: no point waiting for work in flight
        proc.kill()
        raise
    finally:
        try:
            if proc.poll() is None:
                worker.send("stop")
            proc.wait(30)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()
