"""One supervised child: its record, and how it runs in the supervisor's nursery.

A child runs as one task in its supervisor's nursery, inside its own cancel scope
(the supervisor's way to kill just that child). When it ends, the supervisor is told
synchronously, from the child's task, with the exit reason.

Two ways to run:

* trio_otp's own processes (GenServer, Task) know this protocol: they receive the
  :class:`_Child` as ``task_status``, set ``child.scope`` themselves (each only
  while it can be interrupted: a GenServer without a scope is killed through its
  handle, ``Pid._pull``; a Task not yet awaiting is ``doomed``) and report
  their exit with ``child.sup._child_exited``. No wrapper frame is kept per child,
  which matters when a supervisor holds a million of them.
* any other ``nursery.start``-style function is wrapped by :func:`_run_child`.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Coroutine
from types import CoroutineType
from typing import Any, Final, Protocol, TypeVar, final

import trio

from .._core._exceptions import ProcessExit
from .._core._process import UNSET, Pid
from .._core._reasons import NORMAL, SHUTDOWN

F = TypeVar("F", bound=Callable[..., Any])


class Supervising(Protocol):
    """What a child needs of its supervisor: the supervisor's server is one.

    A protocol, so that this layer (below supervision) never imports a supervisor.
    """

    pid: Pid

    def _child_started(self, child: _Child) -> None: ...

    def _child_exited(self, child: _Child, reason: object) -> None: ...


@final
class _Child:
    """A supervised child. Also the ``task_status`` its start function receives."""

    __slots__ = (
        "_status",
        "args",
        "direct",
        "done",
        "doomed",
        "gen",
        "handle",
        "in_place",
        "is_started",
        "restarting",
        "running",
        "scope",
        "spec",
        "sup",
        "terminating",
    )

    def __init__(self, sup: Supervising, spec: Any, args: tuple[Any, ...]) -> None:
        self.sup = sup
        self.spec = spec
        self.args = args
        self.handle: Any = None
        self.gen = 0
        self.direct = False
        self.running = False
        self.is_started = False
        #: its restart failed and is to be tried again (OTP's ``restarting`` pid)
        self.restarting = False
        self.terminating = False
        self.done: trio.Event | None = None
        # The child's kill switch. A Task enters its scope only while it awaits
        # (nothing else can interrupt it); before that, ``doomed`` stands in. A
        # GenServer enters one before its first callback that may suspend; before
        # that, ``cancel`` pulls its handle's switch (Pid._pull).
        self.scope: trio.CancelScope | None = None
        self.doomed = False
        self._status: Any = None
        #: Set by a crashed Task's body while it reports its exit: the spawner then
        #: leaves the restart's new handle here for that same trio task to run,
        #: instead of starting a task for it (see ``_task._run``).
        self.in_place: Any = None

    # The TaskStatus protocol, forwarded to the real one -------------------------------

    def started(self, value: Any = None) -> None:
        # Book-keep before handing over: the child may exit before the supervisor's
        # nursery.start even returns.
        self.handle = value
        self.is_started = True
        if value is not None:
            self.running = True
            self.sup._child_started(self)
        status, self._status = self._status, None  # don't keep trio's start machinery
        status.started(value)

    def cancel(self) -> None:
        """Kill the child: cancel its scope, or doom it before it has one."""
        if self.scope is not None:
            self.scope.cancel()
            return
        handle = self.handle
        if type(handle) is Pid and handle._switch is handle:
            handle._pull()  # a GenServer running without a scope (Pid._pull)
        else:
            self.doomed = True

    def spawned(self, handle: Any) -> None:
        """The child was spawned without waiting (see :func:`spawner`)."""
        self.scope = None
        self.doomed = False
        self.handle = handle
        self.is_started = True
        self.direct = True
        self.running = True
        self.sup._child_started(self)

    def __repr__(self) -> str:
        return f"<child {self.spec.id!r} of {self.sup.pid!r}>"


def supervising(task_status: object) -> _Child | None:
    """The child record if a supervisor started this process directly, else None."""
    if type(task_status) is _Child and task_status.direct:
        return task_status
    return None


def supervisor_of(task_status: object) -> Pid | None:
    """The supervisor's handle if a supervisor is starting this process."""
    if type(task_status) is _Child:
        return task_status.sup.pid
    return None


def direct_child(fn: F) -> F:
    """Mark a start function that implements the child protocol itself."""
    fn._trio_otp_direct = True  # type: ignore[attr-defined]
    return fn


def spawner(spawn: Callable[[trio.Nursery, _Child], Any]) -> Callable[[F], F]:
    """Mark a start function whose child a supervisor may spawn without waiting.

    ``spawn(nursery, child)`` must, synchronously, make the child's handle, call
    ``child.spawned(handle)``, ``nursery.start_soon`` the child's body and return
    the handle. The body honours ``child.doomed`` and sets ``child.scope`` while it
    can be interrupted. Only for children with nothing to initialise (OTP's
    ``Task.start_link`` returns before the task runs, too).
    """

    def mark(fn: F) -> F:
        fn._trio_otp_spawn = spawn  # type: ignore[attr-defined]
        return fn

    return mark


