"""Messaging: ``call`` / ``reply`` / ``cast`` / ``send`` / ``stop``.

A mailbox is an unbounded queue, so nothing that *sends* ever
blocks (OTP mailboxes are unbounded too). A call carries its own reply slot, a
:class:`From`, which any task may answer once with :func:`reply`. The caller parks
on ``trio.lowlevel.wait_task_rescheduled`` and the reply reschedules it directly:
one scheduler pass, no Event, no extra channel.

Why ``call`` takes a ``timeout`` although trio says "use cancel scopes": OTP gives
every call a default 5 s deadline so that a caller never hangs forever on a request
whose handler died (the tutorial's failing job). An enclosing ``trio.fail_after`` /
``move_on_after`` still applies, and ``timeout=None`` leaves the deadline to your
own scopes. The deadline itself is enforced by one cancel scope per run rather than
one per call (a scope per call would double a call's cost);
callers cannot tell the difference.
"""

from __future__ import annotations

import math
from collections import deque
from threading import get_ident
from typing import Any, Final, TypeVar, final, overload

import outcome
import trio
from trio.lowlevel import Abort, current_task, reschedule, wait_task_rescheduled

from . import _telemetry
from ._deadlines import arm
from ._exceptions import (
    CalleeExit,
    CallingSelfError,
    CallTimeout,
    NoProcessError,
    _StopOwnSupervisor,
)
from ._names import whereis
from ._process import EMPTY, UNSET, Pid, _names, _process_of, misuse_error
from ._reasons import NORMAL
from ._request import Request
from ._runlocal import RUN

#: OTP's default call timeout, in seconds.
DEFAULT_TIMEOUT: Final = 5.0

# Mailbox message tags. Messages are tuples ``(tag, payload, from_or_None)``: the
# cheapest thing to build per message.
CALL: Final = 0
CAST: Final = 1
INFO: Final = 2
STOP: Final = 3  # payload: the reason; the stopper waits for the exit
SHUTDOWN: Final = 4  # the owner asks the process to stop (OTP's exit signal :shutdown)
# A message that carries a monitor reference (Down, TaskReply): dropped when taken if
# demonitor(ref, flush=True) ran after it was queued.
FLUSHABLE: Final = 5
# Bytes (or the end of them) read from a connection's stream by its reader task, for
# a TCPHandler's handle_data / handle_close (see trio_otp/_behaviours/_tcp.py).
DATA: Final = 6
# 7 is the kill mark a GenServer without a cancel scope finds in its mailbox
# (_process.PULL_MARK).

Server = object
"""A process address: its :class:`Pid`, or a registered name (any hashable value)."""


