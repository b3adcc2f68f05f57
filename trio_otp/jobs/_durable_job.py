"""A durable job's handle (:class:`DurableJob`), its errors, and the records a durable
queue shows: unique-job options and store statistics."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable, Mapping
from typing import Any, Final, Protocol, final

import attrs
import trio

from ._exceptions import JobCancelledError, JobError
from ._store import FINAL_STATES, JobRecord, JobState, JobStore, Progress, Unique


class _Running(Protocol):
    progress: Progress | None


class _Named(Protocol):
    @property
    def running(self) -> Mapping[int, _Running]: ...


class _Engine(Protocol):
    """What a handle uses of the durable engine (``_durable.py``)."""

    @property
    def store(self) -> JobStore: ...
    @property
    def clock(self) -> Callable[[], float]: ...
    @property
    def queues(self) -> Mapping[str, _Named]: ...
    @property
    def _watch(self) -> dict[int, trio.Event]: ...
    def _cancel_local(self, job_id: int) -> bool: ...
    def _wake(self, queue: str) -> None: ...


#: Every state but cancelled and discarded: a duplicate of a job that is waiting,
#: running or done is refused (Oban's default ``unique`` states).
_UNIQUE_STATES: Final = Unique("").states


class JobDiscardedError(JobError):
    """Raised by :meth:`DurableJob.wait` when the job was discarded: it failed and ran
    out of attempts (or its function is not registered anywhere it ran).

    Attributes:
        job: the :class:`DurableJob`. record: its :class:`~trio_otp.jobs.JobRecord`
            (``errors`` holds every attempt's error).
    """

    def __init__(self, job: object, record: JobRecord) -> None:
        last = record.errors[-1].error if record.errors else "no error recorded"
        super().__init__(job)
        self.record = record
        self._message = f"{job!r} was discarded after {record.attempt} attempt(s): {last}"

    def __str__(self) -> str:
        return self._message


class JobNotFoundError(JobError, LookupError):
    """Raised when a durable job id is not in the store (never inserted, or pruned)."""

    def __init__(self, job: object) -> None:
        super().__init__(job)

    def __str__(self) -> str:
        return f"no job {self.job!r} in the store (never inserted, or pruned)"


@attrs.frozen
class UniqueJob:
    """Refuse a duplicate of a durable job (``enqueue(..., unique=UniqueJob(...))``).

    Two jobs are duplicates when the chosen ``fields`` are equal, the stored one is in
    one of ``states`` and was inserted at most ``period`` seconds ago; the duplicate is
    not inserted and ``enqueue`` returns the stored job's handle (``handle.duplicate``).
    It holds with concurrent inserts (several tasks, processes, or instances) and
    inside one :meth:`~trio_otp.JobQueue.enqueue_many` batch.

    Attributes:
        period: seconds, or ``math.inf``. Default **60**.
        fields: among ``"worker"``, ``"queue"``, ``"args"``. Default all three.
        states: default every state but ``cancelled`` and ``discarded``.
    """

    period: float = 60.0
    fields: tuple[str, ...] = ("worker", "queue", "args")
    states: frozenset[JobState] = _UNIQUE_STATES

    def __attrs_post_init__(self) -> None:
        period: object = self.period
        if isinstance(period, bool) or not isinstance(period, (int, float)) or not period > 0:
            raise ValueError(f"UniqueJob.period must be seconds > 0, got {period!r}")
        bad = set(self.fields) - {"worker", "queue", "args"}
        if bad or not self.fields:
            raise ValueError(
                f"UniqueJob.fields are among 'worker', 'queue', 'args', got {self.fields!r}"
            )

    def key(self, worker: str, queue: str, args: list[Any]) -> str:
        values = {"worker": worker, "queue": queue, "args": args}
        chosen = {field: values[field] for field in sorted(self.fields)}
        text = json.dumps(chosen, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


@attrs.frozen
class QueueCounts:
    """One named queue in :meth:`JobQueue.store_statistics`.

    Attributes:
        states: jobs per state in the store (every state present, 0 if none).
        running: attempts this instance runs now. max_running: its bound here.
        paused: whether this instance claims from it.
    """

    states: Mapping[JobState, int]
    running: int
    max_running: int
    paused: bool


@attrs.frozen
class StoreStatistics:
    """A durable queue's view of its store (:meth:`JobQueue.store_statistics`).

    Attributes:
        queues: per named queue, its :class:`QueueCounts`.
        instance: this queue instance's id. node: its host.
        completed, retried, discarded, cancelled: attempts this instance acked so.
        rescued: jobs this instance's lifeline took back from dead instances.
        released: claims handed back by this instance's orderly stop.
        progress: the last reported :class:`~trio_otp.jobs.Progress` of each job
            this instance runs, by job id.
    """

    queues: Mapping[str, QueueCounts]
    instance: str
    node: str
    completed: int
    retried: int
    discarded: int
    cancelled: int
    rescued: int
    released: int
    progress: Mapping[int, Progress]


def _posix_seconds(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise ValueError(f"{name} must be POSIX seconds (time.time()), got {value!r}")
    return float(value)


def _limit(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"queue {name!r}: max_running must be an int >= 1, got {value!r}")
    return value


def _priority(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 9:
        raise ValueError(f"priority must be an int from 0 (first) to 9 (last), got {value!r}")
    return value


def _positive(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < math.inf:
        raise ValueError(f"{name} must be seconds > 0, got {value!r}")
    return float(value)


def _non_negative(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
        raise ValueError(f"{name} must be seconds >= 0, got {value!r}")
    return float(value)


@final
class DurableJob:
    """A durable job's handle: what :meth:`JobQueue.enqueue <trio_otp.JobQueue.enqueue>`
    returns on a queue with a store, and :meth:`JobQueue.get_job` finds again by id,
    in this process or after a restart.

    Its record is a snapshot (its ``record`` attribute); :meth:`refresh` reads the row again.
    No public constructor.
    """

    __slots__ = ("_engine", "duplicate", "record")

    _engine: _Engine
    record: JobRecord
    duplicate: bool

    def __init__(self) -> None:
        raise TypeError("DurableJob has no public constructor: JobQueue.enqueue returns one")

    @classmethod
    def _make(cls, engine: _Engine, record: JobRecord, duplicate: bool) -> DurableJob:
        job = object.__new__(cls)
        job._engine = engine
        job.record = record
        job.duplicate = duplicate
        return job

    def __repr__(self) -> str:
        r = self.record
        return f"<durable job {r.worker}#{r.id} ({r.state.value}, attempt {r.attempt})>"

    @property
    def id(self) -> int:
        """The job's id in its store."""
        return self.record.id

    @property
    def state(self) -> JobState:
        """Its state when last read (:meth:`refresh` reads it again)."""
        return self.record.state

    @property
    def progress(self) -> Progress | None:
        """The progress it last reported: this process's latest if it runs here,
        else the stored one."""
        for queue in self._engine.queues.values():
            attempt = queue.running.get(self.record.id)
            if attempt is not None and attempt.progress is not None:
                return attempt.progress
        return self.record.progress

    def done(self) -> bool:
        """True once its state (when last read) is final."""
        return self.record.state in FINAL_STATES

    async def refresh(self) -> JobRecord:
        """Read the job's row again; returns (and keeps) the new record.

        Raises:
            JobNotFoundError: the job was pruned.
        """
        record = await self._engine.store.get(self.record.id)
        if record is None:
            raise JobNotFoundError(self)
        self.record = record
        return record

    async def wait(self) -> Any:
        """Wait until the job is final; return its result.

        A job this process runs wakes its waiters when its ack commits; a job another
        process runs is seen by polling its row every ``poll_interval`` of the store
        (SQLiteStore: 0.5 s by default). Bound the wait with ``trio.fail_after``.

        Raises:
            JobDiscardedError: it failed and ran out of attempts.
            JobCancelledError: it was cancelled.
            JobNotFoundError: it was pruned.
            StoreError: the store could not be read (a PostgresStore's
                :exc:`~trio_otp.jobs.StoreConnectionError` once its server stayed
                unreachable for ``reconnect_timeout``): the job is not lost; wait
                again later.
        """
        engine = self._engine
        job_id = self.record.id
        try:
            while True:
                # Watch *before* reading: an ack that commits while the row is being
                # read sets this event, so the next wait returns at once (watching
                # after the read missed it and slept a whole poll_interval).
                event = engine._watch.get(job_id)
                if event is None:
                    event = engine._watch[job_id] = trio.Event()
                record = await self.refresh()
                if record.state is JobState.COMPLETED:
                    return record.result
                if record.state is JobState.DISCARDED:
                    raise JobDiscardedError(self, record)
                if record.state is JobState.CANCELLED:
                    raise JobCancelledError(self, "cancelled")
                with trio.move_on_after(engine.store.poll_interval):
                    await event.wait()
        finally:
            # Nothing is left in the engine's map for a waiter that is done (a job run
            # by another process is never acked here). Other waiters of this job, if
            # any, just read the row once more.
            left = engine._watch.pop(job_id, None)
            if left is not None:
                left.set()

    async def cancel(self) -> JobRecord:
        """Cancel the job: a waiting one at once; a running one (here or in another
        process on the store) is interrupted and acked ``cancelled`` by its instance
        (within its ``poll_interval``). A final job is left alone. Returns its record."""
        engine = self._engine
        record = await engine.store.request_cancel(self.record.id, engine.clock())
        if record is None:
            raise JobNotFoundError(self)
        self.record = record
        if record.state is JobState.EXECUTING:
            engine._cancel_local(record.id)
        return record

    async def retry(self) -> JobRecord:
        """Run a discarded or cancelled job again (``available`` now, one more attempt
        allowed if it had spent them). Other states are left alone."""
        engine = self._engine
        record = await engine.store.retry_job(self.record.id, engine.clock())
        if record is None:
            raise JobNotFoundError(self)
        self.record = record
        engine._wake(record.queue)
        return record
