"""A real HTTP server on 127.0.0.1 that receives callbacks: it answers each request as its
script says (a status, a redirect, or silence for a while) and keeps what it received."""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Answer:
    status: int = 200
    #: a Location header (for a redirect)
    location: str = ""
    #: seconds to wait before answering (longer than the client's timeout: no answer)
    delay_s: float = 0.0


class Receiver:
    """Answers requests with `answers` in turn (the last one repeats); `received` lists them."""

    def __init__(self, *answers: Answer, tls: tuple[Path, Path] | None = None) -> None:
        """`tls`: (certificate, key) files, to serve https."""
        self.answers = list(answers) or [Answer()]
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.server.daemon_threads = True
        self.scheme = "http"
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            self.scheme = "https"

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def url(self, path: str = "/hook") -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"

    def wait_for(self, count: int, timeout_s: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.01)
        raise AssertionError(f"{len(self.received)} callbacks received, expected {count}")

    def drain_until_received(
        self, drain: Callable[[float], object], count: int = 1, timeout_s: float = 10.0
    ) -> list[Received]:
        """Run short drains (a controller's `drain`) until `count` callbacks came in."""
        deadline = time.monotonic() + timeout_s
        while len(self.received) < count and time.monotonic() < deadline:
            drain(0.3)
        return self.wait_for(count, timeout_s=0.5)

    def _next_answer(self, request: Received) -> Answer:
        with self._lock:
            self.received.append(request)
            index = min(len(self.received) - 1, len(self.answers) - 1)
            return self.answers[index]

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                request = Received(self.path, {k: v for k, v in self.headers.items()}, body)
                answer = receiver._next_answer(request)
                if answer.delay_s:
                    time.sleep(answer.delay_s)
                self.send_response(answer.status)
                if answer.location:
                    self.send_header("Location", answer.location)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        return Handler

    @contextmanager
    def running(self) -> Iterator[Receiver]:
        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.server.shutdown()
            self.server.server_close()
            thread.join(timeout=5)
