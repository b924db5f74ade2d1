"""Helpers for the local-stack tests: run `python -m local up` (or `make run`) as a subprocess on
free ports, find every process it started, stop it as a terminal's Ctrl-C would.

Nothing here reaches anything but 127.0.0.1, and only processes these helpers started are
signalled, by their PID.
"""

from __future__ import annotations

import json
import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local.parts.redis_server import LOOPBACK, port_is_free

REPO = Path(__file__).resolve().parent.parent
READY_LINE = "the stack is up"
#: the sample requests' JSON body, byte for byte (its first line ends in three spaces)
SEED_BODY = '   \n   {\n     "a": 2,\n     "b": 3,\n     "op": "math:multiply"\n   }'
SEED_POST_HEADERS = (
    "cache-control: no-cache",
    "content-type: application/json",
    "postman-token: c305cb26-1c5e-4c64-a493-3cb756995a47",
)
SEED_GET_HEADERS = (
    "cache-control: no-cache",
    "content-type: application/json",
    "postman-token: 5d024699-7029-7a78-2e32-de4558e7a41c",
)


#: ports the kernel never hands out by itself (bind to port 0, outgoing connections use
#: ip_local_port_range, 32768-60999 here): a port free_port() returned can be taken by another
#: process on a busy machine before the stack binds it, one of these only by a deliberate choice
SPARE_PORTS = range(20000, 32768)


def spare_port() -> int:
    """A loopback port nothing listens on, outside the kernel's ephemeral range."""
    while True:
        port = random.choice(SPARE_PORTS)
        if port_is_free(port):
            return port


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without any JOBS_*/LOCAL_* setting (so no Redis is reached by default),
    plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JOBS_", "LOCAL_"))}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def process_start_time(pid: int) -> int | None:
    """The kernel's start time of a live (non-zombie) process, None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rpartition(")")[2].split()
    except OSError:
        return None
    return None if fields[0] in ("Z", "X") else int(fields[19])


def descendants(root: int) -> dict[int, int]:
    """Every live descendant of `root`, as pid -> start time (to tell a reused PID apart)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parents[int(entry)] = int(stat.read().rpartition(")")[2].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found: dict[int, int] = {}
    frontier = [root]
    while frontier:
        parent = frontier.pop()
        for pid, ppid in parents.items():
            if ppid == parent and pid not in found:
                started = process_start_time(pid)
                if started is not None:
                    found[pid] = started
                    frontier.append(pid)
    return found


def still_alive(processes: Mapping[int, int]) -> list[int]:
    return [pid for pid, started in processes.items() if process_start_time(pid) == started]


@dataclass
class RunningStack:
    """A `python -m local up` (or `make run`) subprocess and what it printed so far."""

    process: subprocess.Popen[str]
    data_dir: Path
    api_port: int
    lines: list[str] = field(default_factory=list)
    _lines: queue.Queue[str | None] = field(default_factory=queue.Queue)

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.api_port}"

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def _pump(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def wait_for_line(self, text: str, timeout_s: float = 60.0) -> str:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                line = self._lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(
                    f"no {text!r} in {timeout_s}s; output:\n{self.output}"
                ) from None
            if line is None:
                raise AssertionError(f"exited before {text!r}; output:\n{self.output}")
            self.lines.append(line)
            if text in line:
                return line

    def state(self) -> dict[str, Any]:
        return dict(json.loads((self.data_dir / "stack.json").read_text()))

    def interrupt(self, timeout_s: float = 40.0) -> int:
        """SIGINT to the whole process group, as Ctrl-C in a terminal; wait for the exit."""
        os.killpg(self.process.pid, signal.SIGINT)
        try:
            code = self.process.wait(timeout_s)
        finally:
            self.kill()
        self.drain()
        return code

    def drain(self) -> None:
        while True:
            try:
                line = self._lines.get(timeout=5.0)
            except queue.Empty:
                return
            if line is None:
                return
            self.lines.append(line)

    def kill(self) -> None:
        """Last resort after a failed test: SIGKILL what is left of what we started."""
        if self.process.poll() is None:
            leftovers = descendants(self.process.pid)
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
            for pid in still_alive(leftovers):
                os.kill(pid, signal.SIGKILL)


def start_stack(
    data_dir: Path,
    *up_args: str,
    command: Sequence[str] | None = None,
    env: dict[str, str] | None = None,
    api_port: int | None = None,
    cwd: Path = REPO,
) -> RunningStack:
    """Start `python -m local up` on free ports (or `command`, given LOCAL_* in its env), in
    `cwd` (a copy of the project, say). Unless `env` says otherwise, Redis is a redis-server
    binary: a Docker engine on the machine is left alone."""
    api_port = api_port or spare_port()
    redis_port = spare_port()
    while redis_port == api_port:
        redis_port = spare_port()
    env = env or clean_env(LOCAL_REDIS="binary")
    env.update(
        LOCAL_PORT=str(api_port), LOCAL_REDIS_PORT=str(redis_port), LOCAL_DATA_DIR=str(data_dir)
    )
    argv = list(command) if command else [sys.executable, "-m", "local", "up", *up_args]
    process = subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    stack = RunningStack(process, data_dir, api_port)
    threading.Thread(target=stack._pump, daemon=True).start()
    return stack


def curl(*args: str) -> str:
    """The real curl binary, loopback only, with a time limit; returns the body it printed."""
    done = subprocess.run(
        ["curl", "--silent", "--show-error", "--max-time", "10", *args],
        capture_output=True,
        text=True,
        timeout=20,
        check=True,
    )
    return done.stdout


def http_json(method: str, url: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    """(status, JSON body) of one request to the local API."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        url, data=data, method=method, headers={"content-type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def processes_with_env(name: str, value: str) -> list[int]:
    """PIDs of the live processes whose environment has `name`=`value`: every process a stack
    started inherits its LOCAL_DATA_DIR, so this finds them even once they are orphaned."""
    wanted = f"{name}={value}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as environ:
                variables = environ.read().split(b"\0")
        except OSError:
            continue
        if wanted in variables and process_start_time(int(entry)) is not None:
            found.append(int(entry))
    return found


def wait_until_gone(name: str, value: str, timeout_s: float = 20.0) -> list[int]:
    """Wait for every process with `name`=`value` in its environment to exit; those left."""
    deadline = time.monotonic() + timeout_s
    while (left := processes_with_env(name, value)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left
