"""The callback outbox: jobs that ended with a callback_url become delivery jobs.

The scripts that end a job (finish, recover, cancel) push its id to its queue's outbox, in the
same step. A worker turns the outbox into jobs of the CALLBACK_QUEUE queue: right after it
writes outcomes of such jobs, and at each maintenance pass for what others left (a cancel made
by the API, a worker that died in between). The queue of the delivery lives in another slot of
a Redis Cluster, so the two cannot change in one script: the delivery is created first, keyed
by the job's id and the time it ended, and the outbox entry is removed after. A crash between
the two, or two workers forwarding the same entry, creates the delivery once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import replace

from ..attempt import Handler
from ..callbacks import CALLBACK_QUEUE, DELIVERY_TYPE
from ..client import JobClient
from ..config import Settings
from ..delivery import DELIVERY_MAX_RETRY, DELIVERY_WINDOW_S
from ..model import JobError, JobsUnavailable
from ..options import CreateOptions
from ..record import compact_json, decode_status
from ..store import Store

log = logging.getLogger("chalicelib.jobs.worker")

#: most outbox entries forwarded per call
OUTBOX_BATCH = 100
#: a delivery's params hold the result and this much besides (id, state, error, progress)
BODY_MARGIN_BYTES = 64 * 1024


class CallbackForwarder:
    """Moves a queue's outbox into delivery jobs; `client` creates them (its params limit
    must hold a whole result)."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        handlers: Mapping[str, Handler],
        clock: Callable[[], float],
    ) -> None:
        self.default_store = self.store = store
        #: creates the deliveries on the store of the current call (see forward)
        self.client = JobClient(lambda: self.store, settings, handlers, clock)
        self.clock = clock

    @classmethod
    def of(
        cls,
        store: Store,
        handlers: Mapping[str, Handler],
        settings: Settings,
        clock: Callable[[], float],
    ) -> CallbackForwarder | None:
        """The forwarder of a worker, None when callbacks are not enabled. Its deliveries'
        params may hold a whole result, beyond the params limit of a client's jobs."""
        if not settings.callbacks_enabled:
            return None
        limit = max(settings.max_params_bytes, settings.max_result_bytes + BODY_MARGIN_BYTES)
        wide = replace(settings, max_params_bytes=limit)
        return cls(store, wide, handlers, clock)

    def forward_quietly(self, queue: str, store: Store | None = None) -> None:
        """forward(), from a step that must not stop for it: an error is logged, and the
        entries wait in the outbox for the next maintenance pass."""
        try:
            self.forward(queue, store)
        except JobsUnavailable as exc:
            log.info("queue %s: callbacks left for the next pass: %s", queue, exc)
        except Exception:  # noqa: BLE001 - a bug here must not stop outcomes being written
            log.exception("queue %s: forwarding callbacks failed", queue)

    def forward(self, queue: str, store: Store | None = None) -> int:
        """Create the deliveries of the ended jobs in `queue`'s outbox (up to OUTBOX_BATCH),
        through `store` (a bounded one near a deadline; default: the worker's); returns how
        many were created or found made already. Raises JobsUnavailable."""
        self.store = store or self.default_store
        if queue == CALLBACK_QUEUE:
            return 0  # deliveries have no callbacks of their own: nothing to read
        entries = self.store.outbox(queue, OUTBOX_BATCH)
        if not entries:
            return 0
        now = self.clock()
        jobs = []
        # per id: the end it was read at ('' when gone or expired: its entry just leaves)
        seen: dict[str, str] = {}
        for job_id, raw in entries:
            if job_id in seen:
                continue
            status = decode_status(job_id, queue, raw, now) if raw is not None else None
            seen[job_id] = "" if status is None else repr(status.completed_at)
            if status is None or not status.finished or not status.callback_url:
                continue  # gone, expired, or running again (its next end is pushed anew)
            told = {"id": job_id, **status.body()}
            told.pop("callback_id", None)  # an earlier end's delivery (the job was retried)
            body = compact_json(told)
            params = {"url": status.callback_url, "job_id": job_id, "body": body}
            key = f"{job_id}@{seen[job_id]}"
            jobs.append((DELIVERY_TYPE, params, {"idempotency_key": key}))
        deliveries: dict[str, str] = {}
        if jobs:
            try:
                options: CreateOptions = {
                    "queue": CALLBACK_QUEUE,
                    "max_retry": DELIVERY_MAX_RETRY,
                    "deadline": now + DELIVERY_WINDOW_S,
                }
                submitted = self.client.create(jobs, options)
            except JobsUnavailable:
                raise  # the entries stay: the next pass tries again
            except JobError as exc:
                log.error("queue %s: callbacks cannot be enqueued: %s", queue, exc)
                return 0
            for (_, params, _), made in zip(jobs, submitted, strict=True):
                deliveries[params["job_id"]] = made.job_id
        done = [(job_id, ended_at, deliveries.get(job_id, "")) for job_id, ended_at in seen.items()]
        self.store.forwarded(queue, done)
        first = self.client.settings.queues[0]
        if deliveries and first != CALLBACK_QUEUE and self.store.waits_on_first_queue_only:
            # idle workers wait on their first queue's wake list only: a token there makes one
            # take the deliveries now rather than at its next maintenance pass
            self.store.wake(first)
        return len(deliveries)