#: A spawned child's start from a process with a mailbox is a cancellation point
#: every time, and a schedule point once every this many such spawns (see
#: :func:`spawned_checkpoint`).
SPAWN_BURST: Final = 32


@final
class _SpawnCount:
    """How many spawns from processes with a mailbox since the last schedule point.

    An object rather than a module global, so that the DynamicSupervisor's start
    path can count inline (see :func:`spawned_checkpoint`).
    """

    __slots__ = ("n",)

    def __init__(self) -> None:
        self.n = 0


#: The run-wide count of :func:`spawned_checkpoint` (shared by every supervisor).
SPAWNS: Final = _SpawnCount()


async def spawned_checkpoint(table: dict[trio.lowlevel.Task, Pid]) -> None:
    """The schedule point that ends a start without waiting (a Task spawned by a supervisor).

    From plain trio code (and from a Task), a full checkpoint, as trio asks of every
    async function: code that starts Tasks one after the other sees each run in
    turn. From a process with a mailbox (a GenServer's callback, a mailbox block),
    only once every :data:`SPAWN_BURST` spawns, counted across the run: such a
    process already yields in its message loop (a GenServer once every 32
    messages), and a schedule point per start cost the Elixir chapter's job queue a
    quarter of its time: its server starts one Task per call, and each start handed
    the CPU back, so the server took one message per scheduler pass instead of a
    burst. A process that starts Tasks in a loop still yields at least every
    :data:`SPAWN_BURST` starts, so the children it spawned get to run and nothing
    piles up. The caller has passed a cancellation point
    (``checkpoint_if_cancelled``) before the spawn.
    """
    pid = table.get(trio.lowlevel.current_task())
    if pid is not None and pid._mailbox is not None and pid._kind != "Task":
        SPAWNS.n += 1
        if SPAWNS.n < SPAWN_BURST:
            return
        SPAWNS.n = 0
    await trio.lowlevel.cancel_shielded_checkpoint()


def _spawner_of(fn: object) -> Callable[[trio.Nursery, _Child], Any] | None:
    spawn: Callable[[trio.Nursery, _Child], Any] | None = getattr(fn, "_trio_otp_spawn", None)
    return spawn


def _is_direct(fn: object) -> bool:
    if isinstance(fn, functools.partial):
        fn = fn.func
    return getattr(fn, "_trio_otp_direct", False) is True


#: The names of the tasks that run supervised children (what trio would make of the
#: runner functions, given so that it does not format them once per child).
DIRECT_START_NAME: Final = f"{__name__}._direct_start"
RUN_CHILD_NAME: Final = f"{__name__}._run_child"


def _direct_start(child: _Child, task_status: Any) -> Coroutine[Any, Any, None]:
    # A plain function that returns the child's own coroutine: nursery.start runs
    # it as the child's task, with no wrapper frame around it.
    child._status = task_status
    child.is_started = False
    child.direct = True
    result: Coroutine[Any, Any, None] = child.spec.start(*child.args, task_status=child)
    return result


def _not_awaitable(start: object, result: object) -> TypeError:
    name = getattr(start, "__qualname__", None) or repr(start)
    return TypeError(
        f"the start function {name} returned {result!r}, not an awaitable: write it "
        f"as `async def {getattr(start, '__name__', 'start')}(..., task_status)` (it "
        "runs the child and calls task_status.started(handle)), or make it a plain "
        "function that returns that coroutine"
    )


async def _run_child(child: _Child, task_status: Any) -> None:
    # The whole life of a child whose start function knows nothing of supervisors.
    child._status = task_status
    child.is_started = False
    child.direct = False
    reason: object
    with trio.CancelScope() as scope:
        child.scope = scope
        try:
            running = child.spec.start(*child.args, task_status=child)
            if type(running) is not CoroutineType and not inspect.isawaitable(running):
                raise _not_awaitable(child.spec.start, running)
            await running
        except Exception as exc:
            if not child.is_started:
                raise  # a start failure: nursery.start raises it in the supervisor
            is_exit = type(exc) is ProcessExit and exc.pid is child.handle
            reason = exc.reason if is_exit else exc  # type: ignore[attr-defined]
        else:
            handle = child.handle
            if type(handle) is Pid and handle._reason is not UNSET:
                reason = handle._reason
            else:
                reason = NORMAL
    if not child.is_started or child.handle is None:
        return  # never started (trio reports that), or ignored: nothing to supervise
    if scope.cancelled_caught:
        handle = child.handle
        reason = handle._reason if type(handle) is Pid else SHUTDOWN
    child.sup._child_exited(child, reason)


def during_shutdown(child: _Child | None, pid: Any) -> bool:
    """Whether a process that raised did so while it was being stopped.

    True once its supervisor is shutting down (an orderly stop of the tree) or has
    asked this child to stop, or once an exit signal took effect on it. OTP's exit
    signal ends a process at once; trio unwinds it instead, and what it raises
    while unwinding (a stream another child closed: ``ClosedResourceError``) is
    the stop, not a crash: one INFO line instead of an ERROR report
    (docs/design.rst lists this difference).
    """
    if pid._cancel_reason is not UNSET:
        return True
    if child is None:
        return False
    return bool(child.terminating or getattr(child.sup, "_stopping", False))
