"""The application runner (_supervision/_application.py): signals, orderly stop, exit status.

The signal tests run the examples in serve mode as real subprocesses and send them
real signals: that is the point, so they use real time (bounded by a watchdog).
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

import trio_otp as otp

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
posix_only = pytest.mark.skipif(sys.platform == "win32", reason="sends POSIX signals")


def _default_sigint() -> None:
    # A shell without job control starts background jobs with SIGINT ignored, and the
    # children inherit that: Python then installs no KeyboardInterrupt handler, and a
    # Control-C test would wait for its watchdog. The child gets SIGINT's default back.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class Serving:
    """A serve-mode example in a subprocess, read line by line."""

    #: Every child started by the running test (the fixture below reaps them).
    started: list[Serving] = []

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-u", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=EXAMPLES.parent,
            preexec_fn=_default_sigint,
        )
        Serving.started.append(self)
        # Nothing in these tests may hang: kill the child after a minute whatever happens.
        self.watchdog = threading.Timer(60, self.proc.kill)
        self.watchdog.start()
        self.lines: list[str] = []

    def wait_for(self, text: str) -> None:
        assert self.proc.stdout is not None
        while True:
            line = self.proc.stdout.readline()
            assert line, f"exited before printing {text!r}:\n" + "".join(self.lines)
            self.lines.append(line)
            if text in line:
                return

    def finish(self) -> tuple[int, list[str]]:
        assert self.proc.stdout is not None
        self.lines += self.proc.stdout.readlines()
        self.proc.stdout.close()
        status = self.proc.wait()
        self.watchdog.cancel()
        return status, [line.rstrip("\n") for line in self.lines]

    def reap(self) -> None:
        """Kill the child if it still runs and release its pipe (a failed test's)."""
        self.watchdog.cancel()
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.fixture(autouse=True)
def _reap_children() -> Any:
    """No child of a failed test outlives it (nor warns, unclosed, in a later test)."""
    yield
    while Serving.started:
        Serving.started.pop().reap()


@posix_only
def test_sigterm_stops_the_job_queue_in_order_and_exits_0() -> None:
    """SIGTERM: every terminate runs, in reverse start order, and the exit status is 0."""
    app = Serving(str(EXAMPLES / "job_queue.py"), "--serve", "--drain", "0.2")
    app.wait_for("feeder: job returned")
    app.proc.send_signal(signal.SIGTERM)
    status, lines = app.finish()
    assert status == 0, "\n".join(lines)
    shutdown = [line for line in lines if line.startswith(("dispatcher:", "accounts:"))]
    assert shutdown[-4:] == [
        "dispatcher: terminate('shutdown'), draining for 0.2 s",
        "dispatcher: off duty",
        "accounts: terminate('shutdown'), draining for 0.2 s",
        "accounts: off duty",
    ]
    assert any("SIGTERM received: stopping the application" in line for line in lines)
    assert lines[-1] == "exit status 0"
    assert "Traceback" not in "\n".join(lines)


@posix_only
def test_sigterm_drains_the_job_of_a_producer_stopped_before_the_queue() -> None:
    """Issue 18, point 7: a producer started after a trio_otp.JobQueue is stopped
    first on SIGTERM; the report it scheduled, in flight then, still finishes within
    the queue's shutdown budget (nothing cancelled), and the exit status is 0."""
    app = Serving(str(EXAMPLES / "job_queue.py"), "--serve", "--drain", "0")
    app.wait_for("reporter: report 1 filed")
    app.wait_for("report 2: started")
    app.proc.send_signal(signal.SIGTERM)
    status, lines = app.finish()
    assert status == 0, "\n".join(lines)
    after = lines[next(i for i, line in enumerate(lines) if "SIGTERM received" in line) :]
    assert "report 2: done" in after, "\n".join(lines)
    assert not any("reporter: report 2 filed" in line for line in lines)  # answer dropped
    assert not any("report 3: started" in line for line in lines)
    assert "JobCancelledError" not in "\n".join(lines)
    assert "Traceback" not in "\n".join(lines)
    assert lines[-1] == "exit status 0"


@posix_only
def test_second_signal_cancels_the_rest_of_the_shutdown_at_once() -> None:
    """A second signal during the shutdown cancels what is left; the status is 128 + signal."""
    app = Serving(str(EXAMPLES / "job_queue.py"), "--serve", "--drain", "30")
    app.wait_for("feeder: job returned")
    app.proc.send_signal(signal.SIGTERM)
    app.wait_for("dispatcher: terminate('shutdown')")
    app.proc.send_signal(signal.SIGINT)
    status, lines = app.finish()
    assert status == 128 + signal.SIGINT, "\n".join(lines)
    text = "\n".join(lines)
    assert "second signal (SIGINT) during shutdown" in text
    assert "dispatcher: off duty" not in text
    assert "accounts: terminate" not in text  # never reached: cancelled at once
    assert lines[-1] == f"exit status {128 + signal.SIGINT}"


@posix_only
def test_sigint_stops_the_worker_pool_in_order_and_exits_0() -> None:
    """Control-C (SIGINT) stops the worker pool example in order, with exit status 0."""
    app = Serving(str(EXAMPLES / "worker_pool.py"), "--serve")
    app.wait_for("jobs took")
    app.proc.send_signal(signal.SIGINT)
    status, lines = app.finish()
    assert status == 0, "\n".join(lines)
    assert "pool_app: terminate('shutdown')" in lines
    assert lines[-1] == "exit status 0"


# ----------------------------------------------------------------------------------------
# In-process: exit status and logging when the top supervisor gives up or fails
# ----------------------------------------------------------------------------------------


class Crasher(otp.GenServer[None]):
    """Crashes one second after it starts."""

    async def init(self, arg: Any) -> otp.Ok[None]:
        return otp.Ok(None, otp.Continue("tick"))

    async def handle_continue(self, arg: Any, state: None) -> otp.NoReply[None]:
        await trio.sleep(1)
        raise RuntimeError("crash")


async def quit_after_one_second() -> None:
    """A Task that stops the application's top supervisor normally after one second."""
    await trio.sleep(1)
    me = otp.current_process()
    assert me is not None
    assert me.parent is not None
    await otp.stop(me.parent)


async def test_giving_up_exits_1_with_the_reason_logged(
    autojump_clock: trio.abc.Clock, caplog: pytest.LogCaptureFixture
) -> None:
    """A top supervisor that reaches its intensity makes the status 1; the reason is logged."""
    run = functools.partial(otp.run_application, [Crasher], max_restarts=1, signals=())
    assert await run() == 1
    assert trio.current_time() == 2.0
    (record,) = [r for r in caplog.records if r.name == "trio_otp.application"]
    assert record.levelno == logging.ERROR
    assert record.getMessage().startswith("the application stopped: RestartIntensityError: <Pid ")
    assert isinstance(record.otp_reason, otp.RestartIntensityError)  # type: ignore[attr-defined]


async def test_start_failure_exits_1_with_the_reason_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A tree that fails to start makes the status 1; the start error is logged."""

    class Refuses(otp.GenServer[None]):
        async def init(self, arg: Any) -> otp.Stop[None]:
            return otp.Stop("no")

    assert await otp.run_application([Refuses], signals=()) == 1
    (record,) = [r for r in caplog.records if r.name == "trio_otp.application"]
    assert record.getMessage() == (
        "the application failed to start: ChildStartError: failed to start child "
        "test_start_failure_exits_1_with_the_reason_logged.<locals>.Refuses: 'no'"
    )


async def test_normal_stop_of_the_top_supervisor_exits_0(autojump_clock: trio.abc.Clock) -> None:
    """A top supervisor stopped with a normal reason is an orderly stop: status 0."""
    assert await otp.run_application([(otp.Task, quit_after_one_second)], signals=()) == 0
    assert trio.current_time() == 1.0


def test_run_application_handles_signals_only_while_it_runs() -> None:
    """No signal handler is installed by importing or using trio_otp outside the runner."""
    before = signal.getsignal(signal.SIGTERM)

    async def main() -> None:
        async with otp.Supervisor.open([]):
            assert signal.getsignal(signal.SIGTERM) == before

    trio.run(main)
    assert signal.getsignal(signal.SIGTERM) == before


# ----------------------------------------------------------------------------------------
# Control-C in a plain Supervisor.open program (no run_application)
# ----------------------------------------------------------------------------------------

CTRL_C_PROGRAM = str(Path(__file__).resolve().parent / "ctrl_c_program.py")


@posix_only
@pytest.mark.parametrize(
    ("mode", "last"),
    [
        ((), "KeyboardInterrupt"),
        # Supervisor.start into the program's own nursery: trio raises the interrupt
        # from that nursery in a group, as from any nursery.
        (("start",), "BaseExceptionGroup: (KeyboardInterrupt(),)"),
    ],
    ids=["open", "start"],
)
def test_control_c_shuts_a_tree_down_in_order(mode: tuple[str, ...], last: str) -> None:
    """Control-C in the block of Supervisor.open, or in a program whose nursery holds a
    Supervisor.start tree: every terminate runs in reverse start order, then
    KeyboardInterrupt propagates as itself."""
    app = Serving(CTRL_C_PROGRAM, "0.1", *mode)
    app.wait_for("ready")
    app.proc.send_signal(signal.SIGINT)
    status, lines = app.finish()
    assert status == 0, "\n".join(lines)
    assert lines == [
        "a: up",
        "b: up",
        "ready",
        "b: terminate('shutdown')",
        "b: done",
        "a: terminate('shutdown')",
        "a: done",
        last,
    ]


def interrupt_twice(*args: str) -> tuple[int, list[str]]:
    """Run the Control-C program; interrupt it once, and again once ``b`` terminates."""
    app = Serving(CTRL_C_PROGRAM, *args)
    app.wait_for("ready")
    app.proc.send_signal(signal.SIGINT)
    app.wait_for("b: terminate")
    # Let it settle into terminate's sleep: a signal that lands while user code runs is
    # raised right there by trio, wherever that is (trio's KeyboardInterrupt rule).
    time.sleep(0.5)
    app.proc.send_signal(signal.SIGINT)
    return app.finish()


@posix_only
def test_second_control_c_kills_what_is_left_of_the_shutdown() -> None:
    """A second Control-C during the orderly shutdown cancels the rest at once, and
    KeyboardInterrupt propagates as itself."""
    status, lines = interrupt_twice("30")
    assert status == 0, "\n".join(lines)
    assert lines[-2:] == ["b: terminate('shutdown')", "KeyboardInterrupt"]


@posix_only
def test_second_control_c_cannot_cut_a_started_trees_shutdown_short() -> None:
    """A tree started with Supervisor.start is stopped behind its owner task's shield: a
    second Control-C does not cut that (budget-bounded) stop short; every terminate
    still runs, then KeyboardInterrupt propagates (documented in design.rst)."""
    status, lines = interrupt_twice("1.5", "start")
    assert status == 0, "\n".join(lines)
    assert lines[3:7] == [
        "b: terminate('shutdown')",
        "b: done",
        "a: terminate('shutdown')",
        "a: done",
    ]
    assert "KeyboardInterrupt" in lines[-1]


SLOW_START_PROGRAM = str(Path(__file__).resolve().parent / "slow_start_program.py")


@posix_only
def test_sigterm_while_the_tree_starts_stops_it_in_order_and_exits_0() -> None:
    """SIGTERM during a slow start stops it in order: the init in progress gets its
    budget (1 s) and is cancelled, the child already started runs terminate; exit 0."""
    app = Serving(SLOW_START_PROGRAM)
    app.wait_for("slow: init")
    sent = time.monotonic()
    app.proc.send_signal(signal.SIGTERM)
    status, lines = app.finish()
    assert time.monotonic() - sent < 30  # not the 100 s of the slow init
    assert status == 0, "\n".join(lines)
    text = "\n".join(lines)
    assert "SIGTERM received while the application starts: stopping the start in order" in text
    assert "the application was stopped by SIGTERM while it was starting" in text
    assert "slow: terminate" not in text  # its init never returned
    assert "fast: terminate('shutdown')" in lines
    assert lines[-1] == "exit status 0"
    assert "Traceback" not in text


class SlowToStop(otp.GenServer[None]):
    """Its terminate takes 60 s; its spec lets it (shutdown infinity)."""

    @classmethod
    def child_spec(cls, arg: Any = None, /, **overrides: Any) -> otp.ChildSpec:
        return super().child_spec(arg, shutdown=otp.INFINITY, **overrides)

    async def init(self, arg: Any) -> otp.Ok[None]:
        os.kill(os.getpid(), signal.SIGUSR1)  # the "operator's" SIGUSR1, once started
        return otp.Ok(None)

    async def terminate(self, reason: Any, state: None) -> None:
        await trio.sleep(60)


@posix_only
async def test_shutdown_timeout_caps_the_whole_stop_after_the_first_signal(
    autojump_clock: trio.abc.Clock, caplog: pytest.LogCaptureFixture
) -> None:
    """With shutdown_timeout, a stop that takes longer is cancelled at the cap: status
    128 + signal, one warning saying so (a real signal, the virtual clock)."""
    status = await otp.run_application(
        [SlowToStop], signals=(signal.SIGUSR1,), shutdown_timeout=2.5
    )
    assert status == 128 + signal.SIGUSR1
    assert trio.current_time() == pytest.approx(2.5)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        "the stop after SIGUSR1 took longer than shutdown_timeout=2.5 s: cancelling what is left"
    ]


async def test_shutdown_timeout_must_be_seconds() -> None:
    """A negative or non-number shutdown_timeout is refused at once, saying what it got."""
    with pytest.raises(ValueError, match=r"shutdown_timeout must be seconds >= 0, got -1"):
        await otp.run_application([], signals=(), shutdown_timeout=-1)
