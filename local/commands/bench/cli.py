"""The command line: options, the sizes they choose, and the exit code of a run."""

from __future__ import annotations

import argparse
import json
import signal
from pathlib import Path
from typing import Any

from ...parts.redis_server import RedisServer
from .context import INTERRUPTED, Bench
from .progress import say
from .report import as_json, render_table
from .runner import run_phases

HELP = "benchmark the jobs package, the API and a worker process on a private redis-server"
#: sizes: (default, with --quick: a smoke run of a few seconds)
SIZES: dict[str, tuple[int, int]] = {
    "jobs": (20_000, 300),
    "latency_jobs": (1_000, 50),
    "create_jobs_single": (5_000, 200),
    "batch": (500, 100),
    "api_pairs": (2_000, 50),
    "cold_starts": (5, 1),
    "rb_requests": (200_000, 10_000),
    "rb_requests_p16": (2_000_000, 50_000),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    size: dict[str, Any] = {"type": int, "default": None, "metavar": "N"}
    parser.add_argument("--jobs", **size, help="jobs in the drain (default 20000)")
    parser.add_argument("--latency-jobs", **size, help="jobs timed one by one (default 1000)")
    parser.add_argument(
        "--create-jobs", **size, help="jobs created one at a time by create_job (default 5000)"
    )
    parser.add_argument("--batch", **size, help="jobs per create_jobs call (default 500)")
    parser.add_argument("--api-requests", **size, help="POST+GET pairs on the API (default 2000)")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run in seconds")
    parser.add_argument("--json", metavar="FILE", help="write every figure to FILE as JSON")
    parser.add_argument(
        "--rtt-ms",
        type=_rtt_ms,
        metavar="MS",
        help="also drain and create_jobs through a delay proxy adding MS to each round trip "
        "(MS/2 each way), reported as a share of the loopback figures",
    )
    parser.add_argument(
        "--profile",
        metavar="FILE",
        help="also drain the jobs again in a worker under cProfile; write its pstats to FILE",
    )


def main(args: argparse.Namespace) -> int:
    """Run every phase, print the table; 0 only if every result checked out, 130 when Ctrl-C or
    SIGTERM cut it short (the private redis-server and the worker process are stopped first)."""
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        return _bench(args)
    except KeyboardInterrupt:
        say("bench: interrupted")
        return 130
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _interrupt(_signum: int, _frame: object) -> None:
    """SIGTERM as Ctrl-C: the `with` blocks on the way out stop what the run started. The flag
    stays set, so a phase whose failure came first (a terminal's Ctrl-C also stops the private
    redis-server) still ends the run as interrupted, not as a failed phase."""
    INTERRUPTED.set()
    raise KeyboardInterrupt


def _bench(args: argparse.Namespace) -> int:
    sizes = {name: _size(args, name, default, quick) for name, (default, quick) in SIZES.items()}
    say(f"bench: starting a private redis-server ({'quick' if args.quick else 'full'} sizes)")
    with RedisServer() as server:
        figures = run_phases(Bench.on(server, sizes, args.profile, args.rtt_ms))
    print("\n".join(render_table(figures, quick=args.quick)))
    if args.json:
        Path(args.json).write_text(json.dumps(as_json(figures), indent=2) + "\n")
        say(f"bench: figures written to {args.json}")
    return 0 if figures.verified else 1


def run(args: argparse.Namespace) -> int:
    """The `python -m local bench` entry point (local/__main__.py calls each command's run)."""
    return main(args)


def _size(args: argparse.Namespace, name: str, default: int, quick: int) -> int:
    option = {"create_jobs_single": "create_jobs", "api_pairs": "api_requests"}.get(name, name)
    given = getattr(args, option, None)
    return max(1, given) if given is not None else (quick if args.quick else default)


def _rtt_ms(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value <= 1000:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a round trip of 0 to 1000 ms")
    return value
