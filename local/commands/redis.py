"""`python -m local redis`: only the Redis of the local stack, in the foreground, until Ctrl-C.

The first that works of: JOBS_REDIS_URL (then nothing is started), Docker compose, a redis-server
binary keeping its data under --data-dir. While it runs, `worker` and `status` in another
terminal find it without JOBS_REDIS_URL.
"""

from __future__ import annotations

import argparse
import os

from ..parts.redis_choice import redacted
from ..parts.redis_start import StartFailed, add_redis_arguments, bring_up_redis
from ..parts.stack_file import remove_state
from ..parts.supervisor import Supervisor

HELP = "run only the Redis part (JOBS_REDIS_URL, Docker or redis-server) in the foreground"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_redis_arguments(parser)


def run(args: argparse.Namespace) -> int:
    supervisor = Supervisor()
    supervisor.install_signal_handlers()
    mux = supervisor.mux
    try:
        redis = bring_up_redis(supervisor, args, claim_for_env=False)
    except StartFailed as exc:
        mux.say(str(exc))
        return 1
    if not redis.ours:
        mux.say(f"JOBS_REDIS_URL answers ({redacted(redis.url)}); nothing to start")
        return 0
    mux.say(f"Redis ready at {redis.url}; Ctrl-C stops it")
    died = supervisor.watch()
    if died is not None:
        code = died.process.returncode if died.process else None
        mux.say(f"redis exited on its own (code {code})")
    redis.stop(supervisor)
    remove_state(args.data_dir, os.getpid())
    return 1 if died is not None else 0
