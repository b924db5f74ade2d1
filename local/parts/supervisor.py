"""Child processes of the local stack: started in their own process group, their output streamed
with a per-process prefix, stopped by signal in the order the caller chooses.

Each child gets a session of its own, so a Ctrl-C in the terminal reaches only the supervisor,
which then stops the children in order (workers first, gracefully). Signals go to the child's
process group, which holds the child and whatever it spawned, and nothing else.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import functools
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

COLOURS = ("36", "33", "35", "32", "34", "31")
#: a terminal escape sequence in a child's output (colour, cursor move, window title): dropped
ESCAPE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
#: the prefix of the supervisor's own messages
OWN_NAME = "local"
#: what asks the supervisor to stop its children: the children run in sessions of their own, so
#: a closed terminal (SIGHUP) or Ctrl-\ (SIGQUIT) reaches only the supervisor
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
#: prctl(2) option: the signal a process gets when the thread that forked it ends
PR_SET_PDEATHSIG = 1


def _load_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True).prctl  # type: ignore[no-any-return]
    except (OSError, AttributeError):
        return None


# looked up once here: after fork, in preexec_fn, only async-signal-safe work should happen
_PRCTL = _load_prctl()


def die_with_parent(parent_pid: int) -> None:
    """In the child, between fork and exec: SIGTERM it when the supervisor (`parent_pid`) dies,
    even by SIGKILL, so that no part of the stack outlives it (Linux only; elsewhere a no-op)."""
    if _PRCTL is not None:
        _PRCTL(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent_pid:  # the supervisor died before prctl took effect
            os._exit(1)


class Flag:
    """A one-way flag that a signal handler may set: setting takes no lock, unlike
    threading.Event, whose lock the interrupted main thread may be holding."""

    def __init__(self) -> None:
        self._set = False

    def set(self) -> None:
        self._set = True

    def is_set(self) -> bool:
        return self._set

    def wait(self, timeout_s: float | None = None, poll_s: float = 0.05) -> bool:
        """True once set; False when `timeout_s` (None: no limit) passes first."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while not self._set:
            left = poll_s if deadline is None else min(poll_s, deadline - time.monotonic())
            if left <= 0:
                return False
            time.sleep(left)
        return True


class LogMux:
    """Writes lines from many processes to one stream, each prefixed with its process name."""

    def __init__(self, stream: IO[str] | None = None, width: int = 8) -> None:
        self.stream = stream or sys.stdout
        self.width = width
        self.colour = self.stream.isatty() and not os.environ.get("NO_COLOR")
        self._lock = threading.Lock()
        self._colours: dict[str, str] = {}

    def line(self, name: str, text: str) -> None:
        prefix = f"{name:<{self.width}} |"
        if self.colour:
            code = self._colours.setdefault(name, COLOURS[len(self._colours) % len(COLOURS)])
            prefix = f"\x1b[{code}m{prefix}\x1b[0m"
        with self._lock:
            self.stream.write(f"{prefix} {text.rstrip()}\n")
            self.stream.flush()

    def say(self, text: str) -> None:
        """A message of the supervisor itself."""
        for row in text.splitlines() or [""]:
            self.line(OWN_NAME, row)


@dataclass(eq=False)
class Child:
    """One process we start and stop. `ready_text` in its output marks it ready."""

    name: str
    argv: Sequence[str]
    env: dict[str, str] | None = None
    cwd: str | None = None
    ready_text: str | None = None
    #: how long a SIGTERM may take before SIGKILL
    stop_timeout_s: float = 10.0
    process: subprocess.Popen[bytes] | None = None
    ready: threading.Event = field(default_factory=threading.Event)
    #: why we had to SIGKILL it, if we did: it did not stop in time, or a second signal came
    killed_because: str | None = None
    _reader: threading.Thread | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None, f"{self.name} was not started"
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, mux: LogMux) -> Child:
        self.process = subprocess.Popen(
            list(self.argv),
            env=self.env,
            cwd=self.cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=functools.partial(die_with_parent, os.getpid()),
        )
        self._reader = threading.Thread(
            target=self._pump, args=(mux,), name=f"log-{self.name}", daemon=True
        )
        self._reader.start()
        return self

    def _pump(self, mux: LogMux) -> None:
        assert self.process is not None and self.process.stdout is not None
        for raw in self.process.stdout:
            text = raw.decode("utf-8", "replace")
            mux.line(self.name, strip_escapes(text))
            if self.ready_text and self.ready_text in text:
                self.ready.set()

    def signal(self, sig: int) -> None:
        """Send `sig` to the child's process group, while the child is ours to signal."""
        if self.running:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, sig)

    def wait_stopped(self, timeout_s: float, hurry: Flag | None = None) -> int:
        """Wait for the exit after a signal; SIGKILL after `timeout_s` or once `hurry` is set.
        Returns the exit code (negative: the signal that ended it)."""
        assert self.process is not None
        deadline = time.monotonic() + timeout_s
        while self.process.poll() is None:
            if time.monotonic() >= deadline or (hurry is not None and hurry.is_set()):
                self.killed_because = (
                    "a second stop signal"
                    if hurry is not None and hurry.is_set()
                    else f"not stopped within {timeout_s:g}s"
                )
                self.signal(signal.SIGKILL)
                self.process.wait()
                break
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(0.05)
        self._kill_stragglers()
        if self._reader is not None:
            self._reader.join(2.0)
        return int(self.process.returncode)

    def _kill_stragglers(self) -> None:
        """Whatever the child spawned into its group and left behind goes too. A group id is not
        reused while any member lives, so members found now are ours (Linux: read from /proc)."""
        if group_members(self.pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGKILL)


