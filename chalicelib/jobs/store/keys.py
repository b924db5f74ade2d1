"""Every key of the jobs package, spelled once: a queue's keys share the queue as a hash tag
(`jobs:{q}:part`), so a queue lives in one slot of a Redis Cluster."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class QueueKeys:
    """The keys of one queue, all in one hash slot."""

    #: HASH id -> record (record.py): written at create, rewritten when the job settles
    job: str
    #: HASH ACTIVE id -> in-flight entry (record.ActiveEntry): lease token, times, cancel,
    #: progress; only the scripts of jobs in flight touch it
    active: str
    pending: str
    lease: str
    scheduled: str
    retry: str
    failed: str
    #: LIST COMPLETED ids, in order of completion (see scripts/trim.lua)
    results: str
    stats: str
    wake: str
    kick: str
    #: present while an operator has paused the queue (dequeue takes nothing then)
    paused: str
    #: HASH id -> how many clients wait for that job's end (see `done`)
    waiting: str
    #: LIST ids of ended jobs whose callback is still to be enqueued
    outbox: str

    @classmethod
    def of(cls, prefix: str, queue: str) -> QueueKeys:
        base = f"{prefix}:{{{queue}}}:"
        return cls(*(base + part for part in cls.__dataclass_fields__))

    def _part(self, part: str) -> str:
        return self.job.removesuffix("job") + part

    def done(self, job_id: str) -> str:
        """LIST: one token per waiter, pushed when the job ends; it expires by itself."""
        return self._part(f"done:{job_id}")

    def idempotency(self, hashed_key: str) -> str:
        """STRING "<job id> <fingerprint>" of an idempotency key, for the retention."""
        return self._part(f"idem:{hashed_key}")

    def unique(self, unique: str) -> str:
        """STRING the id of the job holding a unique lock (hash of its type and params)."""
        return self._part(f"unique:{unique}")

    def completed_before(self) -> str:
        """ZSET of COMPLETED ids by expiry in the layout before `results` (store/legacy.py)."""
        return self._part("completed")


@dataclass(frozen=True)
class GlobalKeys:
    """The few keys that belong to no queue (plain commands only, never in a script)."""

    #: SET every queue a job was created in
    queues: str
    #: HASH worker id -> heartbeat of each long-running worker
    workers: str
    #: HASH name -> each periodic job's schedule, last tick and next run
    periodic: str

    @classmethod
    def of(cls, prefix: str) -> GlobalKeys:
        return cls(f"{prefix}:queues", f"{prefix}:workers", f"{prefix}:periodic")
