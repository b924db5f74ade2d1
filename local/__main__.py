"""`python -m local COMMAND`: the whole stack offline, or one part of it (`--help` lists them).

Each command is a module of local/commands with HELP, add_arguments(parser) and
run(args) -> exit code; a new command is one more line in COMMANDS. What the commands are built
from lives in local/parts.
"""

# Only the standard library is imported here, so that a Python without the requirements (a
# system python3 rather than .venv's) gets one line saying what to do, not a traceback.

from __future__ import annotations

import argparse
import importlib
import sys

#: packages of this repository: a module of theirs that is missing is a bug, not a requirement
OWN_PACKAGES = ("app", "chalicelib", "local", "tests")

#: command -> the module that implements it, in the order `--help` lists them
COMMANDS = {
    "up": "local.commands.up",
    "worker": "local.commands.worker",
    "redis": "local.commands.redis",
    "status": "local.commands.status",
    "jobs": "local.commands.jobs",
    "bench": "local.commands.bench",
    "delay-proxy": "local.commands.delay_proxy",
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
    """Run the command `argv` names; its exit code. A package of the requirements that this
    Python cannot import is exit code 2, with a message saying how to get it."""
    try:
        return _run(argv)
    except ModuleNotFoundError as exc:
        package = (exc.name or "").partition(".")[0]
        if not package or package in OWN_PACKAGES:
            raise
        given = " ".join(sys.argv[1:] if argv is None else argv)
        print(
            f"python -m local: missing the {package!r} package; run 'make venv' and use "
            f".venv/bin/python -m local {given}".rstrip(),
            file=sys.stderr,
        )
        return 2


def _run(argv: list[str] | None) -> int:
    from chalicelib.jobs import JobError  # noqa: PLC0415 - needs redis, see main

    from .parts.stack_file import NoRedisToUse  # noqa: PLC0415

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
