"""Task: a process that runs one function, and supervised async/await.

OTP's ``Task``. ``(Task, fn)`` in a children list (or ``Task.child_spec(fn)``) runs
``fn`` under a supervisor, with restart **temporary** by default: a task that fails
is not run again unless its spec says ``transient`` (the Elixir chapter's fix), in which case
the *same* function runs again in a new process, so a ``from`` it captured still gets
its reply.

``fn`` may be an async function or a plain one; a plain function runs inline in the
task and must not block (use ``trio.to_thread.run_sync`` inside an async ``fn`` for
blocking work). A Task has a mailbox, as in Elixir: what is sent to its pid is
queued, and the task takes it inside an ``async with otp.mailbox() as inbox:``
block (which, in a Task, is a view of the task's own mailbox, not a new process).
A Task does not trap exits: when its supervisor shuts it down it is cancelled at
once (exit reason ``shutdown``).
"""

from __future__ import annotations

import inspect
import logging
import math
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Final, Generic, Literal, TypeVar, TypeVarTuple, final, overload

import trio

from .._core import _reports, _telemetry
from .._core._exceptions import ChildSpecError, ProcessExit, TaskExit, TaskTimeout
from .._core._messages import NO_VALUE
from .._core._monitors import Ref, _kill, _monitor, demonitor
from .._core._process import EMPTY, UNSET, Pid, _ids, current_process
from .._core._reasons import NORMAL, SHUTDOWN, is_normal_exit
from .._core._reports import TASK_VIEW
from .._core._runlocal import RUN
from .._server._child import (
    _Child,
    direct_child,
    spawner,
    supervising,
    supervisor_of,
)
from .._server._child_spec import (
    _SET_ARGS,
    _SET_ID,
    _SET_MODULES,
    _SET_RESTART,
    _SET_SHUTDOWN,
    _SET_START,
    _SET_TYPE,
    ChildSpec,
    ChildType,
    Restart,
)

T = TypeVar("T")
Ts = TypeVarTuple("Ts")  # fn(*args) type-checked, as trio's start_soon

TaskResult = tuple[Literal["ok"], T] | tuple[Literal["exit"], object]
"""How a task ended, as Elixir says it: ``("ok", value)`` or ``("exit", reason)``."""
_WORKER = ChildType.WORKER
_ERROR: Final = logging.ERROR
#: Result types that are never awaitable: most jobs return one of these, and
#: ``inspect.isawaitable`` (an ABC check) costs ~1 us per job in the chapter's queue.
_PLAIN: frozenset[type] = frozenset({str, int, float, bool, bytes, tuple, list, dict, type(None)})


