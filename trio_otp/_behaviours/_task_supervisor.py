"""Task.Supervisor: a DynamicSupervisor of tasks, with Elixir's task helpers.

Elixir's ``Task.Supervisor`` *is* a ``DynamicSupervisor`` whose children are tasks;
trio_otp says so directly: :class:`TaskSupervisor` starts a plain
:class:`~trio_otp.DynamicSupervisor` (same options, same process) and adds the
functions that start and await tasks under it. ``await_many`` and ``yield_many``
wait for several :class:`~trio_otp.AsyncTask`\\ s at once, with one exit callback
per task rather than one waiting task.

``async_`` is Elixir's ``async`` (a Python keyword): the task is linked to the
calling process with :func:`~trio_otp.link`, so a crash of either takes the other
down (or reaches it as an :class:`~trio_otp.Exit` message if it traps exits).
"""

from __future__ import annotations

import functools
import math
from collections.abc import AsyncIterable, Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar, final

import trio

from .._core._exceptions import TaskExit, TaskTimeout
from .._core._messages import NO_VALUE
from .._core._monitors import _signal, demonitor, link
from .._core._process import Pid, current_process
from .._server._child_spec import ChildSpec, Restart, ShutdownValue
from .._supervision._dynamic_supervisor import DynamicSupervisor, _supervisor
from ._async_stream import AsyncStream, OnTimeout, _open
from ._task import AsyncTask, Task, TaskResult, _async_nolink

T = TypeVar("T")


async def _wait(
    tasks: Sequence[AsyncTask[Any]], seconds: float | None, enough: Callable[[AsyncTask[Any]], bool]
) -> None:
    """Wait until every task has exited, one for which ``enough(task)`` holds exits, or
    the timeout passes: one exit callback per task, no waiting task per task."""
    by_pid = {task.pid: task for task in tasks}  # a task given twice is waited for once
    done = trio.Event()
    left = 0

    def exited(pid: Pid, reason: object) -> None:
        nonlocal left
        left -= 1
        # ``enough`` first: it records a failure even of the last task to exit.
        if enough(by_pid[pid]) or left == 0:
            done.set()

    for pid in by_pid:
        left += pid._watch(done, exited)
    try:
        with trio.move_on_after(math.inf if seconds is None else seconds):
            if left:
                await done.wait()
            else:
                await trio.lowlevel.checkpoint()
    finally:
        for pid in by_pid:
            pid._unwatch(done)


def _failed(task: AsyncTask[Any]) -> bool:
    # No side effect here: this runs inside the task's exit callbacks.
    return not task.pid.alive and task._value is NO_VALUE


def _forget(tasks: Sequence[AsyncTask[Any]]) -> None:
    # Elixir's await_many demonitors (with :flush) every task it gives up on or got
    # the result of: no TaskReply or Down is left for the caller to stumble on.
    for task in tasks:
        if task.ref is not None:
            demonitor(task.ref, flush=True)


async def await_many(tasks: Sequence[AsyncTask[T]], timeout: float | None = 5.0) -> list[T]:  # noqa: ASYNC109 - Task.await_many
    """Wait for every task's result, in order (Elixir's ``Task.await_many``).

    One deadline for all of them, default **5 s**; ``None`` waits forever.

    However it ends, every task's monitor is removed and its
    :class:`~trio_otp.TaskReply` or :class:`~trio_otp.Down` dropped, as Elixir's
    ``await_many`` does: nothing is left in the caller's mailbox.

    Raises:
        TaskExit: as soon as one of them crashes or is shut down (the first to do so,
            whichever it is: the last one too). A failure is never a result.
        TaskTimeout: they have not all finished in time (they keep running).
    """
    failed: list[AsyncTask[T]] = []

    def first_failure(task: AsyncTask[Any]) -> bool:
        if _failed(task):
            failed.append(task)
        return bool(failed)

    if any(first_failure(task) for task in tasks):
        await trio.lowlevel.checkpoint()
    else:
        try:
            await _wait(tasks, timeout, first_failure)
        except BaseException:
            _forget(tasks)  # cancelled: the caller leaves as Elixir's exit would
            raise
    _forget(tasks)
    if failed:
        reason = failed[0].pid._reason
        error = TaskExit(failed[0], reason)
        if isinstance(reason, BaseException):
            raise error from reason
        raise error
    if any(t.pid.alive for t in tasks):
        raise TaskTimeout(list(tasks), math.inf if timeout is None else timeout)
    return [t._value for t in tasks]


async def yield_many(
    tasks: Sequence[AsyncTask[T]],
    timeout: float | None = 5.0,  # noqa: ASYNC109 - Task.yield_many
) -> list[tuple[AsyncTask[T], TaskResult[T] | None]]:
    """Wait until every task has finished or ``timeout`` s passed (Elixir's ``Task.yield_many``).

    Returns:
        ``(task, result)`` for each task, in order: ``("ok", value)``,
        ``("exit", reason)``, or ``None`` for a task still running (it keeps running).
    """
    await _wait(tasks, timeout, lambda task: False)
    return [(task, task._result()) for task in tasks]


