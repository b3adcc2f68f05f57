"""The application runner: OTP's application controller, for one top supervisor.

:func:`run_application` starts a top :class:`~trio_otp.Supervisor` and runs it until
it exits. It is the one place where trio_otp handles operating-system signals, and
only when the program runs through it:

* the first SIGTERM or SIGINT (Control-C) stops the tree in order: children in
  reverse start order, each asked first, ``terminate`` run, each within its
  ``shutdown`` budget (OTP's ``init:stop()``);
* a signal while the tree is still starting stops the start in order: the
  ``init`` in progress gets its child's ``shutdown`` budget, then is cancelled, and
  the children already started are stopped, ``terminate`` run; the status is 0;
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
import math
import signal
from collections.abc import Callable, Iterable
from typing import Any, Final, Literal

import trio

from .._core import _reports
from .._core._call import stop
from .._core._exceptions import ChildStartError
from .._core._process import Pid, _process_of, _table
from .._core._reasons import SHUTDOWN, safe_str
from ._supervisor import _OnStarted, _serve_with
from ._supervisor_server import Strategy

#: The exit status of an orderly stop.
EXIT_OK: Final = 0
#: The exit status when the top supervisor failed to start, gave up or crashed.
EXIT_FAILURE: Final = 1

application_logger = logging.getLogger("trio_otp.application")


class _Run:
    """What happened to one application run."""

    def __init__(self) -> None:
        self.started = False
        self.error: Exception | None = None
        self.signal: int | None = None
        self.forced: int | None = None
        self.pid: Pid | None = None
        #: Seconds the stop may take after the first signal, then everything is cancelled.
        self.shutdown_timeout = math.inf
        # Cancelled by the first signal while the tree is still starting, if its
        # supervisor does not exist yet.
        self.starting = trio.CancelScope()
        #: The task running the top supervisor (its Pid exists from its first step).
        self.top_task: trio.lowlevel.Task | None = None

    def mark_started(self) -> None:
        self.started = True


async def _top(
    run: _Run,
    serve: Callable[..., Any],
    task_status: trio.TaskStatus[Pid] = trio.TASK_STATUS_IGNORED,
) -> None:
    run.top_task = trio.lowlevel.current_task()
    try:
        await serve(task_status=_OnStarted(task_status, run.mark_started))
    except Exception as exc:
        if not run.started:
            raise  # a start error: nursery.start raises it in run_application
        run.error = exc


def _stop_the_start(run: _Run) -> None:
    """The first signal came while the tree starts: stop it in order.

    The top supervisor is told a stop is on its way (as :func:`~trio_otp.stop`
    tells it): the ``init`` in progress gets its child's ``shutdown`` budget, no
    further child starts, and the children already started are stopped in reverse
    order, ``terminate`` run. Before the supervisor exists, the start is cancelled.
    """
    top = None if run.top_task is None else _process_of(run.top_task, _table())
    stop_requested = getattr(top._impl, "_stop_requested", None) if top is not None else None
    if stop_requested is None:
        run.starting.cancel()
    else:
        stop_requested()


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:  # pragma: no cover - not a known signal
        return str(signum)


async def _stop_quietly(pid: Pid) -> None:
    with contextlib.suppress(Exception):  # it exited meanwhile; _top has its reason
        await stop(pid, SHUTDOWN)


async def _cap_the_stop(run: _Run, signum: int, everything: trio.CancelScope) -> None:
    await trio.sleep(run.shutdown_timeout)
    run.forced = signum
    application_logger.warning(
        "the stop after %s took longer than shutdown_timeout=%g s: cancelling what is left",
        _signal_name(signum),
        run.shutdown_timeout,
        extra={
            "otp_event": _reports.EVENT_APP_FORCED,
            "otp_pid": run.pid,
            "otp_reason": None,
            "otp_signal": signum,
        },
    )
    everything.cancel()


async def _watch_signals(
    received: Any, run: _Run, nursery: trio.Nursery, everything: trio.CancelScope
) -> None:
    # Runs from before the tree starts: a signal during a slow start cancels the
    # start in progress (run.starting) instead of waiting for it to finish.
    async for signum in received:
        pid = run.pid
        if run.signal is None:
            run.signal = signum
            if run.shutdown_timeout < math.inf:
                nursery.start_soon(_cap_the_stop, run, signum, everything)
            if pid is None:
                application_logger.info(
                    "%s received while the application starts: stopping the start in order",
                    _signal_name(signum),
                    extra={
                        "otp_event": _reports.EVENT_APP_STOPPING,
                        "otp_pid": None,
                        "otp_reason": None,
                        "otp_signal": signum,
                    },
                )
                _stop_the_start(run)
                continue
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
                pid if pid is not None else "the start",
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
    shutdown_timeout: float = math.inf,
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

    ``shutdown_timeout`` (default **infinity**: the children's own budgets) caps the
    whole stop after the first signal: whatever is still running that many seconds
    later is cancelled at once, as by a second signal (status ``128 + signal
    number``). A process manager's grace period (systemd's ``TimeoutStopSec``,
    Kubernetes' ``terminationGracePeriodSeconds``) must exceed it.

    A signal while the tree is still starting stops the start in order: the
    ``init`` in progress gets its child's ``shutdown`` budget (then it is
    cancelled), no further child starts, and the children already started are
    stopped in reverse order, ``terminate`` run.

    Returns:
        0 after an orderly stop (a signal, also one that cancelled the start, or
        the top supervisor stopped with a normal reason); 1 if the tree failed
        to start, gave up or crashed; ``128 + signal number`` if a second signal
        cut the shutdown short. Pass it to ``sys.exit``.
    """
    limit: object = shutdown_timeout
    if not (isinstance(limit, (int, float)) and limit >= 0):
        raise ValueError(f"shutdown_timeout must be seconds >= 0, got {shutdown_timeout!r}")
    serve = _serve_with(children, strategy, max_restarts, max_seconds, name)
    run = _Run()
    run.shutdown_timeout = float(shutdown_timeout)
    wanted = tuple(signals)
    # No signals (tests, or a program that handles them itself): nothing installed.
    receiver = trio.open_signal_receiver(*wanted) if wanted else contextlib.nullcontext()
    with receiver as received, trio.CancelScope() as everything:
        async with trio.open_nursery() as nursery:
            if received is not None:
                # Watch from before the start: a signal during a slow start stops it.
                nursery.start_soon(_watch_signals, received, run, nursery, everything)
            started: Pid | None = None
            start_error: Exception | None = None
            try:
                with run.starting:
                    started = await nursery.start(_top, run, serve)
            except Exception as exc:
                start_error = exc
            if start_error is not None:
                nursery.cancel_scope.cancel()  # the signal watcher
                if run.signal is not None and _stopped_by_the_signal(start_error):
                    return _stopped_while_starting(run.signal)
                application_logger.error(
                    "the application failed to start: %s",
                    _describe(start_error),
                    exc_info=start_error,
                    extra={
                        "otp_event": _reports.EVENT_APP_START_FAILED,
                        "otp_pid": None,
                        "otp_reason": start_error,
                    },
                )
                return EXIT_FAILURE
            if started is not None:
                pid = run.pid = started
                if run.signal is not None:
                    # The signal came as the start was finishing: stop in order now.
                    nursery.start_soon(_stop_quietly, pid)
                await pid.wait_exited()
            nursery.cancel_scope.cancel()  # the signal watcher
    if run.forced is not None:
        return 128 + run.forced
    if run.pid is None:
        # The first signal cancelled the start before the supervisor existed.
        assert run.signal is not None
        return _stopped_while_starting(run.signal)
    pid = run.pid
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


def _stopped_by_the_signal(error: Exception) -> bool:
    """Whether a start error is the one a stop request gives (reason shutdown)."""
    return isinstance(error, ChildStartError) and error.reason == SHUTDOWN


def _stopped_while_starting(signum: int) -> int:
    application_logger.info(
        "the application was stopped by %s while it was starting",
        _signal_name(signum),
        extra={
            "otp_event": _reports.EVENT_APP_STOPPED,
            "otp_pid": None,
            "otp_reason": None,
            "otp_signal": signum,
        },
    )
    return EXIT_OK


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {safe_str(exc)}"
