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
from ..record import LeasedJob, Outcome
from .keys import GlobalKeys, QueueKeys

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
    #: hash of the job's unique lock ('' for none): released when the job ends for good
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
    ) -> None:
        """`blocking_client` serves the blocking wait for work: its socket timeout must outlast
        the wait, while `client` keeps a short one so that a hung Redis is noticed quickly."""
        self.client = client
        self.blocking_client = blocking_client or client
        self.prefix = prefix
        self._keys: dict[str, QueueKeys] = {}
        self.global_keys = GlobalKeys.of(prefix)
        self._known_queues: set[str] = set()
        self._shas: dict[str, str] = {}

    def sharing_scripts(self: R, client: redis.Redis | redis.RedisCluster) -> R:
        """The same store on another client (one with another timeout): the scripts it loaded
        are the server's, so their handles are shared rather than loaded again."""
        other = type(self)(client, self.prefix, self.blocking_client)
        other._shas = self._shas  # noqa: SLF001 - one table of handles for both
        other._keys = self._keys  # noqa: SLF001
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
        """Connect and load the scripts now, if not done yet (a drain does this before its
        clock starts). Raises JobsUnavailable."""
        if not self._shas:
            self._guard(self.client.ping)

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

    def idempotency_key(self, queue: str, hashed_key: str) -> str:
        return self.keys(queue).idempotency(hashed_key)

    def unique_key(self, queue: str, unique: str) -> str:
        """The lock of a unique job: the id of the job holding it, while it lives."""
        return self.keys(queue).unique(unique)

    @property
    def workers_key(self) -> str:
        return self.global_keys.workers

    def unlock(self, queue: str, jobs: Sequence[tuple[str, str]]) -> int:
        """Release the unique locks (job id, unique hash) still held by these ended jobs."""
        keys = [self.unique_key(queue, unique) for _, unique in jobs]
        ids = [job_id for job_id, _ in jobs]
        return int(self._guard(lambda: self._eval("unlock", keys, ids)))

    def ping(self) -> None:
        self._guard(self.client.ping)


def _dequeued(reply: list) -> Dequeued:
    due = reply[0]
    return Dequeued([LeasedJob.decode(raw) for raw in reply[1:]], float(due) if due else None)


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value
