"""The queue's server side: its book-keeping, its GenServer, and its supervisor.

The tree one queue runs (strategy rest_for_one)::

    queue supervisor (_QueueSupervisor)
    ├── DynamicSupervisor (the job supervisor: one Task per running job)
    └── queue server (_QueueServer, a GenServer: admits, queues and starts jobs)

The book-keeping (the queue, the running jobs, the callers waiting for room, the
counters) lives in :class:`_QueueCore`, the base of :class:`~trio_otp.JobQueue`, so
that it survives the restarts of the server and of the job supervisor.
"""

from __future__ import annotations

import collections
import logging
import random
import time
from collections.abc import Callable
from typing import Any, Final, final

import trio

from .._core import _reports, _telemetry
from .._core._call import From, _reply_error, cast, reply
from .._core._names import whereis
from .._core._process import Pid, current_process
from .._server._child_spec import Restart
from .._server._gen_server import GenServer, NoReply, Ok
from .._supervision._dynamic_supervisor import start_child_with_args
from .._supervision._supervisor import _StaticSupervisor
from .._supervision._supervisor_server import Strategy
from ._attempt import _TEMPORARY_JOB, _TRANSIENT_JOB, _restarted, _run_job
from ._exceptions import JobLostError, QueueFullError, QueueStoppedError
from ._executors import Executor
from ._handle import EventKind, JobEvent, JobHandle, JobStatus
from ._options import OnFull
from ._timed import TimedJobs

logger = logging.getLogger("trio_otp.job_queue")


class _QueueCore:
    """The queue's book-keeping and its server-side steps (JobQueue's base)."""

    executor: Executor
    max_queued: int
    on_full: OnFull
    shutdown: float
    _limit: int
    _on_event: Callable[[JobEvent], object] | None
    _rng: random.Random
    _jobs_name: object
    _queued: collections.deque[JobHandle[Any]]
    _waiting: collections.OrderedDict[JobHandle[Any], tuple[From, bool]]
    _active: set[JobHandle[Any]]
    _done: int
    _failed: int
    _cancelled: int
    _retries: int
    _restarts: int
    _state: str
    _server: Pid | None
    _jobs_sup: Pid | None
    _sup: Pid | None
    _drained: trio.Event | None
    #: True while the job supervisor is gone (it gave up and is being restarted):
    #: jobs stay queued until the restarted queue server starts them.
    _paused: bool
    #: Set (and replaced) each time a queue server starts, and when the queue stops:
    #: callers whose server exited before admitting their job wait on it to try again.
    _server_up: trio.Event
    #: An in-memory queue's later and periodic jobs (None for a durable queue).
    _timed: TimedJobs | None

    async def _drain_store(self) -> None:
        """A durable queue's part of the drain (JobQueue overrides it); nothing here."""

    def _cancel_delayed(self) -> None:
        timed = self._timed
        if timed is not None:
            for job in timed.take_all():
                job._cancelled("shutdown")

    async def _drain(self) -> None:
        self._state = "stopping"
        self._cancel_delayed()
        await self._drain_store()
        self._server_up.set()  # callers waiting to ask a restarted server: it is over
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
        self._server_up.set()
        self._cancel_delayed()
        while self._queued:
            self._queued.popleft()._cancelled("shutdown")
        self._turn_away_waiting()
        for job in list(self._active):
            job._scope = None
            job._cancelled("shutdown")

    # -- scheduling --------------------------------------------------------------------

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
        if job._status is not JobStatus.QUEUED:
            # A later job whose handle cancelled it while it was being handed over.
            reply(from_, None)
            return
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
        except Exception as exc:  # the job supervisor is gone: the job cannot run now
            self._active.discard(job)
            if self._state == "running":
                # It gave up and is being restarted (rest_for_one restarts this
                # server after it): the job never started, so it waits at the head
                # of the queue for the restarted server, as queued jobs do.
                job._status = JobStatus.QUEUED
                self._queued.appendleft(job)
                self._paused = True
            else:
                error = JobLostError(job)
                error.__cause__ = exc
                job._finish(JobStatus.FAILED, None, error)

    async def _start_next(self) -> None:
        while self._queued and len(self._active) < self._limit:
            if self._paused:
                return  # the job supervisor is gone: the restarted server goes on
            await self._run(self._queued.popleft())
        if self._paused:
            return
        while self._waiting and (
            len(self._active) < self._limit or len(self._queued) < self.max_queued
        ):
            job, (from_, schedule) = self._waiting.popitem(last=False)
            await self._accept(job, from_, schedule, run=len(self._active) < self._limit)

    def _dequeue(self, job: JobHandle[Any]) -> None:
        timed = self._timed
        if timed is not None and timed.discard(job):
            return  # a later job, not handed over yet (or being handed over: _accept skips it)
        self._queued.remove(job)
        self._slot_freed()

    def _slot_freed(self) -> None:
        if self._queued or self._waiting:
            if self._server is not None:
                cast(self._server, _NEXT)
        elif self._drained is not None and not self._active:
            self._drained.set()

    def _emit(self, kind: EventKind, job: JobHandle[Any], reason: BaseException | None) -> None:
        """Hand ``kind`` to the ``on_event`` hook and to telemetry, whichever listens
        (the callers check that one does: nothing is built otherwise)."""
        if _telemetry.listening:
            self._job_telemetry(kind, job, reason)
        hook = self._on_event
        if hook is None:
            return
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

    def _job_telemetry(
        self, kind: EventKind, job: JobHandle[Any], reason: BaseException | None
    ) -> None:
        """``[trio_otp, job, start|stop|exception]``, a span per attempt (as the durable
        engine emits them): ``start`` when an attempt begins, then ``stop`` (it
        returned) or ``exception`` (it raised and is retried, failed, was cancelled).
        An end whose start was not seen (a handler attached meanwhile, a job
        cancelled while queued) emits nothing, so that starts and ends pair up."""
        now = trio.current_time()
        if kind is EventKind.STARTED:
            job._began = now
            name = "start"
            measurements = {"system_time": time.time()}
            more: dict[str, object] = {}
        elif kind is EventKind.QUEUED:
            return
        else:
            began: float | None = getattr(job, "_began", None)
            if began is None:
                return
            del job._began
            name = "stop" if kind is EventKind.FINISHED else "exception"
            measurements = {"duration": now - began}
            more = {"state": _TELEMETRY_STATE[kind], "error": reason}
        _telemetry.execute_telemetry(
            ("trio_otp", "job", name),
            measurements,
            {
                "queue": None,
                "worker": job.name,
                "id": job._id,
                "attempt": job._attempts,
                "node": None,
                "job_queue": self,
                **more,
            },
        )