async def _run(
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    task_status: Any,
    box: AsyncTask[Any] | None,
    child: _Child | None,
    pid: Pid | None = None,
) -> None:
    # ``pid`` is given when a supervisor spawned the task without waiting (_spawn).
    # The loop runs once per process: a supervised Task that crashed and is
    # restarted at once (a transient job that failed) runs again in this same trio
    # task, under the new handle its supervisor made (see the end of the loop).
    while True:
        if pid is None:
            pid = Pid._new("Task", None, EMPTY, fn, supervisor_of(task_status))
            if child is not None:
                pid._switch = child  # exit signals kill it as its supervisor would
            go_on = False
        else:
            # pid._attach() and trio's checkpoint_if_cancelled() (when not cancelled),
            # inline: three Python calls per job of the Elixir chapter's queue. Any
            # other case, or another trio, takes trio's own call below.
            try:
                task = RUN.task
                go_on = not task._cancel_status.effectively_cancelled and not (
                    task is task._runner.main_task and task._runner.ki_pending
                )
            except AttributeError:
                task = trio.lowlevel.current_task()
                go_on = False
            pid._task = task
            pid._table[task] = pid
            if go_on:
                task._cancel_points += 1
        reason: object = UNSET
        error: BaseException | None = None
        try:
            if task_status is not None:
                task_status.started(pid)
                task_status = None  # don't keep trio's start machinery alive
            # Shut down (or cancelled) before it ran: fn does not run at all.
            if not go_on:
                await trio.lowlevel.checkpoint_if_cancelled()
            if child is None or not child.doomed:
                result = fn(*args)
                completed = True
                if type(result) not in _PLAIN and inspect.isawaitable(result):
                    if child is None:
                        # Its own kill switch for exit signals (links, otp.exit): a Task
                        # started this way pays a nursery.start anyway.
                        with trio.CancelScope() as scope:
                            pid._switch = scope
                            result = await result
                        pid._switch = None
                        completed = not scope.cancelled_caught
                    else:
                        # Only an await can be interrupted, so only here does the task
                        # need its supervisor's kill switch (a cancel scope costs ~10 us:
                        # a plain-function job does without).
                        with trio.CancelScope() as scope:
                            child.scope = scope
                            result = await result
                        child.scope = None
                        completed = not scope.cancelled_caught
                if completed:
                    reason = NORMAL
                    if box is not None:
                        box._value = result
        except Exception as exc:
            reason = error = exc
            # during_shutdown(child, pid) and task_crash's level test, inline: two
            # calls per failed attempt of a W6 job (the level: see _reports.TASK_VIEW;
            # on a miss task_crash tests it itself).
            if pid._cancel_reason is not UNSET or (
                child is not None and (child.terminating or getattr(child.sup, "_stopping", False))
            ):
                _reports.exit_during_shutdown(pid, exc)  # raised while being stopped
            else:
                try:
                    loud = not TASK_VIEW.disabled and TASK_VIEW._cache[_ERROR]
                except (AttributeError, KeyError):
                    loud = True
                if loud:
                    _reports.task_crash(pid, exc, fn, args)
        finally:
            pid._exited(pid._killed_reason() if reason is UNSET else reason)
        if child is None:
            if error is not None:
                raise error
            if reason is UNSET and not is_normal_exit(pid._reason):
                # Killed by an exit signal (the only thing that cancels its own scope).
                raise ProcessExit(pid, pid._reason)
            return
        if error is None:
            child.sup._child_exited(child, pid._reason)
            return
        if box is not None:  # an async_nolink task: temporary
            child.sup._child_exited(child, pid._reason)
            # The crash's traceback keeps this frame, and the frame its locals: the
            # pid (whose exit reason is the crash), the child record, the result
            # box (which knows the pid) and the error itself. Left in place, that
            # is a reference cycle per failed task that only the cyclic garbage
            # collector frees.
            del pid, child, box, reason, error
            return
        # A crash. Its supervisor may restart it right away (a Task under one_for_one,
        # within the intensity: _SupervisorServer._child_exited); then _spawn_task,
        # seeing in_place set, makes the new handle and leaves it here instead of
        # starting a trio task for it, and this task runs it: a new process (the
        # old handle stays dead) without trio's task start and exit. Anything else
        # (no restart, a restart through the supervisor's mailbox) leaves True.
        child.in_place = True
        try:
            child.sup._child_exited(child, pid._reason)
        finally:
            pid = child.in_place
            child.in_place = None
        # The crash's traceback keeps this frame, and the frame its locals: the
        # error and what knows it (an old handle's exit reason is the crash). Not
        # left in place: a reference cycle per failed attempt (W6) that only the
        # cyclic garbage collector frees.
        del reason, error
        result = None
        if type(pid) is not Pid:
            del child, box
            return
        # What a new task would wait for: a schedule point per restart, so that a
        # job that always fails cannot starve the run (the next pass over the loop
        # is also the cancellation point a new task would pass).
        await trio.lowlevel.cancel_shielded_checkpoint()


