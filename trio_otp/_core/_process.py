"""Processes: the handle (OTP's pid), ``current_process`` and the exit bookkeeping.

A trio_otp *process* is one trio task, running in a nursery its owner opened. Its
:class:`Pid` is its address: it can be compared, printed, stored and used after the
process exited (calls to it then fail at once with
:exc:`~trio_otp.NoProcessError`).
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable
from threading import get_ident
from typing import Any, Final, final

import trio
from outcome import Error
from trio.lowlevel import Abort, RunVar, reschedule

from . import _telemetry
from ._reasons import KILLED
from ._runlocal import RUN

_ids = itertools.count(1)

#: Sentinel for "has not exited yet" (a reason may legitimately be ``None``).
UNSET: Final[Any] = object()

#: The mailbox of a process that has one and nothing queued: ``Pid._mailbox`` until
#: the first message comes, and again whenever the process parks with an empty queue.
#: Falsy (nothing to take) and not ``None`` (the mailbox is open); shared, so that an
#: idle process keeps no queue of its own (a deque is 760 bytes, a trio memory
#: channel about 1.7 KB).
EMPTY: Final[Any] = ()


#: The message :meth:`Pid._pull` queues for a GenServer it marks while the server
#: runs (tag 7, after the tags of ``_call.py``): taken with nothing queued behind
#: it, the server dies where it would have parked; taken with messages behind it
#: (sent after the kill), it goes to the back again, as a cancelled scope lets a
#: server take its queue up to its next wait.
PULL_MARK: Final = (7, None, None)


class Killed(BaseException):
    """How a server with no cancel scope is killed while it waits for a message.

    Raised by the server's own park in ``_gen_server._serve`` (see :meth:`Pid._pull`)
    and caught there: no user code is ever on the stack between, so nothing can catch
    it. A ``BaseException`` so that ``except Exception`` in trio_otp's own exit path
    lets it through.
    """


@final
class _Pulled:
    """The kill switch of a server killed before it had a cancel scope.

    ``Pid._switch`` once :meth:`Pid._pull` has run: the server dies at its next own
    schedule point, or runs its next suspending callback in a cancelled scope (as a
    cancelled scope would have it). ``doomed`` as a supervised child's record says it.
    """

    __slots__ = ()
    doomed: Final = True
    scope: Final = None

    def cancel(self) -> None:
        """Already pulled: nothing more to do."""


#: See :class:`_Pulled`.
PULLED: Final = _Pulled()

# Which trio task runs which process, per run (a RunVar, so nothing leaks between
# runs). A table rather than a ContextVar: setting a ContextVar in every process
# costs ~250 bytes per idle process.
_by_task: RunVar[_Tasks] = RunVar("trio_otp.processes")


@final
class _Tasks(dict["trio.lowlevel.Task", "Pid"]):
    """The per-run task table; also knows the run's thread.

    Messaging compares ``pid._table.thread`` with the calling thread, so that use
    from another thread is refused before it touches any state (issue 13). Kept on
    the table, not on each Pid, so that a Pid stays in its allocation size class.
    """

    __slots__ = ("thread",)

    def __init__(self) -> None:
        super().__init__()
        self.thread = get_ident()


def _table() -> _Tasks:
    try:
        return RUN.runner._locals[_by_task]  # type: ignore[no-any-return]
    except (AttributeError, KeyError):
        pass
    try:
        return _by_task.get()
    except LookupError:
        table = _Tasks()
        _by_task.set(table)
        return table


# The run's table of registered names (:mod:`._names` is its API). It lives here, below
# that API, because a process frees its own name as it exits.
_names: RunVar[dict[object, Pid]] = RunVar("trio_otp.registry")


def name_table() -> dict[object, Pid]:
    """This run's name table, made on first use."""
    try:
        return RUN.runner._locals[_names]  # type: ignore[no-any-return]
    except (AttributeError, KeyError):
        pass
    try:
        return _names.get()
    except LookupError:
        table: dict[object, Pid] = {}
        _names.set(table)
        return table