class Supervisor:
    """Starts children, waits for a stop request or a child's death, stops groups in order."""

    def __init__(self, mux: LogMux | None = None) -> None:
        self.mux = mux or LogMux()
        self.children: list[Child] = []
        self.stop_requested = Flag()
        #: a second Ctrl-C: stop at once, with SIGKILL
        self.hurry = Flag()
        self.stop_signal = "stop"
        self._announced = False

    def install_signal_handlers(self) -> None:
        """Each of STOP_SIGNALS requests a graceful stop; a second one makes it immediate. The
        handlers only set flags: the main thread may hold the log's lock when they run."""

        def handle(signum: int, _frame: Any) -> None:
            if self.stop_requested.is_set():
                self.hurry.set()
                return
            self.stop_signal = signal.Signals(signum).name
            self.stop_requested.set()

        for signum in STOP_SIGNALS:
            signal.signal(signum, handle)

    def _stop_seen(self) -> bool:
        """True once a stop was requested; says so the first time."""
        if not self.stop_requested.is_set():
            return False
        if not self._announced:
            self._announced = True
            self.mux.say(f"{self.stop_signal}: stopping (again to kill at once)")
        return True

    def start(self, child: Child) -> Child:
        self.children.append(child.start(self.mux))
        return child

    def restart(self, child: Child) -> Child:
        """Start a fresh copy of `child`, which has exited, in its place; return the copy."""
        child.wait_stopped(0.0)  # reaps it and what it left in its group, reads out its log
        fresh = dataclasses.replace(
            child, process=None, ready=threading.Event(), killed_because=None, _reader=None
        )
        self.children[self.children.index(child)] = fresh
        return fresh.start(self.mux)

    def wait_until(
        self, check: Callable[[], bool], children: Sequence[Child], timeout_s: float, what: str
    ) -> str | None:
        """Poll `check` until it holds; None then, else why not: a child exited, a stop was
        requested, or `timeout_s` passed."""
        deadline = time.monotonic() + timeout_s
        while not check():
            if self._stop_seen():
                return "stop requested"
            for child in children:
                if not child.running:
                    code = child.process.returncode if child.process else None
                    return f"{child.name} exited with code {code}"
            if time.monotonic() > deadline:
                return f"{what} did not happen within {timeout_s:g}s"
            time.sleep(0.05)
        return None

    def watch(self, tick: Callable[[], None] | None = None) -> Child | None:
        """Block until a stop is requested (None) or a child exits on its own (that child),
        calling `tick` every 0.2 s meanwhile (what the caller checks as it waits)."""
        while not self.stop_requested.wait(0.2):
            if tick is not None:
                tick()
            for child in self.children:
                if child.process is not None and not child.running:
                    return child
        self._stop_seen()
        return None

    def stop_group(self, group: Sequence[Child]) -> None:
        """SIGTERM every running child of the group at once, then wait for each."""
        live = [c for c in group if c.running]
        for child in live:
            child.signal(signal.SIGTERM)
        for child in group:
            if child.process is None:
                continue
            if self.hurry.is_set() and child.running:
                self.mux.say(f"second signal: killing {child.name} (pid {child.pid})")
            code = child.wait_stopped(child.stop_timeout_s, self.hurry)
            if child in live:
                self.mux.say(f"{child.name} (pid {child.pid}) {how_it_stopped(child, code)}")


#: what a process that ends on our SIGTERM exits with: cleanly, by the signal, or as a shell does
STOPPED_CODES = (0, -signal.SIGTERM, 128 + signal.SIGTERM)


def how_it_stopped(child: Child, code: int) -> str:
    """How a child we sent SIGTERM ended: "stopped" when it did as asked; else killed, or its
    exit code."""
    if child.killed_because:
        return f"killed with SIGKILL ({child.killed_because})"
    if code in STOPPED_CODES:
        return "stopped"
    return f"stopped, exit code {code}"


def strip_escapes(text: str) -> str:
    """`text` without terminal escape sequences, which a log line must not carry."""
    return ESCAPE.sub("", text)


def group_members(pgid: int) -> list[int]:
    """PIDs of the live processes in process group `pgid` (empty where /proc is missing)."""
    members = []
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else ():
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rpartition(")")[2].split()
        except OSError:
            continue
        # after the command: state, ppid, pgrp, ...; zombies are already dead
        if fields and fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry))
    return members
