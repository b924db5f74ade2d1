"""Settings from the environment, and the Redis client factory.

Nothing here connects at import time. Secrets (the Redis password, the callback signing secret)
are read through the `read_secret` the app gives (Secrets Manager, in chalicelib/aws.py): the jobs
package itself knows no AWS.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError, RedisClusterException, RedisError
from redis.retry import Retry

from .attempt import RetryDelay
from .callbacks import CALLBACK_QUEUE
from .model import QUEUE_NAME, InvalidSettings, JobsUnavailable

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
#: connecting must fail fast: a client's request gets its 503 within about two seconds
CONNECT_TIMEOUT_S = 0.8
#: blocking waits of workers stay below this; other commands answer in milliseconds
COMMAND_TIMEOUT_S = 2.0
TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
ISOLATIONS = ("thread", "process")

Credentials = tuple[str | None, str | None]


@dataclass(frozen=True)
class Settings:
    """Every knob of a JobController. Public values are seconds, and their names say so."""

    redis_url: str = DEFAULT_REDIS_URL
    cluster: bool | None = None
    retention: float = 86400.0
    concurrency: int = 10
    #: queue names (equal weights), or a mapping name -> weight, e.g. {"critical": 6, "low": 1}
    queues: tuple[str, ...] = ("default",)
    key_prefix: str = "jobs"
    max_retry: int = 3
    timeout: float = 30.0
    lease: float = 30.0
    backoff: float = 1.0
    backoff_max: float = 300.0
    failed_max: int = 10_000
    failed_retention: float = 7 * 86400.0
    secret_id: str | None = field(default=None, repr=False)
    #: "thread": handlers run in threads of the worker; "process": in child processes, so
    #: that a handler past its timeout is killed
    isolation: str = "thread"
    #: a result larger than this (JSON bytes) fails its job; params larger are refused
    max_result_bytes: int = 1024 * 1024
    max_params_bytes: int = 256 * 1024
    #: seconds before the next try, from (tries already retried, error text); None: backoff
    #: * 2**retried with jitter (x0.75-1.25), capped at backoff_max (attempt.backoff_s)
    retry_delay: RetryDelay | None = field(default=None, repr=False)
    #: per queue, in the order of `queues`, its share of the jobs taken (from `queues` when it
    #: is a mapping; else 1 each)
    weights: tuple[int, ...] = ()
    #: take from a queue only when every queue before it is empty (weights are then ignored)
    strict_priority: bool = False
    #: clients of this process that may wait for a job's end at once (`wait`), each holding a
    #: Redis connection while it waits; past it, a wait answers the job's state at once
    max_waiters: int = 32
    #: the secret that signs callbacks (JOBS_CALLBACK_SECRET), or the Secrets Manager secret
    #: holding it (JOBS_CALLBACK_SECRET_ID); with neither, a job cannot have a callback_url.
    #: With either, the workers also run the CALLBACK_QUEUE queue, where deliveries are jobs
    callback_secret: str | None = field(default=None, repr=False)
    callback_secret_id: str | None = None
    #: callbacks may go to http URLs and to loopback, private and link-local hosts (tests and
    #: local use only: on AWS it would let a client reach the VPC and the metadata address)
    callback_allow_private: bool = False
    #: reads a secret's text by its id (secret_id, callback_secret_id); the app gives
    #: Secrets Manager's, read once per process (chalicelib/aws.py). Raises JobsUnavailable
    read_secret: Callable[[str], str] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        queues, weights = queues_and_weights(self.queues, self.weights, self.callbacks_enabled)
        object.__setattr__(self, "queues", queues)
        object.__setattr__(self, "weights", weights)
        for queue in queues:
            if not isinstance(queue, str) or not QUEUE_NAME.fullmatch(queue):
                raise InvalidSettings(f"queue name must match [A-Za-z0-9_-]{{1,64}}, got {queue!r}")
        if not queues:
            raise InvalidSettings("at least one queue is needed")
        if self.concurrency < 1:
            raise InvalidSettings(f"concurrency must be at least 1, got {self.concurrency}")
        for name in ("retention", "timeout", "lease", "backoff", "backoff_max", "failed_retention"):
            if not getattr(self, name) > 0:
                raise InvalidSettings(f"{name} must be a positive number of seconds")
        if self.max_retry < 0 or self.failed_max < 1:
            raise InvalidSettings("max_retry must be >= 0 and failed_max >= 1")
        if self.isolation not in ISOLATIONS:
            raise InvalidSettings(f"isolation must be one of {', '.join(ISOLATIONS)}")
        if self.max_result_bytes < 1 or self.max_params_bytes < 1:
            raise InvalidSettings("max_result_bytes and max_params_bytes must be at least 1")
        if self.max_waiters < 0:
            raise InvalidSettings(f"max_waiters must be >= 0, got {self.max_waiters}")
        if self.retry_delay is not None and not callable(self.retry_delay):
            raise InvalidSettings("retry_delay must be a callable (retried, error) -> seconds")

    @property
    def callbacks_enabled(self) -> bool:
        """A callback secret is configured: jobs may have a callback_url."""
        return bool(self.callback_secret or self.callback_secret_id)

    def signing_secret(self) -> str:
        """The secret callbacks are signed with (a Secrets Manager secret is read once per
        process). Raises JobsUnavailable when it cannot be read, InvalidSettings when none is
        configured."""
        if self.callback_secret:
            return self.callback_secret
        if not self.callback_secret_id:
            raise InvalidSettings("no callback secret: set JOBS_CALLBACK_SECRET(_ID)")
        return secret_field(self.secret(self.callback_secret_id, "callback"), "secret")

    def secret(self, secret_id: str, what: str) -> str:
        """The text of the secret `secret_id`, through `read_secret`. Raises InvalidSettings
        when no reader is given, JobsUnavailable when it cannot be read."""
        if self.read_secret is None:
            raise InvalidSettings(
                f"the {what} secret {secret_id!r} is configured, but this controller has no "
                "read_secret (the app's controller reads Secrets Manager: chalicelib.service)"
            )
        try:
            return self.read_secret(secret_id)
        except JobsUnavailable as exc:
            raise JobsUnavailable(f"cannot read the {what} secret {secret_id!r}: {exc}") from exc


def queues_and_weights(
    queues: str | Sequence[str] | Mapping[str, int],
    weights: Sequence[int],
    with_callbacks: bool = False,
) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """Queue names and their weights, from names (weights given apart, else 1 each) or a
    mapping name -> weight; `with_callbacks` adds CALLBACK_QUEUE (weight 1) when it is not
    there. Raises InvalidSettings for a weight that is not an integer >= 1."""
    if isinstance(queues, Mapping):
        names, weights = tuple(queues), tuple(queues.values())
    else:
        names = (queues,) if isinstance(queues, str) else tuple(queues)
        weights = tuple(weights) or (1,) * len(names)
    if len(weights) != len(names):
        raise InvalidSettings(f"{len(weights)} weights for {len(names)} queues")
    for name, weight in zip(names, weights, strict=True):
        if isinstance(weight, bool) or not isinstance(weight, int) or weight < 1:
            raise InvalidSettings(f"the weight of queue {name!r} must be an integer >= 1")
    if with_callbacks and CALLBACK_QUEUE not in names:
        return (*names, CALLBACK_QUEUE), (*weights, 1)
    return names, weights


def parse_queues(value: str) -> tuple[str, ...] | dict[str, int]:
    """JOBS_QUEUES: `a,b` (equal weights) or `critical:6,default:3,low:1` (a name without a
    weight weighs 1). ValueError for a weight that is not an integer."""
    parts = [p.strip() for p in value.split(",") if p.strip()]
    if not any(":" in p for p in parts):
        return tuple(parts)
    weighted: dict[str, int] = {}
    for part in parts:
        name, _, weight = part.partition(":")
        weighted[name.strip()] = int(weight) if weight.strip() else 1
    return weighted


#: environment variable -> (setting, parser); see the README's configuration table
ENVIRONMENT: dict[str, tuple[str, Callable[[str], Any]]] = {
    "JOBS_REDIS_URL": ("redis_url", str),
    "JOBS_REDIS_CLUSTER": ("cluster", lambda v: v.strip().lower() in TRUE_WORDS),
    "JOBS_REDIS_SECRET_ID": ("secret_id", str),
    "JOBS_QUEUES": ("queues", parse_queues),
    "JOBS_STRICT_PRIORITY": ("strict_priority", lambda v: v.strip().lower() in TRUE_WORDS),
    "JOBS_CONCURRENCY": ("concurrency", int),
    "JOBS_RETENTION_S": ("retention", float),
    "JOBS_KEY_PREFIX": ("key_prefix", str),
    "JOBS_MAX_RETRY": ("max_retry", int),
    "JOBS_TIMEOUT_S": ("timeout", float),
    "JOBS_LEASE_S": ("lease", float),
    "JOBS_ISOLATION": ("isolation", str),
    "JOBS_MAX_RESULT_BYTES": ("max_result_bytes", int),
    "JOBS_MAX_PARAMS_BYTES": ("max_params_bytes", int),
    "JOBS_MAX_WAITERS": ("max_waiters", int),
    "JOBS_CALLBACK_SECRET": ("callback_secret", str),
    "JOBS_CALLBACK_SECRET_ID": ("callback_secret_id", str),
    "JOBS_CALLBACK_ALLOW_PRIVATE": (
        "callback_allow_private",
        lambda v: v.strip().lower() in TRUE_WORDS,
    ),
}


def settings_from_env(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Settings from JOBS_* variables; keyword overrides win. Raises InvalidSettings for bad
    values."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for variable, (name, parse) in ENVIRONMENT.items():
        raw = environ.get(variable)
        if raw is None or raw == "":
            continue
        try:
            values[name] = parse(raw)
        except ValueError:
            raise InvalidSettings(f"{variable}={raw!r} is not valid") from None
    values.update(overrides)
    known = {f.name for f in fields(Settings)}
    unknown = set(values) - known
    if unknown:
        raise TypeError(f"unknown settings: {', '.join(sorted(unknown))}")
    return Settings(**values)


def split_cluster_flag(url: str) -> tuple[str, bool]:
    """Take `?cluster=true` off a Redis URL (redis-py would refuse it); return (url, flag)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    flag = any(k == "cluster" and v.lower() in TRUE_WORDS for k, v in query)
    rest = urlencode([(k, v) for k, v in query if k != "cluster"])
    return urlunsplit(parts._replace(query=rest)), flag


