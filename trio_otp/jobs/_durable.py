"""The durable engine: a JobQueue's jobs kept in a store (Oban's model, on trio).

A :class:`~trio_otp.JobQueue` given a ``store`` runs this engine beside its tree. What
runs where::

    JobQueue (store=SQLiteStore(path))
    ├── queue supervisor ── DynamicSupervisor: one Task per *attempt* (as in memory)
    └── engine tasks (in the queue's nursery):
        producers   one per named queue: claim available jobs up to max_running
        acker       batches the ends of attempts into one fenced ack transaction
        heartbeat   renews this instance's row every heartbeat_interval, and stops
                    the attempts whose claim is gone (fencing: rescued elsewhere)
        lifeline    rescues jobs claimed by instances whose heartbeat stopped
        watcher     cancel requests for running jobs, progress, every poll_interval
        cron        inserts periodic jobs, once per tick across every instance, only
                    while this instance holds the "leader" lease (rescue_after s)
        pruner      deletes old final jobs (only the "leader" lease's holder)

The guarantee is **at least once**. A job is claimed (``executing``, ``attempt + 1``,
``claimed_by`` this instance) before it runs and acked after; a process that dies
between the two leaves the row ``executing``, and when its heartbeat is older than
``rescue_after`` any live instance puts it back to ``available`` (the interrupted
attempt counts) and it runs again, from the start. So a job may run twice; make job
functions idempotent. An orderly stop gives running attempts the queue's
``shutdown`` budget, then hands their claims back at once (not counted).
"""

from __future__ import annotations

import logging
import os
import random
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import attrs
import trio

from .._core import _telemetry
from .._supervision._dynamic_supervisor import spawn_child_with_args
from ._cron import Schedule, to_schedule
from ._durable_attempt import _ATTEMPT_SPEC, _Attempt, _run_attempt
from ._durable_job import (
    DurableJob,
    JobNotFoundError,
    QueueCounts,
    StoreStatistics,
    UniqueJob,
    _limit,
    _non_negative,
    _positive,
    _posix_seconds,
    _priority,
)
from ._exceptions import QueueStoppedError, WorkerLostError
from ._executors import Executor
from ._registry import JobRegistry, check_args, check_json
from ._retry import RetryPolicy, stored_waits
from ._store import (
    FINAL_STATES,
    Ack,
    AttemptError,
    JobRecord,
    JobState,
    JobStore,
    NewJob,
    StoreError,
    Unique,
)

logger = logging.getLogger("trio_otp.jobs.durable")


@attrs.define(eq=False)
class _NamedQueue:
    name: str
    max_running: int
    paused: bool = False
    running: dict[int, _Attempt] = attrs.Factory(dict)
    wake: trio.Event = attrs.Factory(trio.Event)


@attrs.frozen
class _CronEntry:
    name: str
    schedule: Schedule
    worker: str
    args: list[Any]
    queue: str
    priority: int
    max_attempts: int