@final
class From:
    """The reply slot of one call (OTP's ``from``): answer it with :func:`reply`.

    ``handle_call`` receives it. Keep it, hand it to another task, and reply from
    anywhere, once. A reply to a caller that has given up (timed out, been
    cancelled, or already been answered) is dropped silently.
    """

    __slots__ = (
        "_caller",
        "_deadline",
        "_pid",
        "_queue",
        "_request",
        "_server",
        "_task",
        "_timeout",
    )

    _task: trio.lowlevel.Task | None
    # The caller's task; replaced by its Pid (or None) the first time ``pid`` is
    # read, so that a call pays for no lookup it does not use.
    _caller: trio.lowlevel.Task | Pid | None
    _pid: Pid
    _server: object
    _request: object
    _timeout: float | None
    _deadline: float
    # The deadline queue it waits in (see _deadlines.py), left the moment the call ends.
    _queue: dict[Any, None] | None

    def __init__(self) -> None:
        raise TypeError("From has no public constructor: handle_call receives one")

    @property
    def caller(self) -> trio.lowlevel.Task | None:
        """The waiting caller's trio task, or ``None`` once the call is over.

        ``reply`` returns nothing, as OTP's does; this is how to know whether the
        caller is still waiting (it may have timed out or been cancelled).
        """
        return self._task

    @property
    def pid(self) -> Pid | None:
        """The calling process (the pid of OTP's ``{pid, tag}``), or ``None``.

        ``None`` when the caller is plain trio code, not a process. A server can
        :func:`~trio_otp.monitor` its callers with it. Read it while the call is
        pending (in ``handle_call``, or later while ``caller`` is not ``None``): it
        is looked up the first time it is read, and first read after the call is
        over it is ``None`` — the caller's task may be gone by then, and the
        process it belonged to can no longer be told apart from the one enclosing
        it, so it never names the wrong process.
        """
        caller = self._caller
        if caller is None or type(caller) is Pid:
            return caller
        if self._task is None:
            # The call is over and the pid was never read while it was pending:
            # looking the task up now could climb to an enclosing process (the
            # supervisor of a Task that has exited). None, never the wrong pid.
            self._caller = None
            return None
        pid = _process_of(caller, self._pid._table)
        self._caller = pid
        return pid

    def __repr__(self) -> str:
        state = "pending" if self._task is not None else "done"
        return f"<From call to {self._pid!r} ({state})>"

    # Called by the runtime ------------------------------------------------------------

    def _finish(self) -> trio.lowlevel.Task | None:
        """End the call; return the caller's task if it was still waiting."""
        task = self._task
        if task is not None:
            self._task = None
            pending = self._pid._pending
            if pending is not None:
                pending.discard(self)
            queue = self._queue
            if queue is not None:
                # Out of the deadline table at once, request and all.
                self._queue = None
                del queue[self]
        return task

    def _abort(self, raise_cancel: object) -> Abort:
        # The caller was cancelled by one of its own scopes: forget the slot so
        # that a late reply finds nobody.
        self._finish()
        return Abort.SUCCEEDED

    def _fail(self, reason: object) -> None:
        # The server exited while the call was pending (OTP monitors the callee).
        task = self._finish()
        if task is not None:
            error = CalleeExit(self._server, self._request, self._timeout, reason)
            if isinstance(reason, BaseException):
                error.__cause__ = reason
            reschedule(task, outcome.Error(error))

    def _expire(self) -> None:
        # The call's deadline passed (see _deadlines.py).
        task = self._finish()
        if task is not None:
            reschedule(task, outcome.Error(CallTimeout(self._server, self._request, self._timeout)))


def reply(from_: From, value: object) -> None:
    """Answer a call through its reply slot (OTP's ``GenServer.reply/2``).

    Never blocks and never fails: if the caller is no longer waiting (it timed out,
    was cancelled, or was answered already) the reply is dropped silently, as OTP
    drops late replies.

    Must be called in the trio.run the caller waits in; from a worker thread use
    ``trio.from_thread.run_sync(trio_otp.reply, from_, value)``.

    Raises:
        TypeError: ``from_`` is not the :class:`From` that ``handle_call`` received.
        RuntimeError: called from another thread (nothing is spent: reply again
            from the right place).
    """
    if type(from_) is not From:
        raise TypeError(
            f"reply() needs the From that handle_call received as its from_ argument, "
            f"got {from_!r}: keep that object and pass it as is"
        )
    if from_._pid._table.thread != get_ident():
        raise misuse_error("reply")
    # _deliver(from_, outcome.Value(value)) and its _finish, inline: two Python
    # calls per reply (a job's answer in the Elixir chapter's queue).
    task = from_._task
    if task is not None:
        from_._task = None
        pending = from_._pid._pending
        if pending is not None:
            pending.discard(from_)
        queue = from_._queue
        if queue is not None:
            from_._queue = None
            del queue[from_]
        reschedule(task, outcome.Value(value))


def _reply_error(from_: From, error: BaseException) -> None:
    """Answer a call with an exception, raised in the caller (supervisor errors)."""
    _deliver(from_, outcome.Error(error))


def _deliver(from_: From, result: outcome.Outcome[object]) -> None:
    task = from_._finish()
    if task is not None:
        reschedule(task, result)


def _no_mailbox(pid: Pid | None, what: str) -> None:
    if pid is not None and pid.alive:
        raise TypeError(
            f"cannot {what} {pid!r}: a {pid._kind} is not a server. Stop a Task through "
            "its supervisor (terminate_child), with otp.exit(pid, reason), or by "
            "cancelling the nursery that owns it."
        )


def _resolve(server: object) -> Pid | None:
    """A process address (handle or registered name) as a handle, or None.

    call, cast and send inline this: they are the hot path.
    """
    if type(server) is Pid:
        return server
    return whereis(server)