def secret_field(text: str, name: str) -> str:
    """A secret's value: its text, or the `name` field of the JSON object it holds."""
    try:
        parsed = json.loads(text)
    except ValueError:
        return text.strip()
    if isinstance(parsed, dict) and isinstance(parsed.get(name), str):
        return str(parsed[name])
    return text.strip()


def credentials_of(text: str) -> Credentials:
    """(username, password) from a secret's text: a JSON object with "password" (and
    optionally "username"), or the password itself as plain text."""
    try:
        parsed = json.loads(text)
    except ValueError:
        return None, text
    if isinstance(parsed, dict):
        return parsed.get("username"), parsed.get("password")
    return None, text


def make_client(
    settings: Settings,
    *,
    blocking_wait_s: float = 0.0,
    retry: bool = True,
    timeout_s: float | None = None,
) -> redis.Redis | redis.RedisCluster:
    """A Redis or RedisCluster client for the settings. A plain client connects on its first
    command; a cluster client at once. Raises JobsUnavailable when that fails.

    A command that gets no answer within COMMAND_TIMEOUT_S (plus `blocking_wait_s`, for a
    client that makes blocking waits) fails, and is never sent again: a hung Redis is reported
    in about two seconds, and a script is never run twice because its answer was late. With
    `retry`, a command whose connection broke (a stale pooled connection) is sent once more.
    A cluster client spends a second timeout relearning the slots after a first one, so each
    of its timeouts is half as long. `timeout_s` sets a command's timeout instead (a client for
    the calls near a drain's deadline)."""
    url, cluster_in_url = split_cluster_flag(settings.redis_url)
    cluster = bool(settings.cluster or (settings.cluster is None and cluster_in_url))
    command_timeout_s = COMMAND_TIMEOUT_S / 2 if cluster else COMMAND_TIMEOUT_S
    if timeout_s is not None:
        command_timeout_s = timeout_s
    options: dict[str, Any] = {
        "socket_connect_timeout": CONNECT_TIMEOUT_S,
        "socket_timeout": command_timeout_s + blocking_wait_s,
        "health_check_interval": 30,
    }
    if url.startswith("rediss://"):
        # explicit, not redis-py's default: a certificate for another host is refused
        options["ssl_check_hostname"] = True
    if settings.secret_id:
        username, password = credentials_of(settings.secret(settings.secret_id, "Redis"))
        options["password"] = password
        if username:
            options["username"] = username
    try:
        if cluster:
            # RedisCluster retries timeouts too, whatever the Retry says: so no retry at all.
            # After a timeout it relearns the slots from its startup nodes: only the URL's (a
            # configuration endpoint, on ElastiCache), not every node, one timeout each.
            # It connects here, to learn the slots: an error is Redis being away.
            return redis.RedisCluster.from_url(
                url, retry=Retry(NoBackoff(), 0), dynamic_startup_nodes=False, **options
            )
        retries = 1 if retry else 0
        options["retry"] = Retry(NoBackoff(), retries, supported_errors=(ConnectionError,))
        return redis.Redis.from_url(url, **options)
    except (RedisError, RedisClusterException) as exc:
        raise JobsUnavailable(f"Redis is unavailable: {exc}") from exc
    except ValueError as exc:
        raise JobsUnavailable(f"the Redis URL is not usable: {exc}") from exc
