"""async_stream: map a function over an iterable, concurrently, with a bound.

Elixir's ``Task.async_stream``. Why a context manager and not an async generator:
the jobs run in a nursery, and an async generator must not ``yield`` inside a
nursery or cancel scope (the consumer's code would run inside the generator's
scope, and a generator that is abandoned is closed at an arbitrary later time, so
its jobs would outlive the loop). ``async with`` gives the jobs a nursery whose
lifetime is the block's, which is exactly "cancel the running jobs when the
consumer stops iterating": leaving the block, by finishing, ``break``, an exception
or a cancellation, cancels whatever still runs::

    async with trio_otp.async_stream(urls, fetch, max_concurrency=10) as results:
        async for status, value in results:
            ...

Back-pressure: a job takes one of ``max_concurrency`` slots *before* its input item
is read, and gives it back only when the consumer takes its result. So at most
``max_concurrency`` items are read ahead, running or waiting to be consumed, as in
Elixir; the input is never read to the end up front.
"""

from __future__ import annotations

import collections
import inspect
import math
import os
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from types import CoroutineType
from typing import Any, Literal, final

import trio

from .._core import _reports
from .._core._exceptions import TaskTimeout
from .._core._monitors import _kill
from .._core._process import current_process
from .._core._reasons import SHUTDOWN
from ._task import AsyncTask, _run

OnTimeout = Literal["exit", "kill_task"]
"""What a job that runs past ``timeout`` does: fail the stream, or yield an exit."""

StartJob = Callable[[Callable[..., Any], Any], Awaitable[AsyncTask[Any]]]

_TIMEOUT = "timeout"
#: A consumer whose results are ready yields to the scheduler once per this many.
_STREAK = 32
_END: Any = object()


@final
class _Job:
    __slots__ = ("box", "item", "result")

    def __init__(self, item: Any) -> None:
        self.item = item
        self.box: AsyncTask[Any] | None = None
        self.result: tuple[str, Any] | None = None


