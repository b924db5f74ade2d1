"""The Redis of the compose file: `docker compose` run with a time limit, and stopped again.

Each compose command runs in a session of its own with its output shown under the name
"docker"; one that hangs (a first pull that takes too long, a health check that never passes)
is ended after its time limit, and the container it may have left is stopped, so that no
Redis with `restart: unless-stopped` outlives the stack. The caller then says why Docker was
passed over, and may fall back to a redis-server binary.
"""

from __future__ import annotations

import collections
import contextlib
import datetime
import functools
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from .redis_choice import compose_command
from .supervisor import Child, Flag, LogMux, Supervisor, die_with_parent, strip_escapes

#: a first `up` may pull redis:7; past this it is ended (--docker-timeout, LOCAL_DOCKER_TIMEOUT)
DOCKER_UP_TIMEOUT_S = 180.0
DOCKER_STOP_TIMEOUT_S = 60.0
#: after a `stop` that failed: `kill`, which does not wait for Redis to write its file
DOCKER_KILL_TIMEOUT_S = 15.0
#: `docker compose ps` and `docker inspect`, which only read the engine's state
DOCKER_QUERY_TIMEOUT_S = 10.0
#: a compose command that is ended gets this long after SIGTERM before SIGKILL
COMPOSE_GRACE_S = 5.0
#: plain output: compose's colours and cursor moves would reach the log as escape sequences
COMPOSE_FLAGS = ("--ansi", "never")


class ComposeFailed(RuntimeError):
    """A compose command exited with an error, ran past its time limit, or was interrupted by a
    stop request; the message says which, with compose's last line when it printed one."""


@dataclass
class DockerRedis:
    """The compose service's container, and its redis-server's pid when this host can see it."""

    #: follows the container's log from the moment `up` began; exits when the container stops
    log_follower: Child
    container: str | None
    pid: int | None


def run_compose(
    mux: LogMux,
    args: Sequence[str],
    timeout_s: float,
    env: dict[str, str] | None = None,
    abort: Flag | None = None,
) -> None:
    """Run `docker compose ARGS` and return once it exits with code 0. Raises ComposeFailed
    when it exits otherwise, runs past `timeout_s`, or `abort` is set; it is ended then."""
    what = "docker compose " + " ".join(a for a in args if not a.startswith("-"))
    process = subprocess.Popen(
        compose_command(*COMPOSE_FLAGS, *args),
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=functools.partial(die_with_parent, os.getpid()),
    )
    last: collections.deque[str] = collections.deque(maxlen=1)
    reader = threading.Thread(target=_pump, args=(process, mux, last), daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout_s
    why = None
    while process.poll() is None and why is None:
        if abort is not None and abort.is_set():
            why = f"{what}: stop requested"
        elif time.monotonic() >= deadline:
            why = f"{what} did not finish within {timeout_s:g}s"
        else:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(0.05)
    if why is not None:
        _end(process)
    reader.join(2.0)
    if why is not None:
        raise ComposeFailed(why)
    if process.returncode != 0:
        said = f": {last[0]}" if last else ""
        raise ComposeFailed(f"{what} failed with code {process.returncode}{said}")


def _pump(process: subprocess.Popen[bytes], mux: LogMux, last: collections.deque[str]) -> None:
    assert process.stdout is not None
    for raw in process.stdout:
        text = strip_escapes(raw.decode("utf-8", "replace")).strip()
        if text:
            mux.line("docker", text)
            last.append(text)


def _end(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the command's process group, SIGKILL it after COMPOSE_GRACE_S."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(COMPOSE_GRACE_S)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def start_compose_redis(sup: Supervisor, port: int, timeout_s: float) -> DockerRedis:
    """`docker compose up --wait redis` on 127.0.0.1:`port`, then a follower of its log from
    now on. Raises ComposeFailed when `up` fails, hangs past `timeout_s` or a stop is requested;
    whatever it started is stopped again by then."""
    env = compose_env(port)
    sup.mux.say(f"docker compose up redis on 127.0.0.1:{port} (may pull redis:7 first)")
    # the container keeps its log across runs: only the lines of this run are shown
    since = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    try:
        run_compose(
            sup.mux, ("up", "--detach", "--wait", "redis"), timeout_s, env, sup.stop_requested
        )
    except ComposeFailed:
        stop_compose_redis(sup.mux, env)
        raise
    container, pid = redis_container(env)
    follow = ("logs", "--follow", "--no-log-prefix", "--since", since, "redis")
    follower = sup.start(Child("redis", compose_command(*COMPOSE_FLAGS, *follow), env=env))
    return DockerRedis(follower, container, pid)


def stop_compose_redis(mux: LogMux, env: dict[str, str] | None = None) -> None:
    """`docker compose stop redis` (Redis writes its append-only file); when that fails or
    hangs, `kill`. Says so when the container may still run. Never raises."""
    mux.say("stopping the Docker redis service")
    try:
        run_compose(mux, ("stop", "redis"), DOCKER_STOP_TIMEOUT_S, env)
        return
    except (ComposeFailed, OSError) as exc:
        mux.say(f"{exc}; killing the container instead")
    try:
        run_compose(mux, ("kill", "redis"), DOCKER_KILL_TIMEOUT_S, env)
    except (ComposeFailed, OSError) as exc:
        command = " ".join(compose_command("stop", "redis"))
        mux.say(f"{exc}: the redis container may still run; stop it with: {command}")


def compose_env(port: int) -> dict[str, str]:
    """This environment, with the port the compose file publishes Redis on."""
    return {**os.environ, "REDIS_PORT": str(port)}


def redis_container(env: dict[str, str]) -> tuple[str | None, int | None]:
    """The redis service's container name, and the pid of its redis-server on this host: None
    when the engine runs elsewhere (Docker Desktop's or Podman's virtual machine)."""
    docker = shutil.which("docker") or "docker"
    try:
        ids = _query(compose_command("ps", "--quiet", "redis"), env).split()
        if not ids:
            return None, None
        name, _, pid = _query(
            [docker, "inspect", "--format", "{{.Name}} {{.State.Pid}}", ids[0]], env
        ).partition(" ")
    except (OSError, subprocess.SubprocessError):
        return None, None
    return name.strip().lstrip("/") or None, _redis_server_pid(pid.strip())


def _query(argv: list[str], env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        argv, env=env, capture_output=True, text=True, check=True, timeout=DOCKER_QUERY_TIMEOUT_S
    )
    return done.stdout.strip()


def _redis_server_pid(pid: str) -> int | None:
    """`pid` when it names a redis-server process on this host, else None."""
    if not pid.isdigit() or pid == "0":
        return None
    try:
        with open(f"/proc/{pid}/comm") as comm:
            return int(pid) if comm.read().strip() == "redis-server" else None
    except OSError:
        return None
