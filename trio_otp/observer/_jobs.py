"""The observer's view of job queues: one protocol, whatever keeps the jobs.

A :class:`JobSource` is what the observer asks of a queue: a view (counts per state,
running jobs, recent failures), one job's attempts, and the two actions. The
in-memory :class:`~trio_otp.JobQueue` has one here (:class:`MemoryJobSource`), found
by the observer on its own; a durable store gives its own source (its counts and
attempt history come from the store's rows) and is passed to the observer with
``Observer(job_sources=[...])``. Every method is async so that a store may read its
database.
"""

from __future__ import annotations

import collections
import math
from typing import Any, Final, Protocol, runtime_checkable

import attrs
import trio

from .._core._reasons import safe_str
from .._core._reports import short_repr
from ..jobs._handle import EventKind, JobEvent, JobHandle
from ..jobs._queue import JobQueue
from ..jobs._server import _QueueSupervisor
from ..jobs._store import JobState

#: Failures kept per queue, newest last.
MAX_FAILURES: Final = 50
#: Jobs whose attempt history is kept per queue (the oldest are forgotten).
MAX_HISTORIES: Final = 500
#: Running jobs listed per queue.
MAX_RUNNING: Final = 50
#: A durable queue's counts (a scan of the store's table: 60 ms at 100,000 rows, 0.7 s
#: at a million, on SQLite) are reused for this many times as long as the last count
#: took, so a watching browser keeps the store counting at most a tenth of the time...
RECOUNT_AFTER: Final = 10
#: ... once a count takes this long (seconds); quicker ones are made for every view.
RECOUNT_SLOW: Final = 0.05


@attrs.frozen
class Attempt:
    """One thing that happened to a job, as the observer shows it.

    Attributes:
        kind: ``queued``, ``started``, ``retried``, ``finished``, ``failed``, ``cancelled``.
        attempt: the attempt it concerns (0 while queued).
        at: when (``trio.current_time()`` for the in-memory queue).
        error: the error's type and message, if any.
    """

    kind: str
    attempt: int
    at: float
    error: str | None = None


@runtime_checkable
class JobSource(Protocol):
    """What the observer asks of a job queue (in memory or in a store)."""

    #: Shown as the queue's title, and the key of its actions.
    key: str

    async def view(self) -> dict[str, Any]:
        """``{"key", "title", "counts": {state: n}, "running": [...], "failures": [...]}``.

        Each running job: ``{"id", "name", "attempt", "age"}``; each failure:
        ``{"id", "name", "attempt", "at", "error"}``.
        """
        ...

    async def history(self, job_id: int) -> list[Attempt] | None:
        """The job's attempts, oldest first; ``None`` if the job is not known."""
        ...

    async def cancel(self, job_id: int) -> bool:
        """Cancel the job; ``False`` if it is unknown or already over."""
        ...

    async def retry(self, job_id: int) -> bool:
        """Run a failed or cancelled job again; ``False`` if that is not possible."""
        ...

    def close(self) -> None:
        """The observer stops: undo whatever the source hooked into."""
        ...


def _error(reason: BaseException | None) -> str | None:
    if reason is None:
        return None
    return f"{type(reason).__name__}: {safe_str(reason)}"[:500]


