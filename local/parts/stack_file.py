"""The stack file, `<data dir>/stack.json`: which process owns the data dir, and its Redis.

`up` and `redis` claim the data dir before they start anything (two Redis servers must not share
one append-only file) and record their Redis URL and process ids once it runs; `worker` and
`status`, run in another terminal, find that Redis through it when JOBS_REDIS_URL is not set.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from chalicelib.redis_url import pid_alive

from . import LOCAL_DIR

DEFAULT_DATA_DIR = LOCAL_DIR / ".data"
STATE_FILE = "stack.json"


def shown(path: Path) -> str:
    """A path as a developer would type it: relative when it is under the current directory."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def write_state(data_dir: Path, state: dict[str, Any]) -> Path:
    """Write `<data_dir>/stack.json` atomically; return its path."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / STATE_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2) + "\n")
    tmp.chmod(0o600)  # the Redis URL may hold a password
    tmp.replace(path)
    return path


def read_state(data_dir: Path) -> dict[str, Any] | None:
    try:
        state = json.loads((data_dir / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None


def claim(data_dir: Path) -> str | None:
    """Record this process as the one using `data_dir`; None then, else why not: the stack file
    names another live process, and two Redis servers must not share one append-only file."""
    state = read_state(data_dir)
    owner = state.get("pid") if state else None
    if owner != os.getpid() and pid_alive(owner) and _runs_local(owner):
        return f"a stack (pid {owner}) already uses {shown(data_dir)}; stop it or pass --data-dir"
    write_state(data_dir, {"pid": os.getpid()})
    return None


def remove_state(data_dir: Path, owner_pid: int) -> None:
    """Remove the stack file if it is still the one `owner_pid` wrote."""
    state = read_state(data_dir)
    if state is not None and state.get("pid") == owner_pid:
        (data_dir / STATE_FILE).unlink(missing_ok=True)


def data_dir_of(environ: Mapping[str, str]) -> Path:
    """The stack's data directory: LOCAL_DATA_DIR, else local/.data."""
    return Path(environ.get("LOCAL_DATA_DIR") or DEFAULT_DATA_DIR)


class NoRedisToUse(RuntimeError):
    """Neither JOBS_REDIS_URL nor a running local stack names a Redis; the message says what to
    do. Not a guess at a Redis on 6379, which may be someone else's."""


def resolve_url(environ: Mapping[str, str]) -> tuple[str, str]:
    """(Redis URL, where it came from) for `worker` and `status`: JOBS_REDIS_URL, else the
    running local stack's Redis. Raise NoRedisToUse when there is neither."""
    url = environ.get("JOBS_REDIS_URL")
    if url:
        return url, "JOBS_REDIS_URL"
    data_dir = data_dir_of(environ)
    state = read_state(data_dir)
    if state and state.get("redis_url") and pid_alive(state.get("pid")):
        return str(state["redis_url"]), f"the local stack, {shown(data_dir / STATE_FILE)}"
    raise NoRedisToUse(
        f"no local stack runs ({shown(data_dir / STATE_FILE)}) and JOBS_REDIS_URL is not set: "
        "start one with `make run`, or set JOBS_REDIS_URL"
    )


def _runs_local(pid: object) -> bool:
    """Whether `pid` runs `python -m local`, as far as /proc tells: after a `kill -9` of the stack
    its file stays behind, and its pid may by now belong to some other program."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            argv = cmdline.read().split(b"\0")
    except OSError:
        return True  # no /proc, or not ours to read: assume the worst
    return b"local" in argv

    return True
