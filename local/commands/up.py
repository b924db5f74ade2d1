"""`python -m local up`: Redis, N worker processes and `chalice local`, with their logs interleaved.

A worker that exits on its own (a crash, a kill, all its handler threads stuck) is restarted, at
most 5 times a minute; the API or Redis exiting stops the stack.

Ctrl-C, SIGTERM or SIGHUP (its terminal closing) stops, in this order: the workers (SIGTERM:
jobs in flight finish or go back to PENDING), `chalice local`, then the Redis we started (which
writes its append-only file, so jobs survive a restart). Every process it started is gone when
it returns.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import socket
import sys
from collections.abc import Callable
from pathlib import Path

from ..parts import LOCAL_DIR
from ..parts.code_watch import CodeWatch
from ..parts.options import env_default, non_negative_int, port, positive_int
from ..parts.redis_choice import redacted
from ..parts.redis_server import LOOPBACK
from ..parts.redis_start import RunningRedis, StartFailed, add_redis_arguments, bring_up_redis
from ..parts.restarts import RestartBudget, exit_reason
from ..parts.stack_file import remove_state, write_state
from ..parts.supervisor import Child, Supervisor
from .worker import READY_TEXT, STUCK_EXIT_CODE

HELP = "start Redis, the workers and the API (chalice local); Ctrl-C stops them all"
REPO = LOCAL_DIR.parent
WORKER_READY_TIMEOUT_S = 30.0
API_READY_TIMEOUT_S = 60.0
#: a worker's shutdown timeout, and the margin it gets on top before SIGKILL
WORKER_SHUTDOWN_S = 8.0
WORKER_STOP_MARGIN_S = 7.0
#: a worker that exits on its own more often than this stops the stack: it will not get better
WORKER_RESTARTS = 5
WORKER_RESTART_WINDOW_S = 60.0
#: what a worker's exit code means, for the line that says why it is restarted
WORKER_EXIT_MEANINGS = {STUCK_EXIT_CODE: "all its handler threads were stuck"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--port",
        type=port,
        default=env_default("LOCAL_PORT", "8000"),
        help="port of the API (default 8000; env LOCAL_PORT)",
    )
    parser.add_argument(
        "--workers",
        type=non_negative_int,
        default=env_default("LOCAL_WORKERS", "2"),
        help="worker processes (default 2; 0 runs none; env LOCAL_WORKERS)",
    )
    parser.add_argument(
        "--concurrency",
        type=positive_int,
        default=10,
        help="handler threads per worker (default 10)",
    )
    parser.add_argument("--stage", default="dev", help="Chalice stage for chalice local (dev)")
    parser.add_argument(
        "--reload",
        action="store_true",
        help="restart the API and the workers when app.py or chalicelib/ changes (make run does)",
    )
    add_redis_arguments(parser)


def child_env(redis_url: str) -> dict[str, str]:
    """The API's and the workers' environment: this one, on the stack's Redis, with callbacks
    on (to local receivers too) unless the environment says otherwise."""
    env = {**os.environ, "JOBS_REDIS_URL": redis_url, "PYTHONUNBUFFERED": "1"}
    env.setdefault("JOBS_CALLBACK_ALLOW_PRIVATE", "1")
    if not env.get("JOBS_CALLBACK_SECRET") and not env.get("JOBS_CALLBACK_SECRET_ID"):
        env["JOBS_CALLBACK_SECRET"] = _STACK_CALLBACK_SECRET
    return env


#: the callback secret of a stack started without one: its receivers cannot check signatures
#: (set JOBS_CALLBACK_SECRET to choose it), and it is never shown
_STACK_CALLBACK_SECRET = secrets.token_urlsafe(24)


def chalice_argv(port: int, stage: str, reload: bool) -> list[str]:
    """`chalice local` of this interpreter's environment, listening on loopback only."""
    script = Path(sys.executable).with_name("chalice")
    head = [str(script)] if script.exists() else [sys.executable, "-c", _CHALICE_MAIN]
    return [
        *head, "local", "--host", LOOPBACK, "--port", str(port), "--stage", stage,
        "--autoreload" if reload else "--no-autoreload",
    ]  # fmt: skip


