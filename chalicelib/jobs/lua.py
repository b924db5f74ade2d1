"""The Lua scripts, assembled for loading: generated constants, the shared library, the script.

Each transition is one file in `scripts/`, headed with its KEYS, ARGV and what it returns. Pieces
several scripts need (re-arming the wake list, recording an error, retry-or-fail, counters) live
once in `scripts/lib.lua`; the state numbers and outcome names come from the record module. Both
are put in front of each script here, so every script still declares all its keys in KEYS.
"""

from __future__ import annotations

import functools
from importlib import resources

from .record import lua_constants

#: one script per state transition, plus the read-only stats script
SCRIPT_NAMES = (
    "enqueue",
    "dequeue",
    "finish",
    "extend",
    "requeue",
    "forward",
    "recover",
    "trim",
    "stats",
)
LIBRARY = "lib"


def _read(name: str) -> str:
    return resources.files(__package__).joinpath(f"scripts/{name}.lua").read_text()


@functools.cache
def script_sources() -> dict[str, str]:
    """Every script's full source, by name, as it is loaded into Redis."""
    prelude = lua_constants() + _read(LIBRARY)
    return {name: prelude + _read(name) for name in SCRIPT_NAMES}
