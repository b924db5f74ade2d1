"""Redis calls that must answer before a deadline: the last moments of a drain.

A Redis command waits up to its socket timeout (about two seconds) for an answer. A drain must
return within its budget even when Redis stalls (paused, stopped), so a call made close to the
drain's deadline runs in one of a few helper threads, kept for the life of the process, and the
drain waits for it only until the deadline (or MIN_WAIT_S, whichever is later).
The call goes on in the background until its own timeout and may still take effect: the caller
treats it as a call whose reply was lost (a dequeue is released later; an outcome is left to
lease recovery).
"""

from __future__ import annotations

import concurrent.futures
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
#: calls near a deadline run in this many helper threads at most
HELPER_THREADS = 8


def within(deadline: float | None, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """call(*args, **kwargs), or JobsUnavailable (with may_have_written) when the monotonic
    `deadline` passes before it answers. Without a deadline, or far from it, this is just the
    call."""
    if deadline is None or deadline - time.monotonic() > MARGIN_S:
        return call(*args, **kwargs)
    future = _helpers().submit(call, *args, **kwargs)
    try:
        return future.result(timeout=max(MIN_WAIT_S, deadline - time.monotonic()))
    except concurrent.futures.TimeoutError:
        name = getattr(call, "__name__", "a call")
        late = JobsUnavailable(f"Redis did not answer {name} before the deadline")
        late.may_have_written = True
        raise late from None


_pool: concurrent.futures.ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _helpers() -> concurrent.futures.ThreadPoolExecutor:
    """The threads that make calls near a deadline, shared by the process's workers and made on
    first use (a call left behind by a stalled Redis holds one until its own timeout)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = concurrent.futures.ThreadPoolExecutor(
                max_workers=HELPER_THREADS, thread_name_prefix="jobs-deadline"
            )
        return _pool