class MemoryJobSource:
    """A :class:`~trio_otp.JobQueue`'s view, from its statistics, handles and events.

    While the observer runs it hears the queue's job events by chaining a recorder in
    front of the queue's ``on_event`` hook (a queue with no hook emits none: with no
    observer it pays nothing), and puts the hook back on ``close()``. Failures and
    histories are bounded (``MAX_FAILURES``, ``MAX_HISTORIES``).
    """

    def __init__(self, queue: JobQueue, key: str, on_outcome: Any = None) -> None:
        self.queue = queue
        self.key = key
        self._on_outcome = on_outcome
        self._failures: collections.deque[tuple[JobHandle[Any], Attempt]] = collections.deque(
            maxlen=MAX_FAILURES
        )
        self._histories: collections.OrderedDict[int, list[Attempt]] = collections.OrderedDict()
        self._started: dict[int, float] = {}
        self._kept: collections.OrderedDict[int, JobHandle[Any]] = collections.OrderedDict()
        self._hook = queue._on_event
        queue._on_event = self._record

    def _record(self, event: JobEvent) -> None:
        job = event.job
        kind = event.kind
        entry = Attempt(kind.value, event.attempt, event.time, _error(event.reason))
        histories = self._histories
        history = histories.get(job._id)
        if history is None:
            history = histories[job._id] = []
            if len(histories) > MAX_HISTORIES:
                old, _ = histories.popitem(last=False)
                self._started.pop(old, None)
                self._kept.pop(old, None)
        if len(history) < 100:
            history.append(entry)
        if kind is EventKind.STARTED:
            self._started[job._id] = event.time
        elif kind in (EventKind.FINISHED, EventKind.FAILED, EventKind.CANCELLED):
            self._started.pop(job._id, None)
            if kind is not EventKind.FINISHED:
                # kept (bounded) so that a failed or cancelled job can be retried
                self._kept[job._id] = job
                if len(self._kept) > MAX_FAILURES:
                    self._kept.popitem(last=False)
            if kind is EventKind.FAILED:
                self._failures.append((job, entry))
            if self._on_outcome is not None and kind is not EventKind.CANCELLED:
                self._on_outcome(kind is EventKind.FAILED, event.time)
        hook = self._hook
        if hook is not None:
            hook(event)

    def close(self) -> None:
        if self.queue._on_event == self._record:
            self.queue._on_event = self._hook

    async def view(self) -> dict[str, Any]:
        await trio.lowlevel.checkpoint()
        queue = self.queue
        stats = queue.statistics()
        now = trio.current_time()
        running = []
        for job in sorted(queue._active, key=lambda j: j._id)[:MAX_RUNNING]:
            started = self._started.get(job._id)
            running.append(
                {
                    "id": job._id,
                    "name": job.name,
                    "attempt": job._attempts,
                    "age": None if started is None else now - started,
                }
            )
        failures = [
            {
                "id": job._id,
                "name": job.name,
                "attempt": entry.attempt,
                "at": entry.at,
                "error": entry.error,
            }
            for job, entry in reversed(self._failures)
        ]
        return {
            "key": self.key,
            "title": short_repr(queue),
            "counts": {
                "queued": stats.queued,
                "running": stats.running,
                "waiting": stats.waiting,
                "done": stats.done,
                "failed": stats.failed,
                "cancelled": stats.cancelled,
                "retries": stats.retries,
            },
            "limits": {"max_running": stats.max_running, "max_queued": stats.max_queued},
            "running": running,
            "failures": failures,
        }

    async def history(self, job_id: int) -> list[Attempt] | None:
        await trio.lowlevel.checkpoint()
        history = self._histories.get(job_id)
        return None if history is None else list(history)

    def _job(self, job_id: int) -> JobHandle[Any] | None:
        job = self._kept.get(job_id)
        if job is None:
            for active in self.queue._active:
                if active._id == job_id:
                    return active
            for queued in self.queue._queued:
                if queued._id == job_id:
                    return queued
        return job

    async def cancel(self, job_id: int) -> bool:
        await trio.lowlevel.checkpoint()
        job = self._job(job_id)
        if job is None or job.done():
            return False
        job.cancel()
        return True

    async def retry(self, job_id: int) -> bool:
        job = self._job(job_id)
        if job is None or not job.done() or job.status.value == "done":
            await trio.lowlevel.checkpoint()
            return False
        # The in-memory queue has no row to reset: the same function and arguments
        # are submitted again, as a new job (with the job's own options).
        await self.queue.submit(
            job._fn,
            *job._args,
            timeout=math.inf if job._timeout is None else job._timeout,
            retry=job._retry,
            restart=job._restart,
            name=job._name,
        )
        return True


def queues_in(pids: list[Any]) -> list[JobQueue]:
    """The in-memory job queues running among these processes."""
    found = [pid._impl.queue for pid in pids if isinstance(pid._impl, _QueueSupervisor)]
    return [queue for queue in found if isinstance(queue, JobQueue)]