def _check_timeout(timeout: float | None) -> float | None:
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be a number of seconds or None, got {timeout!r}")
    if math.isnan(timeout) or timeout < 0:
        raise ValueError(f"timeout must be >= 0 seconds (or None for no deadline), got {timeout!r}")
    return None if timeout == math.inf else timeout


_R = TypeVar("_R")


# A Request[R] is answered with an R (a typed request, see _request.py); else Any.
@overload
async def call(server: Server, request: Request[_R], timeout: float | None = ...) -> _R: ...  # noqa: ASYNC109
@overload
async def call(server: Server, request: Any, timeout: float | None = ...) -> Any: ...  # noqa: ASYNC109
async def call(server: Server, request: Any, timeout: float | None = DEFAULT_TIMEOUT) -> Any:  # noqa: ASYNC109 - the OTP call deadline (module docs)
    """Send ``request`` to a GenServer and wait for its reply (OTP's ``GenServer.call``).

    The server's ``handle_call`` (or any task it hands the ``from`` to) answers.

    Args:
        server: the server's :class:`Pid` or registered name.
        request: any value; the server's ``handle_call`` receives it.
        timeout: seconds to wait for the reply, enqueue included. Default **5.0**
            (OTP's default). ``None`` means no deadline of its own; an enclosing
            cancel scope still applies.

    Returns:
        The reply.

    Raises:
        CallTimeout: no reply within ``timeout``.
        NoProcessError: no process by that name, or the process has exited.
        CalleeExit: the server exited before replying (with its exit reason).
        CallingSelfError: a process called itself.
        RuntimeError: called outside the trio.run the server lives in.
    """
    if type(server) is Pid:
        pid: Pid | None = server
    else:
        # whereis(server), its hit inlined (a call per job in the Elixir chapter's
        # queue); a miss of any kind (no such name, no table yet, an unhashable or
        # self-resolving name, another trio) takes whereis, which says why.
        try:
            pid = RUN.runner._locals[_names][server]
        except (AttributeError, KeyError, TypeError):
            pid = whereis(server)
    # A process of another thread's run: hand the call over. One whose run has
    # ended (or that exited) is simply dead: NoProcessError below, as cast says.
    if pid is not None and pid._table.thread != get_ident() and pid._reason is UNSET:
        raise misuse_error("call", is_async=True)
    if timeout is not DEFAULT_TIMEOUT and timeout is not None:
        # None needs no check: a Python call fewer per job of the JobQueue
        # component, whose calls have no deadline of their own.
        timeout = _check_timeout(timeout)
    mailbox = pid._mailbox if pid is not None else None
    if mailbox is None:
        await trio.lowlevel.checkpoint()
        _no_mailbox(pid, "call")
        raise NoProcessError(server, request, timeout)
    assert pid is not None
    try:
        task = RUN.task  # current_task() in one step (outside a task: its error)
    except AttributeError:
        task = current_task()
    if pid._task is task:
        raise CallingSelfError(server, request, timeout)
    # The reply slot, built inline: a Python call fewer per call.
    slot = object.__new__(From)
    slot._task = task
    slot._caller = task
    slot._pid = pid
    slot._server = server
    slot._request = request
    slot._timeout = timeout
    slot._queue = None
    pending = pid._pending
    if pending is None:
        pending = pid._pending = set()
    pending.add(slot)
    if timeout is not None:
        arm(slot, timeout)  # the deadline covers the enqueue too
    # pid._post((CALL, request, slot)), inline (as send does). arm runs no user
    # code, so the mailbox read above is still the process's.
    if mailbox is EMPTY:
        mailbox = pid._mailbox = deque()
    mailbox.append((CALL, request, slot))
    if pid._parked:
        pid._parked = False
        reschedule(pid._task)  # type: ignore[arg-type]
    if _telemetry.listening:  # the call's start/stop events (nothing else when off)
        return await _telemetry.call_span(server, pid, request, timeout, slot._abort)
    return await wait_task_rescheduled(slot._abort)