def _spawn_task(nursery: trio.Nursery, child: _Child) -> Pid:
    """Spawn ``(Task, fn, *args)`` without waiting (the ``spawner`` protocol).

    One frame between the supervisor and ``start_soon``: the Elixir chapter's
    queue spawns a Task per job.
    """
    args = child.args
    fn = args[0]
    sup = child.sup.pid
    # Pid._new("Task", None, EMPTY, fn, sup, detached=True), inline: a Python call
    # per job and per restart (W4, W6). tests/test_task_restart_in_place.py checks
    # that both make the same handle.
    pid: Pid = object.__new__(Pid)
    pid._id = next(_ids)
    pid._name = None
    pid._kind = "Task"
    pid._mailbox = EMPTY
    pid._parked = False
    pid._reason = UNSET
    pid._pending = None
    pid._exit_event = None
    pid._watchers = None
    pid._switch = None
    pid._impl = fn
    pid._task = None
    pid._parent = sup
    pid._table = sup._table
    pid._cancel_reason = UNSET
    if _telemetry.listening:
        _telemetry.process_started(pid, "Task", None, sup)
    pid._switch = child  # exit signals kill it as its supervisor would (_monitors.py)
    # child.spawned(pid), inline: a Python call per job.
    child.scope = None
    child.doomed = False
    child.handle = pid
    child.is_started = True
    child.direct = True
    child.running = True
    child.sup._child_started(child)
    if child.in_place is True:
        # The restart of a crashed Task, from its own trio task, which runs the new
        # process itself (see the end of _run's loop).
        child.in_place = pid
        return pid
    nursery.start_soon(_run, fn, args[1:], None, None, child, pid, name="trio_otp.Task")
    return pid


def _spawn_async(nursery: trio.Nursery, child: _Child) -> Pid:
    """Spawn an :meth:`Task.async_nolink` task (its ``args`` begin with its result box)."""
    args = child.args
    box, fn = args[0], args[1]
    pid = Pid._new("Task", None, EMPTY, fn, child.sup.pid, detached=True)
    pid._switch = child
    child.spawned(pid)
    nursery.start_soon(_run, fn, args[2:], None, box, child, pid, name="trio_otp.Task")
    return pid


@final
class Task:
    """OTP's ``Task``: run one function as a (supervised) process."""

    @staticmethod
    @spawner(_spawn_task)
    @direct_child
    def serve(
        fn: Callable[..., Any],
        *args: Any,
        task_status: trio.TaskStatus[Pid] = trio.TASK_STATUS_IGNORED,
    ) -> Coroutine[Any, Any, None]:
        """Run ``fn(*args)`` as a process (``nursery.start``'s protocol).

        The handle is passed to ``task_status.started`` at once, then ``fn`` runs. An
        exception is a crash: it is logged (``trio_otp.task``) and raised (reported
        to the supervisor, under one). An async function that returns the task's
        coroutine, so that no wrapper frame is kept per task.
        """
        return _run(fn, args, task_status, None, supervising(task_status))

    @staticmethod
    async def start(nursery: trio.Nursery, fn: Callable[[*Ts], object], *args: *Ts) -> Pid:
        """Start ``fn(*args)`` as a process in ``nursery``; return its handle.

        Linked, as OTP's ``Task.start_link``: if ``fn`` raises, the exception reaches
        the nursery.
        """
        pid: Pid = await nursery.start(Task.serve, fn, *args)
        return pid

    @staticmethod
    def child_spec(fn: Callable[[*Ts], object], *args: *Ts) -> ChildSpec:
        """The spec of ``(Task, fn)``: id ``Task``, restart **temporary**, shutdown 5 s.

        Change the restart with ``Supervisor.child_spec((Task, fn), restart="transient")``.
        """
        given: object = fn
        if not callable(given) or isinstance(given, type):
            _refuse_task_fn(given, "Task")
        # Built for every job of the Elixir chapter's queue: no re-checking of known
        # values, and _trusted's stores inline (a Python call per job).
        spec: ChildSpec = object.__new__(ChildSpec)
        _SET_ID(spec, Task)
        _SET_START(spec, _SERVE)
        _SET_ARGS(spec, (fn, *args))
        _SET_RESTART(spec, _TEMPORARY)
        _SET_TYPE(spec, _WORKER)
        _SET_SHUTDOWN(spec, 5.0)
        _SET_MODULES(spec, _MODULES)
        return spec

    @overload
    @staticmethod
    async def async_nolink(
        sup: object, fn: Callable[[*Ts], Awaitable[T]], *args: *Ts
    ) -> AsyncTask[T]: ...

    @overload
    @staticmethod
    async def async_nolink(sup: object, fn: Callable[[*Ts], T], *args: *Ts) -> AsyncTask[T]: ...

    @staticmethod
    async def async_nolink(sup: object, fn: Callable[[*Ts], Any], *args: *Ts) -> AsyncTask[Any]:
        """Start ``fn(*args)`` under the DynamicSupervisor ``sup`` and return a handle
        to await its result with :meth:`AsyncTask.wait`.

        Elixir's ``Task.Supervisor.async_nolink``: the task is not linked to the
        caller; its crash is reported to whoever waits for it.

        Started from a process (a GenServer, a Task, a :func:`~trio_otp.mailbox`
        block), that process monitors the task and never
        has to block: when the task returns, the process gets
        ``TaskReply(ref, result)`` (in ``handle_info``); when it fails (crash,
        shutdown, kill), ``Down(ref, pid, reason)``. ``ref`` is
        :attr:`AsyncTask.ref`; ``demonitor(ref, flush=True)`` forgets the task, and
        :meth:`AsyncTask.wait` drops the message too (Elixir's ``Task.await``).
        """
        return await _async_nolink(sup, fn, args, monitor=True)


