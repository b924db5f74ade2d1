"""Which Redis the local stack uses, and why: JOBS_REDIS_URL, else Docker compose, else a binary.

The choice is made in that order, and every option passed over leaves a reason, so that `up` and
`redis` can say in one line why they did not take the one the developer expected. The Redis
that `up` or `redis` starts is recorded in `<data dir>/stack.json`, which is how `worker` and
`status`, run in another terminal, find it when JOBS_REDIS_URL is not set.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from chalicelib.jobs import JobController, JobsUnavailable

from .redis_server import LOOPBACK, RedisBinary, RedisServerError, find_redis_binary

LOCAL_DIR = Path(__file__).resolve().parent
DEFAULT_DATA_DIR = LOCAL_DIR / ".data"
COMPOSE_FILE = LOCAL_DIR / "docker-compose.yml"
COMPOSE_PROJECT = "chalice-jobs"
#: the port the local Redis listens on unless told otherwise (6379 is left to a system Redis)
DEFAULT_REDIS_PORT = 6380
#: how long `docker info` may take before we decide no engine answers
DOCKER_TIMEOUT_S = 3.0
STATE_FILE = "stack.json"


@dataclass
class RedisChoice:
    """The Redis to use: `kind` is "env", "docker" or "binary"."""

    kind: str
    #: for "env", the URL to use as it is; for the others it is known once the server runs
    url: str | None = None
    binary: RedisBinary | None = None
    #: why each option before the chosen one was passed over
    passed_over: list[str] = field(default_factory=list)

    def describe(self) -> str:
        if self.kind == "env":
            return "the Redis of JOBS_REDIS_URL"
        if self.kind == "docker":
            return f"Docker compose ({COMPOSE_FILE.relative_to(LOCAL_DIR.parent)}, service redis)"
        assert self.binary is not None
        return f"redis-server from {self.binary.source} ({self.binary.server})"


#: what --redis may ask for: the first that works, or one of them only
REDIS_KINDS = ("auto", "env", "docker", "binary")


def choose_redis(environ: Mapping[str, str] | None = None, only: str = "auto") -> RedisChoice:
    """Pick the Redis for the stack: JOBS_REDIS_URL, Docker, a binary, the first that works, or
    the one kind `only` names. Raise RedisServerError, with every reason, when none will do."""
    environ = os.environ if environ is None else environ
    passed_over: list[str] = []
    kinds = REDIS_KINDS[1:] if only == "auto" else (only,)
    if "env" in kinds:
        url = environ.get("JOBS_REDIS_URL")
        problem = redis_problem(environ) if url else "JOBS_REDIS_URL is not set"
        if problem is None:
            return RedisChoice("env", url=url)
        if url:
            problem = f"JOBS_REDIS_URL={redacted(url)} does not answer ({problem})"
        passed_over.append(problem)
    if "docker" in kinds:
        problem = docker_problem(path=environ.get("PATH"))
        if problem is None:
            return RedisChoice("docker", passed_over=passed_over)
        passed_over.append(problem)
    if "binary" in kinds:
        try:
            binary = find_redis_binary(environ.get("PATH"))
        except RedisServerError as exc:
            passed_over.append(str(exc))
        else:
            if binary.source != "PATH":
                passed_over.append("no redis-server on PATH")
            return RedisChoice("binary", binary=binary, passed_over=passed_over)
    raise RedisServerError("; ".join(passed_over))


def redis_problem(environ: Mapping[str, str]) -> str | None:
    """None when the Redis that the JOBS_* variables describe answers PING, else why not."""
    try:
        JobController.from_env(environ).ping()
    except JobsUnavailable as exc:
        return str(exc) or type(exc).__name__
    except ValueError as exc:
        return f"bad setting: {exc}"
    return None


def docker_problem(timeout_s: float = DOCKER_TIMEOUT_S, path: str | None = None) -> str | None:
    """None when a Docker engine answers and `docker compose` exists, else why Docker is passed
    over. Gives up after `timeout_s` seconds, so a machine without an engine falls back fast."""
    docker = shutil.which("docker", path=path)
    if docker is None:
        return "no docker command on PATH"
    checks = (
        ([docker, "info", "--format", "{{.ServerVersion}}"], "no Docker engine answers"),
        ([docker, "compose", "version"], "the docker compose plugin is missing"),
    )
    for argv, meaning in checks:
        try:
            done = subprocess.run(
                argv, capture_output=True, text=True, timeout=timeout_s, stdin=subprocess.DEVNULL
            )
        except subprocess.TimeoutExpired:
            return f"{meaning} (no answer within {timeout_s:g}s)"
        if done.returncode != 0:
            detail = (done.stderr or done.stdout).strip().splitlines()
            return f"{meaning} ({detail[-1].strip()})" if detail else meaning
    return None


def compose_command(*args: str) -> list[str]:
    """`docker compose` with our file and project name, then `args`."""
    docker = shutil.which("docker") or "docker"
    return [docker, "compose", "-f", str(COMPOSE_FILE), "-p", COMPOSE_PROJECT, *args]


def shown(path: Path) -> str:
    """A path as a developer would type it: relative when it is under the current directory."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def redacted(url: str) -> str:
    """The URL with its password, if any, replaced by ***: fit for a log line."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = f"{parts.username}:" if parts.username else ":"
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}***@{host}"))


def loopback_url(port: int) -> str:
    return f"redis://{LOOPBACK}:{port}/0"


# -- the stack file: how `worker` and `status` find the Redis that `up` started ----------------


def write_state(data_dir: Path, state: dict[str, Any]) -> Path:
    """Write `<data_dir>/stack.json` atomically; return its path."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / STATE_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2) + "\n")
    tmp.chmod(0o600)  # the Redis URL may hold a password
    tmp.replace(path)
    return path


