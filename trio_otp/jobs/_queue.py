"""JobQueue: the Elixir chapter's job queue, production grade (the façade).

The chapter's shape, kept: a GenServer (the queue's server) hands each job to a fresh
Task under a DynamicSupervisor, and that task answers the caller directly. Around
it: a bounded number of running jobs and a bounded queue (back-pressure), a per-job
timeout (a cancel scope), a retry policy counted apart from the supervisor's restart
intensity (``_retry.py``), per-job events and :meth:`JobQueue.statistics`, a stop
that drains, and *executors* that run the job's body elsewhere (``_executors.py``)
while the supervised task stays local.

This module holds the :class:`JobQueue` class users meet: its options, running it,
scheduling, statistics. The server side (the tree, its book-keeping) is
``_server.py``; a job's task is ``_attempt.py``; a job's handle is ``_handle.py``.

If the job supervisor gives up (restart intensity), the queue server is restarted
after it and answers the callers of the jobs that were lost (:exc:`JobLostError`).
The queue's book-keeping lives in the :class:`JobQueue` object, so it survives
those restarts and nothing is forgotten.

The queue supervisor is the queue's handle (and holds its ``name``): asked to stop,
by :meth:`JobQueue.stop` or by a parent supervisor, it drains the queue in its
``terminate`` before its children stop. As a child of another supervisor
(:meth:`JobQueue.child_spec`), each start builds a new JobQueue from the spec's
options: a restarted queue is a new object under the same name.
"""

from __future__ import annotations

import collections
import functools
import logging
import random
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from typing import Any, Final, cast, final

import trio

from .._core._call import From, call
from .._core._exceptions import AlreadyStartedError, CalleeExit, ChildSpecError, NoProcessError
from .._core._names import check_name, whereis
from .._core._process import Pid, current_process
from .._core._reports import short_repr
from .._server._child_spec import ChildSpec, ChildType, Restart, _show, to_child_spec
from .._supervision._dynamic_supervisor import DynamicSupervisor
from .._supervision._supervisor import _stop_tree
from .._supervision._supervisor_server import _check_intensity
from ._durable import DurableEngine
from ._durable_api import _DurableAPI
from ._exceptions import QueueFullError, QueueStoppedError
from ._executors import Executor, InProcessExecutor
from ._handle import _FINAL, JobEvent, JobHandle, JobStatus
from ._options import OnFull, _check_int, _check_restart, _optional_seconds, _seconds
from ._registry import JobRegistry
from ._retry import DURABLE_RETRY, NO_RETRY, RetryPolicy, _check_retry
from ._server import _SCHEDULE, _SUBMIT, _QueueCore, _QueueServer, _QueueSupervisor, _Started
from ._statistics import JobQueueStatistics
from ._store import JobStore
from ._timed import TimedJobs, wait_before

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
        "store",
        "jobs",
        "queues",
        "heartbeat_interval",
        "rescue_after",
        "prune_after",
        "prune_interval",
        "clock",
    }
)
#: The spec fields JobQueue.child_spec's keywords override.
_SPEC_OVERRIDES: Final = frozenset({"id", "restart", "shutdown"})


@final
@final
class _JobsName:
    """The registered name of a queue's job supervisor: unique to its queue, and
    printed in reports and render_tree as ``<queue name>.jobs`` (never the queue's
    repr as it was when the name was made)."""

    __slots__ = ("queue",)

    def __init__(self, queue: object) -> None:
        self.queue = queue

    def __repr__(self) -> str:
        name = getattr(self.queue, "name", None)
        shown = "JobQueue" if name is None else name if isinstance(name, str) else short_repr(name)
        return f"{shown}.jobs"