def cast(server: Server, request: Any) -> None:
    """Send ``request`` to a GenServer's ``handle_cast`` without waiting (OTP's ``cast``).

    Never blocks, never fails: a cast to a name nobody holds, or to a process that
    has exited, is dropped silently, as in OTP.

    Must be called in the trio.run the server lives in; from a worker thread use
    ``trio.from_thread.run_sync(trio_otp.cast, server, request)``.

    Raises:
        RuntimeError: called from another thread (nothing was sent).
    """
    pid = server if type(server) is Pid else whereis(server)
    if pid is not None and pid._mailbox is not None:
        if pid._table.thread != get_ident():
            raise misuse_error("cast")
        pid._post((CAST, request, None))


def send(dest: Server, message: Any) -> None:
    """Send a raw message to a process; a GenServer gets it in ``handle_info``.

    OTP's ``send/2``. Never blocks. A message to a process that has exited is
    dropped silently. A :class:`~trio_otp.Task` takes its messages in an
    ``async with otp.mailbox()`` block of its own.

    Raises:
        NoProcessError: ``dest`` is a name that nobody holds (OTP raises ``badarg``).
        RuntimeError: called from another thread (nothing was sent); use
            ``trio.from_thread.run_sync(trio_otp.send, dest, message)`` there.
    """
    pid = dest if type(dest) is Pid else whereis(dest)
    if pid is None:
        raise NoProcessError(dest, message, None, "send")
    mailbox = pid._mailbox
    if mailbox is not None:
        if pid._table.thread != get_ident():
            raise misuse_error("send")
        # pid._post((INFO, message, None)), inline: one Python call per send (R2)
        if mailbox is EMPTY:
            mailbox = pid._mailbox = deque()
        mailbox.append((INFO, message, None))
        if pid._parked:
            pid._parked = False
            reschedule(pid._task)  # type: ignore[arg-type]


async def stop(server: Server, reason: object = NORMAL, timeout: float | None = None) -> None:  # noqa: ASYNC109 - GenServer.stop/3
    """Stop a process and wait until it has run ``terminate`` and exited.

    OTP's ``GenServer.stop/3`` (and ``Supervisor.stop``): the request is queued
    behind the messages already in the mailbox. A supervisor stops its children
    first, in reverse start order.

    Args:
        server: handle or registered name.
        reason: the exit reason. Default ``NORMAL``. A reason that is not a normal
            exit is a crash and is logged as one.
        timeout: seconds to wait, default ``None`` (OTP's ``:infinity``).

    Raises:
        NoProcessError: no such process (or it has already exited).
        CallTimeout: it did not exit within ``timeout`` (it keeps running).
        CalleeExit: it exited with another reason than ``reason`` (it crashed in
            ``terminate``, or was killed).
    """
    timeout = _check_timeout(timeout)
    pid = _resolve(server)
    if pid is not None and pid._table.thread != get_ident() and pid._reason is UNSET:
        raise misuse_error("stop", is_async=True)
    if pid is None or pid._mailbox is None or pid._kind == "Task":
        await trio.lowlevel.checkpoint()
        _no_mailbox(pid, "stop")
        raise NoProcessError(server, reason, timeout, "stop")
    task = current_task()
    if pid._task is task:
        raise CallingSelfError(server, reason, timeout, "stop")
    caller = _process_of(task, pid._table)
    # Only a process that traps exits waits for its supervisor's shutdown request
    # (a Task or non-trapping server is cancelled at once, so stopping is fine).
    above = caller if caller is not None and caller._traps() else None
    while above is not None:
        # A supervisor stops its children before it exits: stopping one of our own
        # supervisors would wait for ourselves (OTP stalls for the shutdown budget).
        if above is pid:
            raise _StopOwnSupervisor(server, reason, timeout, "stop")
        above = above._parent
    pid._post((STOP, reason, None))
    # A supervisor busy in a restart whose init blocks must still stop promptly: it
    # cancels the inits in progress (OTP would wait; see docs/design.rst).
    stop_requested = getattr(pid._impl, "_stop_requested", None)
    if stop_requested is not None:
        stop_requested()
    # The process answers through its exit: wait for that instead of a reply, so
    # that ``stop`` returns only once terminate ran and the name is free.
    with trio.move_on_after(math.inf if timeout is None else timeout) as scope:
        got = await pid.wait_exited()
    if scope.cancelled_caught:
        raise CallTimeout(server, reason, timeout, "stop")
    if got != reason and got is not reason:
        error = CalleeExit(server, reason, timeout, got, "stop")
        if isinstance(got, BaseException):
            error.__cause__ = got
        raise error