#: What every ``Task.child_spec`` holds (see there).
_SERVE: Final = Task.serve
_TEMPORARY: Final = Restart.TEMPORARY
_MODULES: Final = (Task,)


def _refuse_task_fn(fn: object, what: str) -> None:
    """Refuse what a Task cannot run: a non-callable, or a process class (a GenServer,
    a Supervisor, an Agent), which is a child of a DynamicSupervisor, not a Task."""
    if isinstance(fn, ChildSpec) or (isinstance(fn, type) and hasattr(fn, "child_spec")):
        name = fn.id if isinstance(fn, ChildSpec) else fn
        label = getattr(name, "__qualname__", repr(name))
        raise ChildSpecError(
            f"{what} runs a function as a Task, and {label} is a process of its own "
            f"(it has a child spec), not a function: start it under a DynamicSupervisor "
            f"with `await DynamicSupervisor.start_child(sup, {label})`, or pass "
            "a function (e.g. one that calls into it)"
        )
    if not callable(fn):
        raise ChildSpecError(f"{what} needs a function to run (async or plain), got {fn!r}")


async def _async_nolink(
    sup: object, fn: Callable[..., Any], args: tuple[Any, ...], *, monitor: bool
) -> AsyncTask[Any]:
    """:meth:`Task.async_nolink`; ``monitor=False`` for a caller that waits on the
    pid itself (an ``async_stream_nolink`` job) and needs no message."""
    from .._supervision._dynamic_supervisor import _supervisor

    given: object = fn
    if not callable(given) or isinstance(given, type):
        _refuse_task_fn(given, "async_nolink")
    box: AsyncTask[Any] = AsyncTask()
    owner = current_process() if monitor else None
    spec = ChildSpec(
        id=Task,
        start=_serve_async,
        args=(box, fn, *args),
        restart=Restart.TEMPORARY,
        modules=(Task,),
    )
    # extra_arguments are for the supervisor's own kind of children: the task's
    # arguments are exactly fn's (Elixir's Task.Supervisor takes none either).
    pid = await _supervisor(sup, "async_nolink", fn)._start_child(spec, spec.args)
    assert pid is not None
    box.pid = pid
    # A process (GenServer, Task, mailbox block) gets the result as a message, as
    # in Elixir; plain code waits for it (AsyncTask.wait drops the message).
    if owner is not None and owner._mailbox is not None:
        box.ref = _monitor(owner, pid, box)
    return box


@spawner(_spawn_async)
@direct_child
def _serve_async(
    box: AsyncTask[Any], fn: Callable[..., Any], *args: Any, task_status: Any
) -> Coroutine[Any, Any, None]:
    return _run(fn, args, task_status, box, supervising(task_status))