_CHALICE_MAIN = "import sys; from chalice.cli import main; sys.exit(main())"


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((LOOPBACK, port)) == 0


def start_workers(sup: Supervisor, args: argparse.Namespace, redis_url: str) -> list[Child]:
    workers = []
    for n in range(1, args.workers + 1):
        argv = [
            sys.executable, "-m", "local", "worker", "--concurrency", str(args.concurrency),
            "--shutdown-timeout", str(WORKER_SHUTDOWN_S),
        ]  # fmt: skip
        child = Child(
            f"worker-{n}",
            argv,
            env=child_env(redis_url),
            cwd=str(REPO),
            ready_text=READY_TEXT,
            stop_timeout_s=WORKER_SHUTDOWN_S + WORKER_STOP_MARGIN_S,
        )
        workers.append(sup.start(child))
    why = sup.wait_until(
        lambda: all(w.ready.is_set() for w in workers), workers, WORKER_READY_TIMEOUT_S,
        "the workers' start",
    )  # fmt: skip
    if why:
        raise StartFailed(f"workers did not start: {why}")
    return workers


def start_api(sup: Supervisor, args: argparse.Namespace, redis_url: str) -> Child:
    api = sup.start(
        Child(
            "api",
            chalice_argv(args.port, args.stage, args.reload),
            # the dashboard's token: only the API needs it
            env={**child_env(redis_url), "JOBS_ADMIN_TOKEN": args.admin_token},
            cwd=str(REPO),
            stop_timeout_s=5.0,
        )
    )
    why = sup.wait_until(
        lambda: port_in_use(args.port), [api], API_READY_TIMEOUT_S, f"the API on port {args.port}"
    )
    if why:
        raise StartFailed(f"chalice local did not start: {why}")
    return api


def banner(args: argparse.Namespace, redis: RunningRedis, workers: list[Child], api: Child) -> str:
    base = f"http://{LOOPBACK}:{args.port}"
    redis_pid = f", pid {redis.pid}" if redis.pid else ""
    lines = [
        "the stack is up:",
        f"  redis     {redacted(redis.url)}  {redis.description}{redis_pid}",
        *(f"  {w.name:<9} pid {w.pid}, concurrency {args.concurrency}" for w in workers),
        f"  api       {base}  chalice local, stage {args.stage}, pid {api.pid}",
        "try it (the POST answers the job's id in res; the GET waits up to 10 s for its end):",
        f"  id=$(curl -s -X POST {base}/maths -H 'content-type: application/json' "
        """-d '{"a": 2, "b": 3, "op": "math:multiply"}' """
        """| python3 -c 'import json, sys; print(json.load(sys.stdin)["res"])')""",
        f'  curl -s "{base}/maths/$id?wait=10"',
        f"the dashboard: {base}/admin/#token={args.admin_token}",
        "callbacks: POST a callback_url (http and local hosts allowed here, link-local never); "
        + (
            "check each request's Jobs-Signature with chalicelib.jobs.verify_callback(body, "
            "signature, JOBS_CALLBACK_SECRET)"
            if os.environ.get("JOBS_CALLBACK_SECRET")
            else "signed with a secret made for this run: to check them with "
            "chalicelib.jobs.verify_callback, start with JOBS_CALLBACK_SECRET=<yours> make run"
        ),
        "code changes: "
        + (
            "the API and the workers reload by themselves"
            if args.reload
            else "restart the stack to run them (make run reloads by itself)"
        ),
        "watch the queues: make status, or .venv/bin/python -m local status --watch "
        "(in another terminal)",
        "stop: Ctrl-C",
    ]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    # a fresh admin token for each stack, unless the environment names one
    args.admin_token = os.environ.get("JOBS_ADMIN_TOKEN") or secrets.token_urlsafe(24)
    sup = Supervisor()
    sup.install_signal_handlers()
    if port_in_use(args.port):
        sup.mux.say(
            f"port {args.port} is in use; pick another: make run LOCAL_PORT={args.port + 1} "
            f"(or .venv/bin/python -m local up --port {args.port + 1})"
        )
        return 1
    try:
        redis = bring_up_redis(sup, args)
    except StartFailed as exc:
        sup.mux.say(str(exc))
        return 0 if sup.stop_requested.is_set() else 1
    failed = False
    # the code the workers are about to import: a change from here on restarts them
    args.code_watch = CodeWatch(REPO) if args.reload else None
    try:
        workers = start_workers(sup, args, redis.url)
        api = start_api(sup, args, redis.url)
        write_state(args.data_dir, state_of(args, redis, workers, api))
        sup.mux.say(banner(args, redis, workers, api))
        failed = keep_running(sup, args, redis, workers, api)
    except StartFailed as exc:
        failed = not sup.stop_requested.is_set()
        sup.mux.say(str(exc))
    finally:
        # from the supervisor's own list, since a start cut short never returned its children:
        # workers first (gracefully), then the API, then the Redis we started
        started = list(sup.children)
        sup.stop_group([c for c in started if c.name.startswith("worker-")])
        sup.stop_group([c for c in started if not c.name.startswith(("worker-", "redis"))])
        redis.stop(sup)
        remove_state(args.data_dir, os.getpid())
        sup.mux.say("stopped")
    return 1 if failed else 0


