"""The plumbing under every Store call: the clients, loading the scripts, running one script or
a pipeline of them, and turning Redis errors into the package's own; and the values calls take
and return."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import redis
from redis.exceptions import (
    DataError,
    NoScriptError,
    OutOfMemoryError,
    RedisClusterException,
    RedisError,
    ResponseError,
)

from ..lua import script_sources
from ..model import JobStoreFull, JobsUnavailable
from ..record import LAYOUT, LeasedJob, Outcome
from .durable import Durability
from .keys import GlobalKeys, QueueKeys
from .legacy import migrate

log = logging.getLogger("chalicelib.jobs.store")

T = TypeVar("T")
R = TypeVar("R", bound="ScriptRunner")


@dataclass(frozen=True)
class AttemptOutcome:
    """How one attempt of a leased job ended, ready for the finish script: the payload is the
    result's JSON for DONE, else the error text; `retry_at` matters for RETRY only."""

    job_id: str
    token: str
    outcome: Outcome
    payload: str
    retry_at: float = 0.0
    #: hash of the job's unique lock ('' for none); the finish needs it no more (a lock whose job
    #: ended holds nothing)
    unique: str = ""
    #: the handler's latest progress report (JSON, '' for none), kept with the outcome
    progress: str = ""


@dataclass(frozen=True)
class NewJob:
    """A job to enqueue: its encoded record, when it runs (0: now), and the hashed idempotency
    key and fingerprint of its type and params when it has a key."""

    job_id: str
    record: str
    run_at: float
    idempotency_key: str | None = None
    fingerprint: str = ""
    #: a unique job's lock (hash of type and params) and how long it is held at most, ms
    unique: str | None = None
    unique_ms: int = 0


@dataclass(frozen=True)
class Enqueued:
    #: the caller should kick a worker
    kick: bool
    #: per job: '' when written, else the id of the job that already holds its idempotency key
    answers: list[str]
    #: (index of the job, id holding its key) when a key is held with other params: nothing
    #: was written
    conflict: tuple[int, str] | None = None
    #: (index of the job, id holding its unique lock) per unique job refused: nothing was
    #: written
    duplicates: list[tuple[int, str]] | None = None


@dataclass(frozen=True)
class StoredJob:
    """A job as Redis holds it: its record, and its in-flight entry while it is ACTIVE."""

    record: str
    active: str | None = None


@dataclass(frozen=True)
class Dequeued:
    jobs: list[LeasedJob]
    #: earliest time a scheduled or retry job falls due or a lease expires; None for never
    next_due: float | None