class DurableEngine:
    """Runs a JobQueue's jobs from its store. Built by :class:`~trio_otp.JobQueue`;
    not public (its options are the queue's)."""

    def __init__(
        self,
        owner: object,
        store: JobStore,
        registry: JobRegistry,
        executor: Executor,
        *,
        queues: Mapping[str, int],
        retry: Any,
        timeout: float | None,
        priority: int = 0,
        heartbeat_interval: float = 5.0,
        rescue_after: float = 30.0,
        prune_after: float = 86_400.0,
        prune_interval: float = 60.0,
        clock: Callable[[], float] | None = None,
        node: str | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.owner = owner
        self.rng = random.Random() if rng is None else rng
        self.store = store
        self.registry = registry
        self.executor = executor
        # No queues ({}): an enqueue-only instance (Oban's ``queues: false``: a web
        # process that inserts jobs, and waits on or cancels them, but runs none).
        self.queues: dict[str, _NamedQueue] = {}
        for name, limit in queues.items():
            given: object = name
            if not isinstance(given, str) or not given:
                raise ValueError(f"a queue's name is a non-empty str, got {name!r}")
            self.queues[name] = _NamedQueue(name, _limit(name, limit))
        self.default_queue: str | None = next(iter(self.queues), None)
        self.retry = retry
        self.timeout = timeout
        self.priority = _priority(priority)
        self.heartbeat_interval = _positive("heartbeat_interval", heartbeat_interval)
        self.rescue_after = _positive("rescue_after", rescue_after)
        if self.rescue_after <= self.heartbeat_interval:
            raise ValueError(
                f"rescue_after ({rescue_after} s) must be longer than heartbeat_interval "
                f"({heartbeat_interval} s), or live instances would be rescued"
            )
        self.prune_after = _positive("prune_after", prune_after)
        self.prune_interval = _positive("prune_interval", prune_interval)
        if clock is not None and not callable(clock):
            raise TypeError(f"clock must be a function returning POSIX seconds, got {clock!r}")
        self.clock: Callable[[], float] = time.time if clock is None else clock
        self.node = node or socket.gethostname()
        self.instance = f"{self.node}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        self._crons: list[_CronEntry] = []
        self._acks: list[tuple[Ack, _Attempt]] = []
        self._ack_wake = trio.Event()
        self._watch: dict[int, trio.Event] = {}
        self._state = "new"
        self._stopping = False
        self._released = False
        self._idle: trio.Event | None = None
        self._failing = False  # a store call failed, and no heartbeat got through since
        self.completed = self.retried = self.discarded = self.cancelled = 0
        self.rescued = self.released = 0

    def __repr__(self) -> str:
        return f"<durable engine {self.instance} on {self.store!r}>"

    # -- registering ---------------------------------------------------------------

    def add_cron(
        self,
        schedule: object,
        fn: Callable[..., Any],
        args: Sequence[Any],
        *,
        name: str | None,
        queue: str | None,
        priority: int | None,
        max_attempts: int | None,
    ) -> None:
        if self._state != "new":
            raise RuntimeError("add periodic jobs before the queue starts")
        sched = to_schedule(schedule)
        worker = self.registry.name_of(fn)
        entry_name = name or f"{worker}@{sched!r}"
        if any(entry.name == entry_name for entry in self._crons):
            raise ValueError(f"two periodic jobs named {entry_name!r}: give each a name=")
        self._crons.append(
            _CronEntry(
                entry_name,
                sched,
                worker,
                check_args(args),
                self._queue_name(queue),
                self.priority if priority is None else _priority(priority),
                self._max_attempts(max_attempts),
            )
        )

    def _queue_name(self, queue: str | None) -> str:
        if queue is None:
            if self.default_queue is None:
                raise ValueError(
                    "this JobQueue runs no queues (queues={}: it only enqueues): give "
                    "the job its queue=, the name of a queue another instance runs"
                )
            return self.default_queue
        given: object = queue
        # Jobs may go to a queue another instance runs: allowed, if it is a name.
        if queue not in self.queues and (not isinstance(given, str) or not given):
            raise ValueError(f"a queue's name is a non-empty str, got {queue!r}")
        return queue

    def _max_attempts(self, max_attempts: int | None) -> int:
        if max_attempts is None:
            attempts: int = self.retry.attempts
            return attempts
        value: object = max_attempts
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"max_attempts must be an int >= 1, got {max_attempts!r}")
        return value

    # -- running -----------------------------------------------------------------------

    @asynccontextmanager
    async def open(self) -> AsyncIterator[DurableEngine]:
        """Open the store, announce this instance, rescue the dead ones'; release this
        instance's claims and close the store after."""
        if self._state != "new":
            raise RuntimeError(f"{self!r} ran before: a queue runs once")
        self._state = "starting"
        async with self.store.open():
            now = self.clock()
            await self.store.heartbeat(self.instance, self.node, self.queues, now)
            try:
                await self._rescue()
                self._state = "running"
                yield self
            finally:
                self._stopping = True
                with trio.CancelScope(shield=True):
                    await self._release()
                self._state = "stopped"
                for event in self._watch.values():
                    event.set()

    async def run(self, jobs_sup: object, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """The engine's tasks, until cancelled (the queue's nursery ends)."""
        self._jobs_sup = jobs_sup
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._acker)
            nursery.start_soon(self._heartbeat)
            nursery.start_soon(self._lifeline)
            nursery.start_soon(self._watcher)
            if self.queues:
                nursery.start_soon(self._notifications)
            nursery.start_soon(self._pruner)
            if self._crons:
                nursery.start_soon(self._cron)
            for queue in self.queues.values():
                nursery.start_soon(self._produce, queue)
            task_status.started()

    async def drain(self, budget: float) -> None:
        """An orderly stop: claim no more, give running attempts ``budget`` seconds,
        flush their acks, then hand back the claims of those still running at once."""
        self._stopping = True
        for queue in self.queues.values():
            queue.wake.set()
        with trio.move_on_after(budget):
            while self._running_count() or self._acks:
                self._idle = trio.Event()
                await self._idle.wait()
        with trio.CancelScope(shield=True):
            await self._flush_acks()
            await self._release()

    def _store_failed(self, doing: str) -> None:
        """Log a store call that failed (called in its ``except StoreError``): the
        first failure with its traceback, as an ERROR; later ones, while the store
        keeps failing (an outage: every loop and retry fails), only at DEBUG, until a
        heartbeat gets through again. The store itself says when it lost and got back
        its connection."""
        if self._failing:
            logger.debug("%r could not %s (the store is still failing)", self, doing)
            return
        self._failing = True
        logger.exception("%r could not %s", self, doing)

    def _running_count(self) -> int:
        return sum(len(queue.running) for queue in self.queues.values())

    async def _release(self) -> None:
        if self._released:
            return
        self._released = True
        try:
            count = await self.store.release(self.instance, self.clock())
        except StoreError:
            self._store_failed("release its claims (a later rescue takes them)")
            return
        self.released += count
        if count:
            logger.info("%r released %d running job(s) for other instances", self, count)

    async def _produce(self, queue: _NamedQueue) -> None:
        store = self.store
        while True:
            if self._stopping:
                return
            queue.wake = trio.Event()
            # One claim for every free place (claims in halves, to overlap a claim
            # with the attempts of the last, measured slower: both threads need the
            # GIL for their Python parts, and the store's thread waits for it).
            limit = queue.max_running - len(queue.running)
            claimed: list[JobRecord] = []
            if not queue.paused and limit > 0:
                try:
                    claimed = await store.claim(
                        queue.name, limit, self.instance, self.node, self.clock()
                    )
                except StoreError:
                    self._store_failed(f"claim jobs of {queue.name!r}")
                # The claim's attempts start as one burst, then one checkpoint: they
                # run in one scheduler pass, and their ends go to the store together
                # (one ack transaction, not one per job that ended meanwhile).
                for record in claimed:
                    self._start(queue, record)
                await trio.lowlevel.checkpoint()
                if claimed and len(claimed) == limit:
                    continue  # there may be more
            with trio.move_on_after(store.poll_interval):
                await queue.wake.wait()

    def _start(self, queue: _NamedQueue, record: JobRecord) -> None:
        fn = self.registry.lookup(record.worker)
        timeout = record.meta.get("timeout", self.timeout) if record.meta else self.timeout
        attempt = _Attempt(self, queue, record, fn, timeout)
        queue.running[record.id] = attempt
        if self._stopping:
            self._interrupted(attempt)
            return
        if fn is None:
            self._failed(
                attempt,
                f"JobFunctionError: {record.worker!r} is not registered with the queue "
                f"instance {self.instance}: register it in every program that serves "
                f"queue {record.queue!r}",
                True,
            )
            return
        try:
            pid = spawn_child_with_args(self._jobs_sup, _ATTEMPT_SPEC, (_run_attempt, attempt))
            pid._watch(attempt, attempt._task_exited)
        except Exception as exc:  # the job supervisor is gone (restarting)
            if not attempt.ended:
                self._failed(attempt, f"the job supervisor could not start it: {exc!r}", True)

    # -- the end of an attempt -------------------------------------------------------

    def _retries(self, exc: Exception) -> bool:
        # A lost worker is retried too: at least once (the attempt counts).
        return isinstance(exc, (WorkerLostError, *self.retry.on))

    def _completed(self, attempt: _Attempt, result: Any) -> None:
        try:
            check_json(result, "the result")
        except Exception as exc:
            logger.warning(
                "%r: job %d returned a value that is not JSON (%s): stored as null",
                self,
                attempt.record.id,
                exc,
            )
            result = None
        self._end(attempt, JobState.COMPLETED, result=result)

    def _failed(self, attempt: _Attempt, error: str, retryable: bool) -> None:
        record = attempt.record
        if retryable and record.attempt < record.max_attempts:
            stored = record.meta.get("backoff") if record.meta else None
            policy = self.retry if not stored else self._stored_policy(record.id, stored)
            wait = policy.wait(record.attempt, self.rng)
            self._end(attempt, JobState.RETRYABLE, error=error, scheduled_at=self.clock() + wait)
        else:
            self._end(attempt, JobState.DISCARDED, error=error)

    def _stored_policy(self, job_id: int, stored: Any) -> Any:
        """A per-job policy's waits, stored with the job (JSON), as a RetryPolicy (its
        formula, capped without overflow); the queue's own if the row's are not valid
        (the row was edited): a bad row never crashes an attempt's end."""
        try:
            return RetryPolicy(1, (Exception,), *stored)
        except (TypeError, ValueError) as exc:
            logger.warning(
                "%r: job %d's stored retry waits %r are not valid (%s): the queue's used",
                self,
                job_id,
                stored,
                exc,
            )
            return self.retry

    def _interrupted(self, attempt: _Attempt) -> None:
        if self._stopping or self._released:
            # An orderly stop (or the queue cancelled): the claim is released.
            attempt.ended = True
            attempt.queue.running.pop(attempt.record.id, None)
            self._wake_idle()
            return
        self._failed(attempt, "the attempt was interrupted (its task was cancelled)", True)

    def _end(
        self,
        attempt: _Attempt,
        state: JobState,
        *,
        result: Any = None,
        error: str | None = None,
        scheduled_at: float | None = None,
    ) -> None:
        if attempt.ended:
            return
        attempt.ended = True
        record = attempt.record
        now = self.clock()
        ack = Ack(
            record.id,
            record.attempt,
            self.instance,
            state,
            result=result,
            error=None if error is None else AttemptError(record.attempt, now, error),
            scheduled_at=scheduled_at,
        )
        self._acks.append((ack, attempt))
        self._ack_wake.set()
        if _telemetry.listening:
            duration = trio.current_time() - attempt.started
            kind = "stop" if state is JobState.COMPLETED else "exception"
            self._telemetry(kind, attempt, {"duration": duration}, state=str(state), error=error)

    def _telemetry(
        self, kind: str, attempt: _Attempt, measurements: dict[str, float], **more: Any
    ) -> None:
        record = attempt.record
        _telemetry.execute_telemetry(
            ("trio_otp", "job", kind),
            measurements,
            {
                "queue": record.queue,
                "worker": record.worker,
                "id": record.id,
                "attempt": record.attempt,
                "node": self.node,
                "job_queue": self.owner,
                **more,
            },
        )

    async def _acker(self) -> None:
        while True:
            await self._ack_wake.wait()
            self._ack_wake = trio.Event()
            try:
                await self._flush_acks()
            except StoreError:
                self._store_failed("ack; trying again in 1 s")
                await trio.sleep(1.0)
                self._ack_wake.set()

    async def _flush_acks(self) -> None:
        while self._acks:
            batch = self._acks
            self._acks = []
            try:
                with trio.CancelScope(shield=True):
                    await self._flush_progress([a for _, a in batch])
                    done = await self.store.ack([ack for ack, _ in batch], self.clock())
            except BaseException:
                self._acks[:0] = batch  # kept for the next try (bounded: one per claim)
                raise
            for (ack, attempt), ok in zip(batch, done, strict=True):
                self._acked(ack, attempt, ok)

    def _acked(self, ack: Ack, attempt: _Attempt, ok: bool) -> None:
        queue = attempt.queue
        queue.running.pop(ack.id, None)
        queue.wake.set()
        if ok:
            state = ack.state
            if state is JobState.COMPLETED:
                self.completed += 1
            elif state is JobState.RETRYABLE:
                self.retried += 1
            elif state is JobState.DISCARDED:
                self.discarded += 1
            else:
                self.cancelled += 1
        else:
            logger.warning(
                "%r: the claim of job %d (attempt %d) was lost before its ack (rescued "
                "elsewhere?): its outcome here was dropped",
                self,
                ack.id,
                ack.attempt,
            )
        event = self._watch.pop(ack.id, None)
        if event is not None:
            event.set()
        self._wake_idle()

    def _wake_idle(self) -> None:
        if self._idle is not None and not self._running_count() and not self._acks:
            self._idle.set()

    # -- liveness ----------------------------------------------------------------------

    async def _heartbeat(self) -> None:
        while True:
            await trio.sleep(self.heartbeat_interval)
            try:
                await self.store.heartbeat(self.instance, self.node, self.queues, self.clock())
                self._failing = False  # the store answers again: the next failure is news
                await self._check_claims()
            except StoreError:
                self._store_failed("renew its heartbeat")

    async def _check_claims(self) -> None:
        """Fencing: stop the attempts whose claim is gone (rescued by another instance
        while this one was cut off or frozen); their late acks are dropped anyway."""
        running = {i: a for q in self.queues.values() for i, a in q.running.items()}
        if not running:
            return
        rows = await self.store.get_many(list(running))
        for job_id, attempt in running.items():
            row = rows.get(job_id)
            if attempt.ended or (
                row is not None
                and row.state is JobState.EXECUTING
                and row.claimed_by == self.instance
                and row.attempt == attempt.record.attempt
            ):
                continue
            logger.warning(
                "%r: the claim of job %d (attempt %d) is gone (rescued while this instance "
                "was cut off?): its attempt is stopped and its outcome will not be recorded",
                self,
                job_id,
                attempt.record.attempt,
            )
            self._cancel_local(job_id)

    async def _lifeline(self) -> None:
        while True:
            await trio.sleep(self.heartbeat_interval)
            try:
                await self._rescue()
            except StoreError:
                self._store_failed("rescue jobs")

    async def _rescue(self) -> None:
        now = self.clock()
        report = await self.store.rescue(now - self.rescue_after, now)
        count = len(report.available) + len(report.discarded)
        if count:
            self.rescued += count
            logger.warning(
                "%r rescued %d job(s) of dead queue instance(s) %s: %d to run again, %d "
                "discarded (out of attempts)",
                self,
                count,
                ", ".join(report.instances) or "(gone)",
                len(report.available),
                len(report.discarded),
                extra={"otp_rescued": report},
            )
            for queue in self.queues.values():
                queue.wake.set()

    async def _watcher(self) -> None:
        """Cancel requests from other processes, and progress to the store."""
        while True:
            await trio.sleep(self.store.poll_interval)
            if not self._running_count():
                continue
            try:
                for job_id in await self.store.cancel_requests(self.instance):
                    self._cancel_local(job_id)
                await self._flush_progress(
                    [a for q in self.queues.values() for a in q.running.values()]
                )
            except StoreError:
                self._store_failed("read cancel requests")

    async def _flush_progress(self, attempts: Iterable[_Attempt]) -> None:
        for attempt in attempts:
            if attempt.progress_dirty and attempt.progress is not None:
                attempt.progress_dirty = False
                record = attempt.record
                await self.store.report_progress(
                    record.id, record.attempt, self.instance, attempt.progress
                )

    async def _notifications(self) -> None:
        names = list(self.queues)
        while True:
            with trio.move_on_after(self.store.poll_interval * 4):
                await self.store.wait_for_jobs(names)
            for name in names:
                self._wake(name)

    def _cancel_local(self, job_id: int) -> bool:
        for queue in self.queues.values():
            attempt = queue.running.get(job_id)
            if attempt is not None:
                attempt.cancel_requested = True
                if attempt.scope is not None:
                    attempt.scope.cancel()
                return True
        return False

    async def _pruner(self) -> None:
        while True:
            await trio.sleep(self.prune_interval)
            await self.prune()

    async def prune(self) -> int:
        """Delete final jobs older than ``prune_after`` (if this instance holds the
        prune lease). Returns how many."""
        now = self.clock()
        try:
            if not await self._lead(now):
                return 0
            total = 0
            while True:
                count = await self.store.prune(now - self.prune_after, FINAL_STATES, 1000)
                total += count
                if count < 1000:
                    return total
                await trio.lowlevel.checkpoint()
        except StoreError:
            self._store_failed("prune")
            return 0

    async def _lead(self, now: float) -> bool:
        """Take or renew the ``"leader"`` lease (for ``rescue_after`` seconds): only its
        holder inserts cron jobs and prunes. A leased row, not a session lock: a host
        cut off or frozen loses it when it runs out, not when TCP keepalive gives up."""
        try:
            return await self.store.acquire_lease("leader", self.instance, self.rescue_after, now)
        except StoreError:
            self._store_failed("take or renew the leader lease")
            return False

    async def _cron(self) -> None:
        first = {entry.name: True for entry in self._crons}
        while True:
            now = self.clock()
            # Not the leader: look again within a heartbeat, to take over a dead one.
            leading = await self._lead(now)
            for entry in self._crons if leading else ():
                tick = entry.schedule.latest(now)
                job = NewJob(
                    entry.worker,
                    entry.args,
                    queue=entry.queue,
                    priority=entry.priority,
                    max_attempts=entry.max_attempts,
                    scheduled_at=tick,
                    meta={"cron": entry.name, "tick": tick},
                )
                try:
                    inserted = await self.store.insert_cron(
                        entry.name, tick, job, now, first=first[entry.name]
                    )
                except StoreError:
                    self._store_failed(f"insert periodic job {entry.name!r}")
                    continue
                first[entry.name] = False
                if inserted is not None:
                    self._wake(inserted.queue)
            now = self.clock()
            soonest = min(entry.schedule.next_after(now) for entry in self._crons)
            # Wall-clock time may jump (NTP, a suspended laptop): look again a minute on.
            # The leader renews its lease at least every heartbeat_interval too.
            await trio.sleep(min(max(soonest - now, 0.0), 60.0, self.heartbeat_interval))

    def _wake(self, queue: str) -> None:
        """New jobs in ``queue``: wake its producer if it can claim now (paused or full,
        ``resume``, ``resize`` or an ack wakes it, and it claims what came meanwhile)."""
        named = self.queues.get(queue)
        if named is not None and not named.paused and len(named.running) < named.max_running:
            named.wake.set()

    # -- the API's side ------------------------------------------------------------------

    def _check_running(self) -> None:
        if self._state != "running" or self._stopping:
            raise QueueStoppedError(self.owner)

    def new_job(
        self,
        fn: Callable[..., Any],
        args: Sequence[Any],
        *,
        queue: str | None = None,
        priority: int | None = None,
        at: float | None = None,
        delay: float | None = None,
        unique: UniqueJob | None = None,
        max_attempts: int | None = None,
        timeout: float | None = None,
        retry: Any = None,
    ) -> NewJob:
        """Check a job's function, arguments and options; the row to insert."""
        worker = self.registry.name_of(fn)
        checked = check_args(args)
        queue_name = self._queue_name(queue)
        now = self.clock()
        if at is not None and delay is not None:
            raise ValueError("give at= (a time) or delay= (seconds), not both")
        scheduled_at = now
        if at is not None:
            scheduled_at = _posix_seconds("at", at)
        elif delay is not None:
            scheduled_at = now + _non_negative("delay", delay)
        meta: dict[str, Any] = {}
        if timeout is not None:
            meta["timeout"] = _positive("timeout", timeout)
        if retry is not None:
            if retry.on != (Exception,):
                raise ValueError(
                    "a durable job's retry policy cannot choose exceptions (on=...): it is "
                    "stored as JSON; give the queue's retry= the on= classes instead"
                )
            meta["backoff"] = stored_waits(retry)
            if max_attempts is None:
                max_attempts = retry.attempts
        key = None
        if unique is not None:
            if not isinstance(unique, UniqueJob):
                raise TypeError(f"unique must be a trio_otp.jobs.UniqueJob, got {unique!r}")
            key = Unique(unique.key(worker, queue_name, checked), unique.period, unique.states)
        return NewJob(
            worker,
            checked,
            queue=queue_name,
            priority=self.priority if priority is None else _priority(priority),
            max_attempts=self._max_attempts(max_attempts),
            scheduled_at=scheduled_at,
            unique=key,
            meta=meta,
        )

    async def insert(self, jobs: Sequence[NewJob]) -> list[DurableJob]:
        self._check_running()
        results = await self.store.insert(jobs, self.clock())
        for result in results:
            if not result.conflict:
                self._wake(result.job.queue)
        return [DurableJob._make(self, r.job, r.conflict) for r in results]

    async def get(self, job_id: int) -> DurableJob:
        record = await self.store.get(job_id)
        if record is None:
            raise JobNotFoundError(job_id)
        return DurableJob._make(self, record, False)

    def pause(self, queue: str) -> None:
        self._named(queue).paused = True

    def resume(self, queue: str) -> None:
        named = self._named(queue)
        named.paused = False
        named.wake.set()

    def resize(self, queue: str, max_running: int) -> None:
        named = self._named(queue)
        named.max_running = _limit(queue, max_running)
        named.wake.set()

    def _named(self, queue: str) -> _NamedQueue:
        try:
            return self.queues[queue]
        except KeyError:
            raise ValueError(
                f"this instance runs no queue {queue!r}; its queues are {sorted(self.queues)}"
            ) from None

    async def statistics(self) -> StoreStatistics:
        stored = await self.store.stats()
        names = set(stored) | set(self.queues)
        counts = {}
        for name in sorted(names):
            states = {state: stored.get(name, {}).get(state, 0) for state in JobState}
            named = self.queues.get(name)
            counts[name] = QueueCounts(
                states,
                0 if named is None else len(named.running),
                0 if named is None else named.max_running,
                False if named is None else named.paused,
            )
        progress = {
            attempt.record.id: attempt.progress
            for queue in self.queues.values()
            for attempt in queue.running.values()
            if attempt.progress is not None
        }
        return StoreStatistics(
            counts,
            self.instance,
            self.node,
            self.completed,
            self.retried,
            self.discarded,
            self.cancelled,
            self.rescued,
            self.released,
            progress,
        )