def read_state(data_dir: Path) -> dict[str, Any] | None:
    try:
        state = json.loads((data_dir / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None


def claim(data_dir: Path) -> str | None:
    """Record this process as the one using `data_dir`; None then, else why not: the stack file
    names another live process, and two Redis servers must not share one append-only file."""
    state = read_state(data_dir)
    owner = state.get("pid") if state else None
    if owner != os.getpid() and _alive(owner) and _runs_local(owner):
        return f"a stack (pid {owner}) already uses {shown(data_dir)}; stop it or pass --data-dir"
    write_state(data_dir, {"pid": os.getpid()})
    return None


def remove_state(data_dir: Path, owner_pid: int) -> None:
    """Remove the stack file if it is still the one `owner_pid` wrote."""
    state = read_state(data_dir)
    if state is not None and state.get("pid") == owner_pid:
        (data_dir / STATE_FILE).unlink(missing_ok=True)


def data_dir_of(environ: Mapping[str, str]) -> Path:
    """The stack's data directory: LOCAL_DATA_DIR, else local/.data."""
    return Path(environ.get("LOCAL_DATA_DIR") or DEFAULT_DATA_DIR)


class NoRedisToUse(RuntimeError):
    """Neither JOBS_REDIS_URL nor a running local stack names a Redis; the message says what to
    do. Not a guess at a Redis on 6379, which may be someone else's."""


def resolve_url(environ: Mapping[str, str]) -> tuple[str, str]:
    """(Redis URL, where it came from) for `worker` and `status`: JOBS_REDIS_URL, else the
    running local stack's Redis. Raise NoRedisToUse when there is neither."""
    url = environ.get("JOBS_REDIS_URL")
    if url:
        return url, "JOBS_REDIS_URL"
    data_dir = data_dir_of(environ)
    state = read_state(data_dir)
    if state and state.get("redis_url") and _alive(state.get("pid")):
        return str(state["redis_url"]), f"the local stack, {shown(data_dir / STATE_FILE)}"
    raise NoRedisToUse(
        f"no local stack runs ({shown(data_dir / STATE_FILE)}) and JOBS_REDIS_URL is not set: "
        "start one with `make run`, or set JOBS_REDIS_URL"
    )


def _runs_local(pid: object) -> bool:
    """Whether `pid` runs `python -m local`, as far as /proc tells: after a `kill -9` of the stack
    its file stays behind, and its pid may by now belong to some other program."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            argv = cmdline.read().split(b"\0")
    except OSError:
        return True  # no /proc, or not ours to read: assume the worst
    return b"local" in argv


def _alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
