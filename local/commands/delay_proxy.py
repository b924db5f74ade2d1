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
so TCP slows the sender). Prints one line when it listens, with the port (--listen 0 picks a
free one). SIGINT or SIGTERM closes every connection and ends it with exit code 0; a port it
cannot listen on is exit code 1; a bad option, or a host that is not loopback, exit code 2.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import signal
import sys
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
    """Accepts clients on `listen`, connects each to `upstream`, and forwards each direction
    after `delay_s`, holding at most `buffer_bytes` per direction."""

    def __init__(
        self,
        upstream: tuple[str, int],
        delay_s: float,
        max_connections: int,
        buffer_bytes: int,
    ) -> None:
        self.upstream, self.delay_s = upstream, delay_s
        self.max_connections, self.buffer_bytes = max_connections, buffer_bytes
        self.connections: set[asyncio.Task[None]] = set()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One client, relayed until either side ends or the proxy stops (which cancels it)."""
        # the stop closed this connection; ending quietly spares Python 3.11's stream callback
        # a cancelled task, whose exception() it would log as an error
        with contextlib.suppress(asyncio.CancelledError):
            await self.relay(reader, writer)

    async def relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        if len(self.connections) >= self.max_connections:
            writer.close()
            return
        self.connections.add(task)
        try:
            up_reader, up_writer = await asyncio.wait_for(
                asyncio.open_connection(*self.upstream), CONNECT_TIMEOUT_S
            )
        except (OSError, TimeoutError) as exc:
            print(f"delay-proxy: upstream {self.upstream}: {exc}", file=sys.stderr, flush=True)
            writer.close()
            self.connections.discard(task)
            return
        try:
            # one direction ending (a half-close) ends the connection: enough for request and
            # answer protocols, and nothing is left half-open when the proxy stops
            pumps = [
                asyncio.ensure_future(self.pump(reader, up_writer)),
                asyncio.ensure_future(self.pump(up_reader, writer)),
            ]
            try:
                await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for pump in pumps:
                    pump.cancel()
                await asyncio.gather(*pumps, return_exceptions=True)
        finally:
            for end in (writer, up_writer):
                end.close()
            self.connections.discard(task)

    async def pump(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        """Each chunk read from `source` is written to `sink` delay_s after it was read, in
        order; at most buffer_bytes wait at a time (then reading waits: TCP pushes back)."""
        held: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
        room = asyncio.Semaphore(max(1, self.buffer_bytes // CHUNK_BYTES))

        async def read() -> None:
            while True:
                await room.acquire()
                data = await source.read(CHUNK_BYTES)
                await held.put((time.monotonic() + self.delay_s, data))
                if not data:
                    return

        reading = asyncio.ensure_future(read())
        try:
            while True:
                due, data = await held.get()
                wait_s = due - time.monotonic()
                if wait_s > 0:
                    await asyncio.sleep(wait_s)
                if not data:
                    return
                sink.write(data)
                await sink.drain()
                room.release()
        finally:
            reading.cancel()
            await asyncio.gather(reading, return_exceptions=True)

    async def close_all(self) -> None:
        for task in list(self.connections):
            task.cancel()
        await asyncio.gather(*self.connections, return_exceptions=True)


async def serve(args: argparse.Namespace) -> int:
    """Listen until SIGINT or SIGTERM, then close every connection; the exit code."""
    proxy = DelayProxy(
        args.upstream, args.delay_ms / 1000, args.max_connections, args.buffer_kib * 1024
    )
    host, port = args.listen
    try:
        server = await asyncio.start_server(proxy.handle, host, port)
    except OSError as exc:
        print(f"delay-proxy: cannot listen on {host}:{port}: {exc}", file=sys.stderr)
        return 1
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    bound = server.sockets[0].getsockname()[1]
    up_host, up_port = args.upstream
    print(
        f"delay-proxy: listening on {host}:{bound} -> {up_host}:{up_port}, "
        f"+{args.delay_ms:g} ms each way",
        flush=True,
    )
    try:
        await stop.wait()
    finally:
        server.close()
        await proxy.close_all()
        await server.wait_closed()
    print("delay-proxy: stopped", file=sys.stderr, flush=True)
    return 0


def run(args: argparse.Namespace) -> int:
    return asyncio.run(serve(args))
