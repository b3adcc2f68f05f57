"""PostgresStore: the durable job store shared by many hosts (PostgreSQL, psycopg 3).

How it talks to PostgreSQL, and why:

* **psycopg 3's sync API on worker threads, with a psycopg_pool.** psycopg's async
  API and asyncpg run on asyncio only. Each store call is one function, run with
  ``trio.to_thread.run_sync`` (not abandoned on cancel: a transaction runs to its
  end), on a connection borrowed from a thread-safe ``ConnectionPool``; the trio loop
  only waits. A :class:`trio.CapacityLimiter` as large as the pool keeps threads from
  queueing inside the pool. What it gives, measured with 3 node processes on 2 cores
  (tests/test_postgres_nodes.py, docs/deployment.rst): about 3,200-3,500 short jobs/s
  over the three, and each node's trio loop lag at p99 6-11 ms (22-49 ms while
  the machine was loaded by other work). Other ways (one
  dedicated thread per connection, psycopg's async API under trio-asyncio) were not
  measured against it.
* **One transaction per call, committed at a known point**, or, for the hot calls
  whose change is one statement, **one autocommit statement** (no ``BEGIN`` and
  ``COMMIT`` round trips): a one-job insert without a unique key (the ``INSERT`` and
  its ``NOTIFY`` in one statement, a quarter of a transaction's four), the claim of
  a queue without limits (its staging and its claim, each standing alone), an ack.
  If the connection breaks before ``COMMIT`` was sent, nothing happened and the call
  is tried again; the store
  retries with exponential backoff (0.05 s doubling to 2 s, jittered) for up to
  ``reconnect_timeout`` seconds, logs **one** warning per outage on
  ``trio_otp.jobs.postgres`` and one line when it is back. Past ``reconnect_timeout``
  the call raises :exc:`~trio_otp.jobs.StoreConnectionError`; the engine keeps going
  and tries again (docs/deployment.rst). Once the server answers again, a
  connection is made directly while the pool refills (psycopg_pool's own
  reconnection backs off up to tens of seconds). A break *during* ``COMMIT`` (or
  during an autocommit statement) leaves the outcome unknown: a claim in doubt is
  handed back by the next claim (its rows are known by ``claimed_by`` and
  ``attempted_at``), an ack is tried again and counted done if the row is already in
  the acked state at that attempt, and an insert is tried again with the same ids:
  each job's id is chosen before it is sent, from a block the store reserves from
  the table's sequence, so a one-job insert is looked up by its id and sent again
  only if it is not there (the primary key refuses a second copy if the first try
  commits late), and a batch skips (``ON CONFLICT (id) DO NOTHING``) and reads back
  the rows its earlier try committed (a unique job found under its own id is not a
  conflict). A periodic job's insert in doubt raises
  :exc:`~trio_otp.jobs.StoreConnectionError` saying so.
  tests/test_postgres_doubt.py cuts each of these at that point, through a real TCP
  proxy.
* **Claims**: ``SELECT … ORDER BY priority, scheduled_at, id LIMIT n FOR UPDATE SKIP
  LOCKED`` inside the ``UPDATE`` that marks them ``executing``: concurrent claimers on
  any number of hosts never take the same row and never wait for each other.
* **Notifications**: an insert (and a rescue, a release, a retry) that makes jobs
  available sends ``NOTIFY trio_otp_jobs, '<queue>'`` in its transaction (delivered
  at commit). One dedicated connection *outside the pool*, on one thread of the
  store's own, ``LISTEN``\\ s and wakes the queues' producers; it waits with
  ``notifies(timeout=…)`` in a loop, so that it sees the store close and ends. If it
  loses its connection it reconnects with the same backoff and then wakes every
  queue (notifications sent meanwhile are lost). ``open()`` returns once the first
  ``LISTEN`` took effect (waiting up to ``connect_timeout``); a first ``LISTEN`` later
  than that wakes every queue too, so a job committed in between is claimed at once
  rather than at the next poll. The engine also polls every
  ``poll_interval`` (default **1.0** s): the fallback when notifications are off
  (``listen=False``) or lost, and how jobs scheduled for later are seen.
* **Uniqueness across hosts**: each unique key is locked with a transaction-scoped
  advisory lock (``pg_advisory_xact_lock``, keys in sorted order: no deadlock between
  two batches) before it is looked up, so two concurrent inserts of one key serialise.
* **Global limits and rate limits** (:class:`~trio_otp.jobs.QueueLimits`, kept in the database so
  every host obeys the same ones): a claim of a limited queue first locks that
  queue's row in ``trio_otp_queues`` (``FOR UPDATE``), so the claims of that queue
  serialise across hosts; it counts the queue's ``executing`` rows against
  ``global_max_running`` and the claim times kept in the row (a **sliding window**:
  at most ``rate_limit`` claims in any ``rate_period`` seconds) against the rate.
* **Leases** (the leader) are rows with an expiry, not session advisory locks: a host
  cut off keeps its TCP session and its locks until keepalive gives up (about 2 h by
  default); a lease simply runs out.
* **Schema**: tables prefixed ``trio_otp_`` in the connection's schema (its
  ``search_path``), a version in ``trio_otp_schema``, numbered migrations
  (``MIGRATIONS``) applied in one transaction under an advisory lock (so that
  workers starting together migrate once), at open (``migrate=True``, default) or by
  ``trio-otp migrate``. With ``migrate=False`` the store only reads the version, so
  its role needs no ``CREATE`` privilege (see the docs for the least privileges).

Anything needing a session (``LISTEN``, session locks) uses its own connection: a
proxy in *transaction* pooling mode (PgBouncer's ``pool_mode=transaction``) breaks
``LISTEN``; point the store at PostgreSQL or at a session-mode pool.

Times are the engine's (each host's clock): keep the hosts' clocks in sync (NTP);
their skew must stay well under the heartbeat expiry and the lease time.

The DSN's password is never logged, shown in a repr or put in an error message.
All SQL is in ``_postgres_sql``, always parameterised; the connection side (pool,
retries, schema, listener) is ``_postgres_link``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import attrs
import psycopg
import trio

from ._postgres_link import PostgresLink
from ._postgres_sql import (
    _ACK_STATES,
    _FINISHED,
    _LOCK_SPACE,
    CHANNEL,
    MIGRATIONS,
    SCHEMA_VERSION,
    SQL_ACK,
    SQL_ACK_DONE_ALREADY,
    SQL_CANCEL_EXECUTING,
    SQL_CANCEL_REQUESTS,
    SQL_CANCEL_WAITING,
    SQL_CLAIM,
    SQL_CRON_ENSURE,
    SQL_CRON_GET,
    SQL_CRON_SET,
    SQL_DELETE_DEAD,
    SQL_DELETE_INSTANCE,
    SQL_FIND_UNIQUE,
    SQL_GET,
    SQL_GET_MANY,
    SQL_HEARTBEAT,
    SQL_INSERT,
    SQL_INSERT_ONE,
    SQL_INSERT_ONE_NOTIFY,
    SQL_LEASE,
    SQL_LOCK_KEYS,
    SQL_NEXT_IDS,
    SQL_NOTIFY,
    SQL_ORPHANS,
    SQL_PROGRESS,
    SQL_PRUNE,
    SQL_QUEUE_LIMITS,
    SQL_RELEASE,
    SQL_RESCUE_AVAILABLE,
    SQL_RESCUE_DISCARDED,
    SQL_RETRY_JOB,
    SQL_RUNNING,
    SQL_SET_RECENT,
    SQL_STAGE,
    SQL_STATS,
    SQL_UNCLAIM_IN_DOUBT,
    QueueLimits,
    StoreConnectionError,
    _dumps,
    _error_json,
    _fetch_one,
    _lock_key,
    _record,
)
from ._store import (
    Ack,
    AttemptError,
    InsertResult,
    JobRecord,
    JobState,
    NewJob,
    Progress,
    RescueReport,
)

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "PostgresStore", "QueueLimits", "StoreConnectionError"]


class PostgresStore(PostgresLink):
    """The durable job store for several hosts: one PostgreSQL database shared by any
    number of queue instances on any number of hosts.

    Args:
        dsn: a libpq connection string (``"host=db dbname=app user=jobs"``) or URI
            (``"postgresql://jobs@db/app"``). Give the password through ``PGPASSWORD``
            or ``~/.pgpass`` if you can; one in the DSN is never shown or logged.
        min_connections: the pool's smallest size. Default **1**.
        max_connections: the pool's largest size. Default **4** (one more connection,
            outside the pool, listens).
        poll_interval: seconds between two looks for jobs when no notification came (the
            fallback, and how jobs scheduled for later are seen). Default **1.0**.
        listen: wake idle queues through ``LISTEN``/``NOTIFY``. Default **True**.
            ``False`` for a server reached through a transaction-pooling proxy.
        connect_timeout: seconds to wait for a connection at open. Default **10.0**.
        reconnect_timeout: seconds a call keeps retrying while the server is
            unreachable before :exc:`~trio_otp.jobs.StoreConnectionError`. Default **30.0**.
        limits: :class:`~trio_otp.jobs.QueueLimits` per queue name, written to the database at open
            (every host then obeys them; last writer wins). Default: none written
            (the stored ones apply).
        migrate: apply missing schema migrations at open (default **True**); with
            ``False`` an older schema is a ``StoreSchemaError`` and the role needs
            no ``CREATE`` privilege.
    """

    # -- inserting ---------------------------------------------------------------------------

    def insert_with(
        self, conn: psycopg.Connection[Any], jobs: Sequence[NewJob], now: float
    ) -> list[InsertResult]:
        """Insert jobs with **your** sync psycopg connection, inside your transaction:
        they are committed, or rolled back, with your own rows (transactional enqueue).

        Sync, on the thread that uses ``conn``; it does not commit. Make the jobs with
        the queue's ``new_job`` (which checks the function and the arguments), e.g.::

            def transfer(conn, job):
                with conn.transaction():
                    conn.execute("UPDATE accounts SET ...", (...))
                    store.insert_with(conn, [job], time.time())

            job = queue.new_job(send_receipt, account_id)
            await trio.to_thread.run_sync(transfer, conn, job)

        Idle queues on every host are woken when your transaction commits.
        """
        if not isinstance(conn, psycopg.Connection):
            raise TypeError(
                f"insert_with takes a sync psycopg.Connection, got {type(conn).__name__}"
            )
        return self._insert(conn, jobs, now, self._take_ids(conn, len(jobs)))

    def _insert(
        self,
        conn: psycopg.Connection[Any],
        jobs: Sequence[NewJob],
        now: float,
        ids: Sequence[int],
    ) -> list[InsertResult]:
        """Insert ``jobs`` as ``ids`` (one reserved id each) in ``conn``'s transaction.

        Tried again with the same ids after a try whose ``COMMIT`` broke, it finds what
        that try committed, if it did: a unique job's row under its own id is not a
        conflict, and a job whose id is taken is read back instead of inserted."""
        results: list[InsertResult | None] = [None] * len(jobs)
        keys = sorted({_lock_key(j.unique.key) for j in jobs if j.unique is not None})
        if keys:
            conn.execute(SQL_LOCK_KEYS, (_LOCK_SPACE, keys))
        to_insert: list[int] = []
        earlier: dict[str, int] = {}  # unique key → index of its first job in the batch
        duplicate_of: dict[int, int] = {}
        for i, job in enumerate(jobs):
            unique = job.unique
            if unique is not None:
                if unique.key in earlier:
                    duplicate_of[i] = earlier[unique.key]
                    continue
                row = conn.execute(
                    SQL_FIND_UNIQUE,
                    (unique.key, now - unique.period, [str(s) for s in unique.states]),
                ).fetchone()
                if row is not None:
                    found = _record(row)
                    results[i] = InsertResult(found, conflict=found.id != ids[i])
                    continue
                earlier[unique.key] = i
            to_insert.append(i)
        if to_insert:
            chosen = [jobs[i] for i in to_insert]
            states = [
                str(JobState.AVAILABLE if j.scheduled_at <= now else JobState.SCHEDULED)
                for j in chosen
            ]
            rows = conn.execute(
                SQL_INSERT,
                (
                    now,
                    [ids[i] for i in to_insert],
                    [j.worker for j in chosen],
                    [_dumps(j.args) for j in chosen],
                    [j.queue for j in chosen],
                    states,
                    [j.priority for j in chosen],
                    [j.max_attempts for j in chosen],
                    [
                        max(j.scheduled_at, now) if s == "scheduled" else now
                        for j, s in zip(chosen, states, strict=True)
                    ],
                    [None if j.unique is None else j.unique.key for j in chosen],
                    [_dumps(dict(j.meta)) for j in chosen],
                ),
            ).fetchall()
            records = {record.id: record for record in map(_record, rows)}
            if len(records) < len(to_insert):  # an earlier try of this call committed
                there = [ids[i] for i in to_insert if ids[i] not in records]
                records.update(
                    (record.id, record)
                    for record in map(_record, conn.execute(SQL_GET_MANY, (there,)))
                )
            for i in to_insert:
                results[i] = InsertResult(records[ids[i]])
            woken = sorted({r.queue for r in records.values() if r.state is JobState.AVAILABLE})
            if woken and self.listen:
                conn.execute(SQL_NOTIFY, (CHANNEL, woken))
        for i, first in duplicate_of.items():
            found_first = results[first]
            assert found_first is not None
            results[i] = InsertResult(found_first.job, conflict=True)
        return [r for r in results if r is not None]

    async def insert(self, jobs: Sequence[NewJob], now: float) -> list[InsertResult]:
        if not jobs:
            return []
        if len(jobs) == 1 and jobs[0].unique is None:
            results = [InsertResult(await self._insert_one(jobs[0], now))]
        else:
            ids: list[int] = []

            def run(conn: psycopg.Connection[Any]) -> list[InsertResult]:
                if not ids:  # kept for the tries after one whose COMMIT broke
                    ids.extend(self._take_ids(conn, len(jobs)))
                return self._insert(conn, jobs, now, ids)

            results = await self._run(run, "inserting jobs", lambda: None)
        self._wake({r.job.queue for r in results if not r.conflict})
        return results

    #: How many job ids a store reserves at a time for its inserts.
    ID_BLOCK = 64

    def _take_ids(self, conn: psycopg.Connection[Any], count: int) -> list[int]:
        """``count`` job ids for an insert: from the store's reserved block, reserving
        more when it runs out (a sequence never hands a value out twice; ids left
        unused when the store closes are gaps, as a rolled-back insert's are)."""
        ids = self._ids
        taken: list[int] = []
        while len(taken) < count:
            try:
                taken.append(ids.popleft())
            except IndexError:
                wanted = max(self.ID_BLOCK, count - len(taken))
                ids.extend(row[0] for row in conn.execute(SQL_NEXT_IDS, (wanted,)))
        return taken

    async def _insert_one(self, job: NewJob, now: float) -> JobRecord:
        """Insert one job without a unique key in one autocommit statement (the
        notification in it): a quarter of the statements of a transaction (``BEGIN``,
        ``INSERT``, ``NOTIFY``, ``COMMIT``). Its id is chosen before it is sent, so
        a try whose outcome a broken connection left unknown is settled by looking
        the id up, and a second try cannot insert the job twice (the primary key
        refuses it)."""
        available = job.scheduled_at <= now
        state = str(JobState.AVAILABLE if available else JobState.SCHEDULED)
        notify = available and self.listen
        job_id: int | None = None
        in_doubt = False

        def doubt() -> None:
            nonlocal in_doubt
            in_doubt = True

        def run(conn: psycopg.Connection[Any]) -> JobRecord:
            nonlocal job_id
            if job_id is None:
                (job_id,) = self._take_ids(conn, 1)
            if in_doubt:
                row = conn.execute(SQL_GET, (job_id,)).fetchone()
                if row is not None:
                    return _record(row)  # the try that broke did insert it
            params: list[Any] = [
                job_id,
                job.worker,
                _dumps(job.args),
                job.queue,
                state,
                job.priority,
                job.max_attempts,
                now,
                now if available else job.scheduled_at,
                _dumps(dict(job.meta)),
            ]
            if notify:
                params.append(CHANNEL)
            try:
                row = conn.execute(
                    SQL_INSERT_ONE_NOTIFY if notify else SQL_INSERT_ONE, params
                ).fetchone()
            except psycopg.errors.UniqueViolation:
                if not in_doubt:
                    raise
                # The try that broke was still running when it was looked up, and
                # committed since: the job is there, once.
                row = conn.execute(SQL_GET, (job_id,)).fetchone()
                if row is None:  # pragma: no cover - pruned within the same instant
                    raise
                return _record(row)
            assert row is not None
            return _record(row[:-1] if notify else row)

        return await self._run(run, "inserting a job", doubt, single=True)

    async def insert_cron(
        self, name: str, tick: float, job: NewJob, now: float, *, first: bool
    ) -> JobRecord | None:
        # The job's id is chosen by the try that inserts it and kept: a try whose
        # COMMIT broke is settled by the next, which finds the tick recorded if that
        # try committed and then looks the id up.
        ids: list[int] = []
        in_doubt = False

        def doubt() -> None:
            nonlocal in_doubt
            in_doubt = True

        def run(conn: psycopg.Connection[Any]) -> JobRecord | None:
            created = conn.execute(SQL_CRON_ENSURE, (name, tick)).fetchone()
            if created is not None:
                # No tick was recorded: this one is now.
                if first:
                    return None
            else:
                last = _fetch_one(conn, SQL_CRON_GET, (name,))
                if last >= tick:
                    if in_doubt and ids:
                        row = conn.execute(SQL_GET, (ids[0],)).fetchone()
                        return None if row is None else _record(row)
                    return None
                conn.execute(SQL_CRON_SET, (tick, name))
            if not ids:
                ids.extend(self._take_ids(conn, 1))
            plain = attrs.evolve(job, scheduled_at=now, unique=None)
            [result] = self._insert(conn, [plain], now, ids)
            return result.job

        record = await self._run(run, "inserting a periodic job", doubt)
        if record is not None:
            self._wake({record.queue})
        return record

    # -- running -----------------------------------------------------------------------------

    def _claim(
        self,
        conn: psycopg.Connection[Any],
        queue: str,
        limit: int,
        instance: str,
        node: str,
        now: float,
        limited: bool,
    ) -> list[JobRecord]:
        while self._claims_in_doubt:
            doubt_queue, holder, at = self._claims_in_doubt[0]
            conn.execute(SQL_UNCLAIM_IN_DOUBT, (holder, at, doubt_queue))
            self._claims_in_doubt.pop(0)
        conn.execute(SQL_STAGE, (queue, now))
        recent: list[float] | None = None
        if limited:
            row = conn.execute(SQL_QUEUE_LIMITS, (queue,)).fetchone()
            if row is not None:
                global_max, rate, period, kept = row
                if global_max is not None:
                    running: int = _fetch_one(conn, SQL_RUNNING, (queue,))
                    limit = min(limit, global_max - running)
                if rate is not None:
                    recent = [t for t in kept if t > now - period]
                    limit = min(limit, rate - len(recent))
        if limit <= 0:
            return []
        rows = conn.execute(SQL_CLAIM, (now, instance, node, queue, limit)).fetchall()
        if recent is not None and rows:
            conn.execute(SQL_SET_RECENT, (recent + [now] * len(rows), queue))
        records = [_record(row) for row in rows]
        records.sort(key=lambda r: (r.priority, r.scheduled_at, r.id))
        return records

    async def claim(
        self, queue: str, limit: int, instance: str, node: str, now: float
    ) -> list[JobRecord]:
        if limit <= 0:
            return []

        def doubt() -> None:
            # Its rows (if it committed) are ours at `now`: handed back by the next try.
            self._claims_in_doubt.append((queue, instance, now))

        # A queue with limits claims in one transaction (its row locked throughout);
        # any other in autocommit: handing back a claim in doubt, staging and the
        # claim each stand alone (two statements where a transaction sends four).
        limited = queue in self._limited
        return await self._run(
            lambda conn: self._claim(conn, queue, limit, instance, node, now, limited),
            f"claiming jobs of {queue!r}",
            doubt,
            single=not limited,
        )

    async def ack(self, acks: Sequence[Ack], now: float) -> list[bool]:
        if not acks:
            return []
        for ack in acks:
            if ack.state not in _ACK_STATES:
                raise ValueError(f"an ack cannot set the state {ack.state!r}")
        params = {
            "now": now,
            "ids": [a.id for a in acks],
            "attempts": [a.attempt for a in acks],
            "holders": [a.claimed_by for a in acks],
            "states": [str(a.state) for a in acks],
            "results": [
                None if a.state is not JobState.COMPLETED or a.result is None else _dumps(a.result)
                for a in acks
            ],
            "errors": [
                None
                if a.state is JobState.COMPLETED and a.error is None
                else _error_json(
                    a.error or AttemptError(a.attempt, now, f"{a.state} without a reason")
                )
                for a in acks
            ],
            "at": [
                (now if a.scheduled_at is None else a.scheduled_at)
                if a.state is JobState.RETRYABLE
                else None
                for a in acks
            ],
        }
        in_doubt = False

        def doubt() -> None:
            nonlocal in_doubt
            in_doubt = True

        def run(conn: psycopg.Connection[Any]) -> tuple[set[int], set[str]]:
            rows = conn.execute(SQL_ACK, params).fetchall()
            done = {row[0] for row in rows}
            if in_doubt and len(done) < len(acks):
                # The first try may have committed: those rows are in their acked state.
                missing = [a for a in acks if a.id not in done]
                done |= {
                    row[0]
                    for row in conn.execute(
                        SQL_ACK_DONE_ALREADY,
                        (
                            [a.id for a in missing],
                            [a.attempt for a in missing],
                            [str(a.state) for a in missing],
                        ),
                    )
                }
            woken = sorted({row[2] for row in rows if row[1] == "retryable"})
            return done, set(woken)

        # In autocommit: the fenced UPDATE is the whole change.
        done, _ = await self._run(run, "acking jobs", doubt, single=True)
        return [a.id in done for a in acks]

    async def report_progress(
        self, job_id: int, attempt: int, instance: str, progress: Progress
    ) -> bool:
        value = _dumps([progress.fraction, progress.message])

        def run(conn: psycopg.Connection[Any]) -> bool:
            return conn.execute(SQL_PROGRESS, (value, job_id, attempt, instance)).rowcount == 1

        return await self._run(run, "storing progress", lambda: None)

    async def cancel_requests(self, instance: str) -> list[int]:
        def run(conn: psycopg.Connection[Any]) -> list[int]:
            return [row[0] for row in conn.execute(SQL_CANCEL_REQUESTS, (instance,))]

        return await self._run(run, "reading cancel requests", lambda: None)

    async def wait_for_jobs(self, queues: Collection[str]) -> None:
        if not queues:
            await self._any_wakeup.wait()
            return
        if self._missed_all or not self._missed.isdisjoint(queues):
            # A notification came while this waiter was not waiting: it is not lost.
            self._missed_all = False
            self._missed.difference_update(queues)
            await trio.lowlevel.checkpoint()
            return
        events = [self._wakeups.setdefault(q, trio.Event()) for q in queues]
        if len(events) == 1:
            await events[0].wait()
            return
        async with trio.open_nursery() as nursery:

            async def one(event: trio.Event) -> None:
                await event.wait()
                nursery.cancel_scope.cancel()

            for event in events:
                nursery.start_soon(one, event)

    # -- liveness ------------------------------------------------------------------------------

    async def heartbeat(
        self, instance: str, node: str, queues: Collection[str], now: float
    ) -> None:
        names = _dumps(sorted(queues))

        def run(conn: psycopg.Connection[Any]) -> None:
            conn.execute(SQL_HEARTBEAT, (instance, node, names, now, now))

        await self._run(run, "renewing a heartbeat", lambda: None)

    async def rescue(self, expired_before: float, now: float) -> RescueReport:
        def run(conn: psycopg.Connection[Any]) -> tuple[RescueReport, set[str]]:
            dead = tuple(row[0] for row in conn.execute(SQL_DELETE_DEAD, (expired_before,)))
            available, discarded, queues = [], [], set()
            for job_id, attempt, max_attempts, _holder, queue in conn.execute(SQL_ORPHANS):
                if attempt >= max_attempts:
                    discarded.append(job_id)
                else:
                    available.append(job_id)
                    queues.add(queue)
            if available:
                conn.execute(SQL_RESCUE_AVAILABLE, (now, available))
                if self.listen:
                    conn.execute(SQL_NOTIFY, (CHANNEL, sorted(queues)))
            if discarded:
                conn.execute(SQL_RESCUE_DISCARDED, (now, now, now, discarded))
            return RescueReport(tuple(available), tuple(discarded), dead), queues

        report, queues = await self._run(run, "rescuing jobs", lambda: None)
        if queues:
            self._wake(queues)
        return report

    async def release(self, instance: str, now: float) -> int:
        def run(conn: psycopg.Connection[Any]) -> int:
            rows = conn.execute(SQL_RELEASE, (now, now, instance)).fetchall()
            conn.execute(SQL_DELETE_INSTANCE, (instance,))
            woken = sorted({queue for state, queue in rows if state == "available"})
            if woken and self.listen:
                conn.execute(SQL_NOTIFY, (CHANNEL, woken))
            return len(rows)

        return await self._run(run, "releasing claims", lambda: None)

    async def acquire_lease(self, name: str, holder: str, ttl: float, now: float) -> bool:
        def run(conn: psycopg.Connection[Any]) -> bool:
            return conn.execute(SQL_LEASE, (name, holder, now + ttl, now)).fetchone() is not None

        return await self._run(run, f"taking the lease {name!r}", lambda: None)

    # -- looking and acting ----------------------------------------------------------------------

    async def get(self, job_id: int) -> JobRecord | None:
        def run(conn: psycopg.Connection[Any]) -> JobRecord | None:
            row = conn.execute(SQL_GET, (job_id,)).fetchone()
            return None if row is None else _record(row)

        return await self._run(run, "reading a job", lambda: None)

    async def get_many(self, job_ids: Collection[int]) -> dict[int, JobRecord]:
        ids = [int(i) for i in job_ids]

        def run(conn: psycopg.Connection[Any]) -> dict[int, JobRecord]:
            records = (_record(row) for row in conn.execute(SQL_GET_MANY, (ids,)))
            return {r.id: r for r in records}

        return await self._run(run, "reading jobs", lambda: None)

    async def request_cancel(self, job_id: int, now: float) -> JobRecord | None:
        def run(conn: psycopg.Connection[Any]) -> JobRecord | None:
            if conn.execute(SQL_CANCEL_WAITING, (now, now, job_id)).rowcount == 0:
                conn.execute(SQL_CANCEL_EXECUTING, (job_id,))
            row = conn.execute(SQL_GET, (job_id,)).fetchone()
            return None if row is None else _record(row)

        return await self._run(run, "cancelling a job", lambda: None)

    async def retry_job(self, job_id: int, now: float) -> JobRecord | None:
        def run(conn: psycopg.Connection[Any]) -> JobRecord | None:
            row = conn.execute(SQL_RETRY_JOB, (now, job_id)).fetchone()
            if row is None:
                row = conn.execute(SQL_GET, (job_id,)).fetchone()
                return None if row is None else _record(row)
            record = _record(row)
            if self.listen:
                conn.execute(SQL_NOTIFY, (CHANNEL, [record.queue]))
            return record

        record = await self._run(run, "retrying a job", lambda: None)
        if record is not None and record.state is JobState.AVAILABLE:
            self._wake({record.queue})
        return record

    async def stats(self) -> dict[str, dict[JobState, int]]:
        def run(conn: psycopg.Connection[Any]) -> dict[str, dict[JobState, int]]:
            out: dict[str, dict[JobState, int]] = {}
            for queue, state, count in conn.execute(SQL_STATS):
                out.setdefault(queue, {})[JobState(state)] = count
            return out

        return await self._run(run, "counting jobs", lambda: None)

    async def prune(self, before: float, states: Collection[JobState], limit: int) -> int:
        chosen = [str(s) for s in states if s in _FINISHED]
        if not chosen or limit <= 0:
            return 0

        def run(conn: psycopg.Connection[Any]) -> int:
            return conn.execute(SQL_PRUNE, (before, chosen, limit)).rowcount

        return await self._run(run, "pruning jobs", lambda: None)