class ScriptRunner:
    """Runs the scripts and commands of one Redis (or Cluster). Wraps every Redis error in
    JobsUnavailable (JobStoreFull when Redis is out of memory)."""

    def __init__(
        self,
        client: redis.Redis | redis.RedisCluster,
        prefix: str = "jobs",
        blocking_client: redis.Redis | redis.RedisCluster | None = None,
        durability: Durability | None = None,
    ) -> None:
        """`blocking_client` serves the blocking wait for work: its socket timeout must outlast
        the wait, while `client` keeps a short one so that a hung Redis is noticed quickly.
        `durability`: what an enqueue waits for before it answers (store/durable.py)."""
        self.durability = durability or Durability()
        #: queues whose node was found able to give that durability
        self._durable_nodes: set[str] = set()
        self.client = client
        self.blocking_client = blocking_client or client
        self.prefix = prefix
        self._keys: dict[str, QueueKeys] = {}
        self.global_keys = GlobalKeys.of(prefix)
        self._known_queues: set[str] = set()
        #: queues known to be in the current layout (store/legacy.py)
        self._converted: set[str] = set()
        self._shas: dict[str, str] = {}

    def sharing_scripts(self: R, client: redis.Redis | redis.RedisCluster) -> R:
        """The same store on another client (one with another timeout): the scripts it loaded
        are the server's, so their handles are shared rather than loaded again."""
        other = type(self)(client, self.prefix, self.blocking_client, self.durability)
        other._shas = self._shas  # noqa: SLF001 - one table of handles for both
        other._keys = self._keys  # noqa: SLF001
        other._converted = self._converted  # noqa: SLF001 - queues known to be in this layout
        return other

    def keys(self, queue: str) -> QueueKeys:
        keys = self._keys.get(queue)
        if keys is None:
            keys = self._keys[queue] = QueueKeys.of(self.prefix, queue)
        return keys

    @property
    def queues_key(self) -> str:
        return self.global_keys.queues

    def _load_scripts(self) -> None:
        try:
            shas = {name: self.client.script_load(src) for name, src in script_sources().items()}
        except ResponseError as exc:
            if isinstance(exc, OutOfMemoryError) or "compil" not in str(exc).lower():
                raise
            # a Redis before 7 cannot read the flags line: load without it (such a Redis
            # refuses a script only at its first growing write when over maxmemory)
            shas = {
                name: self.client.script_load(src) for name, src in script_sources(False).items()
            }
        self._shas.update(shas)

    def prepare(self) -> None:
        """Connect, load the scripts and check that every known queue is in this layout now, if
        not done yet (a drain does this before its clock starts). Raises JobsUnavailable."""
        if not self._shas:
            self._guard(self.client.ping)
            self._guard(self._check_layouts)

    def _check_layouts(self) -> None:
        """One round trip for the queue names, one pipeline for their marks; then the queues
        not marked are converted (store/legacy.py)."""
        queues = sorted(_text(q) for q in self.client.smembers(self.queues_key))
        pipe = self.client.pipeline(transaction=False)
        for queue in queues:
            pipe.hget(self.keys(queue).stats, "layout")
        for queue, mark in zip(queues, pipe.execute() if queues else [], strict=True):
            if mark is None or _text(mark) != LAYOUT:
                migrate(self, queue)
            self._converted.add(queue)

    def _guard(self, call: Callable[[], T]) -> T:
        """Run call with the scripts loaded; reload them once if Redis forgot them (restart)."""
        try:
            if not self._shas:
                self._load_scripts()
            try:
                return call()
            except NoScriptError:
                self._load_scripts()
                return call()
        except DataError:
            raise  # a value redis-py cannot send: a bug in the caller, not Redis being away
        except ResponseError as exc:
            if isinstance(exc, OutOfMemoryError) or "OOM command not allowed" in str(exc):
                raise JobStoreFull(
                    "the job store is full: Redis is over its maxmemory and refuses new jobs"
                ) from exc
            raise JobsUnavailable(f"Redis refused the call: {exc}") from exc
        except (RedisError, RedisClusterException) as exc:
            unavailable = JobsUnavailable(f"Redis is unavailable: {exc}")
            # redis-py says "connecting" when the call never left this process
            unavailable.may_have_written = "connecting" not in str(exc).lower()
            raise unavailable from exc

    def _eval(self, name: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        return self.client.evalsha(self._shas[name], len(keys), *keys, *args)

    def _pipeline_evals(self, calls: Iterable[tuple[str, Sequence[str], Sequence[Any]]]) -> list:
        """Several idempotent scripts in one round trip (retried whole if a script was missing)."""
        pipe = self.client.pipeline(transaction=False)
        for name, keys, args in calls:
            # execute_command: redis-py's cluster pipeline refuses its evalsha() helper, yet
            # routes a raw EVALSHA by its keys; all keys of a queue share one slot.
            pipe.execute_command("EVALSHA", self._shas[name], len(keys), *keys, *args)
        return list(pipe.execute())

    def ensure_layout(self, queues: Iterable[str]) -> None:
        """Convert each queue from the layout before records were written once, if this has
        not been done (once per queue and process: one round trip to check, then none)."""
        for queue in queues:
            if queue not in self._converted:
                self._guard(lambda q=queue: self._convert(q))  # type: ignore[misc]
                self._converted.add(queue)

    def _eval_converted(
        self, queue: str, name: str, keys: Sequence[str], args: Sequence[Any]
    ) -> Any:
        """_eval, for a script that refuses records of an older layout (LEGACY) before writing
        anything: the queue is then converted, and the script called again."""
        try:
            return self._eval(name, keys, args)
        except ResponseError as exc:
            if not str(exc).startswith("LEGACY"):
                raise
            self._convert(queue)
            self._converted.add(queue)
            return self._eval(name, keys, args)

    def _convert(self, queue: str) -> None:
        mark = self.client.hget(self.keys(queue).stats, "layout")
        if mark is None or _text(mark) != LAYOUT:
            migrate(self, queue)

    def idempotency_key(self, queue: str, hashed_key: str) -> str:
        return self.keys(queue).idempotency(hashed_key)

    def unique_key(self, queue: str, unique: str) -> str:
        """The lock of a unique job: the id of the job holding it, while it lives."""
        return self.keys(queue).unique(unique)

    @property
    def workers_key(self) -> str:
        return self.global_keys.workers

    def ping(self) -> None:
        self._guard(self.client.ping)


def _dequeued(reply: list) -> Dequeued:
    due = reply[0]
    jobs = [
        LeasedJob.decode(raw, _text(job_id), cancel=bool(cancel))
        for job_id, raw, cancel in zip(reply[1::3], reply[2::3], reply[3::3], strict=True)
    ]
    return Dequeued(jobs, float(due) if due else None)


def _stored(reply: Any) -> StoredJob | None:
    """A read / wait reply: {record, entry or nil}, or nil for no such job."""
    if not reply:
        return None
    return StoredJob(_text(reply[0]), _text(reply[1]) if reply[1] else None)


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value
