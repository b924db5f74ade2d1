"""cProfile for the worker process: one profiler per thread, merged, and a summary for the table."""

from __future__ import annotations

import threading
import time
from typing import Any


def profile_new_threads() -> list[Any]:
    """Run every thread started from now on under its own cProfile.Profile (a profiler sees
    one thread only), timed by the thread's CPU clock: waiting on a queue, a lock or a socket
    costs nothing, so what remains is where CPU goes. Returns the list the profiles join."""
    import cProfile  # noqa: PLC0415

    profiles: list[cProfile.Profile] = []
    original = threading.Thread.run

    def profiled(self: threading.Thread) -> None:
        profiler = cProfile.Profile(time.thread_time)
        profiles.append(profiler)
        profiler.enable()
        try:
            original(self)
        finally:
            profiler.disable()

    threading.Thread.run = profiled  # type: ignore[method-assign]
    return profiles


def write_profile(profiles: list[Any], path: str) -> None:
    """Merge the threads' profiles into one pstats file, once the worker has stopped: a thread
    still alive then waits on a lock for good, so reading its profiler from here is safe."""
    import pstats  # noqa: PLC0415

    for thread in threading.enumerate():
        if thread is not threading.current_thread():
            thread.join(1.0)
    if profiles:
        pstats.Stats(*profiles).dump_stats(path)


def profile_summary(path: str, top: int = 14) -> list[str]:
    """The functions that cost the worker most time of their own (tottime)."""
    import pstats  # noqa: PLC0415

    raw: dict[Any, Any] = pstats.Stats(path).stats  # type: ignore[attr-defined]
    total = sum(entry[2] for entry in raw.values()) or 1.0
    lines = []
    for (filename, line, name), (_, calls, own, cum, _) in sorted(
        raw.items(), key=lambda item: -item[1][2]
    )[:top]:
        where = f"{_short(filename)}:{line}({name})"
        lines.append(f"{own / total:6.1%} {own:7.3f}s own {cum:7.3f}s cum {calls:>8} {where}")
    return lines


def _short(filename: str) -> str:
    for marker in ("site-packages/", "chalicelib/", "python3."):
        if marker in filename:
            return filename[filename.index(marker) :].removeprefix("site-packages/")
    return filename
