"""How `python -m local up` stops: whatever signal ends it, and whenever it comes, no process it
started outlives it. Each stack's processes are found by its LOCAL_DATA_DIR, which they inherit,
so that children orphaned by a broken stop are found too."""

from __future__ import annotations

import io
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from local.parts.supervisor import Child, LogMux, Supervisor
from tests.local_helpers import (
    READY_LINE,
    RunningStack,
    descendants,
    start_stack,
    still_alive,
    wait_until_gone,
)


@pytest.fixture
def stacks() -> Iterator[list[RunningStack]]:
    """Stacks a test started; whatever is left of them is killed afterwards, pass or fail."""
    started: list[RunningStack] = []
    yield started
    for stack in started:
        stack.kill()


def leftovers(stack: RunningStack, started: dict[int, int]) -> list[int]:
    """Processes of the stack still running after it exited; SIGKILLed so the test leaves none."""
    left = wait_until_gone("LOCAL_DATA_DIR", str(stack.data_dir))
    for pid in set(left) | set(still_alive(started)):
        os.kill(pid, signal.SIGKILL)
    return left


@pytest.mark.timeout(120)
def test_ctrl_c_while_the_workers_start_leaves_no_process(
    tmp_path: Path, stacks: list[RunningStack]
) -> None:
    stack = start_stack(tmp_path / "data", "--workers", "2")
    stacks.append(stack)
    stack.wait_for_line("worker-1 ")
    started = descendants(stack.process.pid)
    assert stack.interrupt() == 0, stack.output
    assert READY_LINE not in stack.output
    assert "did not start: stop requested" in stack.output
    assert leftovers(stack, started) == [], stack.output


@pytest.mark.timeout(120)
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT])
def test_a_stop_signal_to_up_alone_stops_the_whole_stack(
    tmp_path: Path, stacks: list[RunningStack], sig: signal.Signals
) -> None:
    stack = start_stack(tmp_path / "data", "--workers", "1")
    stacks.append(stack)
    stack.wait_for_line(READY_LINE)
    started = descendants(stack.process.pid)
    os.kill(stack.process.pid, sig)
    assert stack.process.wait(40) == 0
    stack.drain()
    assert f"{sig.name}: stopping" in stack.output
    # the banner's status command works outside the virtualenv too
    assert "make status, or .venv/bin/python -m local status --watch" in stack.output
    assert leftovers(stack, started) == [], stack.output


@pytest.mark.timeout(120)
def test_killing_up_takes_its_children_with_it(tmp_path: Path, stacks: list[RunningStack]) -> None:
    stack = start_stack(tmp_path / "data", "--workers", "1")
    stacks.append(stack)
    stack.wait_for_line(READY_LINE)
    started = descendants(stack.process.pid)
    os.kill(stack.process.pid, signal.SIGKILL)
    stack.process.wait(10)
    assert leftovers(stack, started) == []


#: a child that sets its SIGTERM handling (`{on_term}`), prints "up" and sleeps
CHILD = "import signal, sys, time\n{on_term}\nprint('up', flush=True)\ntime.sleep(60)\n"
EXIT_ON_TERM = "signal.signal(signal.SIGTERM, lambda *_: sys.exit({code}))"


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("on_term", "said"),
    [
        (EXIT_ON_TERM.format(code=0), "stopped"),
        ("", "stopped"),  # ended by the signal itself: exit code -15
        (EXIT_ON_TERM.format(code=143), "stopped"),
        (EXIT_ON_TERM.format(code=3), "stopped, exit code 3"),
        (
            "signal.signal(signal.SIGTERM, signal.SIG_IGN)",
            "killed with SIGKILL (not stopped within",
        ),
    ],
)
def test_a_child_that_stops_when_asked_is_said_to_have_stopped(on_term: str, said: str) -> None:
    out = io.StringIO()
    supervisor = Supervisor(LogMux(out))
    argv = [sys.executable, "-c", CHILD.format(on_term=on_term)]
    child = supervisor.start(Child("child", argv, ready_text="up", stop_timeout_s=0.5))
    assert child.ready.wait(20)
    supervisor.stop_group([child])
    assert f"child (pid {child.pid}) {said}" in out.getvalue()
