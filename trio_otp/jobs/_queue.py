"""JobQueue: the Elixir chapter's job queue, production grade.

The chapter's shape, kept: a GenServer (the queue's server) hands each job to a fresh
Task under a DynamicSupervisor, and that task answers the caller directly. Around
it: a bounded number of running jobs and a bounded queue (back-pressure), a per-job
timeout (a cancel scope), a retry policy counted apart from the supervisor's restart
intensity, per-job events and :meth:`JobQueue.statistics`, a stop that drains, and
*executors* that run the job's body elsewhere (:class:`Executor`) while the
supervised task stays local.

The tree one queue runs (strategy rest_for_one)::

    queue supervisor
    ├── DynamicSupervisor (the job supervisor: one Task per running job)
    └── queue server (GenServer: admits, queues and starts jobs)

If the job supervisor gives up (restart intensity), the queue server is restarted
after it and answers the callers of the jobs that were lost (:exc:`JobLostError`).
The queue's book-keeping (the queue, the running jobs, the counters) lives in the
:class:`JobQueue` object, so it survives those restarts and nothing is forgotten.

The queue supervisor is the queue's handle (and holds its ``name``): asked to stop,
by :meth:`JobQueue.stop` or by a parent supervisor, it drains the queue in its
``terminate`` before its children stop. As a child of another supervisor
(:meth:`JobQueue.child_spec`), each start builds a new JobQueue from the spec's
options: a restarted queue is a new object under the same name.
"""

from __future__ import annotations

import builtins
import collections
import enum
import functools
import logging
import math
import random
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from typing import Any, Final, Generic, Literal, TypeVar, final
from typing import cast as cast_type

import attrs
import trio

from .._behaviours._task import Task
from .._core import _reports
from .._core._call import From, _reply_error, call, cast, reply
from .._core._exceptions import AlreadyStartedError, CalleeExit, ChildSpecError, NoProcessError
from .._core._names import check_name, whereis
from .._core._process import Pid, current_process
from .._server._child_spec import (
    ChildSpec,
    ChildType,
    Restart,
    _show,
    _to_restart,
    to_child_spec,
)
from .._server._gen_server import GenServer, NoReply, Ok
from .._supervision._dynamic_supervisor import DynamicSupervisor, start_child_with_args
from .._supervision._supervisor import _StaticSupervisor, _stop_tree
from .._supervision._supervisor_server import Strategy, _check_intensity
from ._exceptions import (
    JobCancelledError,
    JobLostError,
    JobQueueError,
    JobRefusedError,
    JobTimeoutError,
    QueueFullError,
    QueueStoppedError,
    WorkerLostError,
)
from ._executors import Executor, InProcessExecutor

T = TypeVar("T")
logger = logging.getLogger("trio_otp.job_queue")


class JobStatus(enum.StrEnum):
    """Where a job is in its life (``JobHandle.status``)."""

    QUEUED = "queued"  #: accepted, waiting for a free running slot
    RUNNING = "running"  #: its task runs it (or waits to retry it)
    DONE = "done"  #: it returned a result
    FAILED = "failed"  #: it raised, timed out, or its worker died (no more tries)
    CANCELLED = "cancelled"  #: cancelled by its handle, or by the queue stopping

    def __repr__(self) -> str:
        return f"JobStatus.{self.name}"


class EventKind(enum.StrEnum):
    """What happened to a job (``JobEvent.kind``)."""

    QUEUED = "queued"  #: accepted by the queue
    STARTED = "started"  #: an attempt began (``attempt`` says which)
    RETRIED = "retried"  #: an attempt failed and the job will run again (``reason``)
    FINISHED = "finished"  #: it returned a result
    FAILED = "failed"  #: it failed for good (``reason``)
    CANCELLED = "cancelled"  #: it was cancelled (``reason``)

    def __repr__(self) -> str:
        return f"EventKind.{self.name}"


OnFull = Literal["wait", "fail"]