@final
class AsyncTask(Generic[T]):
    """A task started by :meth:`Task.async_nolink`, to be awaited with :meth:`wait`."""

    pid: Pid
    #: The reference of its :class:`~trio_otp.TaskReply` / :class:`~trio_otp.Down`
    #: message, when it was started from a process; ``None`` from plain code.
    ref: Ref | None

    def __init__(self) -> None:
        self._value: Any = NO_VALUE
        self.ref = None

    def __repr__(self) -> str:
        return f"<AsyncTask {getattr(self, 'pid', '(starting)')!r}>"

    async def wait(self, timeout: float | None = 5.0) -> T:  # noqa: ASYNC109 - Task.await
        """Wait for the task's result (Elixir's ``Task.await``), default **5 s**.

        Its :class:`~trio_otp.TaskReply` or :class:`~trio_otp.Down` message (when it
        was started from a process) is dropped in every case, a late one included.

        Raises:
            TaskTimeout: it did not finish within ``timeout`` (it keeps running).
            TaskExit: it crashed (the exception is the ``__cause__``), or was shut
                down or killed.
        """
        with trio.move_on_after(math.inf if timeout is None else timeout) as scope:
            reason = await self.pid.wait_exited()
        if self.ref is not None:
            # Awaited, or given up on (Elixir's Task.await demonitors with :flush on
            # a timeout too): its message is not needed, and a late one is dropped.
            demonitor(self.ref, flush=True)
        if scope.cancelled_caught:
            raise TaskTimeout(self, math.inf if timeout is None else timeout)
        if self._value is not NO_VALUE:
            value: T = self._value
            return value
        # Raised without a local name: a local would keep the error, whose
        # traceback keeps this frame, in a reference cycle.
        if isinstance(reason, BaseException):
            raise TaskExit(self, reason) from reason
        raise TaskExit(self, reason)

    def _result(self) -> TaskResult[T] | None:
        # Elixir's {:ok, value} / {:exit, reason} / nil, once the task has exited.
        if self.ref is not None and not self.pid.alive:
            demonitor(self.ref, flush=True)  # answered here: its message is not needed
        if self._value is not NO_VALUE:
            return ("ok", self._value)
        if self.pid.alive:
            return None
        return ("exit", self.pid._reason)

    async def yield_(self, timeout: float | None = 5.0) -> TaskResult[T] | None:  # noqa: ASYNC109 - Task.yield
        """Wait up to ``timeout`` s for the result, without failing (Elixir's ``Task.yield``).

        Returns:
            ``("ok", value)``, ``("exit", reason)`` if it crashed or was shut down, or
            ``None`` if it is still running (it keeps running: yield again, or
            :meth:`shutdown` it).
        """
        with trio.move_on_after(math.inf if timeout is None else timeout):
            await self.pid.wait_exited()
        return self._result()

    async def shutdown(self) -> TaskResult[T] | None:
        """Stop the task now (Elixir's ``Task.shutdown``) and say how it ended.

        A Task does not trap exits, so it stops at its next checkpoint, with reason
        ``shutdown``; there is no grace period to wait out.

        Its :class:`~trio_otp.TaskReply` or :class:`~trio_otp.Down` message is
        dropped (Elixir demonitors with ``:flush``).

        Returns:
            ``("ok", value)`` if it had returned, ``("exit", reason)`` if it had
            ended otherwise, ``None`` if it was stopped with ``"shutdown"``, by this
            call or before it (Elixir's ``nil``).
        """
        if self.pid.alive:
            # Its kill switch is its supervisor's child record: this stops it as
            # its supervisor would (a Task does not trap exits).
            _kill(self.pid, SHUTDOWN)
            await self.pid.wait_exited()
        else:
            await trio.lowlevel.checkpoint()
        result = self._result()
        if result is not None and result[0] == "exit" and result[1] == SHUTDOWN:
            return None
        return result