class DurableJobSource:
    """A durable :class:`~trio_otp.JobQueue`'s view (``JobQueue(store=...)``).

    Counts per state come from the store (every instance's jobs, not only this
    one's); the running jobs are this instance's attempts; a job's history is read
    from its row (inserted, each failed attempt with its error, its claim, its end),
    so it covers attempts run by other instances and before a restart. Recent
    failures are heard from the engine's ends of attempts while the observer runs
    (bounded: ``MAX_FAILURES``). Times are shown on the observer's clock, like the
    in-memory queue's.
    """

    def __init__(self, queue: JobQueue, key: str, on_outcome: Any = None) -> None:
        engine = queue._engine
        if engine is None:
            raise TypeError(f"{queue!r} has no store: it is shown by MemoryJobSource")
        self.queue = queue
        self.key = key
        self._engine = engine
        self._on_outcome = on_outcome
        self._failures: collections.deque[dict[str, Any]] = collections.deque(maxlen=MAX_FAILURES)
        self._stats: Any = None  # the last StoreStatistics, reused until _recount_at
        self._recount_at = -math.inf
        # Hear each attempt's end by chaining in front of the engine's own (put back
        # on close): no telemetry handler, so no other event of the program is built.
        self._end = engine._end
        self._own_end = "_end" in engine.__dict__  # someone else's wrapper already
        engine._end = self._record  # type: ignore[method-assign]

    def _record(self, attempt: Any, state: JobState, **fields: Any) -> None:
        self._end(attempt, state, **fields)
        error = fields.get("error")
        now = trio.current_time()
        if error is not None and state in (JobState.RETRYABLE, JobState.DISCARDED):
            record = attempt.record
            self._failures.append(
                {
                    "id": record.id,
                    "name": record.worker,
                    "attempt": record.attempt,
                    "at": now,
                    "error": str(error)[:500],
                }
            )
        if self._on_outcome is not None and state in (JobState.COMPLETED, JobState.DISCARDED):
            self._on_outcome(state is JobState.DISCARDED, now)

    def close(self) -> None:
        slots = self._engine.__dict__
        if slots.get("_end") == self._record:
            if self._own_end:
                slots["_end"] = self._end
            else:
                del slots["_end"]  # the class's own method again

    def _here(self, posix: float) -> float:
        """A store time (POSIX seconds) on the observer's clock."""
        return trio.current_time() - (self._engine.clock() - posix)

    async def view(self) -> dict[str, Any]:
        stats = self._stats
        began = trio.current_time()
        if stats is None or began >= self._recount_at:
            stats = self._stats = await self.queue.store_statistics()
            took = trio.current_time() - began
            if took >= RECOUNT_SLOW:
                self._recount_at = began + (1 + RECOUNT_AFTER) * took
        counts: dict[str, int] = {str(state): 0 for state in JobState}
        for named in stats.queues.values():
            for state, n in named.states.items():
                counts[str(state)] += n
        # This instance's own figures are always the current ones.
        here = self._engine.queues.values()
        attempts = [a for q in here for a in q.running.values()]
        counts["running here"] = len(attempts)
        max_running = sum(q.max_running for q in here)
        now = trio.current_time()
        attempts.sort(key=lambda a: a.record.id)
        running = [
            {
                "id": a.record.id,
                "name": a.record.worker,
                "attempt": a.record.attempt,
                "age": now - a.started if a.started else None,
            }
            for a in attempts[:MAX_RUNNING]
        ]
        return {
            "key": self.key,
            "title": f"{short_repr(self.queue)} on {short_repr(self._engine.store)}",
            "counts": counts,
            "limits": {"max_running": max_running, "max_queued": None},
            "running": running,
            "failures": list(reversed(self._failures)),
        }

    async def history(self, job_id: int) -> list[Attempt] | None:
        record = await self._engine.store.get(job_id)
        if record is None:
            return None
        at = self._here
        entries = [Attempt("queued", 0, at(record.inserted_at))]
        for error in record.errors:
            kind = "rescued" if error.error.startswith("rescued") else "failed attempt"
            entries.append(Attempt(kind, error.attempt, at(error.at), error.error))
        state = record.state
        if state is JobState.EXECUTING and record.attempted_at is not None:
            entries.append(Attempt("started", record.attempt, at(record.attempted_at)))
        ends = {
            JobState.COMPLETED: record.completed_at,
            JobState.DISCARDED: record.discarded_at,
            JobState.CANCELLED: record.cancelled_at,
        }
        end = ends.get(state)
        if end is not None:
            entries.append(Attempt(str(state), record.attempt, at(end)))
        elif state in (JobState.RETRYABLE, JobState.SCHEDULED, JobState.AVAILABLE):
            entries.append(Attempt(f"{state} (next at)", record.attempt, at(record.scheduled_at)))
        entries.sort(key=lambda a: a.at)
        return entries

    async def cancel(self, job_id: int) -> bool:
        try:
            job = await self.queue.get_job(job_id)
        except LookupError:
            return False
        if job.done():
            return False
        await job.cancel()
        return True

    async def retry(self, job_id: int) -> bool:
        try:
            job = await self.queue.get_job(job_id)
        except LookupError:
            return False
        if job.state not in (JobState.DISCARDED, JobState.CANCELLED):
            return False
        await job.retry()
        return True


def source_for(queue: JobQueue, key: str, on_outcome: Any = None) -> JobSource:
    """The right source for a running queue: durable (its store) or in memory."""
    if queue._engine is not None:
        return DurableJobSource(queue, key, on_outcome)
    return MemoryJobSource(queue, key, on_outcome)
