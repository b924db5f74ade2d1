"""`python -m local delay-proxy` as a child process: started on a free port, stopped by its PID."""

from __future__ import annotations

import os
import select
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: importing the command's modules and binding the port
READY_TIMEOUT_S = 30.0


@dataclass
class RunningProxy:
    process: subprocess.Popen[str]
    port: int


@contextmanager
def delay_proxy(upstream_port: int, delay_ms: float, *extra: str) -> Iterator[RunningProxy]:
    """A delay proxy on a free loopback port in front of 127.0.0.1:`upstream_port`, listening
    when this yields; SIGTERM (then SIGKILL after 10 s) on the way out, and waited for.
    RuntimeError if it does not say where it listens within READY_TIMEOUT_S."""
    command = [
        sys.executable, "-m", "local", "delay-proxy", "--listen", "0",
        "--upstream", f"127.0.0.1:{upstream_port}", "--delay-ms", f"{delay_ms:g}", *extra,
    ]  # fmt: skip
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, text=True, cwd=str(ROOT),
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], READY_TIMEOUT_S)
        line = proc.stdout.readline() if ready else ""
        if "listening on" not in line:
            raise RuntimeError(f"the delay proxy did not start (exit code {proc.poll()})")
        port = int(line.split("listening on ", 1)[1].split(" ", 1)[0].rpartition(":")[2])
        yield RunningProxy(proc, port)
    finally:
        if proc.poll() is None:
            proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
