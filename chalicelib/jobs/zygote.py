"""The zygote and the children of the handler process pool (process_pool.py): a single-threaded
process forked at the pool's start, which forks each child, so that a child inherits the
handlers as they were then and never a lock that one of the parent's later threads held.

A child exits on EOF from the parent; the zygote, on EOF, kills and reaps its children. On Linux
a child also dies with the zygote (PR_SET_PDEATHSIG), and the zygote with the parent when the
pool started on the main thread. Messages are JSON bytes; nothing is pickled.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Mapping
from multiprocessing.connection import Connection

from .attempt import Handler, run_handler
from .current import CurrentJob, running

log = logging.getLogger("chalicelib.jobs.process_pool")

#: how long the zygote waits for its children to exit on EOF before it kills them
EXIT_GRACE_S = 1.0
_PR_SET_PDEATHSIG = 1
_MESSAGE_MAX_BYTES = 4096
#: a child sends its handler's progress at most this often (the parent keeps the latest)
PROGRESS_EVERY_S = 0.05
#: the kind of a child's message that carries a progress report, not the run's end
PROGRESS = "progress"


def _isolate(parent_pid: int, die_with_parent: bool = True) -> None:
    """In a freshly forked process: die with the forking process, drop the parent's handlers."""
    if die_with_parent and sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(0)
    for signum in signal.valid_signals():
        if callable(signal.getsignal(signum)):
            signal.signal(signum, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # children stay waitable until reaped


def _serve_child(conn: Connection, handlers: Mapping[str, Handler]) -> None:
    """A child's loop: one job in; its progress reports (at most one per PROGRESS_EVERY_S,
    the latest sent before the end) then its (kind, payload) out; exits on EOF."""
    while True:
        try:
            job = json.loads(conn.recv_bytes())
        except (EOFError, OSError):
            os._exit(0)
        reports = _ProgressSender(conn)
        info = job.get("job") or {}
        current = CurrentJob(
            info.get("id", ""), info.get("queue", ""), int(info.get("retried", 0)),
            info.get("deadline"), reports.report,
        )  # fmt: skip
        with running(current):
            outcome, payload = run_handler(handlers.get(job["type"]), job["type"], job["params"])
        reports.flush()
        conn.send_bytes(json.dumps([outcome.value, payload]).encode())


class _ProgressSender:
    """A child's progress reports, sent to the parent at most once per PROGRESS_EVERY_S."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.latest = ""
        self.sent_at = 0.0

    def report(self, report: str) -> None:
        self.latest = report
        if time.monotonic() - self.sent_at >= PROGRESS_EVERY_S:
            self.flush()

    def flush(self) -> None:
        if self.latest:
            self.conn.send_bytes(json.dumps([PROGRESS, self.latest]).encode())
            self.latest, self.sent_at = "", time.monotonic()


def _serve_zygote(control: socket.socket, handlers: Mapping[str, Handler]) -> None:
    """The zygote's loop: fork a child or kill and reap one, as asked; on EOF, stop them all."""
    children: set[int] = set()
    while True:
        message = control.recv(_MESSAGE_MAX_BYTES)
        if not message:
            break
        request = json.loads(message)
        if request["op"] == "kill" and request["pid"] in children:
            children.discard(request["pid"])
            os.kill(request["pid"], signal.SIGKILL)  # a no-op if it already exited
            code = os.waitstatus_to_exitcode(os.waitpid(request["pid"], 0)[1])
            control.send(json.dumps({"code": code}).encode())
        elif request["op"] == "spawn":
            _spawn(control, handlers, children)
        else:
            control.send(json.dumps({"error": f"bad request {request!r}"}).encode())
    _stop_children(children)


def _spawn(control: socket.socket, handlers: Mapping[str, Handler], children: set[int]) -> None:
    """Fork a child and send the parent its pid and its end of the child's connection."""
    ours, theirs = socket.socketpair()
    try:
        pid = os.fork()
    except OSError as exc:
        ours.close()
        theirs.close()
        control.send(json.dumps({"error": f"fork failed: {exc}"}).encode())
        return
    if pid == 0:
        control.close()
        ours.close()
        _isolate(os.getppid())
        _serve_child(Connection(theirs.detach()), handlers)
    children.add(pid)
    socket.send_fds(control, [json.dumps({"pid": pid}).encode()], [ours.fileno()])
    ours.close()
    theirs.close()


def _stop_children(pids: set[int]) -> None:
    """Give children EXIT_GRACE_S to exit (they saw EOF), then kill them; reap every one."""
    deadline = time.monotonic() + EXIT_GRACE_S
    while pids and time.monotonic() < deadline:
        for pid in list(pids):
            if os.waitpid(pid, os.WNOHANG)[0]:
                pids.discard(pid)
        time.sleep(0.01)
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


class Zygote:
    """The parent's side of the zygote: spawn and kill children, one request at a time."""

    def __init__(self, handlers: Mapping[str, Handler]) -> None:
        self._lock = threading.Lock()
        self._control, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        die_with_parent = threading.current_thread() is threading.main_thread()
        parent_pid = os.getpid()
        self.pid = os.fork()
        if self.pid == 0:
            code = 1
            try:
                self._control.close()
                # PR_SET_PDEATHSIG fires when the forking *thread* ends: only safe from main
                _isolate(parent_pid, die_with_parent)
                _serve_zygote(theirs, handlers)
                code = 0
            finally:
                os._exit(code)
        theirs.close()

    def spawn(self) -> tuple[int, Connection]:
        """Fork a child; its pid and the parent's end of its connection. Raises OSError."""
        with self._lock:
            self._control.send(json.dumps({"op": "spawn"}).encode())
            message, fds, _, _ = socket.recv_fds(self._control, _MESSAGE_MAX_BYTES, 1)
        if not fds:
            raise OSError(f"the zygote did not start a child: {message!r}")
        return json.loads(message)["pid"], Connection(fds[0])

    def kill(self, pid: int) -> int | None:
        """SIGKILL a child and reap it; its exit code (negative: the signal), None if the
        zygote is gone."""
        with self._lock:
            try:
                self._control.send(json.dumps({"op": "kill", "pid": pid}).encode())
                message = self._control.recv(_MESSAGE_MAX_BYTES)
            except OSError:
                return None
        code = json.loads(message).get("code") if message else None
        return None if code is None else int(code)

    def close(self) -> None:
        """EOF to the zygote, which stops its children; returns once it is reaped. Call once."""
        with self._lock:
            self._control.close()
        with contextlib.suppress(ChildProcessError):  # someone else reaped it
            os.waitpid(self.pid, 0)
