"""Job queue helpers modelled on ``Oban.Testing``: record, run inline, drain, perform.

Both testing modes are *executors*, so a job goes through the queue's real path
(the queue must be running, its bounds apply, the executor's checks run: a job that
:class:`~trio_otp.ProcessExecutor` could not pickle is refused as it would be in
production when ``checks=ProcessExecutor()`` is given), and only the body's run
changes:

* :class:`ManualExecutor` (Oban's ``testing: :manual``): an accepted job is recorded
  and waits; :func:`assert_enqueued` / :func:`refute_enqueued` look at what waits;
  :func:`drain` runs everything that waits (and whatever those jobs enqueue, and
  retries after their backoff: on the virtual clock under ``autojump_clock``).
* :class:`InlineExecutor` (``testing: :inline``): the body runs at once, in the
  job's task, as :class:`~trio_otp.InProcessExecutor` would; every run is recorded
  (:attr:`InlineExecutor.performed`).

The in-memory queue has no uniqueness option, so there is no unique check to run;
a durable queue's store checks uniqueness on insert (issue 18).
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, ClassVar

import attrs
import trio

from ..jobs._executors import Executor, InProcessExecutor
from ..jobs._queue import JobQueue
from ._patterns import ANY, matches, show


@attrs.frozen
class EnqueuedJob:
    """A job a testing executor recorded: its function (Oban's worker) and arguments."""

    worker: Callable[..., Any]
    args: tuple[Any, ...]

    def __repr__(self) -> str:
        name = getattr(self.worker, "__qualname__", repr(self.worker))
        return f"<job {name}{self.args!r}>"


@contextlib.asynccontextmanager
async def _nothing() -> AsyncIterator[None]:
    yield


class _Recording:
    # Not inline: the queue then runs every attempt through run(), where the testing
    # executors record (an inline executor's plain functions are called directly).
    inline: ClassVar[bool] = False

    def __init__(self, checks: Executor | None = None) -> None:
        self.checks: Executor = checks if checks is not None else InProcessExecutor()

    @property
    def capacity(self) -> None:
        return None

    def open(self) -> AbstractAsyncContextManager[None]:
        return _nothing()

    async def prepare(self) -> None:
        await trio.lowlevel.checkpoint()

    def check(self, fn: Callable[..., Any], args: tuple[Any, ...], name: str) -> None:
        self.checks.check(fn, args, name)

    async def _perform(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        result = fn(*args)
        if inspect.isawaitable(result):
            result = await result
        return result


class ManualExecutor(_Recording):
    """Record accepted jobs; run them only when the test calls :func:`drain`.

    Args:
        checks: the executor whose scheduling checks apply (default
            :class:`~trio_otp.InProcessExecutor`'s: the job must be callable; give
            ``ProcessExecutor()`` to check picklability as production would).
    """

    def __init__(self, checks: Executor | None = None) -> None:
        super().__init__(checks)
        #: the jobs waiting to be drained, in the order they were accepted
        self.enqueued: list[EnqueuedJob] = []
        self._release = trio.Event()
        self._draining = 0

    def __repr__(self) -> str:
        return f"ManualExecutor({len(self.enqueued)} enqueued)"

    async def run(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        if not self._draining:
            job = EnqueuedJob(fn, args)
            self.enqueued.append(job)
            try:
                while not self._draining:
                    await self._release.wait()
            finally:
                with contextlib.suppress(ValueError):
                    self.enqueued.remove(job)
        return await self._perform(fn, args)


class InlineExecutor(_Recording):
    """Run each job's body at once in its task, and record it (``performed``)."""

    def __init__(self, checks: Executor | None = None) -> None:
        super().__init__(checks)
        #: every body run, in order
        self.performed: list[EnqueuedJob] = []
        #: inline jobs never wait: nothing is ever enqueued
        self.enqueued: list[EnqueuedJob] = []

    def __repr__(self) -> str:
        return f"InlineExecutor({len(self.performed)} performed)"

    async def run(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        self.performed.append(EnqueuedJob(fn, args))
        return await self._perform(fn, args)


def _testing_executor(queue: JobQueue, what: str) -> ManualExecutor | InlineExecutor:
    executor = queue.executor
    if not isinstance(executor, (ManualExecutor, InlineExecutor)):
        raise TypeError(
            f"{what}() needs a queue built with a testing executor: "
            f"JobQueue(trio_otp.testing.ManualExecutor()) (or InlineExecutor()); "
            f"{queue!r} runs on {executor!r}"
        )
    return executor


def _matching(queue: JobQueue, worker: object, args: object) -> list[EnqueuedJob]:
    executor = _testing_executor(queue, "assert_enqueued")
    waiting = [EnqueuedJob(j._fn, j._args) for j in queue._queued]
    return [
        job
        for job in [*executor.enqueued, *waiting]
        if _same_worker(worker, job.worker) and matches(args, job.args)
    ]


def _same_worker(worker: object, fn: object) -> bool:
    # A job's function is itself the pattern (Oban's ``worker: MyWorker``): compared
    # by identity or equality, never called as a predicate.
    if callable(worker) and not isinstance(worker, type):
        return worker is fn or worker == fn
    return matches(worker, fn)


def assert_enqueued(queue: JobQueue, worker: object = ANY, args: object = ANY) -> EnqueuedJob:
    """Assert a job of ``worker`` with ``args`` waits in ``queue``; return it.

    ``worker`` is the job's function (or a pattern); ``args`` a tuple of its
    arguments, or a pattern (``(ANY, 3)``, a predicate). Waiting means: recorded by
    a :class:`ManualExecutor` and not drained yet, or queued behind ``max_running``.

    Raises:
        AssertionError: none does; the message lists what waits.
    """
    found = _matching(queue, worker, args)
    if not found:
        executor = _testing_executor(queue, "assert_enqueued")
        raise AssertionError(
            f"no job of {show(worker)} with args {show(args)} is enqueued in {queue!r}; "
            f"enqueued: {executor.enqueued!r}"
        )
    return found[0]


def refute_enqueued(queue: JobQueue, worker: object = ANY, args: object = ANY) -> None:
    """Assert no job of ``worker`` with ``args`` waits in ``queue``."""
    found = _matching(queue, worker, args)
    if found:
        raise AssertionError(f"{found[0]!r} is enqueued in {queue!r}")


@attrs.frozen
class DrainResult:
    """What :func:`drain` ran: Oban's ``%{success: n, failure: n, ...}``."""

    done: int
    failed: int
    cancelled: int
    retries: int


async def drain(queue: JobQueue) -> DrainResult:
    """Run every job that waits in ``queue`` (and what they enqueue) until none is left.

    Retries wait their backoff on the test's clock (virtual under ``autojump_clock``).
    With an :class:`InlineExecutor` it waits for the running jobs to end.

    Returns:
        The jobs that finished, failed and were cancelled meanwhile, and the retries.
    """
    executor = _testing_executor(queue, "drain")
    before = queue.statistics()
    if isinstance(executor, ManualExecutor):
        executor._draining += 1
        executor._release.set()
    try:
        while True:
            stats = queue.statistics()
            if not (stats.queued or stats.running or stats.waiting):
                break
            await trio.sleep(0.001)  # the queue has no "idle" event to wait for
    finally:
        if isinstance(executor, ManualExecutor):
            executor._draining -= 1
            executor._release = trio.Event()
    after = queue.statistics()
    return DrainResult(
        done=after.done - before.done,
        failed=after.failed - before.failed,
        cancelled=after.cancelled - before.cancelled,
        retries=after.retries - before.retries,
    )


async def perform_job(
    worker: Callable[..., Any], *args: Any, checks: Executor | None = None
) -> Any:
    """Run one job's body now, as the queue would (``Oban.Testing.perform_job``).

    The executor's scheduling checks run first (``checks``, default
    :class:`~trio_otp.InProcessExecutor`'s; ``ProcessExecutor()`` to check that the
    job can be pickled). Returns its result, or raises its exception.
    """
    executor = checks if checks is not None else InProcessExecutor()
    executor.check(worker, args, getattr(worker, "__qualname__", repr(worker)))
    result = worker(*args)
    if inspect.isawaitable(result):
        result = await result
    return result