@final
class TaskSupervisor:
    """Elixir's ``Task.Supervisor``: a :class:`~trio_otp.DynamicSupervisor` of tasks.

    ``start``/``serve``/``child_spec`` take the DynamicSupervisor's options
    (``name``, ``max_children``, ``max_restarts``, ``max_seconds``) and start one; every
    other function takes its handle or name as ``sup``.
    """

    @staticmethod
    async def serve(
        *,
        max_children: int | None = None,
        extra_arguments: Iterable[Any] = (),
        max_restarts: int = 3,
        max_seconds: float = 5,
        name: object = None,
        task_status: trio.TaskStatus[Pid] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Run a task supervisor until it stops: :meth:`DynamicSupervisor.serve
        <trio_otp.DynamicSupervisor.serve>` (``nursery.start``'s protocol)."""
        await DynamicSupervisor.serve(
            max_children=max_children,
            extra_arguments=extra_arguments,
            max_restarts=max_restarts,
            max_seconds=max_seconds,
            name=name,
            task_status=task_status,
        )

    @staticmethod
    async def start(
        nursery: trio.Nursery,
        *,
        max_children: int | None = None,
        extra_arguments: Iterable[Any] = (),
        max_restarts: int = 3,
        max_seconds: float = 5,
        name: object = None,
    ) -> Pid:
        """Start a task supervisor in ``nursery`` and return its handle:
        :meth:`DynamicSupervisor.start <trio_otp.DynamicSupervisor.start>`."""
        return await DynamicSupervisor.start(
            nursery,
            max_children=max_children,
            extra_arguments=extra_arguments,
            max_restarts=max_restarts,
            max_seconds=max_seconds,
            name=name,
        )

    @staticmethod
    def child_spec(options: Mapping[str, Any] | None = None) -> ChildSpec:
        """The spec of ``(TaskSupervisor, {"name": ...})``: a DynamicSupervisor's."""
        return DynamicSupervisor.child_spec(options)

    @staticmethod
    async def start_child(
        sup: object,
        fn: Callable[..., Any],
        *args: Any,
        restart: Restart | str = Restart.TEMPORARY,
        shutdown: ShutdownValue = 5.0,
    ) -> Pid:
        """Start ``fn(*args)`` as a fire-and-forget task under ``sup``; return its handle.

        Restart **temporary** by default (``"transient"`` runs it again after a crash);
        ``shutdown`` default **5** s.

        Raises:
            MaxChildrenError: ``sup`` already runs ``max_children`` children.
            NoProcessError: ``sup`` is not running.
        """
        spec = Task.child_spec(fn, *args)
        if restart != Restart.TEMPORARY or shutdown != 5.0:
            spec = spec.replace(restart=restart, shutdown=shutdown)
        pid: Pid = await _supervisor(sup, "start_child", fn)._start_child(spec, spec.args)
        return pid

    @staticmethod
    async def async_nolink(sup: object, fn: Callable[..., Any], *args: Any) -> AsyncTask[Any]:
        """Start ``fn(*args)`` under ``sup``, unlinked; await it with :meth:`AsyncTask.wait`.

        Same as :meth:`Task.async_nolink <trio_otp.Task.async_nolink>`.
        """
        return await Task.async_nolink(sup, fn, *args)

    @staticmethod
    async def async_(sup: object, fn: Callable[..., Any], *args: Any) -> AsyncTask[Any]:
        """Start ``fn(*args)`` under ``sup``, linked to the calling process (Elixir's ``async``).

        A real link (:func:`~trio_otp.link`): if the task crashes, the caller gets the
        exit signal (it dies, or receives an :class:`~trio_otp.Exit` if it traps
        exits); if the caller dies abnormally, so does the task. Await the result with
        :meth:`AsyncTask.wait`. Outside any process this is :meth:`async_nolink`.
        """
        task = await Task.async_nolink(sup, fn, *args)
        owner = current_process()
        if owner is not None:
            pid = task.pid
            if pid.alive:
                link(pid)
            else:
                # It ended before the link was made: deliver what the link would have.
                _signal(owner, pid, pid._reason, linked=True)
        return task

    @staticmethod
    async def children(sup: object) -> list[Pid]:
        """The handles of the running tasks (Elixir's ``children/1``)."""
        infos = await DynamicSupervisor.which_children(sup)
        return [info.pid for info in infos if isinstance(info.pid, Pid)]

    @staticmethod
    async def terminate_child(sup: object, pid: Pid) -> None:
        """Stop the task ``pid``. Raises ChildNotFoundError if it is not ``sup``'s child."""
        await DynamicSupervisor.terminate_child(sup, pid)

    @staticmethod
    def async_stream_nolink(
        sup: object,
        items: Iterable[Any] | AsyncIterable[Any],
        fn: Callable[[Any], Any],
        *,
        max_concurrency: int | None = None,
        ordered: bool = True,
        timeout: float | None = 5.0,
        on_timeout: OnTimeout = "exit",
        zip_input_on_exit: bool = False,
    ) -> AbstractAsyncContextManager[AsyncStream]:
        """:func:`~trio_otp.async_stream` with each job a task under ``sup``, unlinked.

        A job that crashes yields ``("exit", exception)`` instead of failing the
        stream. If ``sup`` refuses a job (``max_children``) or stops, the stream
        raises that error: a producer never hangs on a supervisor that gave up.
        """
        _supervisor(sup, "async_stream_nolink")  # fail now for an unknown supervisor
        return _open(
            items,
            fn,
            max_concurrency,
            ordered,
            timeout,
            on_timeout,
            zip_input_on_exit,
            functools.partial(_start_nolink, sup),
        )


async def _start_nolink(sup: object, fn: Callable[..., Any], item: Any) -> AsyncTask[Any]:
    # Unmonitored: the stream waits on the pid, so no Down or TaskReply reaches the
    # consumer's mailbox, neither for a finished job nor one killed as it leaves.
    return await _async_nolink(sup, fn, (item,), monitor=False)
