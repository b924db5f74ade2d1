"""`python -m local delay-proxy --listen PORT --upstream HOST:PORT --delay-ms MS`: a TCP proxy
on loopback that holds every byte MS milliseconds in each direction.

A request sent through it reaches the upstream MS ms late and its answer comes back MS ms late,
so one round trip costs at least 2 x MS more; bytes keep their order in each direction. It is a
way to see what a network between a client and its server would cost, with any client and any
TCP server: Redis behind it for this package, or another queue's server to compare under the same
latency. Both ends must be loopback (127.0.0.0/8, ::1 or localhost): any other host is refused
before a socket is opened.

It accepts at most --max-connections clients at once (one more is closed at once) and holds at
most --buffer-kib KiB in flight per direction of a connection (then it stops reading that side,
so TCP slows the sender). Threads relay each connection: their sleeps keep the delay within a
fraction of a millisecond of MS on an idle machine. Prints one line when it listens, with the
port (--listen 0 picks a free one). SIGINT or SIGTERM closes every connection and ends it with
exit code 0; a port it cannot listen on is exit code 1; a bad option, or a host that is not
loopback, exit code 2.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import queue
import signal
import socket
import sys
import threading
import time

HELP = "a loopback TCP proxy that delays each direction by a fixed time (latency experiments)"
#: what one read may take from a socket; the per-direction bound is --buffer-kib
CHUNK_BYTES = 64 * 1024
#: how long a connection to the upstream may take before the client is dropped
CONNECT_TIMEOUT_S = 5.0


def loopback_host(host: str) -> str:
    """`host` if it is loopback (127.0.0.0/8, ::1, localhost), as an address to connect to;
    ValueError otherwise. Names other than localhost are refused, never looked up."""
    if host.lower() == "localhost":
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        raise ValueError(f"{host!r} is not a loopback address") from None
    if not address.is_loopback:
        raise ValueError(f"{host!r} is not loopback (only 127.0.0.0/8, ::1 or localhost)")
    return str(address)


def endpoint(raw: str, default_host: str | None = None) -> tuple[str, int]:
    """'HOST:PORT' or '[::1]:PORT' (or 'PORT' when a default host is given) as (host, port),
    the host checked by loopback_host. An argparse type: errors are ArgumentTypeError."""
    host, sep, port_text = raw.rpartition(":")
    if not sep:
        host, port_text = "", raw
    if not host:
        if default_host is None:
            raise argparse.ArgumentTypeError(f"{raw!r} is not HOST:PORT")
        host = default_host
    try:
        port = int(port_text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r}: {port_text!r} is not a port") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{raw!r}: port {port} is out of range")
    try:
        return loopback_host(host), port
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"refused: {exc}") from None


def listen_endpoint(raw: str) -> tuple[str, int]:
    return endpoint(raw, default_host="127.0.0.1")


def upstream_endpoint(raw: str) -> tuple[str, int]:
    return endpoint(raw)


def delay_ms(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 60_000:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a delay from 0 to 60000 ms")
    return value


def positive_int(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a positive whole number")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--listen", type=listen_endpoint, required=True, metavar="[HOST:]PORT",
        help="where clients connect (host 127.0.0.1 unless given; port 0: a free one)",
    )  # fmt: skip
    parser.add_argument(
        "--upstream", type=upstream_endpoint, required=True, metavar="HOST:PORT",
        help="the server the bytes go to (loopback only)",
    )  # fmt: skip
    parser.add_argument(
        "--delay-ms", type=delay_ms, required=True, metavar="MS",
        help="milliseconds added in each direction (a round trip: twice that)",
    )  # fmt: skip
    parser.add_argument(
        "--max-connections", type=positive_int, default=64, metavar="N",
        help="clients at once; one more is closed at once (64)",
    )  # fmt: skip
    parser.add_argument(
        "--buffer-kib", type=positive_int, default=1024, metavar="KIB",
        help="bytes held per direction of a connection before reading pauses (1024 KiB)",
    )  # fmt: skip


class DelayProxy:
    """Accepts clients on a listening socket, connects each to `upstream`, and forwards each
    direction `delay_s` after reading it, holding at most `buffer_bytes` per direction."""

    # Threads rather than asyncio: time.sleep wakes within tens of microseconds, while asyncio's
    # timers round each wait up to the next millisecond, which would turn 0.5 ms into 1 ms.

    def __init__(
        self, upstream: tuple[str, int], delay_s: float, max_connections: int, buffer_bytes: int
    ) -> None:
        self.upstream, self.delay_s = upstream, delay_s
        self.max_connections = max_connections
        self.slots = max(1, buffer_bytes // CHUNK_BYTES)
        self.lock = threading.Lock()
        self.connections: dict[threading.Thread, list[socket.socket]] = {}

    def serve(self, listener: socket.socket, stop: threading.Event) -> None:
        """Accept until `stop` is set, then close every connection and wait for its threads."""
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            client.settimeout(None)
            self.accept(client)
        listener.close()
        with self.lock:
            connections = list(self.connections.items())
        for _, ends in connections:
            _shut(ends)
        for thread, _ in connections:
            thread.join(5.0)

    def accept(self, client: socket.socket) -> None:
        with self.lock:
            full = len(self.connections) >= self.max_connections
        if full:
            client.close()
            return
        try:
            upstream = socket.create_connection(self.upstream, CONNECT_TIMEOUT_S)
        except OSError as exc:
            print(f"delay-proxy: upstream {self.upstream}: {exc}", file=sys.stderr, flush=True)
            client.close()
            return
        upstream.settimeout(None)
        ends = [client, upstream]
        for end in ends:
            # as the client and the server themselves do: with Nagle's algorithm on, the
            # proxy would hold a short tail of a reply until the peer's delayed ACK (up to
            # 40 ms), which is not the network's latency but the proxy's
            end.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        thread = threading.Thread(target=self.relay, args=(ends,), daemon=True)
        with self.lock:
            self.connections[thread] = ends
        thread.start()

    def relay(self, ends: list[socket.socket]) -> None:
        """Both directions of one connection, until either ends (a half-close ends both: enough
        for request and answer protocols, and nothing is left half-open)."""
        client, upstream = ends
        done = threading.Event()
        threads = []
        for source, sink in ((client, upstream), (upstream, client)):
            held: queue.Queue[tuple[float, bytes]] = queue.Queue(self.slots)
            threads += [
                threading.Thread(target=self.read, args=(source, held, done), daemon=True),
                threading.Thread(target=self.write, args=(sink, held, done), daemon=True),
            ]
        for thread in threads:
            thread.start()
        done.wait()
        _shut(ends)
        for thread in threads:
            thread.join(5.0)
        for end in ends:
            end.close()
        with self.lock:
            self.connections.pop(threading.current_thread(), None)

    def read(
        self, source: socket.socket, held: queue.Queue[tuple[float, bytes]], done: threading.Event
    ) -> None:
        """Chunks from `source`, each stamped with when it is due; b"" at the end. Waits while
        the direction holds its bound (then TCP makes the sender wait)."""
        while not done.is_set():
            try:
                data = source.recv(CHUNK_BYTES)
            except OSError:
                data = b""
            item = (time.monotonic() + self.delay_s, data)
            while not done.is_set():
                try:
                    held.put(item, timeout=0.2)
                    break
                except queue.Full:
                    continue
            if not data:
                return

    def write(
        self, sink: socket.socket, held: queue.Queue[tuple[float, bytes]], done: threading.Event
    ) -> None:
        """Each chunk to `sink` when it is due, in order; the end of either side ends both."""
        try:
            while not done.is_set():
                try:
                    due, data = held.get(timeout=0.2)
                except queue.Empty:
                    continue
                wait_s = due - time.monotonic()
                if wait_s > 0:
                    time.sleep(wait_s)
                if not data:
                    return
                sink.sendall(data)
        except OSError:
            return
        finally:
            done.set()


def _shut(ends: list[socket.socket]) -> None:
    """Wake whatever waits on these sockets: both directions shut down."""
    for end in ends:
        with contextlib.suppress(OSError):
            end.shutdown(socket.SHUT_RDWR)


def run(args: argparse.Namespace) -> int:
    """Listen until SIGINT or SIGTERM, then close every connection; the exit code."""
    host, port = args.listen
    try:
        listener = socket.create_server((host, port), family=_family(host))
    except OSError as exc:
        print(f"delay-proxy: cannot listen on {host}:{port}: {exc}", file=sys.stderr)
        return 1
    proxy = DelayProxy(
        args.upstream, args.delay_ms / 1000, args.max_connections, args.buffer_kib * 1024
    )
    stop = threading.Event()
    previous = {
        signum: signal.signal(signum, lambda _signum, _frame: stop.set())
        for signum in (signal.SIGINT, signal.SIGTERM)
    }
    bound = listener.getsockname()[1]
    up_host, up_port = args.upstream
    print(
        f"delay-proxy: listening on {host}:{bound} -> {up_host}:{up_port}, "
        f"+{args.delay_ms:g} ms each way",
        flush=True,
    )
    try:
        proxy.serve(listener, stop)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    print("delay-proxy: stopped", file=sys.stderr, flush=True)
    return 0


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET
