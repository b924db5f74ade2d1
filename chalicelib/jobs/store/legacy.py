"""Queues written before records were written once: each job was one JSON object, changed in
place at every step (`id`, `state`, `token`, `started_at`... by their full names), and COMPLETED
ids sat in a `completed` ZSET. `upgrade` converts one such record; `migrate` converts a queue,
once, before a worker or an operator's action of this version touches it (the queue's stats hash
then says `layout`). Until then, readers convert the records they meet on the fly."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..model import JobState
from ..record import HEADER, LAYOUT, TOKEN_KEPT, encode_record, to_ms

if TYPE_CHECKING:
    from .base import ScriptRunner

#: records converted per call
BATCH = 500
#: the old record's fields kept in the outcome, by their (unchanged) names
_OUTCOME_FIELDS = ("retried", "completed_at", "pending_since", "error",
                   "cancelled", "recovered", "orphaned", "callback_id")  # fmt: skip


def upgrade(text: str) -> tuple[str, str | None]:
    """An old record in the current layout, and the in-flight entry of its job when it was
    ACTIVE (or a PENDING one a cancel was asked for), else None."""
    old: dict[str, Any] = json.loads(text)
    state = JobState(old["state"])
    header = {name: old.get(name) for name in HEADER}
    if state is JobState.FUTURE:
        header["run_at"] = old.get("next_run_at")
    outcome = {name: old.get(name) for name in _OUTCOME_FIELDS}
    outcome["errors"] = old.get("errors") or None  # cjson wrote an empty list as {}
    outcome["retried"] = old.get("retried") or None
    outcome["cancelled"] = 1 if old.get("cancelled") else None
    if state is JobState.COMPLETED and old.get("expires_at") and old.get("completed_at"):
        outcome["kept_ms"] = round((old["expires_at"] - old["completed_at"]) * 1000)
    if state is JobState.RETRYING:
        outcome["next_run_at"] = old.get("next_run_at")
    entry = None
    if state is JobState.ACTIVE:
        state = JobState.PENDING  # the record says PENDING while its job runs
        started = old.get("started_at")
        entry = (f"{old.get('token', '')}|{to_ms(old.get('leased_at') or old['created_at'])}|"
                 f"{'' if started is None else to_ms(started)}|{'1' if old.get('cancel') else ''}|"
                 f"{old.get('progress', '')}")  # fmt: skip
    else:
        outcome["started_at"] = old.get("started_at")
        outcome["progress"] = old.get("progress")
        if old.get("token") and state is not JobState.PENDING:
            outcome["token"] = old["token"][:TOKEN_KEPT]
        if state is JobState.PENDING and old.get("cancel"):
            entry = "|0||1|"
    if not any(v is not None for v in outcome.values()):
        outcome = {}
    record = encode_record(state, header, old["params"], outcome, old.get("result"))
    return record, entry


def migrate(runner: ScriptRunner, queue: str) -> int:
    """Convert the queue's old records and move its old COMPLETED ids, in batches of BATCH;
    returns how many records were converted. Safe to repeat, and to run beside workers of this
    version (each record is replaced only while it is the value read)."""
    k = runner.keys(queue)
    keys = (k.job, k.active, k.completed_before(), k.results, k.stats)
    converted, cursor = 0, 0
    while True:
        cursor, values = runner.client.hscan(k.job, cursor, count=BATCH)
        args: list[Any] = [BATCH, LAYOUT if cursor == 0 else ""]
        for job_id, raw in values.items():  # type: ignore[union-attr]
            text = raw.decode() if isinstance(raw, bytes) else raw
            if text.startswith("{"):
                record, entry = upgrade(text)
                args += (job_id, text, record, entry or "")
        reply = runner._eval("migrate", keys, args)  # noqa: SLF001
        converted += int(reply[0])
        if cursor == 0:
            while int(reply[2]) > 0:  # old COMPLETED ids still to move
                reply = runner._eval("migrate", keys, (BATCH, LAYOUT))  # noqa: SLF001
            return converted