def unregister(name: object, pid: Pid) -> None:
    """Free ``name`` if ``pid`` still holds it."""
    table = name_table()
    if table.get(name) is pid:
        del table[name]


def _process_of(
    task: trio.lowlevel.Task | None, table: dict[trio.lowlevel.Task, Pid]
) -> Pid | None:
    # The process a task belongs to: its own, or the nearest enclosing one (a helper
    # task in a process's nursery belongs to that process).
    while task is not None:
        pid = table.get(task)
        if pid is not None:
            return pid
        nursery = task.parent_nursery
        task = nursery.parent_task if nursery is not None else None
    return None


@final
class Pid:
    """The handle of a running (or exited) process: OTP's pid.

    You never construct one: starting a process gives it to you, and
    :func:`current_process` returns your own. Handles compare equal only to
    themselves, order by creation (like OTP pids), hash, and print as
    ``<Pid 0.42 JobQueue>`` (the registered name, when there is one).
    """

    __slots__ = (
        "__weakref__",
        "_cancel_reason",
        "_exit_event",
        "_id",
        "_impl",
        "_kind",
        "_mailbox",
        "_name",
        "_parent",
        "_parked",
        "_pending",
        "_reason",
        "_switch",
        "_table",
        "_task",
        "_watchers",
    )

    _id: int
    _name: object
    _kind: str
    # The queued messages, oldest first: a deque made by the first message after
    # the process parked (see _post), EMPTY while nothing is queued, None for a
    # process without a mailbox (a Task) or once it exited.
    _mailbox: deque[Any] | None
    _reason: object
    _pending: set[Any] | None
    _exit_event: trio.Event | None
    _parent: Pid | None
    _task: trio.lowlevel.Task | None
    _impl: object
    _cancel_reason: object
    _parked: bool
    _table: _Tasks
    _watchers: dict[object, Callable[[Pid, object], None]] | None
    # The kill switch an exit signal pulls (its ``cancel()``): the process's own
    # cancel scope, or its supervisor's child record; the handle itself for a
    # GenServer running without a scope (see _pull), PULLED once that was pulled;
    # None if it cannot be interrupted (see _monitors.py).
    _switch: Any

    def __init__(self) -> None:
        raise TypeError("Pid has no public constructor: start a process to get one")

    @classmethod
    def _new(
        cls,
        kind: str,
        name: object,
        mailbox: deque[Any] | None,
        impl: object,
        parent: Pid | None = None,
        *,
        detached: bool = False,
    ) -> Pid:
        self = object.__new__(cls)
        self._id = next(_ids)
        self._name = name
        self._kind = kind
        self._mailbox = mailbox
        self._parked = False
        self._reason = UNSET
        self._pending = None
        self._exit_event = None
        self._watchers = None
        self._switch = None
        self._impl = impl
        self._task = None
        if detached:
            # Created by its supervisor before its task runs (see Task); the task
            # attaches itself when it starts.
            assert parent is not None
            self._parent = parent
            self._table = parent._table
        else:
            task = self._task = trio.lowlevel.current_task()
            if parent is not None:
                # A supervised child's parent is its supervisor, even when it was
                # started from another task (DynamicSupervisor.start_child runs in
                # the caller's); the run's table is the supervisor's.
                self._parent = parent
                table = self._table = parent._table
            else:
                table = self._table = _table()
                self._parent = _process_of(task, table)
            table[task] = self
        # The reason of the exit signal that took effect (see _monitors._kill), UNSET
        # until one does: a process cancelled otherwise exits with KILLED.
        self._cancel_reason = UNSET
        if _telemetry.listening:
            _telemetry.process_started(self, self._kind, self._name, self._parent)
        return self

    # -- public, read-only -------------------------------------------------------------

    @property
    def name(self) -> object:
        """The registered name, or ``None``."""
        return self._name

    @property
    def kind(self) -> str:
        """The kind of process, such as ``"GenServer"``, ``"Supervisor"`` or ``"Task"``."""
        return self._kind

    @property
    def alive(self) -> bool:
        """Whether the process is still running (OTP's ``Process.alive?``)."""
        return self._reason is UNSET

    @property
    def exit_reason(self) -> object:
        """The exit reason once the process exited.

        Raises:
            RuntimeError: if the process is still alive.
        """
        if self._reason is UNSET:
            raise RuntimeError(f"{self!r} is still alive: it has no exit reason yet")
        return self._reason

    @property
    def parent(self) -> Pid | None:
        """The process that started this one (its supervisor, usually), if any."""
        return self._parent

    async def wait_exited(self) -> object:
        """Wait until the process has exited and return its exit reason.

        Like an OTP monitor's ``:DOWN`` message. Returns at once (after a checkpoint)
        if it has already exited.
        """
        if self._reason is UNSET:
            if self._exit_event is None:
                self._exit_event = trio.Event()
            await self._exit_event.wait()
        else:
            await trio.lowlevel.checkpoint()
        return self._reason

    # -- identity ----------------------------------------------------------------------

    def __lt__(self, other: Pid) -> bool:
        if not isinstance(other, Pid):
            return NotImplemented
        return self._id < other._id

    def __repr__(self) -> str:
        if self._name is None:
            return f"<Pid 0.{self._id}>"
        name = self._name.__qualname__ if isinstance(self._name, type) else self._name
        return f"<Pid 0.{self._id} {name}>"

    # -- internal ----------------------------------------------------------------------

    def _post(self, message: object) -> None:
        """Put a message in the mailbox and wake the process if it waits for one.

        The caller checked that the mailbox is open (``_mailbox is not None``).
        """
        mailbox = self._mailbox
        if mailbox is EMPTY:
            mailbox = self._mailbox = deque()
        mailbox.append(message)  # type: ignore[union-attr]
        if self._parked:
            self._parked = False
            reschedule(self._task)  # type: ignore[arg-type]

    def _killed_reason(self) -> object:
        """The exit reason of a process that was cancelled: the exit signal's that
        took effect (the first one: OTP's ``exit_twice``), else :data:`KILLED`."""
        reason = self._cancel_reason
        return KILLED if reason is UNSET else reason

    def _unpark(self, raise_cancel: object) -> Abort:
        # The parked process is being cancelled (killed): stop waiting for mail.
        self._parked = False
        return Abort.SUCCEEDED

    def _pull(self) -> None:
        """Kill a server that has no cancel scope (``_switch is self``).

        A GenServer whose callbacks cannot suspend runs without a kill scope (see
        ``_gen_server._serve``). Parked in its own message loop, it is woken with
        :class:`Killed`; otherwise it is marked (``PULLED``, and :data:`PULL_MARK`
        in its mailbox), and dies at its next schedule point or runs its next
        suspending callback in a cancelled scope.
        """
        self._switch = PULLED
        if self._parked:
            self._parked = False
            reschedule(self._task, Error(Killed()))  # type: ignore[arg-type]
            return
        # Running (it pulled its own switch) or runnable: the mark goes behind the
        # messages already queued. The server dies when it takes the mark with
        # nothing queued behind it, where it would have parked, so its loop has no
        # test of its own per message.
        mailbox = self._mailbox
        if mailbox is EMPTY:
            mailbox = self._mailbox = deque()
        if mailbox is not None:
            mailbox.append(PULL_MARK)

    def _attach(self) -> None:
        """Bind a detached handle to the task now running it."""
        task = self._task = trio.lowlevel.current_task()
        self._table[task] = self

    def _watch(self, key: object, callback: Callable[[Pid, object], None]) -> bool:
        """Have ``callback(self, reason)`` called when this process exits.

        The one seam that monitors, links and registries build on: no task per
        watcher, a dict entry only. ``key`` identifies the watch for
        :meth:`_unwatch` (a monitor reference, a linked pid, a registry). Callbacks
        run synchronously in the exiting process's task, in the order they were
        added, and must not raise or block.

        Returns:
            ``False`` (and records nothing) if the process has already exited.
        """
        if self._reason is not UNSET:
            return False
        watchers = self._watchers
        if watchers is None:
            watchers = self._watchers = {}
        watchers[key] = callback
        return True

    def _traps(self) -> bool:
        """Whether exit signals become Exit messages (OTP's ``trap_exit`` flag).

        Kept on the process's implementation (a GenServer instance, which defaults
        to its class's ``trap_exit``; a Mailbox), not in a slot of every handle.
        A process without a mailbox never traps.
        """
        return self._mailbox is not None and getattr(self._impl, "trap_exit", False) is True

    def _unwatch(self, key: object) -> None:
        """Forget the watch ``key``, if there is one (no error otherwise)."""
        if self._watchers is not None:
            self._watchers.pop(key, None)

    def _exited(self, reason: object) -> None:
        """Record the exit: free the name, fail pending callers, wake waiters.

        Runs exactly once, in the process's own task, before it returns or raises.
        """
        if self._reason is not UNSET:  # pragma: no cover - defensive
            return
        self._reason = reason
        # A dead process has nothing to kill. A supervised Task's switch is its
        # child record, which points back at this handle: left in place, that
        # cycle (with the job's spec, arguments and reply slot) waited for the
        # cyclic garbage collector, whose full passes set W4's p99 latency.
        self._switch = None
        if self._name is not None:
            unregister(self._name, self)
        # Drop the queued messages: the process will never read them.
        self._mailbox = None
        if self._task is not None:
            self._table.pop(self._task, None)
            self._task = None
        pending = self._pending
        if pending:
            self._pending = None
            # OTP monitors the callee: every caller still waiting learns at once.
            for slot in list(pending):
                slot._fail(reason)
        watchers = self._watchers
        if watchers:
            self._watchers = None
            # Detached above: a callback cannot change this dict (``_watch`` refuses
            # an exited process, ``_unwatch`` finds None), so no copy is needed.
            for callback in watchers.values():
                callback(self, reason)
        if self._exit_event is not None:
            self._exit_event.set()
        if _telemetry.listening:
            _telemetry.process_exited(self, self._kind, self._name, reason)


