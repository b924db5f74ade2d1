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

#: one script per state transition, plus the read-only stats script, with the flags Redis 7
#: reads from their first line. Without `allow-oom`, Redis refuses a script outright while it is
#: over `maxmemory`: so new jobs are neither created nor taken then, while the scripts that end
#: or hand back work already in flight (or free memory) still run.
SCRIPT_FLAGS = {
    "enqueue": "",
    "dequeue": "",
    "finish": "allow-oom",
    "extend": "allow-oom",
    "requeue": "allow-oom",
    "release": "allow-oom",
    "forward": "allow-oom",
    "recover": "allow-oom",
    "trim": "allow-oom",
    "stats": "no-writes",
    # a status read: the record and, while ACTIVE, its in-flight entry
    "read": "no-writes",
    # converting a queue from the layout before records were written once (store/legacy.py)
    "migrate": "allow-oom",
    # an operator's view and actions (inspector.py): a retry makes work, so it is refused like
    # an enqueue while Redis is full; a delete frees memory, a pause must work when it is full
    "overview": "no-writes",
    "page": "no-writes",
    "retry": "",
    "delete": "allow-oom",
    "pause": "allow-oom",
    # the client's side: a cancel ends work (or marks it), a wait registers a few bytes, and a
    # wake after recover only pushes tokens that expire
    "cancel": "allow-oom",
    "wait": "allow-oom",
    "wake": "allow-oom",
    # callbacks: reading the outbox, and emptying it (which frees memory)
    "outbox": "no-writes",
    "forwarded": "allow-oom",
}
SCRIPT_NAMES = tuple(SCRIPT_FLAGS)
LIBRARY = "lib"


def _read(name: str) -> str:
    return resources.files(__package__).joinpath(f"scripts/{name}.lua").read_text()


@functools.cache
def script_sources(flags: bool = True) -> dict[str, str]:
    """Every script's full source, by name, as it is loaded into Redis. `flags=False` leaves
    out the first line Redis 7 reads flags from (older servers cannot compile it)."""
    prelude = lua_constants() + _read(LIBRARY)
    sources = {}
    for name, script_flags in SCRIPT_FLAGS.items():
        shebang = f"#!lua flags={script_flags}\n" if script_flags else "#!lua\n"
        sources[name] = (shebang if flags else "") + prelude + _read(name)
    return sources
