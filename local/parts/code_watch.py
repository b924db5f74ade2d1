"""Whether the app's code changed since last asked: what `up --reload` restarts workers for.

A worker imports app code once, at start; a handler or a job type edited afterwards is only run
by a worker started after the edit. Polling modification times (once a second) needs no extra
package and is as quick as a person saving a file.
"""

from __future__ import annotations

import time
from pathlib import Path

#: what the workers import: the app and its package (the local runner itself is not reloaded)
WATCHED = ("app.py", "chalicelib")
CHECK_EVERY_S = 1.0


def code_stamp(root: Path) -> frozenset[tuple[str, int]]:
    """Every watched Python file under `root` with its modification time."""
    files: list[Path] = []
    for name in WATCHED:
        path = root / name
        files.extend(path.rglob("*.py") if path.is_dir() else [path])
    stamp = set()
    for path in files:
        try:
            stamp.add((str(path), path.stat().st_mtime_ns))
        except OSError:  # removed while we looked: the next look sees it gone
            continue
    return frozenset(stamp)


class CodeWatch:
    """Tells, at most once a second, whether a watched file was added, removed or saved."""

    def __init__(self, root: Path, every_s: float = CHECK_EVERY_S) -> None:
        self.root, self.every_s = root, every_s
        self._stamp = code_stamp(root)
        self._next_s = time.monotonic() + every_s

    def changed(self) -> bool:
        if time.monotonic() < self._next_s:
            return False
        self._next_s = time.monotonic() + self.every_s
        stamp = code_stamp(self.root)
        changed, self._stamp = stamp != self._stamp, stamp
        return changed
