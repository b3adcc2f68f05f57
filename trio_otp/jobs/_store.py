"""The job store protocol: what a durable :class:`~trio_otp.JobQueue` asks of its store.

A store keeps jobs in rows, as Oban does (the states, the claim, the fenced acks, the
heartbeats and the rescue below are Oban's, in its words). The engine
(``_durable.py``) is the only caller; it never sees SQL. Two stores implement it:
:class:`~trio_otp.jobs.SQLiteStore` (one host, an embedded file) and, next, a
PostgreSQL store (several hosts, issue 19).

Calling convention (decided for every store):

* Every method is **async** and is called from the trio thread. The store decides
  where the database work happens: SQLite gives its one connection one dedicated
  thread; PostgreSQL runs its sync psycopg calls on pooled threads. A method never
  blocks the trio loop.
* A call that was sent runs to its end: cancelling the caller does not interrupt a
  transaction half-way (a store may shield its calls). A call is bounded by the
  store's busy/lock timeout.
* Each method is one transaction: it happens entirely or not at all. An error is a
  :exc:`StoreError` (or a subclass) that says which store and what to do; after one,
  every job committed before it is still there.
* Times are POSIX seconds (UTC) as ``float``, given by the caller (``now``): the
  engine owns the clock (so tests can run it on trio's virtual clock), the store only
  compares and stores them.
* Values the store keeps as JSON (arguments, results, progress messages) are already
  checked by the engine to round-trip through :func:`json.dumps`/``loads``.
* SQL stays in one place per store and is always parameterised: no SQL is built from
  a user's value.

Concurrency (what must hold with several queue instances, processes or hosts on one
store):

* :meth:`JobStore.insert` with a :class:`Unique` holds under concurrent inserts: two
  inserts of the same unique key never both insert (SQLite: ``BEGIN IMMEDIATE``
  serialises writers; PostgreSQL: a transaction-scoped advisory lock on the key, or a
  unique index).
* :meth:`JobStore.claim` never hands one row to two claimers (SQLite: one writer at a
  time; PostgreSQL: ``FOR UPDATE SKIP LOCKED``).
* An ack (:meth:`JobStore.ack`) is *fenced*: it changes a row only if its ``(id,
  attempt, claimed_by)`` still match, so an attempt rescued (or released) and claimed
  again elsewhere cannot be overwritten by the late ack of its first claimer.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol, runtime_checkable

import attrs

from ._exceptions import JobQueueError

__all__ = [
    "FINAL_STATES",
    "WAITING_STATES",
    "Ack",
    "AttemptError",
    "InsertResult",
    "JobRecord",
    "JobState",
    "JobStore",
    "NewJob",
    "Progress",
    "RescueReport",
    "StoreBusyError",
    "StoreCorruptError",
    "StoreError",
    "StoreFullError",
    "StoreReadOnlyError",
    "StoreSchemaError",
    "Unique",
]


class JobState(enum.StrEnum):
    """Where a durable job is in its life: Oban's seven states.

    ``available`` → ``executing`` → ``completed``; a failed attempt goes to
    ``retryable`` (runs again at its ``scheduled_at``) or, out of attempts, to
    ``discarded``; ``scheduled`` jobs become available at their time; ``cancelled``
    by a request. ``completed``, ``discarded`` and ``cancelled`` are final (a
    discarded or cancelled job can be retried by hand).
    """

    AVAILABLE = "available"  #: ready to run, waiting for a free slot of its queue
    SCHEDULED = "scheduled"  #: waits for its ``scheduled_at``
    EXECUTING = "executing"  #: claimed by a queue instance, an attempt runs
    RETRYABLE = "retryable"  #: an attempt failed; runs again at ``scheduled_at``
    COMPLETED = "completed"  #: an attempt returned (its ``result`` is kept)
    DISCARDED = "discarded"  #: failed and out of attempts (``errors`` says why)
    CANCELLED = "cancelled"  #: cancelled by a request (before or during an attempt)

    def __repr__(self) -> str:
        return f"JobState.{self.name}"


#: The states a job stays in for good (unless retried by hand).
FINAL_STATES: frozenset[JobState] = frozenset(
    {JobState.COMPLETED, JobState.DISCARDED, JobState.CANCELLED}
)
#: The states in which a job is waiting to run.
WAITING_STATES: frozenset[JobState] = frozenset(
    {JobState.AVAILABLE, JobState.SCHEDULED, JobState.RETRYABLE}
)


@attrs.frozen
class AttemptError:
    """Why one attempt of a job did not complete.

    Attributes:
        attempt: the attempt (1-based).
        at: when (POSIX seconds).
        error: the exception's type and message (``"ValueError: bad row"``), or what
            happened (``"rescued: instance … stopped its heartbeat"``).
    """

    attempt: int
    at: float
    error: str


@attrs.frozen
class Progress:
    """What a running job last reported: a fraction in [0, 1] and a short message."""

    fraction: float
    message: str = ""


@attrs.frozen
class Unique:
    """Refuse a duplicate job: Oban's ``unique``.

    A new job is a duplicate of a stored one with the same ``key`` (the engine makes
    it from the worker, the queue and the arguments, or the chosen ``fields``) whose
    state is in ``states`` and that was inserted at most ``period`` seconds ago. The
    insert then returns the stored job (``InsertResult.conflict``).

    Attributes:
        key: an opaque string (a hash); equal keys are duplicates.
        period: seconds; ``math.inf`` for ever. Default **60**.
        states: the states a duplicate may be in. Default: every state but
            ``cancelled`` and ``discarded``.
    """

    key: str
    period: float = 60.0
    states: frozenset[JobState] = frozenset(
        {
            JobState.AVAILABLE,
            JobState.SCHEDULED,
            JobState.EXECUTING,
            JobState.RETRYABLE,
            JobState.COMPLETED,
        }
    )


@attrs.frozen
class NewJob:
    """A job to insert (:meth:`JobStore.insert`).

    Attributes:
        worker: the registered name of the job function (``"module:qualname"``).
        args: its arguments (JSON, checked to round-trip).
        queue: the named queue. priority: 0 (first) … 9. max_attempts: ≥ 1.
        scheduled_at: when it may run; the insert makes it ``available`` if that is
            not after ``now``, else ``scheduled``.
        unique: refuse duplicates (see :class:`Unique`), or ``None``.
        meta: free JSON (e.g. the cron entry that inserted it).
    """

    worker: str
    args: list[Any]
    queue: str = "default"
    priority: int = 0
    max_attempts: int = 20
    scheduled_at: float = 0.0
    unique: Unique | None = None
    meta: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class JobRecord:
    """One stored job, as read from its row.

    Attributes:
        id: the store's id (increasing with insertion).
        worker, args, queue, priority, max_attempts, meta: as inserted.
        state: where it is (:class:`JobState`).
        attempt: attempts begun (claims), from 0.
        inserted_at, scheduled_at: POSIX seconds. attempted_at: the last claim's
            time. completed_at, discarded_at, cancelled_at: when it got there.
        errors: every failed attempt's :class:`AttemptError`, oldest first.
        result: what the function returned (JSON), once completed.
        progress: the last :class:`Progress` it reported, or ``None``.
        claimed_by: the queue instance whose claim is current (``None`` when not
            executing). node: the host that ran (runs) its last attempt.
        rescued: how many times a rescue took it back from a dead instance.
        cancel_requested: a cancel was asked while it was executing.
    """

    id: int
    worker: str
    args: list[Any]
    queue: str
    state: JobState
    priority: int
    attempt: int
    max_attempts: int
    inserted_at: float
    scheduled_at: float
    attempted_at: float | None = None
    completed_at: float | None = None
    discarded_at: float | None = None
    cancelled_at: float | None = None
    errors: tuple[AttemptError, ...] = ()
    result: Any = None
    progress: Progress | None = None
    claimed_by: str | None = None
    node: str | None = None
    rescued: int = 0
    cancel_requested: bool = False
    meta: Mapping[str, Any] = attrs.field(factory=dict)


@attrs.frozen
class InsertResult:
    """What :meth:`JobStore.insert` did with one :class:`NewJob`.

    Attributes:
        job: the inserted row, or (``conflict``) the stored duplicate.
        conflict: ``True`` if the job was a duplicate and nothing was inserted.
    """

    job: JobRecord
    conflict: bool = False


@attrs.frozen
class Ack:
    """The end of one attempt, for :meth:`JobStore.ack` (fenced by ``id, attempt,
    claimed_by``).

    Attributes:
        id, attempt, claimed_by: the claim being acked.
        state: ``completed``, ``retryable`` (with ``scheduled_at``), ``discarded`` or
            ``cancelled``.
        result: the JSON result (``completed``).
        error: the attempt's error (``retryable``, ``discarded``, ``cancelled``).
        scheduled_at: when a retryable job runs again.
    """

    id: int
    attempt: int
    claimed_by: str
    state: JobState
    result: Any = None
    error: AttemptError | None = None
    scheduled_at: float | None = None


@attrs.frozen
class RescueReport:
    """What :meth:`JobStore.rescue` did.

    Attributes:
        available: ids of executing jobs of dead instances put back to ``available``.
        discarded: ids of such jobs discarded (out of attempts).
        instances: the dead instances whose rows were removed.
    """

    available: tuple[int, ...] = ()
    discarded: tuple[int, ...] = ()
    instances: tuple[str, ...] = ()


@runtime_checkable
class JobStore(Protocol):
    """What a durable :class:`~trio_otp.JobQueue` needs from its store.

    All methods are async, called from the trio thread, one transaction each (see the
    module's docstring for the conventions: times, JSON, fencing, concurrency). A store
    object is opened once (:meth:`open`) by the queue that uses it; several queue
    instances (in one process or several) may share the store's database.
    """

    #: Seconds between two polls for new jobs when the store has no notifications
    #: (SQLite); the engine bounds each :meth:`wait_for_jobs` by it. A store with
    #: notifications may say a longer safety-net interval.
    poll_interval: float

    def open(self) -> AbstractAsyncContextManager[JobStore]:
        """Connect, check or migrate the schema, start the store's threads; close all
        after the block.

        Raises:
            StoreError: a subclass saying what is wrong with the database and what to
                do (busy, read-only, corrupt, a newer schema, …), naming it.
        """
        ...

    # -- inserting ------------------------------------------------------------------

    async def insert(self, jobs: Sequence[NewJob], now: float) -> list[InsertResult]:
        """Insert jobs in one transaction; one result per job, in order.

        A job with a :class:`Unique` is checked against the stored jobs *and* the ones
        before it in the same batch; on a conflict nothing is inserted for it and its
        result holds the stored (or earlier) job. This must hold under concurrent
        inserts from other connections, processes and hosts.
        """
        ...

    async def insert_cron(
        self, name: str, tick: float, job: NewJob, now: float, *, first: bool
    ) -> JobRecord | None:
        """Insert ``job`` for cron entry ``name``'s tick ``tick`` unless a tick at or
        after it was inserted already (by anyone, before or after a restart).

        The store keeps the last tick per name, in the same transaction. With
        ``first`` and no tick recorded yet, the tick is recorded and nothing is
        inserted (a new entry does not run for a tick before it existed). Returns the
        inserted job, or ``None``.
        """
        ...

    # -- running ----------------------------------------------------------------------

    async def claim(
        self, queue: str, limit: int, instance: str, node: str, now: float
    ) -> list[JobRecord]:
        """Claim up to ``limit`` jobs of ``queue`` that may run now.

        First moves ``scheduled`` and ``retryable`` jobs whose ``scheduled_at`` is not
        after ``now`` to ``available`` (Oban's stager); then takes ``available`` jobs
        ordered by ``priority``, ``scheduled_at``, ``id``, sets them ``executing`` with
        ``attempt + 1``, ``attempted_at = now``, ``claimed_by = instance``, ``node``,
        and returns them as they are now.
        """
        ...

    async def ack(self, acks: Sequence[Ack], now: float) -> list[bool]:
        """End attempts, in one transaction. Each ack is fenced: it changes its row
        only if the row is ``executing`` with the ack's ``attempt`` and
        ``claimed_by``; the result says which did (``False``: the claim was lost to
        a rescue or a release, and the row was left alone). A ``cancelled`` ack sets
        ``cancelled_at``; ``completed`` sets ``completed_at`` and the result;
        ``discarded`` sets ``discarded_at``; an ack's error is appended to
        ``errors``; the claim and ``cancel_requested`` are cleared."""
        ...

    async def report_progress(
        self, job_id: int, attempt: int, instance: str, progress: Progress
    ) -> bool:
        """Store a running attempt's progress (fenced as an ack); ``False`` if the
        claim is gone."""
        ...

    async def cancel_requests(self, instance: str) -> list[int]:
        """Ids of jobs executing under ``instance`` whose cancel was requested."""
        ...

    async def wait_for_jobs(self, queues: Collection[str]) -> None:
        """Return when jobs of ``queues`` may have become available. The caller bounds
        the wait with a cancel scope (its ``poll_interval``), so a store without
        notifications may simply wait for the next local insert. SQLite: returns when
        this store object inserted jobs (other processes are seen by polling);
        PostgreSQL: on a ``NOTIFY`` from any host. May return early for no reason:
        the engine claims and sees."""
        ...

    # -- liveness -----------------------------------------------------------------------

    async def heartbeat(
        self, instance: str, node: str, queues: Collection[str], now: float
    ) -> None:
        """Record that ``instance`` (on ``node``, running ``queues``) is alive at
        ``now`` (insert its row on the first call)."""
        ...

    async def rescue(self, expired_before: float, now: float) -> RescueReport:
        """Oban's Lifeline: instances whose heartbeat is older than ``expired_before``
        are dead; their rows are removed; jobs executing under a claim that no live
        instance row holds go back to ``available`` with ``rescued + 1`` and an
        :class:`AttemptError` saying so (the attempt counts), or to ``discarded``
        when ``attempt >= max_attempts``."""
        ...

    async def release(self, instance: str, now: float) -> int:
        """An orderly stop: put every job executing under ``instance`` back to
        ``available`` at once, its interrupted attempt not counted (``attempt - 1``),
        or to ``cancelled`` if its cancel was requested; remove the instance's row.
        Returns how many jobs were released."""
        ...

    async def acquire_lease(self, name: str, holder: str, ttl: float, now: float) -> bool:
        """Take or renew the lease ``name`` (e.g. ``"leader"``: who inserts cron jobs
        and prunes) for ``ttl`` seconds. True if ``holder`` holds it now."""
        ...

    # -- looking and acting -------------------------------------------------------------

    async def get(self, job_id: int) -> JobRecord | None:
        """The job ``job_id`` as stored now, or ``None`` (never inserted, or pruned)."""
        ...

    async def get_many(self, job_ids: Collection[int]) -> dict[int, JobRecord]:
        """The stored jobs among ``job_ids`` (pruned or unknown ones left out)."""
        ...

    async def request_cancel(self, job_id: int, now: float) -> JobRecord | None:
        """Cancel a job: a waiting one is ``cancelled`` at once; an executing one gets
        ``cancel_requested`` (its instance cancels the attempt and acks it
        ``cancelled``); a final one is left alone. Returns the row after, or ``None``."""
        ...

    async def retry_job(self, job_id: int, now: float) -> JobRecord | None:
        """Run a ``discarded`` or ``cancelled`` job again: ``available`` now, with
        ``max_attempts`` raised to ``attempt + 1`` if it was spent (Oban's
        ``retry_job``). Other states are left alone. Returns the row after."""
        ...

    async def stats(self) -> dict[str, dict[JobState, int]]:
        """How many jobs per state, per queue (queues with no jobs left out)."""
        ...

    async def prune(self, before: float, states: Collection[JobState], limit: int) -> int:
        """Delete up to ``limit`` jobs in ``states`` (final states) that reached them
        before ``before`` (their ``completed_at``/``discarded_at``/``cancelled_at``).
        Returns how many."""
        ...


class StoreError(JobQueueError):
    """Raised when a job store cannot do what was asked: the database is unusable
    or an operation failed (its transaction was rolled back; every job committed
    before is kept). The message names the database and says what to do.

    Attributes:
        store: the store's description (e.g. its file's path).
    """

    def __init__(self, store: str, detail: str) -> None:
        super().__init__(f"job store {store}: {detail}")
        self.store = store


class StoreBusyError(StoreError):
    """The database stayed locked past the store's busy timeout (another program
    holds an exclusive lock): stop that program or raise ``busy_timeout``."""


class StoreReadOnlyError(StoreError):
    """The database is open read-only (a ``mode=ro`` URI, a read-only mount, file
    modes): a queue needs to write; open it read-write."""


class StoreCorruptError(StoreError):
    """The file is not a database of this store, or is damaged: restore it from a
    backup, or point the store at another path."""


class StoreSchemaError(StoreError):
    """The database's schema is newer than this trio_otp knows (upgrade trio_otp), or
    older and the store was told not to migrate (run the migration)."""


class StoreFullError(StoreError):
    """A write failed because the disk (or the database's size limit) is full: that
    operation failed and was rolled back; free space and retry."""
