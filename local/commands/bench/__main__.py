"""`python -m local.commands.bench`: the benchmark on its own, as `python -m local bench`."""

from __future__ import annotations

import argparse
import sys

from . import HELP, add_arguments, main

if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m local.commands.bench", description=HELP)
    add_arguments(parser)
    sys.exit(main(parser.parse_args()))