def _check_int(name: str, value: object, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    return value


def _seconds(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise ValueError(f"{name} must be a number of seconds, got {value!r}")
    if value < 0:
        raise ValueError(f"{name} must be >= 0 seconds, got {value!r}")
    return float(value)


def _optional_seconds(name: str, value: object) -> float | None:
    return None if value is None else _seconds(name, value)


def _to_attempts(value: object) -> int:
    return _check_int("attempts", value, 1)


def _to_on(
    value: builtins.type[Exception] | Iterable[builtins.type[Exception]],
) -> tuple[builtins.type[Exception], ...]:
    kinds: tuple[object, ...] = (value,) if isinstance(value, type) else tuple(value)
    for kind in kinds:
        if not (isinstance(kind, type) and issubclass(kind, Exception)):
            raise ValueError(f"RetryPolicy.on must hold Exception subclasses, got {kind!r}")
    return kinds  # type: ignore[return-value]


def _to_wait_initial(value: object) -> float:
    return _seconds("wait_initial", value)


def _to_wait_max(value: object) -> float:
    return _seconds("wait_max", value)


def _to_wait_exp_base(value: object) -> float:
    return _seconds("wait_exp_base", value)


def _to_wait_jitter(value: object) -> float:
    return _seconds("wait_jitter", value)


@attrs.frozen
class RetryPolicy:
    """When and how soon a failed job runs again: exponential backoff with jitter.

    The parameters and the formula follow stamina's (the project's choices in
    docs/job_queue.rst say why the queue does not use stamina or tenacity itself).
    The wait before attempt ``n + 1`` is ``min(wait_max, wait_initial *
    wait_exp_base ** (n - 1) + uniform(0, wait_jitter))``.

    Retries happen inside the job's task: they are not restarts, so they never count
    toward the job supervisor's restart intensity. Never retried, whatever ``on``
    says: :exc:`~trio_otp.WorkerLostError` (a crash reason, the supervisor's), a
    timeout, a cancellation.

    Attributes:
        attempts: runs in all, the first included. Default **3**; 1 means no retry.
        on: exception classes that are retried. Default **(Exception,)**.
        wait_initial: seconds before the 2nd attempt (before jitter). Default **0.1**.
        wait_max: the longest wait, in seconds. Default **5.0**.
        wait_exp_base: the growth factor per attempt. Default **2.0**.
        wait_jitter: at most this many seconds are added at random. Default **1.0**.
    """

    attempts: int = attrs.field(default=3, converter=_to_attempts)
    # builtins.type: in the docs, a bare "type" would point at ChildSpec.type.
    on: tuple[builtins.type[Exception], ...] = attrs.field(default=(Exception,), converter=_to_on)
    wait_initial: float = attrs.field(default=0.1, converter=_to_wait_initial)
    wait_max: float = attrs.field(default=5.0, converter=_to_wait_max)
    wait_exp_base: float = attrs.field(default=2.0, converter=_to_wait_exp_base)
    wait_jitter: float = attrs.field(default=1.0, converter=_to_wait_jitter)

    def retries(self, error: BaseException, attempt: int) -> bool:
        """Whether a job that raised ``error`` in attempt ``attempt`` runs again."""
        return (
            attempt < self.attempts
            and isinstance(error, self.on)
            and not isinstance(error, (WorkerLostError, JobQueueError))
        )

    def wait(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based)."""
        base = self.wait_initial * self.wait_exp_base ** (attempt - 1)
        jitter = rng.uniform(0, self.wait_jitter) if self.wait_jitter else 0.0
        return min(self.wait_max, base + jitter)


#: No retry: the default policy of a queue.
NO_RETRY: Final = RetryPolicy(attempts=1)


@attrs.frozen
class JobEvent:
    """One thing that happened to a job, given to the queue's ``on_event`` hook.

    Attributes:
        kind: what happened.
        job: the job's handle.
        attempt: the attempt it concerns (0 while queued).
        reason: the exception, for ``retried``, ``failed`` and ``cancelled``.
        time: ``trio.current_time()`` when it happened.
    """

    kind: EventKind
    job: JobHandle[Any]
    attempt: int
    reason: BaseException | None
    time: float


@attrs.frozen
class JobQueueStatistics:
    """A snapshot of a queue (:meth:`JobQueue.statistics`).

    Attributes:
        queued: jobs accepted and waiting for a running slot.
        running: jobs whose task runs them.
        waiting: callers waiting for room in a full queue (``on_full="wait"``).
        done: jobs that returned a result, since the queue started.
        failed: jobs that failed for good (raised, timed out, worker lost).
        cancelled: jobs cancelled (by their handle or by the queue stopping).
        retries: runs again by the retry policy.
        restarts: runs again by the job supervisor (a crash of a transient job).
        max_running: the bound on ``running``: the queue's ``max_running``, or the
            executor's capacity if smaller. max_queued: the bound on ``queued``.
    """

    queued: int
    running: int
    waiting: int
    done: int
    failed: int
    cancelled: int
    retries: int
    restarts: int
    max_running: int
    max_queued: int


_NO_VALUE: Any = object()


@final
class JobHandle(Generic[T]):
    """One scheduled job: await its result, cancel it, read its status.

    :meth:`JobQueue.submit` returns it; events carry it. It has no public
    constructor.
    """

    __slots__ = (
        "_accepted",
        "_args",
        "_attempts",
        "_crash",
        "_done",
        "_error",
        "_fn",
        "_from",
        "_id",
        "_name",
        "_queue",
        "_restart",
        "_retry",
        "_scope",
        "_status",
        "_timeout",
        "_value",
    )

    _queue: JobQueue
    _accepted: bool
    _fn: Callable[..., Any]
    _args: tuple[Any, ...]
    _id: int
    _name: str | None
    _timeout: float | None
    _retry: RetryPolicy
    _restart: Restart
    _status: JobStatus
    _attempts: int
    _from: From | None
    _done: trio.Event | None
    _value: Any
    _error: BaseException | None
    _scope: trio.CancelScope | None
    _crash: BaseException | None

    def __init__(self) -> None:
        raise TypeError("JobHandle has no public constructor: JobQueue.submit returns one")

    @property
    def id(self) -> int:
        """The job's number in its queue, from 1."""
        return self._id

    @property
    def name(self) -> str:
        """The job's name: the ``name`` option, else its function's name."""
        name = self._name
        if name is None:
            fn = self._fn
            name = self._name = getattr(fn, "__qualname__", None) or repr(fn)
        return name

    @property
    def status(self) -> JobStatus:
        """Where the job is: queued, running, done, failed or cancelled."""
        return self._status

    @property
    def attempts(self) -> int:
        """How many times the job's body has started (retries and restarts included)."""
        return self._attempts

    def __repr__(self) -> str:
        return f"<job {self.name}#{self._id} ({self._status.value})>"

    def done(self) -> bool:
        """True once the job is done, failed or cancelled (its outcome is known)."""
        return self._status in _FINAL

    async def wait(self) -> T:
        """Wait for the job's result; a checkpoint even when it is known already.

        Waits as long as the job takes: bound it with the job's ``timeout`` option,
        or with your own ``trio.fail_after`` (the job keeps running; cancel it with
        :meth:`cancel`).

        Raises:
            JobTimeoutError: the job ran past its ``timeout``.
            JobCancelledError: it was cancelled, by :meth:`cancel` or the queue stopping.
            JobLostError: its job supervisor gave up.
            WorkerLostError: its worker died and its restart type is temporary.
            Exception: whatever the job raised (its own type), after the retries.
        """
        if self._status not in _FINAL:
            if self._done is None:
                self._done = trio.Event()
            await self._done.wait()
        else:
            await trio.lowlevel.checkpoint()
        if self._error is not None:
            raise self._error
        value: T = self._value
        return value

    def cancel(self) -> None:
        """Cancel the job: dequeue it, or cancel its running attempt (killing its
        worker). Its caller gets :exc:`~trio_otp.JobCancelledError`. Nothing happens
        if the job is over already. Never blocks."""
        if self._status is JobStatus.QUEUED:
            self._queue._dequeue(self)
            self._cancelled("cancelled")
        elif self._status is JobStatus.RUNNING:
            if self._scope is not None:
                self._scope.cancel()  # the task answers the caller
            else:
                # Its task has not begun the attempt yet (or runs a plain function
                # inline and cannot be interrupted): answer now; it will not run.
                self._cancelled("cancelled")

    # -- the runtime's side ----------------------------------------------------------

    def _finish(self, status: JobStatus, value: Any, error: BaseException | None) -> None:
        self._status = status
        self._value = value
        self._error = error
        queue = self._queue
        queue._active.discard(self)
        if status is JobStatus.DONE:
            queue._done += 1
            kind = EventKind.FINISHED
        elif status is JobStatus.FAILED:
            queue._failed += 1
            kind = EventKind.FAILED
        else:
            queue._cancelled += 1
            kind = EventKind.CANCELLED
        if queue._on_event is not None:
            queue._emit(kind, self, error)
        from_ = self._from
        if from_ is not None:
            self._from = None
            if error is None:
                reply(from_, value)
            else:
                _reply_error(from_, error)
        if self._done is not None:
            self._done.set()
        queue._slot_freed()

    def _cancelled(self, reason: str) -> None:
        self._finish(JobStatus.CANCELLED, None, JobCancelledError(self, reason))


_FINAL: Final = frozenset({JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED})


# -- the job's supervised task -------------------------------------------------------------


def _run_job(job: JobHandle[Any]) -> Any:
    """The body of a job's Task: run one attempt, retries after it.

    A plain function so that the common case (an inline executor, a plain function,
    no timeout) costs no coroutine and no cancel scope; anything that must wait
    returns a coroutine, which the Task awaits under its supervisor's kill scope.
    """
    if job._status is not JobStatus.RUNNING:
        return None  # cancelled before its task began
    queue = job._queue
    if job._timeout is not None or not queue.executor.inline:
        return _attempts(job, None)
    job._attempts += 1
    if queue._on_event is not None:
        queue._emit(EventKind.STARTED, job, None)
    try:
        result = job._fn(*job._args)
    except Exception as exc:
        if job._retry.retries(exc, job._attempts):
            return _attempts(job, exc)
        job._finish(JobStatus.FAILED, None, exc)
        return None
    if hasattr(result, "__await__"):
        return _attempts(job, None, result)
    job._finish(JobStatus.DONE, result, None)
    return None


async def _attempts(job: JobHandle[Any], failed: BaseException | None, first: Any = None) -> None:
    """Run attempts until one succeeds, fails for good, times out or is cancelled.

    ``failed``: the previous attempt raised this (retry it after the backoff);
    ``first``: the awaitable an inline attempt returned (await it first).
    """
    queue = job._queue
    executor = queue.executor
    try:
        while True:
            if failed is not None:
                queue._retries += 1
                if queue._on_event is not None:
                    queue._emit(EventKind.RETRIED, job, failed)
                delay = job._retry.wait(job._attempts, queue._rng)
                if delay > 0:
                    with trio.CancelScope() as scope:
                        job._scope = scope
                        await trio.sleep(delay)
                    job._scope = None
                    if scope.cancelled_caught:
                        job._cancelled("cancelled")
                        return
                else:
                    await trio.lowlevel.checkpoint()
                    if job._status is not JobStatus.RUNNING:
                        return  # cancelled by its handle meanwhile (answered already)
                failed = None
            timeout = job._timeout
            if first is None and not executor.inline:
                # Get a worker ready first: neither the timeout nor STARTED covers the
                # wait for (or the spawn of) a worker.
                with trio.CancelScope() as scope:
                    job._scope = scope
                    await executor.prepare()
                job._scope = None
                if scope.cancelled_caught:
                    job._cancelled("cancelled")
                    return
            if first is None:
                job._attempts += 1
                if queue._on_event is not None:
                    queue._emit(EventKind.STARTED, job, None)
                if timeout is None and executor.inline:
                    # A retry of an inline job: a plain function needs no cancel
                    # scope (nothing can interrupt it); only an awaitable does.
                    try:
                        first = job._fn(*job._args)
                    except Exception as exc:
                        if job._retry.retries(exc, job._attempts):
                            failed = exc
                            continue
                        job._finish(JobStatus.FAILED, None, exc)
                        return
                    if not hasattr(first, "__await__"):
                        job._finish(JobStatus.DONE, first, None)
                        return
            result: Any = _NO_VALUE
            try:
                with trio.CancelScope() as scope:
                    job._scope = scope
                    with trio.move_on_after(math.inf if timeout is None else timeout) as limit:
                        if first is not None:
                            awaitable, first = first, None
                            result = await awaitable
                        else:
                            result = await executor.run(job._fn, job._args)
            except WorkerLostError as exc:
                job._scope = None
                _crashed(job, exc)
                raise  # a crash: the job supervisor decides by the restart type
            except Exception as exc:
                job._scope = None
                if job._retry.retries(exc, job._attempts):
                    failed = exc
                    continue
                job._finish(JobStatus.FAILED, None, exc)
                return
            job._scope = None
            if scope.cancelled_caught:
                job._cancelled("cancelled")
            elif limit.cancelled_caught:
                assert timeout is not None
                job._finish(JobStatus.FAILED, None, JobTimeoutError(job, timeout))
            else:
                job._finish(JobStatus.DONE, result, None)
            return
    finally:
        # Cancelled from outside (the queue stopping, the supervisor giving up):
        # the caller still gets an answer. The Cancelled itself propagates.
        if job._status is JobStatus.RUNNING and job._crash is None:
            job._scope = None
            job._cancelled("shutdown")


def _crashed(job: JobHandle[Any], exc: WorkerLostError) -> None:
    if job._restart is Restart.TEMPORARY:
        job._finish(JobStatus.FAILED, None, exc)
    else:
        # Transient: the supervisor runs _run_job(job) again in a new task, which
        # still holds the caller. Until then the job stays RUNNING.
        job._crash = exc
        queue = job._queue
        queue._restarts += 1
        if queue._on_event is not None:
            queue._emit(EventKind.RETRIED, job, exc)


def _restarted(job: JobHandle[Any]) -> Any:
    job._crash = None
    return _run_job(job)


#: A job's Task, temporary (a crash fails the job) or transient (a crash runs it
#: again in a new task); the job itself is passed per start (start_child_with_args).
_NO_JOB: Final = cast_type("JobHandle[Any]", None)  # each start passes its own job
_TEMPORARY_JOB: Final = Task.child_spec(_run_job, _NO_JOB)
_TRANSIENT_JOB: Final = Task.child_spec(_restarted, _NO_JOB).replace(restart=Restart.TRANSIENT)


# -- the queue's server ----------------------------------------------------------------------

_SCHEDULE: Final = 0
_SUBMIT: Final = 1
_NEXT: Final = "next"


class _QueueServer(GenServer["JobQueue"]):
    """Admits, queues and starts jobs; the tasks answer the callers."""

    async def init(self, queue: JobQueue) -> Ok[JobQueue]:
        queue._server = current_process()
        jobs_sup = whereis(queue._jobs_name)
        if queue._jobs_sup is not None and jobs_sup is not queue._jobs_sup:
            # Restarted after the job supervisor gave up (rest_for_one): the jobs
            # it ran are gone; their callers learn it now.
            for job in list(queue._active):
                error = JobLostError(job)
                error.__cause__ = job._crash
                job._finish(JobStatus.FAILED, None, error)
        queue._jobs_sup = jobs_sup
        await queue._start_next()
        return Ok(queue)

    async def handle_call(
        self, request: tuple[int, JobHandle[Any]], from_: From, queue: JobQueue
    ) -> NoReply[JobQueue]:
        kind, job = request
        await queue._admit(job, from_, kind == _SCHEDULE)
        return NoReply(queue)

    async def handle_cast(self, request: object, queue: JobQueue) -> NoReply[JobQueue]:
        await queue._start_next()
        return NoReply(queue)


def _check_restart(value: object) -> Restart:
    # Any value at run time: _to_restart raises ChildSpecError for a bad one.
    restart = _to_restart(value)  # type: ignore[arg-type]
    if restart is Restart.PERMANENT:
        raise ValueError(
            "a job's restart must be 'temporary' or 'transient': a permanent job would "
            "run again after it succeeded"
        )
    return restart


#: The constructor's options, for JobQueue.child_spec.
_OPTIONS: Final = frozenset(
    {
        "executor",
        "max_running",
        "max_queued",
        "on_full",
        "timeout",
        "retry",
        "restart",
        "shutdown",
        "max_restarts",
        "max_seconds",
        "on_event",
        "seed",
        "name",
    }
)
#: The spec fields JobQueue.child_spec's keywords override.
_SPEC_OVERRIDES: Final = frozenset({"id", "restart", "shutdown"})


@final
class _Started:
    """A ``task_status`` that hands the started value to a function."""

    __slots__ = ("_on_started",)

    def __init__(self, on_started: Callable[[Pid], None]) -> None:
        self._on_started = on_started

    def started(self, value: Pid) -> None:
        self._on_started(value)


class _QueueSupervisor(_StaticSupervisor):
    """The queue's own supervisor (rest_for_one): the root of the queue's tree.

    Its handle is the queue's handle in a parent supervisor and under the queue's
    ``name``; :meth:`JobQueue.lookup` finds the queue from it.
    """

    def __init__(self, queue: JobQueue) -> None:
        super().__init__(Strategy.REST_FOR_ONE, 3, 5.0)
        self.queue = queue

    async def terminate(self, reason: object, state: None) -> None:
        # Asked to stop (JobQueue.stop, a parent supervisor's shutdown, trio_otp.stop):
        # drain before the children stop, as OTP gives each child its shutdown budget.
        # Not when the tree gave up: its server or job supervisor is gone, and no
        # running job would answer in time.
        if self._gave_up is None:
            await self.queue._drain()
        await super().terminate(reason, state)


@final
class JobQueue:
    """A supervised job queue: bounded, observable, retrying, on any executor.

    Create it, then run it with ``async with queue.open():`` (or :meth:`serve` /
    :meth:`start`), or put it in a supervisor's children list
    (``(JobQueue, {"name": "jobs", ...})``, see :meth:`child_spec`); schedule jobs
    with :meth:`schedule` (wait for the result) or :meth:`submit` (get a
    :class:`JobHandle`). Options and their defaults:

    * ``executor``: where job bodies run. Default **InProcessExecutor()**.
    * ``max_running``: jobs running at once. Default **1000**. An executor with a
      smaller capacity (worker processes, Ray's ``max_in_flight``) lowers it: jobs
      wait for a worker in the queue, where their timeout has not begun.
    * ``max_queued``: jobs accepted and waiting for a slot. Default **10000**.
    * ``on_full``: when both are full, ``"wait"`` (default: scheduling waits for
      room) or ``"fail"`` (scheduling raises :exc:`~trio_otp.QueueFullError` at once).
    * ``timeout``: each job's default timeout, seconds. Default **None** (none).
    * ``retry``: each job's default :class:`RetryPolicy`. Default **no retry**.
    * ``restart``: each job task's restart type, ``"temporary"`` (default: a crash
      fails the job) or ``"transient"`` (a crash runs it again in a new task).
    * ``shutdown``: seconds running jobs get to finish when the queue stops.
      Default **5.0**.
    * ``max_restarts`` / ``max_seconds``: the job supervisor's restart intensity.
      Default **3** in **5** s (OTP's).
    * ``on_event``: a plain function called with every :class:`JobEvent`. Default
      **None**. It must not block; an exception it raises is logged and ignored.
    * ``seed``: seeds the backoff jitter. Default **None** (random).
    * ``name``: registers the queue's supervisor under this name (any name
      :func:`~trio_otp.whereis` takes, a :meth:`Registry.via <trio_otp.Registry.via>`
      name too) while the queue runs; :meth:`lookup` finds the queue by it. Default
      **None** (not registered).
    """

    def __init__(
        self,
        executor: Executor | None = None,
        *,
        max_running: int = 1000,
        max_queued: int = 10_000,
        on_full: OnFull = "wait",
        timeout: float | None = None,
        retry: RetryPolicy = NO_RETRY,
        restart: Restart | str = Restart.TEMPORARY,
        shutdown: float = 5.0,
        max_restarts: int = 3,
        max_seconds: float = 5,
        on_event: Callable[[JobEvent], object] | None = None,
        seed: int | None = None,
        name: object = None,
    ) -> None:
        if executor is None:
            executor = InProcessExecutor()
        elif not isinstance(executor, Executor):
            raise TypeError(f"executor must implement trio_otp.Executor, got {executor!r}")
        self.executor: Executor = executor
        self.max_running: int = _check_int("max_running", max_running, 1)
        # Jobs beyond the executor's capacity would only wait for a worker: they
        # stay queued instead, so that their timeout has not begun yet.
        capacity = executor.capacity
        self._limit = max_running if capacity is None else min(max_running, capacity)
        self.max_queued: int = _check_int("max_queued", max_queued, 0)
        if on_full not in ("wait", "fail"):
            raise ValueError(f"on_full must be 'wait' or 'fail', got {on_full!r}")
        self.on_full: OnFull = on_full
        self.timeout: float | None = _optional_seconds("timeout", timeout)
        if not isinstance(retry, RetryPolicy):
            raise TypeError(f"retry must be a trio_otp.RetryPolicy, got {retry!r}")
        self.retry = retry
        self.restart: Restart = _check_restart(restart)
        self.shutdown: float = _seconds("shutdown", shutdown)
        # Checked here, not when the job supervisor starts: a bad option fails at once.
        intensity = _check_intensity(max_restarts, max_seconds)
        self.max_restarts: int = intensity[0]
        self.max_seconds: float = intensity[1]
        if on_event is not None and not callable(on_event):
            raise TypeError(f"on_event must be a function taking a JobEvent, got {on_event!r}")
        self._on_event = on_event
        self._rng = random.Random(seed)
        if name is not None:
            check_name(name)  # a bad name fails here, not when the queue starts
        self.name: object = name
        self._jobs_name = (self, "jobs")
        self._queued: collections.deque[JobHandle[Any]] = collections.deque()
        # Callers waiting for room, in arrival order. Keyed by job, not a deque: a
        # caller that gives up removes its own entry at once (O(1)), so entries never
        # pile up while the queue stays full; OrderedDict pops its oldest in O(1).
        self._waiting: collections.OrderedDict[JobHandle[Any], tuple[From, bool]] = (
            collections.OrderedDict()
        )
        self._active: set[JobHandle[Any]] = set()
        self._next_id = 0
        self._done = self._failed = self._cancelled = self._retries = self._restarts = 0
        self._state = "new"
        self._server: Pid | None = None
        self._jobs_sup: Pid | None = None
        self._sup: Pid | None = None
        self._stop_requested = trio.Event()
        self._stopped = trio.Event()
        self._drained: trio.Event | None = None

    def __repr__(self) -> str:
        name = "" if self.name is None else f"{_show(self.name)} "
        return f"<JobQueue {name}{self.executor!r} ({self._state})>"

    # -- running the queue -----------------------------------------------------------

    async def serve(
        self, *, task_status: trio.TaskStatus[JobQueue] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Run the queue until :meth:`stop` (``nursery.start``'s protocol).

        Opens the executor, starts the queue's supervision tree (registered under
        ``name``, if given), and passes the queue to ``task_status.started``. On
        :meth:`stop` (or when the queue's supervisor is asked to stop: see
        :meth:`child_spec`): new jobs are refused, queued jobs are cancelled, callers
        waiting for room are turned away, running jobs get ``shutdown`` seconds to
        finish, then the rest are cancelled (their workers killed) and the executor
        is closed. Every caller gets an answer.

        Raises:
            ExecutorStartError: the executor could not start (nothing ran).
            AlreadyStartedError: ``name`` is taken (checked before the executor opens).
            RestartIntensityError: the queue's own supervisor gave up (its server or
                its job supervisor kept crashing); every caller was answered.
            RuntimeError: the queue was started before (a queue runs once).
        """
        await self._serve(task_status, self)

    async def _serve(self, task_status: Any, handle: object) -> None:
        """Run the queue; ``handle`` (the queue, or ``None`` for its supervisor's
        handle) is passed to ``task_status.started``. Errors are raised as themselves."""
        if self._state != "new":
            raise RuntimeError(f"{self!r} was started before: create a new JobQueue")
        self._state = "starting"
        error: list[BaseException] = []
        try:
            if self.name is not None:
                holder = whereis(self.name)
                if holder is not None:
                    # The registration below is the real check; this one spares
                    # opening an executor (a Ray cluster) for a queue that cannot run.
                    raise AlreadyStartedError(self.name, holder)
            async with self.executor.open(), trio.open_nursery() as nursery:
                try:
                    pid: Pid = await nursery.start(self._run_tree, nursery, error)
                except Exception as exc:  # a start error: raised as itself, ungrouped
                    error.append(exc)
                else:
                    self._state = "running"
                    nursery.start_soon(self._stop_when_asked, pid)
                    task_status.started(pid if handle is None else handle)
            if error:
                raise error[0]
        finally:
            self._state = "stopped"
            self._answer_everyone()
            self._stopped.set()

    async def _run_tree(
        self,
        nursery: trio.Nursery,
        error: list[BaseException],
        task_status: trio.TaskStatus[Pid] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        specs = [
            to_child_spec(
                (
                    DynamicSupervisor,
                    {
                        "name": self._jobs_name,
                        "max_restarts": self.max_restarts,
                        "max_seconds": self.max_seconds,
                    },
                )
            ),
            _QueueServer.child_spec(self),
        ]
        started = False

        def on_started(pid: Pid) -> None:
            nonlocal started
            started = True
            self._sup = pid
            task_status.started(pid)

        status = _Started(on_started)
        try:
            await _QueueSupervisor(self)._serve_in_nursery(specs, self.name, status)
        except Exception as exc:
            if not started:
                raise  # nursery.start raises it in _serve
            error.append(exc)  # the tree gave up: _serve raises it, ungrouped
        # The tree has exited (stopped, killed, or gave up): so does the queue.
        nursery.cancel_scope.cancel()

    async def _stop_when_asked(self, pid: Pid) -> None:
        await self._stop_requested.wait()
        await _stop_tree(pid)  # the supervisor's terminate drains (_QueueSupervisor)

    @asynccontextmanager
    async def open(self) -> AsyncIterator[JobQueue]:
        """``async with queue.open():`` runs the queue for the block; stops it (drains) after.

        If the block raises (or is cancelled), the queue is cancelled at once (its
        running jobs too; every caller still gets an answer) and the block's
        exception comes out of the ``async with`` as itself, as from
        :meth:`Supervisor.open <trio_otp.Supervisor.open>`.

        Raises:
            ExecutorStartError: the executor could not start (raised as itself).
            ChildStartError: the queue's supervision tree could not start (as itself).
        """
        error: BaseException | None = None
        async with trio.open_nursery() as nursery:
            try:
                await nursery.start(self.serve)
            except Exception as exc:  # a start error is raised as itself, ungrouped
                while isinstance(exc, ExceptionGroup) and len(exc.exceptions) == 1:
                    exc = exc.exceptions[0]  # one error, wrapped by serve's nursery
                error = exc
            else:
                try:
                    yield self
                except BaseException as exc:
                    # serve's cleanup still answers every caller; the block's own
                    # exception is raised outside the nursery, ungrouped.
                    error = exc
                    nursery.cancel_scope.cancel()
                else:
                    await self.stop()
        if error is not None:
            raise error

    @classmethod
    async def start(
        cls, nursery: trio.Nursery, executor: Executor | None = None, **options: Any
    ) -> JobQueue:
        """Create a queue with these options, run it in ``nursery``, and return it."""
        queue = cls(executor, **options)
        await nursery.start(queue.serve)
        return queue

    @staticmethod
    def child_spec(options: Mapping[str, Any] | None = None, /, **overrides: Any) -> ChildSpec:
        """The spec of ``(JobQueue, {"name": "jobs", ...})`` in a children list.

        ``options`` are the constructor's (``executor`` included) and ``name``. Each
        start of the child creates a *fresh* queue with these options and runs it:
        a restart gets a new, empty queue (its executor opened again) under the same
        ``name``, so :meth:`lookup` finds the new one. The options are checked here,
        once, with the constructor's errors.

        The spec: id the ``name`` if given, else ``JobQueue``; restart
        **permanent**; type **supervisor** (the child's handle is the queue's
        supervisor); shutdown **infinity**, as for every supervisor: the queue
        bounds its own stop, since running jobs get the queue's ``shutdown``
        seconds (default 5) before they are cancelled and the executor closes.
        Keywords: ``name=`` (as the option), and ``id=``, ``restart=``,
        ``shutdown=`` override the spec's fields (the ``restart`` and ``shutdown``
        *options* in ``options`` are the jobs' restart type and the drain's budget).

        Raises:
            ChildSpecError: an unknown option or keyword, or a bad spec field.
            ValueError, TypeError: a bad option value (the constructor's errors).
        """
        if options is None:
            opts: dict[str, Any] = {}
        elif isinstance(options, Mapping):
            opts = dict(options)
        else:
            raise ChildSpecError(
                f"JobQueue.child_spec takes a mapping of the queue's options, got {options!r}: "
                'e.g. (JobQueue, {"name": "jobs", "max_running": 4})'
            )
        unknown = set(opts) - _OPTIONS
        if unknown:
            raise ChildSpecError(
                f"unknown JobQueue option(s) {sorted(unknown)}; the options are {sorted(_OPTIONS)}"
            )
        if "name" in overrides:
            name = overrides.pop("name")
            if opts.get("name", name) != name:
                raise ChildSpecError(
                    f"two names for one JobQueue: {opts['name']!r} in the options and "
                    f"name={name!r}: give one"
                )
            opts["name"] = name
        bad = set(overrides) - _SPEC_OVERRIDES
        if bad:
            hint = (
                f"; {sorted(bad & _OPTIONS)} are queue options: put them in the options mapping"
                if bad & _OPTIONS
                else ""
            )
            raise ChildSpecError(
                f"JobQueue.child_spec() got unknown keyword(s) {sorted(bad)}: it takes "
                f"name= and the spec fields {sorted(_SPEC_OVERRIDES)}{hint}"
            )
        JobQueue(**opts)  # the constructor's checks, once, now; each start makes its own
        name = opts.get("name")
        spec = ChildSpec(
            id=JobQueue if name is None else name,
            start=functools.partial(JobQueue._serve_new, **opts),
            type=ChildType.SUPERVISOR,
            modules=(JobQueue,),
        )
        return spec.replace(**overrides) if overrides else spec

    @staticmethod
    async def _serve_new(
        *, task_status: trio.TaskStatus[Pid] = trio.TASK_STATUS_IGNORED, **options: Any
    ) -> None:
        """A child's start: a fresh queue per start, its supervisor's handle as the child's."""
        await JobQueue(**options)._serve(task_status, None)

    @staticmethod
    def lookup(queue: object) -> JobQueue:
        """The running queue registered under the name ``queue`` (or with this handle).

        The name is the ``name`` option; the handle is the queue's supervisor's
        (:attr:`pid`, or the ``pid`` a parent's ``which_children`` shows). After the
        queue was restarted by its parent, the same name finds the new queue: look it
        up again rather than keep the old object (which refuses new jobs with
        :exc:`~trio_otp.QueueStoppedError`).

        Raises:
            NoProcessError: no queue runs under that name (never started, stopped,
                or between a crash and the end of its restart).
            TypeError: the name belongs to a process that is not a JobQueue.
        """
        pid = queue if type(queue) is Pid else whereis(queue)
        impl = pid._impl if pid is not None and pid.alive else None
        if impl is not None and type(impl) is not _QueueSupervisor:
            raise TypeError(f"{queue!r} is not a JobQueue: it is {pid!r}")
        if impl is None or impl.queue._state == "starting":
            # A queue whose tree is still starting (its name is registered first, as
            # in OTP) is not there yet: its starter gets it when the start returns.
            raise NoProcessError(queue, None, None, "JobQueue.lookup")
        return impl.queue

    @property
    def pid(self) -> Pid | None:
        """The handle of the queue's supervisor (the root of its tree); ``None``
        until the queue started. Stopping it (:func:`~trio_otp.stop`) stops the
        queue, draining it."""
        return self._sup

    async def stop(self) -> None:
        """Stop the queue and wait until it stopped (see :meth:`serve`: it drains)."""
        if self._state == "new":
            self._state = "stopped"
            self._stopped.set()
        self._stop_requested.set()
        await self._stopped.wait()

    async def _drain(self) -> None:
        self._state = "stopping"
        while self._queued:
            self._queued.popleft()._cancelled("shutdown")
        self._turn_away_waiting()
        jobs_sup = self._jobs_sup
        if self._active and jobs_sup is not None and jobs_sup.alive:
            self._drained = trio.Event()
            with trio.move_on_after(self.shutdown):
                await self._drained.wait()

    def _turn_away_waiting(self) -> None:
        waiting = self._waiting
        self._waiting = collections.OrderedDict()
        for from_, _ in waiting.values():
            _reply_error(from_, QueueStoppedError(self))

    def _answer_everyone(self) -> None:
        # Whatever ended the queue (stop, an error, a cancelled owner): no caller
        # is left without an answer.
        while self._queued:
            self._queued.popleft()._cancelled("shutdown")
        self._turn_away_waiting()
        for job in list(self._active):
            job._scope = None
            job._cancelled("shutdown")

    # -- scheduling --------------------------------------------------------------------

    def _make(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        timeout: object,
        retry: RetryPolicy | None,
        restart: Restart | str | None,
        name: str | None,
    ) -> JobHandle[Any]:
        if self._state != "running" or self._server is None:
            raise (
                QueueStoppedError(self)
                if self._state != "new"
                else RuntimeError(
                    f"{self!r} is not running: run it with `async with queue.open():` first"
                )
            )
        job: JobHandle[Any] = object.__new__(JobHandle)
        job._queue = self
        job._fn = fn
        job._args = args
        self._next_id += 1
        job._id = self._next_id
        job._name = name
        job._timeout = (
            self.timeout if timeout is _DEFAULT else _optional_seconds("timeout", timeout)
        )
        job._retry = self.retry if retry is None else retry
        job._restart = self.restart if restart is None else _check_restart(restart)
        job._status = JobStatus.QUEUED
        job._attempts = 0
        job._accepted = False
        job._from = None
        job._done = None
        job._value = None
        job._error = None
        job._scope = None
        job._crash = None
        if not self.executor.inline:
            self.executor.check(fn, args, f"{job.name}#{job._id}")
        elif not callable(fn):
            raise TypeError(f"a job must be callable, got {fn!r}")
        return job

    async def schedule(
        self,
        fn: Callable[..., Any],
        *args: Any,
        timeout: float | None = None,  # noqa: ASYNC109 - the job's deadline, not the call's
        retry: RetryPolicy | None = None,
        restart: Restart | str | None = None,
        name: str | None = None,
    ) -> Any:
        """Run ``fn(*args)`` as a job and return its result (the chapter's ``schedule_job``).

        The job's task answers this call directly. If the caller is cancelled (by
        its own cancel scope), its job is cancelled too, as a child task would be
        (its worker killed); a job that should outlive its caller is :meth:`submit`-ted
        and lives on its handle. Per-job options override the
        queue's: ``timeout`` (seconds, a cancel scope around each attempt; ``None``
        takes the queue's default, ``math.inf`` means none), ``retry``, ``restart``,
        ``name``.

        Raises:
            QueueFullError: the queue is full and ``on_full`` is ``"fail"``.
            QueueStoppedError: the queue is stopping or stopped.
            JobNotPicklableError: the executor ships jobs and this one cannot be pickled.
            JobRefusedError: the queue's server restarted before admitting the job
                (it never ran; schedule it again).
            JobTimeoutError, JobCancelledError, JobLostError, WorkerLostError: see
                :meth:`JobHandle.wait`; or the job's own exception.
        """
        job = self._make(fn, args, _DEFAULT if timeout is None else timeout, retry, restart, name)
        try:
            return await call(self._server, (_SCHEDULE, job), timeout=None)
        except CalleeExit:
            # The queue's server exited (the queue stops, or it was restarted after
            # the job supervisor gave up) while this call was pending. An accepted
            # job still gets its answer: wait for it on the handle.
            if job._accepted:
                return await job.wait()
            raise self._refused(job) from None
        finally:
            if not job._accepted:
                # Never admitted (it gave up, or was refused): forget its place in line.
                self._waiting.pop(job, None)
            elif job._status not in _FINAL:
                # The caller was cancelled (by its own scope): nobody waits for the
                # job any more, so it stops too, as a child of the caller would.
                job.cancel()

    async def submit(
        self,
        fn: Callable[..., Any],
        *args: Any,
        timeout: float | None = None,  # noqa: ASYNC109 - the job's deadline, not the call's
        retry: RetryPolicy | None = None,
        restart: Restart | str | None = None,
        name: str | None = None,
    ) -> JobHandle[Any]:
        """Accept ``fn(*args)`` as a job and return its :class:`JobHandle` at once.

        Waits only while the queue is full (``on_full="wait"``). Options as
        :meth:`schedule`.

        Raises:
            QueueFullError, QueueStoppedError, JobNotPicklableError: as :meth:`schedule`.
        """
        job = self._make(fn, args, _DEFAULT if timeout is None else timeout, retry, restart, name)
        try:
            await call(self._server, (_SUBMIT, job), timeout=None)
        except CalleeExit:
            if not job._accepted:
                raise self._refused(job) from None
        finally:
            if not job._accepted:
                # The caller gave up (or was refused): forget its place in line.
                self._waiting.pop(job, None)
        return job

    def _refused(self, job: JobHandle[Any]) -> Exception:
        sup = self._sup
        if self._state != "running" or sup is None or not sup.alive:
            return QueueStoppedError(self)  # the whole queue is gone, not just its server
        return JobRefusedError(job)  # the server restarted before admitting it

    def statistics(self) -> JobQueueStatistics:
        """A snapshot of the queue's counters (see :class:`JobQueueStatistics`)."""
        return JobQueueStatistics(
            queued=len(self._queued),
            running=len(self._active),
            waiting=len(self._waiting),
            done=self._done,
            failed=self._failed,
            cancelled=self._cancelled,
            retries=self._retries,
            restarts=self._restarts,
            max_running=self._limit,
            max_queued=self.max_queued,
        )

    # -- the server's side ------------------------------------------------------------

    async def _admit(self, job: JobHandle[Any], from_: From, schedule: bool) -> None:
        if self._state != "running":
            _reply_error(from_, QueueStoppedError(self))
            return
        if from_.caller is None:
            return  # the caller gave up before its request was read: nothing to admit
        if len(self._active) < self._limit and not self._queued:
            await self._accept(job, from_, schedule, run=True)
        elif len(self._queued) < self.max_queued:
            await self._accept(job, from_, schedule, run=False)
        elif self.on_full == "fail":
            _reply_error(from_, QueueFullError(self, self._limit, self.max_queued))
        else:
            self._waiting[job] = (from_, schedule)

    async def _accept(self, job: JobHandle[Any], from_: From, schedule: bool, *, run: bool) -> None:
        job._accepted = True
        if schedule:
            job._from = from_
        else:
            reply(from_, None)
        if self._on_event is not None:
            self._emit(EventKind.QUEUED, job, None)
        if run:
            await self._run(job)
        else:
            self._queued.append(job)

    async def _run(self, job: JobHandle[Any]) -> None:
        job._status = JobStatus.RUNNING
        self._active.add(job)
        # One spec per restart type, built once: each job passes only its arguments.
        if job._restart is Restart.TEMPORARY:
            spec, args = _TEMPORARY_JOB, (_run_job, job)
        else:
            spec, args = _TRANSIENT_JOB, (_restarted, job)
        try:
            await start_child_with_args(self._jobs_sup, spec, args)
        except Exception as exc:  # the job supervisor is gone: the job cannot run
            error = JobLostError(job)
            error.__cause__ = exc
            job._finish(JobStatus.FAILED, None, error)

    async def _start_next(self) -> None:
        while self._queued and len(self._active) < self._limit:
            await self._run(self._queued.popleft())
        while self._waiting and (
            len(self._active) < self._limit or len(self._queued) < self.max_queued
        ):
            job, (from_, schedule) = self._waiting.popitem(last=False)
            await self._accept(job, from_, schedule, run=len(self._active) < self._limit)

    def _dequeue(self, job: JobHandle[Any]) -> None:
        self._queued.remove(job)
        self._slot_freed()

    def _slot_freed(self) -> None:
        if self._queued or self._waiting:
            if self._server is not None:
                cast(self._server, _NEXT)
        elif self._drained is not None and not self._active:
            self._drained.set()

    def _emit(self, kind: EventKind, job: JobHandle[Any], reason: BaseException | None) -> None:
        hook = self._on_event
        assert hook is not None
        event = JobEvent(kind, job, job._attempts, reason, trio.current_time())
        try:
            hook(event)
        except Exception as exc:
            logger.exception(
                "the on_event hook of %r raised on %r",
                self,
                event,
                extra={
                    "otp_event": _reports.EVENT_JOB_HOOK_FAILED,
                    "otp_pid": self._server,
                    "otp_reason": exc,
                    "otp_job_event": event,
                },
            )


_DEFAULT: Any = object()
