"""Which Redis the local stack uses, and why: JOBS_REDIS_URL, else Docker compose, else a binary.

The choice is made in that order, and every option passed over leaves a reason, so that `up` and
`redis` can say in one line why they did not take the one the developer expected.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from chalicelib.jobs import JobsUnavailable
from chalicelib.service import build_controller

from . import LOCAL_DIR
from .redis_server import LOOPBACK, RedisBinary, RedisServerError, find_redis_binary

COMPOSE_FILE = LOCAL_DIR / "docker-compose.yml"
COMPOSE_PROJECT = "chalice-jobs"
#: the port the local Redis listens on unless told otherwise (6379 is left to a system Redis)
DEFAULT_REDIS_PORT = 6380
#: how long `docker info` may take before we decide no engine answers
DOCKER_TIMEOUT_S = 3.0


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
        build_controller(environ).ping()
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