class JobQueue(_DurableAPI, _QueueCore):
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

    Durable jobs (docs: "Durable jobs"): with a ``store`` the queue keeps its jobs in
    it (they survive a crash or ``kill -9``) and runs only registered functions:

    * ``store``: a :class:`~trio_otp.jobs.JobStore`, e.g. ``SQLiteStore(path)``.
      Default **None** (in memory: jobs die with the program).
    * ``jobs``: the job functions it may run (more with :meth:`register`).
    * ``queues``: named queues and the jobs each runs at once in this instance
      (``{"default": 10, "mail": 2}``). Default **{"default": max_running}**. ``{}``
      makes an enqueue-only instance (Oban's ``queues: false``): it inserts jobs (each
      with its ``queue=``), waits on and cancels them, and runs none.
    * ``heartbeat_interval``: seconds between heartbeats. Default **5.0**.
    * ``rescue_after``: seconds without a heartbeat after which an instance is dead
      and its running jobs are rescued. Default **30.0**.
    * ``prune_after`` / ``prune_interval``: final jobs are deleted this many seconds
      after they finished, looked for this often. Default **86400** / **60**.
    * ``clock``: POSIX seconds now. Default **time.time** (tests pass a virtual one).
      An in-memory queue takes it too: its :meth:`cron` ticks and ``submit(at=…)``
      times are read on it.
    * ``retry``: as above, but a durable queue's default is **20 attempts** with
      backoff from 1 s to 10 min (a job that was mid-attempt at a crash counts it).
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
        store: JobStore | None = None,
        jobs: Iterable[Callable[..., Any]] = (),
        queues: Mapping[str, int] | None = None,
        heartbeat_interval: float = 5.0,
        rescue_after: float = 30.0,
        prune_after: float = 86_400.0,
        prune_interval: float = 60.0,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if executor is None:
            executor = InProcessExecutor()
        elif isinstance(executor, type):
            raise TypeError(
                f"executor must be an executor object, got the class "
                f"{executor.__qualname__}: call it, e.g. {executor.__qualname__}()"
            )
        elif not isinstance(executor, Executor):
            raise TypeError(f"executor must implement trio_otp.Executor, got {executor!r}")
        self.executor: Executor = executor
        self.max_running: int = _check_int("max_running", max_running, 1)
        # Jobs beyond the executor's capacity would only wait for a worker: they
        # stay queued instead, so that their timeout has not begun yet.
        capacity: object = executor.capacity
        if capacity is not None and (
            isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1
        ):
            raise ValueError(
                f"{executor!r} has capacity {capacity!r}: an executor's capacity must be "
                "None (no bound of its own) or an int >= 1, or no job could ever run"
            )
        self._limit = max_running if capacity is None else min(max_running, capacity)
        self.max_queued: int = _check_int("max_queued", max_queued, 0)
        if on_full not in ("wait", "fail"):
            raise ValueError(f"on_full must be 'wait' or 'fail', got {on_full!r}")
        self.on_full: OnFull = on_full
        self.timeout: float | None = _optional_seconds("timeout", timeout)
        self.retry: RetryPolicy = _check_retry(retry)
        self.restart: Restart = _check_restart(restart)
        self.shutdown: float = _seconds("shutdown", shutdown)
        # Checked here, not when the job supervisor starts: a bad option fails at once.
        intensity = _check_intensity(max_restarts, max_seconds)
        self.max_restarts: int = intensity[0]
        self.max_seconds: float = intensity[1]
        if on_event is not None and not callable(on_event):
            raise TypeError(f"on_event must be a function taking a JobEvent, got {on_event!r}")
        self._on_event = on_event
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise TypeError(f"seed must be an int (for repeatable jitter) or None, got {seed!r}")
        self._rng = random.Random(seed)
        if name is not None:
            check_name(name)  # a bad name fails here, not when the queue starts
        self.name: object = name
        self._jobs_name = _JobsName(self)
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
        self._registry = JobRegistry(jobs)
        self._engine: DurableEngine | None = None
        if store is not None:
            if not isinstance(store, JobStore):
                raise TypeError(
                    f"store must implement trio_otp.jobs.JobStore (e.g. SQLiteStore(path)), "
                    f"got {store!r}"
                )
            self._engine = DurableEngine(
                self,
                store,
                self._registry,
                executor,
                queues={"default": self.max_running} if queues is None else queues,
                retry=DURABLE_RETRY if retry is NO_RETRY else retry,
                timeout=self.timeout,
                heartbeat_interval=heartbeat_interval,
                rescue_after=rescue_after,
                prune_after=prune_after,
                prune_interval=prune_interval,
                clock=clock,
                rng=self._rng,
            )
        else:
            durable_only = {
                "jobs": bool(jobs),
                "queues": queues is not None,
                "heartbeat_interval": heartbeat_interval != 5.0,
                "rescue_after": rescue_after != 30.0,
                "prune_after": prune_after != 86_400.0,
                "prune_interval": prune_interval != 60.0,
            }
            given = [f"{option}=" for option, set_ in durable_only.items() if set_]
            if given:
                raise TypeError(
                    f"{', '.join(given)} {'is' if len(given) == 1 else 'are'} for a durable "
                    "queue, which this is not: give a store= too (e.g. "
                    "store=SQLiteStore(path)), or leave them out"
                )
        if clock is not None and not callable(clock):
            raise TypeError(f"clock must be a function returning POSIX seconds, got {clock!r}")
        # Later and periodic jobs of an in-memory queue (a durable one keeps them in
        # its store).
        self._timed = None if store is not None else TimedJobs(clock or time.time)
        self._paused = False
        self._server_up = trio.Event()

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
            async with (
                self.executor.open(),
                _opened(self._engine),
                trio.open_nursery() as nursery,
            ):
                try:
                    pid: Pid = await nursery.start(self._run_tree, nursery, error)
                    if self._engine is not None:
                        await nursery.start(self._engine.run, self._jobs_name)
                    elif self._timed is not None:
                        await nursery.start(self._timed.run, self._hand_over, self._run_periodic)
                except Exception as exc:  # a start error: raised as itself, ungrouped
                    error.append(exc)
                    nursery.cancel_scope.cancel()
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
            ).replace(id="jobs"),
            # Reports and render_tree name the children by these ids, not by
            # private classes (issue 21).
            _QueueServer.child_spec(self).replace(id="server"),
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

    # Supervisor reports print a child's start call: this one as what it does,
    # ``JobQueue(name='jobs', ...)``, not as a private method (issue 21).
    _serve_new.__qualname__ = "JobQueue"

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
        return cast(JobQueue, impl.queue)  # a _QueueSupervisor's queue is a JobQueue

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
        job._retry = self.retry if retry is None else _check_retry(retry)
        job._restart = self.restart if restart is None else _check_restart(restart)
        if name is not None and type(name) is not str:
            raise TypeError(f"a job's name must be a str, got {name!r}")
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
        and lives on its handle. If the caller's *process* is being stopped (its
        supervisor's shutdown, an exit signal), the accepted job is drained by the
        queue instead, within its ``shutdown`` budget, and its answer dropped.
        Per-job options override the queue's: ``timeout`` (seconds, a cancel scope
        around each attempt; ``None`` takes the queue's default, ``math.inf`` means
        none), ``retry``, ``restart``, ``name``.

        Raises:
            QueueFullError: the queue is full and ``on_full`` is ``"fail"``.
            QueueStoppedError: the queue is stopping or stopped.
            JobNotPicklableError: the executor ships jobs and this one cannot be pickled.
            JobTimeoutError, JobCancelledError, JobLostError, WorkerLostError: see
                :meth:`JobHandle.wait`; or the job's own exception.

        On a durable queue: :meth:`enqueue` then :meth:`DurableJob.wait
        <trio_otp.jobs.DurableJob.wait>` (``restart`` and ``name`` do not apply).
        """
        if self._engine is not None:
            durable = await self.enqueue(fn, *args, timeout=timeout, retry=retry)
            return await durable.wait()
        job = self._make(fn, args, _DEFAULT if timeout is None else timeout, retry, restart, name)
        server = self._server
        try:
            while True:
                try:
                    return await call(server, (_SCHEDULE, job), timeout=None)
                except (CalleeExit, NoProcessError):
                    # The queue's server exited (the queue stops, or it is restarted
                    # after the job supervisor gave up). An accepted job still gets
                    # its answer: wait for it on the handle. (A job's own CalleeExit
                    # comes here too, and wait() raises it again.)
                    if job._accepted:
                        return await job.wait()
                server = await self._next_server(job, server)  # never admitted: ask again
        finally:
            if not job._accepted:
                # Never admitted (it gave up, or was turned away): forget its place in line.
                self._waiting.pop(job, None)
            elif job._status not in _FINAL:
                if _caller_stopping():
                    # The caller's process is being stopped (its supervisor's shutdown,
                    # an exit signal): the queue still drains the job it accepted,
                    # within its own shutdown budget; the answer has nobody to go to.
                    job._from = None
                else:
                    # The caller was cancelled by its own scope: nobody waits for the
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
        delay: float | None = None,
        at: float | None = None,
    ) -> JobHandle[Any]:
        """Accept ``fn(*args)`` as a job and return its :class:`JobHandle` at once.

        Waits only while the queue is full (``on_full="wait"``). Options as
        :meth:`schedule`, and: ``delay`` (seconds) or ``at`` (POSIX seconds, by the
        queue's ``clock``): run it no earlier. A later job is held by the queue (its
        handle's status is ``queued``; :attr:`JobQueueStatistics.delayed` counts it)
        and admitted when it is due: the queue's bound and ``on_full`` apply then
        (with ``"fail"``, a full queue fails it with :exc:`QueueFullError`). In
        memory it does not survive a restart; a stop cancels it (``"shutdown"``).

        Raises:
            QueueFullError, QueueStoppedError, JobNotPicklableError: as :meth:`schedule`.
            ValueError: ``delay`` and ``at`` both given, or not a finite number (>= 0).

        On a durable queue: :meth:`enqueue` (its result is a
        :class:`~trio_otp.jobs.DurableJob`).
        """
        if self._engine is not None:
            return await self.enqueue(  # type: ignore[return-value]
                fn, *args, timeout=timeout, retry=retry, delay=delay, at=at
            )
        wait = 0.0 if delay is None and at is None else wait_before(delay, at, self._timed)
        job = self._make(fn, args, _DEFAULT if timeout is None else timeout, retry, restart, name)
        if wait > 0 and self._timed is not None:
            self._timed.delay(job, trio.current_time() + wait)
            return job
        await self._submit_job(job)
        return job

    async def _submit_job(self, job: JobHandle[Any]) -> None:
        """Have the queue's server admit ``job`` (a new handle), waiting for room."""
        server = self._server
        try:
            while True:
                try:
                    await call(server, (_SUBMIT, job), timeout=None)
                    return
                except (CalleeExit, NoProcessError):
                    if job._accepted:
                        return
                server = await self._next_server(job, server)  # never admitted: ask again
        finally:
            if not job._accepted:
                # The caller gave up (or was turned away): forget its place in line.
                self._waiting.pop(job, None)

    async def _hand_over(self, job: JobHandle[Any]) -> None:
        """Admit a later or periodic job that is due; it is answered whatever happens."""
        try:
            await self._submit_job(job)
        except QueueStoppedError:
            if job._status is JobStatus.QUEUED:
                job._cancelled("shutdown")
        except QueueFullError as exc:
            if job._status is JobStatus.QUEUED:
                logger.warning("%r was full when job %s was due: it failed", self, job.name)
                job._finish(JobStatus.FAILED, None, exc)

    async def _run_periodic(self, fn: Callable[..., Any], args: tuple[Any, ...], name: str) -> None:
        """Admit one tick's job of a periodic entry (nobody waits for its handle)."""
        try:
            job = self._make(fn, args, _DEFAULT, None, None, name)
        except QueueStoppedError:
            return  # the queue stops: no more ticks
        except Exception:
            logger.exception("%r could not make the job of periodic entry %r", self, name)
            return
        await self._hand_over(job)

    async def _drain_store(self) -> None:
        # A durable queue: its running jobs get the shutdown budget, then their claims
        # go back to the store at once (another instance takes them without waiting).
        if self._engine is not None:
            await self._engine.drain(self.shutdown)

    async def _next_server(self, job: JobHandle[Any], failed: Pid | None) -> Pid:
        """The queue's server to ask again for ``job``, which ``failed`` exited
        without admitting (the job supervisor gave up, and the server restarts).

        Raises:
            QueueStoppedError: the queue stops meanwhile.
        """
        self._waiting.pop(job, None)  # its place in line was the old server's
        while True:
            if self._state != "running":
                raise QueueStoppedError(self)
            server = self._server
            if server is not None and server is not failed and server.alive:
                return server
            await self._server_up.wait()

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
            delayed=0 if self._timed is None else len(self._timed.pending),
        )


_DEFAULT: Any = object()

logger = logging.getLogger("trio_otp.job_queue")


@asynccontextmanager
async def _opened(engine: DurableEngine | None) -> AsyncIterator[None]:
    """Open a durable queue's engine (its store) for the queue's run; nothing without."""
    if engine is None:
        yield
    else:
        async with engine.open():
            yield


def _caller_stopping() -> bool:
    """Whether the calling process is being stopped (its supervisor's shutdown, an exit
    signal), rather than cancelled by a cancel scope of its own."""
    pid = current_process()
    if pid is None:
        return False
    switch = pid._switch  # a scope, a child record, PULLED (doomed), or pid (no scope)
    if getattr(switch, "doomed", False):
        return True
    scope = getattr(switch, "scope", switch)
    return isinstance(scope, trio.CancelScope) and scope.cancel_called
