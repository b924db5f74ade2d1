"""Redis calls that must answer before a deadline: the last moments of a drain.

A Redis command waits up to its socket timeout (about two seconds) for an answer. A drain must
return within its budget even when Redis stalls (paused, stopped), so a call made close to the
drain's deadline runs in a helper thread, and the drain waits for it only until the deadline
(or MIN_WAIT_S, whichever is later).
The call goes on in the background until its own timeout and may still take effect: the caller
treats it as a call whose reply was lost (a dequeue is released later; an outcome is left to
lease recovery).
"""

from __future__ import annotations

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


def within(deadline: float | None, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """call(*args, **kwargs), or JobsUnavailable (with may_have_written) when the monotonic
    `deadline` passes before it answers. Without a deadline, or far from it, this is just the
    call."""
    if deadline is None or deadline - time.monotonic() > MARGIN_S:
        return call(*args, **kwargs)
    result: list[T] = []
    error: list[BaseException] = []
    done = threading.Event()

    def run() -> None:
        try:
            result.append(call(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            error.append(exc)
        finally:
            done.set()

    threading.Thread(target=run, name="jobs-deadline-call", daemon=True).start()
    if not done.wait(max(MIN_WAIT_S, deadline - time.monotonic())):
        late = JobsUnavailable("Redis did not answer before the deadline")
        late.may_have_written = True
        raise late
    if error:
        raise error[0]
    return result[0]
