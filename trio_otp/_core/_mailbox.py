"""Mailboxes: any trio task can be a process for the duration of a block.

``async with otp.mailbox() as inbox:`` gives the current task a
:class:`~trio_otp.Pid` and a mailbox until the block ends: other processes can
:func:`~trio_otp.send` to it, :func:`~trio_otp.monitor` and :func:`~trio_otp.link`
it, and the block takes its messages with :meth:`Mailbox.receive`, optionally
selectively (OTP's ``receive`` with patterns) and with a timeout (OTP's
``after``). When the block exits, however it exits, the process exits: its name is
freed and its monitors and links fire, with ``"normal"`` for a block that ended,
the exception for one left by an exception, ``"killed"`` for one cancelled.

This is how plain trio code (a request handler, a test) joins an OTP system
without writing a GenServer.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Callable
from types import TracebackType
from typing import Any, final

import trio
from trio.lowlevel import (
    cancel_shielded_checkpoint,
    checkpoint,
    checkpoint_if_cancelled,
    current_task,
    wait_task_rescheduled,
)

from ._call import CALL, CAST, FLUSHABLE, INFO, SHUTDOWN, STOP
from ._exceptions import ProcessExit, ReceiveTimeout
from ._messages import Down, TaskReply
from ._monitors import _kill
from ._names import _register
from ._process import EMPTY, UNSET, Pid, _table
from ._reasons import KILLED, NORMAL, is_normal_exit
from ._reasons import SHUTDOWN as SHUTDOWN_REASON
from ._refs import Ref
from ._runlocal import RUN

_SKIP: Any = object()


@final
class Mailbox:
    """A process for the duration of an ``async with`` block: see :func:`mailbox`."""

    __slots__ = ("_adopted", "_name", "_pid", "_saved", "_scope", "trap_exit")

    def __init__(self, name: object = None, *, trap_exit: bool = False) -> None:
        self._name = name
        #: Whether the block traps exits (see :func:`~trio_otp.trap_exit`).
        self.trap_exit: bool = trap_exit
        self._pid: Pid | None = None
        # Messages a selective receive passed over, in arrival order (OTP's save queue).
        self._saved: collections.deque[object] = collections.deque()
        self._scope: trio.CancelScope | None = None
        # A block inside a Task reads the Task's own mailbox: no process of its own.
        self._adopted = False

    def __repr__(self) -> str:
        return f"<Mailbox {self._pid!r}>"

    @property
    def pid(self) -> Pid:
        """The block's process handle (OTP's ``self()``).

        Raises:
            RuntimeError: outside the ``async with`` block.
        """
        if self._pid is None:
            raise RuntimeError("the mailbox has no pid outside its `async with` block")
        return self._pid

    async def __aenter__(self) -> Mailbox:
        if self._pid is not None:
            raise RuntimeError(f"{self!r} is already open: a mailbox serves one block")
        task = current_task()
        holder = _table().get(task)
        if holder is not None and holder._kind == "Task" and holder._mailbox is not None:
            return await self._adopt(holder)
        if holder is not None:
            raise RuntimeError(
                f"this task is already the process {holder!r}: it has a mailbox of its "
                "own (a GenServer receives in handle_info)"
            )
        pid = Pid._new("Mailbox", self._name, EMPTY, self)
        if self._name is not None:
            try:
                _register(self._name, pid)
            except BaseException:
                pid._exited(NORMAL)
                raise
        self._pid = pid
        scope = self._scope = trio.CancelScope()
        scope.__enter__()
        pid._switch = scope  # exit signals cancel the block (_monitors.py)
        await checkpoint()
        return self

    async def _adopt(self, task_pid: Pid) -> Mailbox:
        # In a Task: receive from the task's own mailbox for the block's duration.
        # The task stays the process (its exit signals, its exit); nothing new starts.
        if self._name is not None:
            raise TypeError(
                f"otp.mailbox(name={self._name!r}) inside the Task {task_pid!r}: the task "
                "is already a process with a pid; a block in it takes no name (register "
                "the pid with a Registry, or pass it to whoever sends to it)"
            )
        if self.trap_exit:
            raise TypeError(
                f"otp.mailbox(trap_exit=True) inside the Task {task_pid!r}: a Task does "
                "not trap exits (as in Elixir); use a GenServer, or a separate trio task "
                "with its own mailbox block"
            )
        self._pid = task_pid
        self._adopted = True
        await checkpoint()
        return self

    def _release(self, pid: Pid) -> None:
        # Leaving a block in a Task: messages a selective receive passed over go back
        # to the front of the task's mailbox, in order, for its next block.
        # They were unwrapped: wrap them again as they came (a monitor's Down or
        # TaskReply stays flushable by a later demonitor(ref, flush=True)).
        saved = self._saved
        self._pid = None
        if saved and pid._mailbox is not None:
            raw = collections.deque(_rewrap(message) for message in saved)
            if pid._mailbox is not EMPTY:
                raw.extend(pid._mailbox)
            pid._mailbox = raw
        saved.clear()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        if self._adopted:
            assert self._pid is not None
            self._release(self._pid)
            return False
        pid, scope = self._pid, self._scope
        assert pid is not None
        assert scope is not None
        if self._saved:
            self._saved.clear()
        try:
            scope.__exit__(exc_type, exc, tb)
        except BaseException as new:  # the scope rewrote the exception (a group)
            pid._exited(new if isinstance(new, Exception) else KILLED)
            raise
        if scope.cancelled_caught:
            # An exit signal cancelled the block: it exits with the signal's reason.
            reason = pid._killed_reason()
            pid._exited(reason)
            if not is_normal_exit(reason):
                raise ProcessExit(pid, reason)
            return True
        if exc is None:
            pid._exited(NORMAL)
        elif isinstance(exc, Exception):
            pid._exited(exc)
        else:  # Cancelled from outside, KeyboardInterrupt: never a message, a kill
            pid._exited(KILLED)
        return False

    def _unwrap(self, raw: tuple[int, Any, Any]) -> object:
        tag, payload, from_ = raw
        if tag == INFO:
            return payload
        if tag == FLUSHABLE:
            return _SKIP if payload.ref._flushed else payload
        if tag == CALL:
            return ("$gen_call", from_, payload)
        if tag == CAST:
            return ("$gen_cast", payload)
        # otp.stop (STOP) or a supervisor's shutdown (SHUTDOWN): end the block.
        assert self._pid is not None
        _kill(self._pid, payload if tag == STOP else SHUTDOWN_REASON)
        assert tag in (STOP, SHUTDOWN)
        return _SKIP

    async def receive(
        self,
        match: Callable[[Any], object] | None = None,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - OTP's `receive ... after`
    ) -> Any:
        """Take the next message, waiting for one if need be (OTP's ``receive``).

        Messages are what :func:`~trio_otp.send` sent, and what the runtime sends:
        :class:`~trio_otp.Down`, :class:`~trio_otp.Exit`,
        :class:`~trio_otp.TaskReply`; a :func:`~trio_otp.call` arrives as
        ``("$gen_call", from_, request)`` and a :func:`~trio_otp.cast` as
        ``("$gen_cast", request)``, as in OTP.

        Args:
            match: take the first message for which ``match(message)`` is true,
                leaving the others queued in order for later receives (OTP's
                selective receive). Default ``None``: the next message.
            timeout: seconds to wait (OTP's ``after``). Default ``None``: no limit
                of its own (enclosing cancel scopes apply). ``0`` only looks.

        Raises:
            ReceiveTimeout: no (matching) message within ``timeout``.
            RuntimeError: called outside the block, or from another task.
        """
        pid = self._pid
        try:
            task = RUN.task  # current_task() in one step
        except AttributeError:
            task = current_task()
        if pid is None or pid._reason is not UNSET or pid._task is not task:
            raise RuntimeError(
                "receive() must be called inside the mailbox's `async with` block, by the "
                "task that opened it"
            )
        saved = self._saved
        if saved:
            for i, message in enumerate(saved):
                if match is None or match(message):
                    # The cancel point before the message is taken, as below.
                    await checkpoint_if_cancelled()
                    del saved[i]
                    await cancel_shielded_checkpoint()
                    return message
        elif match is None:
            # The fast path: the next message is queued and needs no unwrapping (a
            # send, a Down or TaskReply not flushed). The cancel point comes before
            # the message is taken (a cancelled receive leaves it queued), the
            # schedule point after, as a trio memory channel's receive does.
            queued = pid._mailbox
            if queued:
                raw = queued[0]
                tag = raw[0]
                if tag == INFO or (tag == FLUSHABLE and not raw[1].ref._flushed):
                    await checkpoint_if_cancelled()  # raises, or returns at once
                    queued.popleft()
                    await cancel_shielded_checkpoint()
                    return raw[1]
        deadline = math.inf if timeout is None else trio.current_time() + timeout
        looked = False
        while True:
            queued = pid._mailbox
            if not queued:
                if looked and trio.current_time() >= deadline:
                    raise ReceiveTimeout(timeout)
                pid._mailbox = EMPTY  # keep no queue while waiting (see EMPTY)
                with trio.CancelScope(deadline=deadline):
                    pid._parked = True
                    await wait_task_rescheduled(pid._unpark)
                looked = True
                continue
            message = self._unwrap(queued.popleft())
            if message is _SKIP:
                await checkpoint()  # a stop arrived: the block is being cancelled
                continue
            if match is None or match(message):
                try:
                    await checkpoint_if_cancelled()
                except BaseException:
                    # A cancelled receive loses nothing: the message waits, in its
                    # place after those passed over, for the next receive.
                    saved.append(message)
                    raise
                await cancel_shielded_checkpoint()
                return message
            saved.append(message)


def _rewrap(message: object) -> tuple[int, object, None]:
    # The inverse of Mailbox._unwrap for what a block can pass over: calls and casts
    # come back as the same tuples from an INFO entry.
    if type(message) in (Down, TaskReply) and isinstance(message.ref, Ref):  # type: ignore[attr-defined]
        return (FLUSHABLE, message, None)
    return (INFO, message, None)


def mailbox(name: object = None, *, trap_exit: bool = False) -> Mailbox:
    """Make the current trio task a process for the duration of a block.

    Example::

        async with otp.mailbox() as inbox:
            ref = otp.monitor(server)
            otp.send(server, ("subscribe", inbox.pid))
            news = await inbox.receive(lambda m: isinstance(m, tuple), timeout=5)

    Inside the block the task is a process (kind ``"Mailbox"``):
    :func:`~trio_otp.current_process` returns ``inbox.pid``, which other processes
    can send to, monitor and link; :func:`~trio_otp.monitor`,
    :func:`~trio_otp.link` and :func:`~trio_otp.trap_exit` work from the block.
    When the block exits, the process exits: the name is freed, its monitors get
    ``Down`` with ``"normal"`` (block ended), the exception (block left by an
    exception, which propagates) or ``"killed"`` (cancelled), and linked
    processes get the same exit signal. An exit signal that kills the block
    (see :func:`~trio_otp.exit`) cancels its body and raises
    :exc:`~trio_otp.ProcessExit` from the ``async with`` (nothing for a normal
    reason, such as :func:`~trio_otp.stop`'s default).

    Inside a :class:`~trio_otp.Task`'s own task the block starts no process: it
    reads the Task's mailbox (messages sent to the task's pid since it started are
    there), the Task stays the process, and leaving the block puts back what a
    selective receive passed over. Such a block takes no ``name`` and cannot trap
    exits.

    Args:
        name: register the process under this name for the block. Default ``None``.
        trap_exit: start trapping exits (exit signals arrive as
            :class:`~trio_otp.Exit` messages). Default ``False``, as for any OTP
            process.

    Raises:
        AlreadyStartedError: on entering, ``name`` is taken.
        RuntimeError: on entering, the task already is a process (a GenServer's
            own task, or a nested block).
        TypeError: on entering in a Task, ``name`` or ``trap_exit`` was given.
    """
    return Mailbox(name, trap_exit=trap_exit)