#: The ``state`` of an attempt's end in the job telemetry of an in-memory queue.
_TELEMETRY_STATE: Final = {
    EventKind.FINISHED: "done",
    EventKind.RETRIED: "retrying",
    EventKind.FAILED: "failed",
    EventKind.CANCELLED: "cancelled",
}


# -- the queue's server ----------------------------------------------------------------------

_SCHEDULE: Final = 0
_SUBMIT: Final = 1
_NEXT: Final = "next"


class _QueueServer(GenServer[_QueueCore]):
    """Admits, queues and starts jobs; the tasks answer the callers."""

    async def init(self, queue: _QueueCore) -> Ok[_QueueCore]:
        queue._server = current_process()
        jobs_sup = whereis(queue._jobs_name)
        if queue._jobs_sup is not None and jobs_sup is not queue._jobs_sup:
            # Restarted after the job supervisor gave up (rest_for_one): the jobs
            # it ran are gone; their callers learn it now (OTP takes down only the
            # running children). Queued jobs stay queued and run on the new one.
            queue._paused = False
            for job in list(queue._active):
                error = JobLostError(job)
                error.__cause__ = job._crash
                job._finish(JobStatus.FAILED, None, error)
        queue._jobs_sup = jobs_sup
        # Callers who waited for room asked the old server: their calls ended with
        # it, and they ask this one again (_QueueCore._retry_on_new_server).
        queue._waiting.clear()
        up, queue._server_up = queue._server_up, trio.Event()
        up.set()
        await queue._start_next()
        return Ok(queue)

    async def handle_call(
        self, request: tuple[int, JobHandle[Any]], from_: From, queue: _QueueCore
    ) -> NoReply[_QueueCore]:
        kind, job = request
        if (
            kind == _SCHEDULE
            and queue._state == "running"
            and from_._task is not None
            and len(queue._active) < queue._limit
            and not queue._queued
            and job._status is JobStatus.QUEUED
            and queue._on_event is None
        ):
            # The common case of schedule(), its admission inline: a running queue
            # with room, a caller still waiting, no hook to tell (QUEUED goes to
            # on_event only). Two Python calls per job (_admit, _accept) fewer; any
            # other case takes _admit, the general path, with the same result.
            job._accepted = True
            job._from = from_
            await queue._run(job)
        else:
            await queue._admit(job, from_, kind == _SCHEDULE)
        return NoReply(queue)

    async def handle_cast(self, request: object, queue: _QueueCore) -> NoReply[_QueueCore]:
        await queue._start_next()
        return NoReply(queue)


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

    def __init__(self, queue: _QueueCore) -> None:
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
