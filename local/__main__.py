"""`python -m local COMMAND`: the whole stack offline, or one part of it (`--help` lists them).

Each command is a module of local/commands with HELP, add_arguments(parser) and
run(args) -> exit code; a new command is one more line in COMMANDS. What the commands are built
from lives in local/parts.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from chalicelib.jobs import JobError

from .parts.stack_file import NoRedisToUse

#: command -> the module that implements it, in the order `--help` lists them
COMMANDS = {
    "up": "local.commands.up",
    "worker": "local.commands.worker",
    "redis": "local.commands.redis",
    "status": "local.commands.status",
    "bench": "local.commands.bench",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m local",
        description="Run Chalice Jobs offline: Redis, workers and the API (chalice local).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        sub = commands.add_parser(
            name,
            help=module.HELP,
            description=module.__doc__,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(sub)
        sub.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except JobError as exc:
        # bad settings or input (JOBS_* variables, a queue name): a message, not a traceback
        parser.exit(2, f"python -m local {args.command}: {exc}\n")
    except NoRedisToUse as exc:
        parser.exit(1, f"python -m local {args.command}: {exc}\n")


if __name__ == "__main__":
    sys.exit(main())
