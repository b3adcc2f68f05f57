"""The durable half of JobQueue's API: what a queue with a ``store`` adds.

Kept apart from ``_queue.py`` so that the in-memory queue's code (and its hot path)
stays as it was: :class:`~trio_otp.JobQueue` inherits these methods, and each one
checks that the queue has a store, except :meth:`cron`, which an in-memory queue
runs too (``_timed.py``; its later jobs are ``submit(delay=…)``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar, overload

from ._durable import DurableEngine
from ._durable_job import DurableJob, StoreStatistics, UniqueJob
from ._executors import Executor
from ._registry import JobRegistry
from ._store import NewJob
from ._timed import TimedJobs

F = TypeVar("F", bound=Callable[..., Any])


class _DurableAPI:
    """Methods of :class:`~trio_otp.JobQueue` for durable queues (``store=``)."""

    _engine: DurableEngine | None
    _registry: JobRegistry
    _timed: TimedJobs | None
    executor: Executor

    def _durable(self, what: str) -> DurableEngine:
        engine = self._engine
        if engine is None:
            raise TypeError(
                f"JobQueue.{what} is for a durable queue: create it with "
                "JobQueue(store=SQLiteStore(path), jobs=[...])"
            )
        return engine

    @overload
    def register(self, fn: F, *, name: str | None = None) -> F: ...
    @overload
    def register(self, fn: None = None, *, name: str | None = None) -> Callable[[F], F]: ...

    def register(self, fn: F | None = None, *, name: str | None = None) -> F | Callable[[F], F]:
        """Register a job function with a durable queue (``@queue.register`` or
        ``@queue.register(name="billing.charge")``): only registered functions run.
        See :class:`~trio_otp.jobs.JobRegistry` for what is refused and why."""
        self._durable("register")
        return self._registry.register(fn, name=name)

    def cron(
        self,
        schedule: object,
        fn: Callable[..., Any],
        *args: Any,
        name: str | None = None,
        queue: str | None = None,
        priority: int | None = None,
        max_attempts: int | None = None,
    ) -> None:
        """Run ``fn(*args)`` periodically: ``schedule`` is a cron string (UTC),
        ``Cron(expr, tz="Europe/Paris")`` or ``every(seconds)``. Add entries before
        the queue starts. Each tick is inserted once, across restarts and every
        instance on the store; missed ticks run once; see ``trio_otp.jobs._cron`` for
        the daylight-saving policy. ``name`` (default: worker and schedule) keys the
        entry's last tick in the store: keep it stable.

        An in-memory queue runs periodic jobs too, on its ``clock`` (default
        ``time.time``; with trio's virtual clock in tests, pass e.g. ``clock=lambda:
        T0 + trio.current_time()``), from its start until it stops: nothing survives
        a restart, and ``queue``, ``priority`` and ``max_attempts`` (a store's) are
        refused. A tick that finds the queue full waits for room (``on_full="wait"``)
        or fails (``"fail"``, logged); ticks that pass meanwhile are skipped."""
        timed = self._timed
        if self._engine is None and timed is not None:
            given = [
                f"{option}="
                for option, value in (
                    ("queue", queue),
                    ("priority", priority),
                    ("max_attempts", max_attempts),
                )
                if value is not None
            ]
            if given:
                raise TypeError(
                    f"{', '.join(given)} {'is' if len(given) == 1 else 'are'} for a "
                    "durable queue's periodic jobs: give the queue a store= "
                    "(e.g. store=SQLiteStore(path)), or leave them out"
                )
            # A job the executor cannot ship is refused now, not at every tick.
            executor = self.executor
            timed.add_cron(schedule, fn, args, name, None if executor.inline else executor.check)
            return
        self._durable("cron").add_cron(
            schedule,
            fn,
            args,
            name=name,
            queue=queue,
            priority=priority,
            max_attempts=max_attempts,
        )

    async def enqueue(
        self,
        fn: Callable[..., Any],
        *args: Any,
        queue: str | None = None,
        priority: int | None = None,
        at: float | None = None,
        delay: float | None = None,
        unique: UniqueJob | None = None,
        max_attempts: int | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - the job's deadline, not the call's
        retry: Any = None,
    ) -> DurableJob:
        """Insert a durable job: ``fn`` (registered) with JSON ``args``; returns its
        :class:`~trio_otp.jobs.DurableJob` once the insert committed.

        Options (default: the queue's):

        * ``queue``: the named queue. Default: the first of ``queues``.
        * ``priority``: 0 (first) … 9. Default **0**.
        * ``at`` (POSIX seconds) or ``delay`` (seconds): run it no earlier.
        * ``unique``: a :class:`~trio_otp.jobs.UniqueJob`; a duplicate is not
          inserted and the stored job's handle is returned (``handle.duplicate``).
        * ``max_attempts``; ``retry`` (its attempts and waits are stored with the job);
          ``timeout`` (seconds per attempt).

        Raises:
            JobFunctionError: ``fn`` is not registered (or cannot be).
            JobArgumentsError: an argument would not round-trip through JSON.
            QueueStoppedError: the queue is not running.
            StoreError: the insert failed (nothing was inserted).
        """
        engine = self._durable("enqueue")
        job = engine.new_job(
            fn,
            args,
            queue=queue,
            priority=priority,
            at=at,
            delay=delay,
            unique=unique,
            max_attempts=max_attempts,
            timeout=timeout,
            retry=retry,
        )
        return (await engine.insert([job]))[0]

    def new_job(self, fn: Callable[..., Any], *args: Any, **options: Any) -> NewJob:
        """Check a durable job as :meth:`enqueue` does (same options) and return the
        row to insert, without inserting it: for enqueueing inside your own database
        transaction (``PostgresStore.insert_with(conn, [job], time.time())``). The
        queue need not be running."""
        return self._durable("new_job").new_job(fn, args, **options)

    async def enqueue_many(
        self, jobs: Iterable[tuple[Callable[..., Any], Sequence[Any]]], **options: Any
    ) -> list[DurableJob]:
        """Insert many durable jobs in one transaction (bulk insert): ``jobs`` are
        ``(fn, args)`` pairs, ``options`` those of :meth:`enqueue`, for all of them.
        Uniqueness holds inside the batch too. All are checked before any is
        inserted; all or none are inserted."""
        engine = self._durable("enqueue_many")
        rows = [engine.new_job(fn, args, **options) for fn, args in jobs]
        if not rows:
            return []
        return await engine.insert(rows)

    async def get_job(self, job_id: int) -> DurableJob:
        """The durable job ``job_id`` (inserted by any process, before a restart too).

        Raises:
            JobNotFoundError: no such job (never inserted, or pruned).
        """
        return await self._durable("get_job").get(job_id)

    def pause(self, queue: str | None = None) -> None:
        """Stop claiming jobs of ``queue`` (default: the first) in this instance;
        running ones go on, and a claim already under way completes (its jobs run).
        Called before the queue starts, the queue starts paused. Never blocks."""
        engine = self._durable("pause")
        engine.pause(engine._queue_name(queue))

    def resume(self, queue: str | None = None) -> None:
        """Claim jobs of ``queue`` again."""
        engine = self._durable("resume")
        engine.resume(engine._queue_name(queue))

    def resize(self, max_running: int, queue: str | None = None) -> None:
        """Change how many jobs of ``queue`` this instance runs at once, while it runs
        (a smaller bound lets running jobs finish)."""
        engine = self._durable("resize")
        engine.resize(engine._queue_name(queue), max_running)

    async def store_statistics(self) -> StoreStatistics:
        """Jobs per state per named queue in the store, with this instance's running
        jobs, counters and progress (:class:`~trio_otp.jobs.StoreStatistics`).

        The counts are a scan of the store's table (on SQLite 60 ms at 100,000 rows;
        it runs on a connection of its own, so claims and acks go on meanwhile): call
        it for a dashboard's refresh, not once per job."""
        return await self._durable("store_statistics").statistics()

    async def prune(self) -> int:
        """Delete final jobs older than ``prune_after`` now (the queue also does it
        every ``prune_interval``). Returns how many."""
        return await self._durable("prune").prune()
