"""Redis calls that must answer before a deadline: the last moments of a drain.

A Redis command waits up to its socket timeout (about two seconds) for an answer. A drain must
return within its budget even when Redis stalls (paused, stopped), so a call made close to the
drain's deadline goes through a client whose socket timeout is about the time left (never less
than MIN_WAIT_S: a healthy Redis answers well within it). Such clients are made once per bound,
from a short list, and kept. A call that times out may still run on the server: the caller
treats it as a call whose reply was lost (a dequeue is released later; an outcome is left to
lease recovery).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from ..config import COMMAND_TIMEOUT_S
from ..store import Store

T = TypeVar("T")

#: a call made with more time than this before the deadline uses the worker's own client
MARGIN_S = COMMAND_TIMEOUT_S + 0.5
#: even at or past the deadline, a call gets this long: a healthy Redis answers well within it
MIN_WAIT_S = 0.1
#: the socket timeouts of the bounded clients, seconds: the largest that fits the time left
BOUNDS_S = (MIN_WAIT_S, 0.3, 1.0)


class Bounded:
    """The worker's store, and stores whose calls time out within a bound (made on first use
    by `make(bound_s)`)."""

    def __init__(self, store: Store, make: Callable[[float], Store]) -> None:
        self.store = store
        self._make = make
        self._by_bound: dict[float, Store] = {}

    def prepare(self) -> None:
        """Make every bounded store and connect it now (a drain does this before its clock
        starts: connecting is not the budget's work). Raises JobsUnavailable."""
        self.store.prepare()
        for bound_s in BOUNDS_S:
            self._get(bound_s).ping()

    def _get(self, bound_s: float) -> Store:
        store = self._by_bound.get(bound_s)
        if store is None:
            store = self._by_bound[bound_s] = self._make(bound_s)
        return store

    def before(self, deadline: float | None) -> Store:
        """The store to call now for an answer before the monotonic `deadline`."""
        if deadline is None:
            return self.store
        left_s = deadline - time.monotonic()
        if left_s > MARGIN_S:
            return self.store
        return self._get(max([b for b in BOUNDS_S if b <= left_s], default=MIN_WAIT_S))
