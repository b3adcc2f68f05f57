"""Fault injection: crash or kill a process, kill an executor's workers, kill a durable
queue as a whole-process kill would."""

from __future__ import annotations

import multiprocessing
import os
import signal

from .._core._exceptions import NoProcessError
from .._core._monitors import _kill
from .._core._monitors import exit as exit_signal
from .._core._names import whereis
from .._core._process import Pid
from .._core._reasons import KILL, KILLED, SHUTDOWN
from ..jobs._executors import ProcessExecutor
from ..jobs._queue import JobQueue


def _pid(process: object, what: str) -> Pid:
    pid = process if isinstance(process, Pid) else whereis(process)
    if pid is None:
        raise NoProcessError(process, what, None, what)
    return pid


def crash(process: object, reason: object) -> None:
    """Make ``process`` exit now with ``reason``, as if it had crashed.

    Unlike an exit signal, this cannot be trapped: a server that traps exits still
    exits (its ``terminate`` does not run, as for a kill), its monitors and links get
    ``reason`` (usually an exception, ``RuntimeError("boom")``), and its supervisor
    reports the exit and restarts it by its restart type. Under
    :func:`~trio_otp.testing.start_supervised` announce it with
    :func:`~trio_otp.testing.expect_crash` (so for :func:`kill`).

    Raises:
        NoProcessError: ``process`` is a name nobody holds.
    """
    pid = _pid(process, "crash")
    if pid.alive:
        _kill(pid, reason)


def kill(process: object) -> None:
    """Kill ``process`` (``otp.exit(process, otp.KILL)``: untrappable, reason ``killed``)."""
    exit_signal(_pid(process, "kill"), KILL)


def kill_workers(executor: ProcessExecutor, *, busy_only: bool = True) -> list[int]:
    """Kill worker processes of a running :class:`~trio_otp.ProcessExecutor` with SIGKILL.

    The jobs they were running fail with :exc:`~trio_otp.WorkerLostError` (a crash:
    transient jobs are run again in a fresh worker). ``busy_only`` (default): only
    workers running a job, not the idle ones the executor keeps. POSIX only.

    Returns:
        The OS process ids killed.

    Raises:
        RuntimeError: the executor is not open (no queue runs on it).
    """
    ctx = executor._ctx
    if ctx is None:
        raise RuntimeError(f"{executor!r} is not open: kill_workers needs a running queue")
    idle = {getattr(w, "proc", None) for w in list(getattr(ctx, "_worker_cache", ()))}
    killed = []
    for child in multiprocessing.active_children():
        if busy_only and child in idle:
            continue
        if child.pid is not None:
            os.kill(child.pid, signal.SIGKILL)
            killed.append(child.pid)
    return killed


async def kill_durable_queue(queue: JobQueue) -> None:
    """Stop a durable :class:`~trio_otp.JobQueue` as ``kill -9`` of its process would.

    Nothing more reaches the store from this instance: no ack of a running attempt
    (even one that finishes meanwhile), no release of its claims, no heartbeat. Its
    running jobs stay ``executing``, claimed by an instance that no longer beats, so
    another instance rescues them once its heartbeat is older than ``rescue_after``
    (the interrupted attempt counts), as after a real crash. The queue's tree is
    killed; this returns when the queue has stopped (its ``serve`` returns).

    Raises:
        TypeError: ``queue`` has no store (an in-memory queue loses its jobs with
            the process: kill its tree with :func:`kill` instead).
        RuntimeError: the queue is not running.
    """
    engine = queue._engine
    if engine is None:
        raise TypeError(f"{queue!r} has no store: kill_durable_queue is for JobQueue(store=...)")
    sup = queue._sup
    if queue._state != "running" or sup is None:
        raise RuntimeError(f"{queue!r} is not running")
    # As if the process had died at this instant: pending acks are lost, nothing is
    # released, and no attempt that ends from now on writes its outcome.
    engine._released = True
    engine._acks.clear()
    engine._end = _dropped  # type: ignore[method-assign]
    # The tree goes at once, with no terminate and no drain: its children are killed
    # (their jobs' tasks with them), and the queue's supervisor exits with a normal
    # reason first, so that it restarts nothing and the queue's serve returns
    # instead of raising into the test.
    _kill(sup, SHUTDOWN)
    for child in (queue._server, queue._jobs_sup):
        if child is not None and child.alive:
            _kill(child, KILLED)
    await queue._stopped.wait()


def _dropped(*args: object, **kwargs: object) -> None:
    """An attempt's end after a simulated kill: never written."""
