"""A job's supervised task: one attempt at a time, the retries after it, the crash reason.

The queue's server starts one :class:`~trio_otp.Task` per running job under the job
supervisor (a DynamicSupervisor); its body is :func:`_run_job` (temporary jobs) or
:func:`_restarted` (transient ones, run again by the supervisor after a crash). The
task answers the job's caller itself.
"""

from __future__ import annotations

import math
from typing import Any, Final
from typing import cast as cast_type

import trio

from .._behaviours._task import Task
from .._core import _telemetry
from .._server._child_spec import Restart
from ._exceptions import JobTimeoutError, WorkerLostError
from ._handle import _NO_VALUE, EventKind, JobHandle, JobStatus


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
    if queue._on_event is not None or _telemetry.listening:
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
                if queue._on_event is not None or _telemetry.listening:
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
                if queue._on_event is not None or _telemetry.listening:
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
            except WorkerLostError:
                raise  # a crash reason (below): the job supervisor decides
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
    except Exception as exc:
        # Whatever escapes an attempt (a dead worker, an executor's prepare or run
        # failing, a broken hook of the queue's own) is the job's crash reason: its
        # task crashes with it and the restart type decides (never a lost caller).
        job._scope = None
        if job._status is JobStatus.RUNNING and job._crash is None:
            _crashed(job, exc)
        raise
    finally:
        # Cancelled from outside: the caller still gets an answer (the Cancelled
        # itself propagates). The queue stopping cancels the job ("shutdown"); the job
        # supervisor giving up leaves it to the restarted server, which answers
        # JobLostError, as OTP takes down the running children of a supervisor that
        # gives up.
        if job._status is JobStatus.RUNNING and job._crash is None and not _lost(job):
            job._scope = None
            job._cancelled("shutdown")


def _lost(job: JobHandle[Any]) -> bool:
    """Whether the job's task was cancelled because its job supervisor gave up (the
    queue itself still running): its caller then gets JobLostError from the restarted
    queue server."""
    queue = job._queue
    if queue._state != "running":
        return False
    impl = getattr(queue._jobs_sup, "_impl", None)
    return getattr(impl, "_gave_up", None) is not None


def _crashed(job: JobHandle[Any], exc: Exception) -> None:
    if job._restart is Restart.TEMPORARY:
        job._finish(JobStatus.FAILED, None, exc)
    else:
        # Transient: the supervisor runs _run_job(job) again in a new task, which
        # still holds the caller. Until then the job stays RUNNING.
        job._crash = exc
        queue = job._queue
        queue._restarts += 1
        if queue._on_event is not None or _telemetry.listening:
            queue._emit(EventKind.RETRIED, job, exc)


def _restarted(job: JobHandle[Any]) -> Any:
    job._crash = None
    return _run_job(job)


#: A job's Task, temporary (a crash fails the job) or transient (a crash runs it
#: again in a new task); the job itself is passed per start (start_child_with_args).
_NO_JOB: Final = cast_type("JobHandle[Any]", None)  # each start passes its own job
_TEMPORARY_JOB: Final = Task.child_spec(_run_job, _NO_JOB)
_TRANSIENT_JOB: Final = Task.child_spec(_restarted, _NO_JOB).replace(restart=Restart.TRANSIENT)
