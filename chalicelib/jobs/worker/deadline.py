"""Redis calls that must answer before a deadline: the last moments of a drain.

A Redis command waits up to its socket timeout (about two seconds) for an answer. A drain must
return within its budget even when Redis stalls (paused, stopped), so a call made close to the
drain's deadline runs in a helper thread (a few are kept for the life of the process), and the
drain waits for it only until the deadline (or MIN_WAIT_S, whichever is later).
The call goes on in the background until its own timeout and may still take effect: the caller
treats it as a call whose reply was lost (a dequeue is released later; an outcome is left to
lease recovery).
"""

from __future__ import annotations

import concurrent.futures
import functools
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from ..config import COMMAND_TIMEOUT_S
from ..model import JobsUnavailable

T = TypeVar("T")

#: a call made with more time than this before the deadline runs in the caller's thread
MARGIN_S = COMMAND_TIMEOUT_S + 0.5
#: even at or past the deadline, a call gets this long: a healthy Redis answers well within it
MIN_WAIT_S = 0.1
#: idle helper threads kept for calls near a deadline (more run while calls are left behind)
HELPER_THREADS = 8


def within(deadline: float | None, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """call(*args, **kwargs), or JobsUnavailable (with may_have_written) when the monotonic
    `deadline` passes before it answers. Without a deadline, or far from it, this is just the
    call."""
    if deadline is None or deadline - time.monotonic() > MARGIN_S:
        return call(*args, **kwargs)
    future = _helpers.submit(functools.partial(call, *args, **kwargs))
    try:
        return future.result(timeout=max(MIN_WAIT_S, deadline - time.monotonic()))
    except concurrent.futures.TimeoutError:
        name = getattr(call, "__name__", "a call")
        late = JobsUnavailable(f"Redis did not answer {name} before the deadline")
        late.may_have_written = True
        raise late from None


class _Helpers:
    """The threads that make calls near a deadline, shared by the process's workers. Up to
    HELPER_THREADS idle ones are kept and reused; when none is idle, a call gets a new thread
    (which ends after it if HELPER_THREADS are kept already). A call left behind by a stalled
    Redis holds its thread until its own timeout, so a queue behind busy threads would make the
    next calls miss their deadline while Redis answers them at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: queue.SimpleQueue[tuple[concurrent.futures.Future[Any], Callable[[], Any]]]
        self._calls = queue.SimpleQueue()
        self._threads = 0
        #: threads waiting for a call, less the calls already handed to them
        self._idle = 0

    def submit(self, call: Callable[[], T]) -> concurrent.futures.Future[T]:
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        with self._lock:
            start = self._idle == 0
            if start:
                self._threads += 1
            else:
                self._idle -= 1
        self._calls.put((future, call))
        if start:
            threading.Thread(target=self._serve, name="jobs-deadline", daemon=True).start()
        return future

    def _serve(self) -> None:
        while True:
            future, call = self._calls.get()
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(call())
                except BaseException as exc:  # noqa: BLE001 - handed to the caller's future
                    future.set_exception(exc)
            with self._lock:
                if self._threads > HELPER_THREADS:
                    self._threads -= 1
                    return
                self._idle += 1


_helpers = _Helpers()