def misuse_error(what: str, *, is_async: bool = False) -> RuntimeError:
    """The error for ``trio_otp.<what>()`` used outside the run its process lives in.

    Messaging may not touch a process from another thread: trio's scheduler is not
    thread-safe (issue 13). The message says how to hand the operation over.
    """
    runner = "run" if is_async else "run_sync"
    try:
        trio.lowlevel.current_task()
    except RuntimeError:
        return RuntimeError(
            f"trio_otp.{what}() was called outside trio.run (from a thread that is not "
            "trio's, from asyncio, or from plain synchronous code): trio_otp works only "
            "inside the trio.run that started its processes. From a worker thread "
            f"(trio.to_thread.run_sync) use trio.from_thread.{runner}(trio_otp.{what}, ...); "
            "otherwise call it from a trio task (start your program with trio.run)."
        )
    how = (
        f"await trio.to_thread.run_sync(functools.partial(trio.from_thread.run, "
        f"trio_otp.{what}, ..., trio_token=token))"
        if is_async
        else f"token.run_sync_soon(trio_otp.{what}, ...)"
    )
    return RuntimeError(
        f"trio_otp.{what}() was called from another trio.run than the one the process "
        f"lives in: hand it over with {how}, where token = "
        "trio.lowlevel.current_trio_token() was taken in the process's run."
    )


def current_process() -> Pid | None:
    """Return the handle of the process the calling task belongs to (OTP's ``self()``).

    ``None`` outside any process (in plain trio code).
    """
    try:
        table = RUN.runner._locals[_by_task]  # _by_task.get() in one step
    except (AttributeError, KeyError):
        try:
            table = _by_task.get()
        except LookupError:
            return None
    return _process_of(trio.lowlevel.current_task(), table)
