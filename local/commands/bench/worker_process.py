"""`python -m local.commands.bench.worker_process URL [--isolation MODE] [--profile FILE]`: the
bench's worker.

Default settings but the isolation asked for (threads unless told), and the maths handlers; it
counts the Redis round trips its client makes and answers `go`, `report` and `stop` on stdin, one
JSON line each on stdout (see serve_worker).
"""

from __future__ import annotations

import argparse
import itertools
import json
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

from chalicelib.business import async_maths
from chalicelib.jobs import JobController

from .profiling import profile_new_threads, write_profile

#: JobController's `isolation` values: handlers in threads of the worker, or in child processes
ISOLATIONS = ("thread", "process")


def serve_worker(url: str, profile: str | None, isolation: str = "thread") -> int:
    """The worker process: default settings but `isolation`, the maths handlers. `go` starts it
    (with process isolation, its pool of handler processes too); `report` answers its round
    trips and CPU time since `go` (this process only, not its handler processes; and, profiling,
    stops it and writes the profile); `stop` or the end of stdin stops it."""
    round_trips = count_round_trips()
    controller = JobController(url, isolation=isolation)
    async_maths.register(controller)
    profiles = profile_new_threads() if profile else None
    _answer({"ready": True})
    base, cpu = 0, 0.0
    for line in sys.stdin:
        command = line.strip()
        if command == "go":
            base, cpu = round_trips(), time.process_time()
            controller.start()
        elif command == "report":
            sent, cpu_s = round_trips() - base - 1, time.process_time() - cpu
            if profile and profiles is not None:
                controller.stop()
                write_profile(profiles, profile)
            _answer({"round_trips": sent, "cpu_s": cpu_s, **controller.counters})
        elif command == "stop":
            break
    controller.stop()
    return 0


def _answer(payload: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()


def count_round_trips() -> Callable[[], int]:
    """Count every request this process's Redis clients send: one command, or one pipeline,
    is one write then one wait for the answer. Returns a reader (each read counts one)."""
    from redis.connection import AbstractConnection  # noqa: PLC0415

    counter = itertools.count()  # next() is atomic under the GIL, unlike += on an int
    original = AbstractConnection.send_packed_command

    def counted(self: AbstractConnection, command: Any, check_health: bool = True) -> None:
        next(counter)
        original(self, command, check_health)

    AbstractConnection.send_packed_command = counted  # type: ignore[method-assign]
    return lambda: next(counter)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.commands.bench.worker_process")
    parser.add_argument("url", help="the Redis URL the worker serves")
    parser.add_argument(
        "--isolation",
        choices=ISOLATIONS,
        default="thread",
        help="where handlers run: threads of the worker (the default) or child processes",
    )
    parser.add_argument("--profile", metavar="FILE", help="profile the worker; pstats to FILE")
    args = parser.parse_args(argv)
    # a terminal's Ctrl-C reaches this process too; the bench, its parent, decides when it ends
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    return serve_worker(args.url, args.profile, args.isolation)


if __name__ == "__main__":
    sys.exit(main())