def keep_running(
    sup: Supervisor, args: argparse.Namespace, redis: RunningRedis, workers: list[Child], api: Child
) -> bool:
    """Watch the stack until a stop is requested (False) or it cannot go on (True). A worker
    that exits on its own is restarted in its place (`workers` and the stack file follow), unless
    it did so WORKER_RESTARTS times in the last WORKER_RESTART_WINDOW_S seconds already; the API
    or Redis exiting ends the watch."""
    budget = RestartBudget(WORKER_RESTARTS, WORKER_RESTART_WINDOW_S)
    reloading: set[str] = set()
    watch = getattr(args, "code_watch", None)
    tick = reload_on_change(sup, watch, workers, reloading) if watch else None
    while (died := sup.watch(tick)) is not None:
        if died not in workers:
            sup.mux.say(f"{died.name} exited on its own; stopping the stack")
            return True
        if died.name in reloading:
            reloading.discard(died.name)
            fresh = sup.restart(died)
            workers[workers.index(died)] = fresh
            write_state(args.data_dir, state_of(args, redis, workers, api))
            sup.mux.say(f"{fresh.name} restarted for the code change: pid {fresh.pid}")
            continue
        why = exit_reason(died.process.returncode if died.process else None, WORKER_EXIT_MEANINGS)
        if not budget.spend(died.name):
            sup.mux.say(
                f"{died.name} exited ({why}) again, after {WORKER_RESTARTS} restarts within "
                f"{WORKER_RESTART_WINDOW_S:g}s; stopping the stack"
            )
            return True
        sup.mux.say(f"{died.name} exited ({why}); restarting")
        fresh = sup.restart(died)
        workers[workers.index(died)] = fresh
        write_state(args.data_dir, state_of(args, redis, workers, api))
        sup.mux.say(f"{fresh.name} restarted: pid {fresh.pid}")
    return False


def reload_on_change(
    sup: Supervisor, watch: CodeWatch, workers: list[Child], reloading: set[str]
) -> Callable[[], None]:
    """A tick for Supervisor.watch: when app.py or chalicelib/ changed, SIGTERM every worker
    (jobs in flight finish or go back to PENDING) and note it, so that keep_running starts a
    fresh one on the new code without counting it as a crash."""

    def tick() -> None:
        if not watch.changed():
            return
        sup.mux.say("code changed: restarting the workers (chalice local reloads the API)")
        for worker in workers:
            if worker.running and worker.name not in reloading:
                reloading.add(worker.name)
                worker.signal(signal.SIGTERM)

    return tick


def state_of(
    args: argparse.Namespace, redis: RunningRedis, workers: list[Child], api: Child
) -> dict[str, object]:
    """What `worker`, `status` and the tests read from the stack file."""
    return {
        "pid": os.getpid(),
        "redis_url": redis.url,
        "api_url": f"http://{LOOPBACK}:{args.port}",
        "pids": {
            **({"redis": redis.pid} if redis.pid else {}),
            **{w.name: w.pid for w in workers},
            "api": api.pid,
        },
    }
