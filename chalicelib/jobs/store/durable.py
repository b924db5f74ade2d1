"""Durable accept: a create is acknowledged only once replicas (WAIT) or the local append-only
file (WAITAOF) hold it. The enqueue script and the wait go out in one pipeline on the queue's
node, on one connection, so the wait covers exactly that write and costs no extra round trip
beyond the replication itself."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis
from redis.exceptions import ResponseError

from ..model import InvalidSettings, JobsUnavailable


@dataclass(frozen=True)
class Durability:
    """What a create waits for before it is acknowledged."""

    #: replicas that must have the write (WAIT); 0: none
    min_replicas: int = 0
    #: the local fsync of the append-only file (WAITAOF 1 0)
    aof: bool = False
    #: how long a create waits for them, ms
    wait_ms: int = 500

    @property
    def enabled(self) -> bool:
        return self.min_replicas > 0 or self.aof


def node_client(client: redis.Redis | redis.RedisCluster, key: str) -> redis.Redis:
    """The plain client of the node serving `key` (the client itself when not a cluster)."""
    if isinstance(client, redis.RedisCluster):
        node = client.get_node_from_key(key)
        conn = client.get_redis_connection(node)
        assert conn is not None
        return conn
    return client


def check_node(node: redis.Redis, durability: Durability, queue: str) -> None:
    """Refuse a node that cannot give what the settings ask (once per queue and process):
    fewer connected replicas than JOBS_MIN_REPLICAS, or no WAITAOF / no append-only file for
    JOBS_DURABLE_AOF. Raises InvalidSettings naming the setting."""
    if durability.min_replicas:
        info = node.info("replication")
        have = int(info.get("connected_slaves", 0))
        if have < durability.min_replicas:
            raise InvalidSettings(
                f"JOBS_MIN_REPLICAS={durability.min_replicas} (min_replicas), but the Redis "
                f"node serving queue {queue!r} has {have} connected replica(s): every create "
                "would time out. Lower the setting, or add replicas."
            )
    if durability.aof:
        try:
            node.execute_command("WAITAOF", 1, 0, durability.wait_ms)
        except ResponseError as exc:
            raise InvalidSettings(
                f"JOBS_DURABLE_AOF=1 (durable_aof), but the Redis node serving queue {queue!r} "
                f"refuses WAITAOF 1 0 ({exc}): it needs Redis 7.2+ or Valkey with appendonly yes"
            ) from exc


def enqueue_and_wait(
    node: redis.Redis, sha: str, keys: Sequence[str], args: Sequence[Any], durability: Durability
) -> Any:
    """Run the enqueue script, then WAIT / WAITAOF, in one round trip to the queue's node; the
    script's reply once the write is as durable as asked. Raises JobsUnavailable (the job may
    exist) when too few acknowledgements come within `wait_ms`."""
    pipe = node.pipeline(transaction=False)
    pipe.execute_command("EVALSHA", sha, len(keys), *keys, *args)
    if durability.min_replicas:
        pipe.execute_command("WAIT", durability.min_replicas, durability.wait_ms)
    if durability.aof:
        pipe.execute_command("WAITAOF", 1, 0, durability.wait_ms)
    replies = pipe.execute()
    reply, acks = replies[0], replies[1:]
    if durability.min_replicas and int(acks[0]) < durability.min_replicas:
        _not_durable(f"{int(acks[0])} of {durability.min_replicas} replica(s) had it", durability)
    if durability.aof and int(acks[-1][0]) < 1:
        _not_durable("the append-only file was not fsynced", durability)
    return reply


def _not_durable(what: str, durability: Durability) -> None:
    unavailable = JobsUnavailable(
        f"the create was not made durable in time ({what} within "
        f"JOBS_REPLICA_WAIT_MS={durability.wait_ms})"
    )
    unavailable.may_have_written = True
    raise unavailable
