"""JobHandle, JobStatus, JobEvent, EventKind: one job as its caller and observers see it.

A handle belongs to the queue that made it; it reaches that queue's book-keeping
through :class:`_Owner`, the few members it needs (the queue's server side
implements it), so that this module imports neither the queue nor its server.
"""

from __future__ import annotations

import collections
import enum
import random
from collections.abc import Callable
from typing import Any, Final, Generic, Protocol, TypeVar, final

import attrs
import trio

from .._core import _telemetry
from .._core._call import From, _reply_error, reply
from .._server._child_spec import Restart
from ._exceptions import JobCancelledError
from ._executors import Executor
from ._retry import RetryPolicy

T = TypeVar("T")


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


class _Owner(Protocol):
    """What a job's handle and its task use of their queue (its book-keeping)."""

    executor: Executor
    _on_event: Any
    _rng: random.Random
    _active: set[JobHandle[Any]]
    _done: int
    _failed: int
    _cancelled: int
    _retries: int
    _restarts: int
    _state: str
    _jobs_sup: Any
    _queued: collections.deque[JobHandle[Any]]
    _waiting: collections.OrderedDict[JobHandle[Any], tuple[From, bool]]
    _drained: trio.Event | None

    def _dequeue(self, job: JobHandle[Any]) -> None: ...

    def _slot_freed(self) -> None: ...

    def _emit(self, kind: EventKind, job: JobHandle[Any], reason: BaseException | None) -> None: ...


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
        "_began",
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

    _queue: _Owner
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
    _began: float  # set while a telemetry handler listens: the attempt's start

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
        if queue._on_event is not None or _telemetry.listening:
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
        if queue._queued or queue._waiting or queue._drained is not None:
            # Only then has _slot_freed anything to do (a Python call fewer per job
            # of a queue with room, the common end of a job).
            queue._slot_freed()

    def _cancelled(self, reason: str) -> None:
        self._finish(JobStatus.CANCELLED, None, JobCancelledError(self, reason))


_FINAL: Final = frozenset({JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED})
