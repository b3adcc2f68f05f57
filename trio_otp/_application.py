"""The application runner: OTP's application controller, for one top supervisor.

:func:`run_application` starts a top :class:`~trio_otp.Supervisor` and runs it until
it exits. It is the one place where trio_otp handles operating-system signals, and
only when the program runs through it:

* the first SIGTERM or SIGINT (Control-C) stops the tree in order: children in
  reverse start order, each asked first, ``terminate`` run, each within its
  ``shutdown`` budget (OTP's ``init:stop()``);
* a second signal during that shutdown cancels what is left at once;
* the returned exit status tells a process manager (systemd, Kubernetes) what
  happened: 0 after an orderly stop, 1 when
  the tree failed to start, gave up (reached its restart intensity) or crashed, and
  ``128 + signal number`` when a second signal cut the shutdown short (the shell's
  convention for a process ended by a signal). The reason is logged on
  ``trio_otp.application`` (ERROR for a failure, WARNING for a forced stop, INFO
  for an orderly one).

Example::

    import functools, sys, trio, trio_otp

    children = [(trio_otp.DynamicSupervisor, {"name": "JobSupervisor"}), JobQueue]
    sys.exit(trio.run(functools.partial(trio_otp.run_application, children)))
"""

from __future__ import annotations

import contextlib
import logging
import signal
from collections.abc import Callable, Iterable
from typing import Any, Final, Literal

import trio

from . import _reports
from ._call import stop
from ._process import Pid
from ._reasons import SHUTDOWN, safe_str
from ._supervisor import Strategy, _OnStarted, _serve_with

#: The exit status of an orderly stop.
EXIT_OK: Final = 0
#: The exit status when the top supervisor failed to start, gave up or crashed.
EXIT_FAILURE: Final = 1

application_logger = logging.getLogger("trio_otp.application")


class _Run:
    """What happened to one application run."""

    def __init__(self) -> None:
        self.started = False

    def mark_started(self) -> None:
        self.started = True
        self.error: Exception | None = None
        self.signal: int | None = None
        self.forced: int | None = None


async def _top(
    run: _Run,
    serve: Callable[..., Any],
    task_status: trio.TaskStatus[Pid] = trio.TASK_STATUS_IGNORED,
) -> None:
    try:
        await serve(task_status=_OnStarted(task_status, run.mark_started))
    except Exception as exc:
        if not run.started:
            raise  # a start error: nursery.start raises it in run_application
        run.error = exc


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:  # pragma: no cover - not a known signal
        return str(signum)


async def _stop_quietly(pid: Pid) -> None:
    with contextlib.suppress(Exception):  # it exited meanwhile; _top has its reason
        await stop(pid, SHUTDOWN)


async def _watch_signals(
    received: Any, pid: Pid, run: _Run, nursery: trio.Nursery, everything: trio.CancelScope
) -> None:
    async for signum in received:
        if run.signal is None:
            run.signal = signum
            application_logger.info(
                "%s received: stopping the application (%s) in order",
                _signal_name(signum),
                pid,
                extra={
                    "otp_event": _reports.EVENT_APP_STOPPING,
                    "otp_pid": pid,
                    "otp_reason": None,
                    "otp_signal": signum,
                },
            )
            nursery.start_soon(_stop_quietly, pid)
        else:
            run.forced = signum
            application_logger.warning(
                "second signal (%s) during shutdown: cancelling what is left of %s at once",
                _signal_name(signum),
                pid,
                extra={
                    "otp_event": _reports.EVENT_APP_FORCED,
                    "otp_pid": pid,
                    "otp_reason": None,
                    "otp_signal": signum,
                },
            )
            everything.cancel()
            return


async def run_application(
    children: Iterable[object],
    *,
    strategy: Strategy | Literal["one_for_one", "one_for_all", "rest_for_one"] = (
        Strategy.ONE_FOR_ONE
    ),
    max_restarts: int = 3,
    max_seconds: float = 5,
    name: object = None,
    signals: Iterable[int] = (signal.SIGTERM, signal.SIGINT),
) -> int:
    """Run a supervision tree as a whole program; return its exit status.

    OTP's application controller for one application: the top supervisor's
    ``children`` and options are :meth:`Supervisor.serve`'s (defaults
    **one_for_one**, **3** restarts in **5** s, no name). It runs until the top
    supervisor exits. The first of ``signals`` (default **SIGTERM and SIGINT**)
    stops the tree in order, every ``terminate`` within its budget; a second one
    cancels the rest at once. Signals are handled (``trio.open_signal_receiver``)
    only while this function runs, and only in the main thread, as trio requires.

    Pass ``signals=()`` to handle no signals (in tests, or when the program handles
    them itself).

    Returns:
        0 after an orderly stop (a signal, or the top supervisor stopped with a
        normal reason); 1 if the tree failed
        to start, gave up or crashed; ``128 + signal number`` if a second signal
        cut the shutdown short. Pass it to ``sys.exit``.
    """
    serve = _serve_with(children, strategy, max_restarts, max_seconds, name)
    run = _Run()
    wanted = tuple(signals)
    # No signals (tests, or a program that handles them itself): nothing installed.
    receiver = trio.open_signal_receiver(*wanted) if wanted else contextlib.nullcontext()
    with receiver as received, trio.CancelScope() as everything:
        async with trio.open_nursery() as nursery:
            try:
                pid: Pid = await nursery.start(_top, run, serve)
            except Exception as exc:
                application_logger.error(
                    "the application failed to start: %s",
                    _describe(exc),
                    exc_info=exc,
                    extra={
                        "otp_event": _reports.EVENT_APP_START_FAILED,
                        "otp_pid": None,
                        "otp_reason": exc,
                    },
                )
                return EXIT_FAILURE
            if received is not None:
                nursery.start_soon(_watch_signals, received, pid, run, nursery, everything)
            await pid.wait_exited()
            nursery.cancel_scope.cancel()  # the signal watcher
    if run.forced is not None:
        return 128 + run.forced
    if run.error is not None:
        application_logger.error(
            "the application stopped: %s",
            _describe(run.error),
            exc_info=run.error,
            extra={
                "otp_event": _reports.EVENT_APP_CRASHED,
                "otp_pid": pid,
                "otp_reason": run.error,
            },
        )
        return EXIT_FAILURE
    application_logger.info(
        "the application stopped (%s exited with %r)",
        pid,
        pid.exit_reason,
        extra={
            "otp_event": _reports.EVENT_APP_STOPPED,
            "otp_pid": pid,
            "otp_reason": pid.exit_reason,
        },
    )
    return EXIT_OK


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {safe_str(exc)}"