@final
class AsyncStream:
    """The results of :func:`~trio_otp.async_stream`, an async iterator.

    Yields ``("ok", value)`` for each job that returned and ``("exit", reason)`` for
    each job that did not (a ``kill_task`` timeout: reason ``"timeout"``; under
    :meth:`TaskSupervisor.async_stream_nolink <trio_otp.TaskSupervisor.async_stream_nolink>`,
    also a crash, reason the exception). With ``zip_input_on_exit`` the reason is
    ``(item, reason)``. Valid only inside its ``async with`` block.
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        max_concurrency: int,
        ordered: bool,
        timeout: float | None,
        on_timeout: OnTimeout,
        zip_input_on_exit: bool,
        start_job: StartJob | None,
        process: bool = False,
    ) -> None:
        self._fn = fn
        self._process = process
        self._ordered = ordered
        self._timeout = math.inf if timeout is None else timeout
        self._kill_task = on_timeout == "kill_task"
        self._zip = zip_input_on_exit
        self._start_job = start_job
        self._slots = trio.Semaphore(max_concurrency)
        self._queue: collections.deque[_Job] = collections.deque()
        self._running = 0
        self._streak = 0
        self._input_done = False
        self._open = True
        self._lot = trio.lowlevel.ParkingLot()
        self._error: BaseException | None = None
        self._nursery: trio.Nursery | None = None

    def __aiter__(self) -> AsyncIterator[tuple[str, Any]]:
        return self

    async def __anext__(self) -> tuple[str, Any]:
        if not self._open:
            raise RuntimeError("an async_stream is iterated inside its `async with` block only")
        queue = self._queue
        if queue and queue[0].result is not None:
            # A result is ready: hand it over without a trip through the scheduler,
            # but yield once every _STREAK results, so that a consumer of a fast
            # stream still lets the other tasks run (and is cancellable at once).
            self._streak += 1
            if self._streak >= _STREAK:
                self._streak = 0
                await trio.lowlevel.checkpoint()
            else:
                await trio.lowlevel.checkpoint_if_cancelled()
        else:
            self._streak = 0
            while not (queue and queue[0].result is not None):
                if self._input_done and not queue and not self._running:
                    raise StopAsyncIteration
                await self._lot.park()
        result = queue.popleft().result
        assert result is not None
        self._slots.release()
        return result

    # -- the producer and the jobs ---------------------------------------------------------

    async def _produce(self, items: Iterable[Any] | AsyncIterable[Any]) -> None:
        nursery = self._nursery
        assert nursery is not None
        iterator: Any = None
        try:
            if isinstance(items, AsyncIterable):
                iterator = aiter(items)
                while True:
                    # A slot first, then the item: never read ahead of the bound.
                    await self._slots.acquire()
                    item = await anext(iterator, _END)
                    if item is _END:
                        break
                    await self._launch(nursery, item)
            else:
                sync_iterator = iter(items)
                while True:
                    await self._slots.acquire()
                    item = next(sync_iterator, _END)
                    if item is _END:
                        break
                    await self._launch(nursery, item)
            self._slots.release()
        except Exception as exc:  # the input raised, or the supervisor refused a job
            self._fail(exc)
        finally:
            self._input_done = True
            self._lot.unpark_all()
            aclose = getattr(iterator, "aclose", None)
            if aclose is not None:
                with trio.CancelScope(shield=True):
                    await aclose()

    async def _launch(self, nursery: trio.Nursery, item: Any) -> None:
        job = _Job(item)
        if self._start_job is None:
            if self._process:
                job.box = AsyncTask()
                nursery.start_soon(self._run_linked, job, name="trio_otp.async_stream")
            else:
                nursery.start_soon(self._run_bare, job, name="trio_otp.async_stream")
        else:
            job.box = await self._start_job(self._fn, item)
            nursery.start_soon(self._watch_nolink, job, name="trio_otp.async_stream")
        self._running += 1
        if self._ordered:
            self._queue.append(job)  # ordered: every job, in input order

    async def _run_bare(self, job: _Job) -> None:
        # The default: a plain task of the stream's nursery, no process (no Pid, no
        # task-table entry, no kill switch of its own): the nursery is the link, and
        # the timeout's cancel scope, when there is one, is the kill.
        fn = self._fn
        try:
            if self._timeout == math.inf:
                result = fn(job.item)
                if type(result) is CoroutineType or inspect.isawaitable(result):
                    result = await result
            else:
                with trio.CancelScope() as scope:
                    scope.relative_deadline = self._timeout
                    await trio.lowlevel.checkpoint_if_cancelled()
                    result = fn(job.item)
                    if type(result) is CoroutineType or inspect.isawaitable(result):
                        result = await result
                if scope.cancelled_caught:
                    self._timed_out(job)
                    return
        except Exception as exc:
            _reports.stream_job_crash(current_process(), exc, fn, job.item)
            self._fail(exc)
            return
        self._finish(job, ("ok", result))

    async def _run_linked(self, job: _Job) -> None:
        box = job.box
        assert box is not None
        # No timeout, no cancel scope: a scope per job is a cost worth skipping.
        scope = None if self._timeout == math.inf else trio.CancelScope()
        try:
            # A real Task process (current_process() works in fn, crashes are
            # reported), owned by the stream's nursery: the link is the nursery.
            if scope is None:
                await _run(self._fn, (job.item,), None, box, None)
            else:
                scope.relative_deadline = self._timeout
                with scope:
                    await _run(self._fn, (job.item,), None, box, None)
        except Exception as exc:
            self._fail(exc)
            return
        if scope is not None and scope.cancelled_caught:
            self._timed_out(job)
        else:
            self._finish(job, ("ok", box._value))

    async def _watch_nolink(self, job: _Job) -> None:
        box = job.box
        assert box is not None
        pid = box.pid
        try:
            with trio.move_on_after(self._timeout) as scope:
                await pid.wait_exited()
        finally:
            if pid.alive:
                # Timed out, or the consumer left: the job must not outlive the stream.
                # A Task does not trap exits: it stops at once, as its supervisor
                # would stop it (its kill switch is its supervisor's child record).
                _kill(pid, SHUTDOWN)
        if scope.cancelled_caught:
            self._timed_out(job)
            return
        result = box._result()
        assert result is not None
        self._finish(job, result if result[0] == "ok" else self._exit(job, result[1]))

    def _exit(self, job: _Job, reason: object) -> tuple[str, Any]:
        return ("exit", (job.item, reason) if self._zip else reason)

    def _timed_out(self, job: _Job) -> None:
        if self._kill_task:
            self._finish(job, self._exit(job, _TIMEOUT))
        else:
            self._fail(TaskTimeout(f"async_stream job for {job.item!r}", self._timeout))

    def _finish(self, job: _Job, result: tuple[str, Any]) -> None:
        job.result = result
        self._running -= 1
        if not self._ordered:
            self._queue.append(job)  # unordered: finished jobs only, as they finish
        elif job is not self._queue[0] and self._running:
            # Ordered: the consumer waits for the head of the queue only (or for
            # the end, when nothing runs any more); a later job's result waits.
            return
        self._lot.unpark_all()

    def _fail(self, error: BaseException) -> None:
        # Elixir's link: the caller exits with the job's reason. Here: cancel the whole
        # block (consumer included) and raise the first error from ``async with``.
        if self._error is None:
            self._error = error
        assert self._nursery is not None
        self._nursery.cancel_scope.cancel()


def _check(fn: object, max_concurrency: object, timeout: object, on_timeout: object) -> int:
    if not callable(fn):
        raise TypeError(f"async_stream needs a function to run on each item, got {fn!r}")
    if max_concurrency is None:
        max_concurrency = os.cpu_count() or 1
    if (
        isinstance(max_concurrency, bool)
        or not isinstance(max_concurrency, int)
        or max_concurrency < 1
    ):
        raise ValueError(f"max_concurrency must be an int >= 1, got {max_concurrency!r}")
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout >= 0
    ):
        raise ValueError(f"timeout must be >= 0 seconds or None (no limit), got {timeout!r}")
    if on_timeout not in ("exit", "kill_task"):
        raise ValueError(f'on_timeout must be "exit" or "kill_task", got {on_timeout!r}')
    return max_concurrency


def _open(
    items: Iterable[Any] | AsyncIterable[Any],
    fn: Callable[..., Any],
    max_concurrency: int | None,
    ordered: bool,
    timeout: float | None,
    on_timeout: OnTimeout,
    zip_input_on_exit: bool,
    start_job: StartJob | None,
    process: bool = False,
) -> AbstractAsyncContextManager[AsyncStream]:
    limit = _check(fn, max_concurrency, timeout, on_timeout)
    for flag, value in (
        ("ordered", ordered),
        ("zip_input_on_exit", zip_input_on_exit),
        ("process", process),
    ):
        if not isinstance(value, bool):
            raise TypeError(f"async_stream's {flag} must be True or False, got {value!r}")
    if not isinstance(items, (Iterable, AsyncIterable)):
        raise TypeError(f"async_stream needs an iterable or async iterable, got {items!r}")
    stream = AsyncStream(
        fn, limit, ordered, timeout, on_timeout, zip_input_on_exit, start_job, process
    )
    return _lifetime(stream, items)


@asynccontextmanager
async def _lifetime(
    stream: AsyncStream, items: Iterable[Any] | AsyncIterable[Any]
) -> AsyncIterator[AsyncStream]:
    try:
        async with trio.open_nursery() as nursery:
            stream._nursery = nursery
            nursery.start_soon(stream._produce, items, name="trio_otp.async_stream input")
            try:
                yield stream
            finally:
                # However the block ends, nothing the stream started outlives it.
                stream._open = False
                nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        # The stream's own tasks raise nothing but Cancelled (errors go to _fail),
        # so a group holds the block's exception: give it back unwrapped.
        if stream._error is not None:
            raise BaseExceptionGroup("async_stream failed", [stream._error, group]) from None
        if len(group.exceptions) == 1:
            raise group.exceptions[0]  # noqa: B904 - keep its own __cause__
        raise
    finally:
        stream._open = False
    if stream._error is not None:
        raise stream._error


def async_stream(
    items: Iterable[Any] | AsyncIterable[Any],
    fn: Callable[[Any], Any],
    *,
    max_concurrency: int | None = None,
    ordered: bool = True,
    timeout: float | None = 5.0,
    on_timeout: OnTimeout = "exit",
    zip_input_on_exit: bool = False,
    process: bool = False,
) -> AbstractAsyncContextManager[AsyncStream]:
    """Run ``fn(item)`` for each item, at most ``max_concurrency`` at a time.

    Elixir's ``Task.async_stream``. Use it as ``async with ... as results: async for
    status, value in results`` (see the module notes for why a context manager).
    Each job runs in a task owned by the block, *linked* as in Elixir: a job that
    raises cancels the block (its crash is reported on the ``trio_otp.task``
    logger) and its exception is raised from the ``async with``. By default a job
    is a plain trio task, **not a process**: it has no pid of its own
    (:func:`~trio_otp.current_process` in it returns the process that opened the
    block, or ``None``), which halves what an item costs. ``process=True`` makes
    each job a :class:`~trio_otp.Task` process (its own pid and mailbox, for ``fn``
    that receives, sends, monitors or links; an ``otp.mailbox()`` block in it reads
    the job's own mailbox, while one in a plain job is a new process). Ordering,
    ``max_concurrency``, timeouts and exits are the same either way.

    Args:
        items: an iterable or async iterable, read lazily.
        fn: a plain or async function of one item.
        max_concurrency: default **os.cpu_count()** (Elixir's schedulers online);
            size it for your I/O.
        ordered: default **True**: results in input order (a finished job waits for
            the ones before it, holding its slot); ``False``: as they finish.
        timeout: seconds each job may run, default **5.0**; ``None`` for no limit.
        on_timeout: ``"exit"`` (default): the stream raises
            :exc:`~trio_otp.TaskTimeout`; ``"kill_task"``: the job is cancelled and
            yields ``("exit", "timeout")``.
        zip_input_on_exit: default **False**; ``True`` makes exits
            ``("exit", (item, reason))``.
        process: default **False**; ``True``: each job is a Task process.

    Raises:
        TypeError, ValueError: bad arguments (at once, before anything runs).
    """
    return _open(
        items, fn, max_concurrency, ordered, timeout, on_timeout, zip_input_on_exit, None, process
    )
