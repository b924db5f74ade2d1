"""Handlers in child processes, so a handler past its timeout can be killed and its child replaced.

Fork safety: `start()` forks one single-threaded "zygote", and every child is forked from it later,
so a child inherits the handlers as they were at `start()` and never a lock that one of the parent's
later threads (handler slots, redis-py connections) held when a child was replaced. CPython resets
logging's locks and the random seed after a fork; the zygote and children also drop the parent's
Python signal handlers and ignore SIGINT (Ctrl-C is the parent's to handle).

No orphans: a child exits on EOF from the parent; the zygote, on EOF, kills and reaps its children.
On Linux a child also dies with the zygote (PR_SET_PDEATHSIG), and the zygote with the parent when
`start()` ran on the main thread. Only the zygote reaps, when the parent asks, so no pid is reused
under a kill. Messages are JSON bytes; nothing is pickled.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from .attempt import Handler
from .record import Outcome
from .zygote import PROGRESS, Zygote

log = logging.getLogger("chalicelib.jobs.process_pool")


@dataclass(eq=False)
class _Child:
    pid: int
    conn: Connection
    job_type: str = ""
    #: time.monotonic() when its current run was sent
    started: float = 0.0
    #: close() killed it while it ran; the run's thread only closes its connection
    abandoned: bool = False


class HandlerProcessPool:
    """Runs handlers in `size` child processes; a run past its timeout kills its child.

    Call `start()` early, before the process starts threads: children see the handlers, and any
    other state, as they were then. Needs os.fork (Linux, macOS)."""

    def __init__(self, handlers: Mapping[str, Handler], size: int) -> None:
        if size < 1:
            raise ValueError(f"size must be at least 1, got {size}")
        self._handlers = handlers
        self._size = size
        self._cond = threading.Condition()
        self._idle: list[_Child] = []
        self._busy: set[_Child] = set()
        self._zygote: Zygote | None = None
        self._finalizer: weakref.finalize | None = None
        self._closed = False

    def start(self) -> None:
        """Fork the zygote and the `size` children; a second call does nothing. Raises
        RuntimeError once closed, OSError if a process cannot be started."""
        with self._cond:
            if self._closed:
                raise RuntimeError("the handler process pool is closed")
            if self._zygote is not None:
                return
            self._zygote = Zygote(self._handlers)
            self._finalizer = weakref.finalize(
                self, _shutdown, self._zygote, self._idle, self._busy
            )
            for _ in range(self._size):
                self._idle.append(_Child(*self._zygote.spawn()))

    def run(
        self,
        job_type: str,
        params_json: str,
        timeout_s: float,
        job: dict[str, Any] | None = None,
        on_progress: Callable[[str], None] | None = None,
    ) -> tuple[Outcome, str]:
        """Run the job's handler in an idle child, waiting for one to be free; return what
        `attempt.run_handler` would: (DONE, result JSON), (FAIL, error) or (RETRY, error).
        `job` (CurrentJob.info()) makes `current_job()` work in the child; its progress
        reports are passed to `on_progress`. A run past `timeout_s`, or whose process dies,
        is a RETRY and its child is replaced. Raises RuntimeError if the pool is not started,
        is closed, or has lost every child."""
        child = self._borrow()
        child.job_type, child.started = job_type, time.monotonic()
        ends = child.started + timeout_s
        try:
            message = {"type": job_type, "params": params_json, "job": job}
            child.conn.send_bytes(json.dumps(message).encode())
            while child.conn.poll(max(0.0, ends - time.monotonic())):
                kind, payload = json.loads(child.conn.recv_bytes())
                if kind == PROGRESS:
                    if on_progress is not None:
                        on_progress(str(payload))
                    continue
                self._give_back(child)
                return Outcome(kind), str(payload)
            outcome = f"timed out after {timeout_s:g}s; its process was killed"
        except (EOFError, OSError):
            outcome = ""
        ending = self._retire(child)
        return Outcome.RETRY, outcome or f"the handler's process {ending} while it ran"

    def close(self, timeout_s: float = 5.0) -> list[str]:
        """Stop taking runs, give the running ones `timeout_s` to finish, then kill them; return
        once every child and the zygote is reaped. Returns the runs it killed, e.g.
        "math:add (pid 123, ran 4.2s)". A second call returns []."""
        with self._cond:
            if self._closed:
                return []
            self._closed = True
            self._cond.notify_all()
            deadline = time.monotonic() + timeout_s
            while self._busy and (left_s := deadline - time.monotonic()) > 0:
                self._cond.wait(left_s)
            abandoned = list(self._busy)
            for child in abandoned:
                child.abandoned = True
            self._busy.clear()
            zygote = self._zygote
        now = time.monotonic()
        killed = [f"{c.job_type} (pid {c.pid}, ran {now - c.started:.1f}s)" for c in abandoned]
        if zygote is not None and self._finalizer is not None:
            for child in abandoned:
                zygote.kill(child.pid)
            self._finalizer()  # runs _shutdown once: EOF to idle children, reap the zygote
        return killed

    @property
    def alive(self) -> int:
        """Children alive now, idle or running (fewer than `size` only while one is replaced)."""
        with self._cond:
            return len(self._idle) + len(self._busy)

    @property
    def pids(self) -> list[int]:
        """Process ids of the children alive now."""
        with self._cond:
            return sorted(child.pid for child in [*self._idle, *self._busy])

    def _borrow(self) -> _Child:
        with self._cond:
            while not self._idle:
                if self._closed:
                    raise RuntimeError("the handler process pool is closed")
                if self._zygote is None:
                    raise RuntimeError("the handler process pool is not started")
                if not self._busy:
                    raise RuntimeError("the handler process pool has no children left")
                self._cond.wait()
            if self._closed:
                raise RuntimeError("the handler process pool is closed")
            child = self._idle.pop()
            self._busy.add(child)
            return child

    def _give_back(self, child: _Child) -> None:
        """Make a child idle again, or close its connection if the pool is closed."""
        with self._cond:
            self._busy.discard(child)
            if self._closed:  # close() reaps it: EOF, or SIGKILL if abandoned
                child.conn.close()
            else:
                self._idle.append(child)
            self._cond.notify_all()

    def _retire(self, child: _Child) -> str:
        """Kill and reap a child whose run failed and start its replacement; how it ended."""
        child.conn.close()
        with self._cond:
            if child.abandoned:
                return "was killed as the pool closed"
            self._busy.discard(child)
            zygote = self._zygote
        assert zygote is not None
        code = zygote.kill(child.pid)
        try:
            if not self._closed:
                self._give_back(_Child(*zygote.spawn()))
        except OSError:  # the zygote is gone: the pool shrinks, borrowers must hear of it
            if not self._closed:
                log.exception("could not start a handler process to replace pid %d", child.pid)
            with self._cond:
                self._cond.notify_all()
        if code is None:
            return "was killed as the pool closed" if self._closed else "was lost with its zygote"
        return _describe_exit(code)


def _describe_exit(code: int) -> str:
    return f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited with code {code}"


def _shutdown(zygote: Zygote, idle: list[_Child], busy: set[_Child]) -> None:
    """EOF to every child and the zygote; returns once the zygote (which reaps them) is reaped.
    Also run by the finalizer when a pool is dropped without close()."""
    for child in [*idle, *busy]:
        child.conn.close()
    idle.clear()
    zygote.close()
