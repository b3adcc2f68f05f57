"""SQLiteStore: the embedded durable job store (one file, one host, stdlib ``sqlite3``).

How it talks to SQLite, and why:

* **One connection, one thread that owns it.** A ``sqlite3`` connection refuses to move
  between threads, and ``trio.to_thread.run_sync`` does not promise the same thread
  twice; so the store starts one thread of its own, which opens the connection and
  runs every call, one after the other. The trio side hands a call over and waits
  without blocking the loop (the loop's lag stays in the tens of microseconds).
* **Counts on a connection of their own.** :meth:`SQLiteStore.stats` counts the rows
  of every state (a scan of the table: 60 ms at 100,000 rows, 0.7 s at a million).
  It runs on a second, query-only connection and thread, opened at the first count:
  WAL lets it read while the store's thread writes, so an observer refreshing its
  counts never holds up a claim or an ack behind a scan.
* **WAL, ``isolation_level=None``, explicit ``BEGIN IMMEDIATE``, a busy timeout.**
  Each store call is one transaction that takes the write lock first: a deferred
  ``BEGIN`` that upgrades later can fail with ``SQLITE_BUSY`` under concurrent
  writers, which would break uniqueness. Writers from other processes on the same
  file wait for each other up to ``busy_timeout`` seconds.
* **Durability: ``synchronous=NORMAL`` by default.** In WAL mode it survives a killed
  process (the tests SIGKILL real processes) and never corrupts the file; a power loss
  or an OS crash may lose the last transactions committed before it (they are rolled
  back, never half-applied). ``synchronous="FULL"`` survives a power loss too, at the
  price of an fsync per transaction.
* **A bounded ``-wal`` file.** SQLite's automatic (passive) checkpoint runs at half of
  ``wal_limit`` (set through ``wal_autocheckpoint``), but cannot reset the WAL while
  some reader holds an old snapshot, so the file could grow under a reader that holds
  a snapshot for long. After each write the store looks at the WAL's size (a
  ``stat``); past ``wal_limit`` bytes it runs a
  ``TRUNCATE`` checkpoint, which waits (at most 0.1 s, then again a second later) for
  the old readers to finish while it holds the write lock, so new readers, which see
  the newest snapshot, cannot keep it starving; ``journal_size_limit`` shrinks the
  file after a passive checkpoint too. The WAL then stays under ``wal_limit`` plus
  what one long reader pins.
* **Schema versions.** The tables are prefixed ``trio_otp_`` (they may share a file
  with the application's own), and ``trio_otp_schema`` holds the version. Migrations
  are a numbered list of SQL scripts (``_sqlite_sql.MIGRATIONS``), applied in order inside
  one transaction by :meth:`SQLiteStore.migrate` or, with ``migrate=True``
  (default), when the store opens. A newer version than this code knows is an error.

All SQL is in ``_sqlite_sql.py``, always parameterised.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import queue as queue_module
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from contextlib import asynccontextmanager
from typing import Any, Final, TypeVar

import outcome
import trio

from . import _sqlite_sql as sql
from ._store import (
    Ack,
    AttemptError,
    InsertResult,
    JobRecord,
    JobState,
    NewJob,
    Progress,
    RescueReport,
    StoreBusyError,
    StoreCorruptError,
    StoreError,
    StoreFullError,
    StoreReadOnlyError,
    StoreSchemaError,
)

T = TypeVar("T")

_FINISHED: Final = frozenset({JobState.COMPLETED, JobState.DISCARDED, JobState.CANCELLED})

# SQLite's primary result codes (extended codes carry them in their low byte).
_SQLITE_BUSY: Final = 5
_SQLITE_LOCKED: Final = 6
_SQLITE_READONLY: Final = 8
_SQLITE_IOERR: Final = 10
_SQLITE_CORRUPT: Final = 11
_SQLITE_FULL: Final = 13
_SQLITE_CANTOPEN: Final = 14
_SQLITE_NOTADB: Final = 26


_STATE_OF: Final = {str(state): state for state in JobState}


def _record(row: Sequence[Any]) -> JobRecord:
    # Once per job claimed or inserted: the columns almost every row has at their
    # defaults ("[]", "{}", NULL) are not parsed.
    progress = None if row[16] is None else Progress(*json.loads(row[16]))
    errors = row[14]
    meta = row[21]
    return JobRecord(
        row[0],
        row[1],
        [] if row[2] == "[]" else json.loads(row[2]),
        row[3],
        _STATE_OF[row[4]],
        row[5],
        row[6],
        row[7],
        row[8],
        row[9],
        row[10],
        row[11],
        row[12],
        row[13],
        ()
        if errors == "[]"
        else tuple(AttemptError(e["attempt"], e["at"], e["error"]) for e in json.loads(errors)),
        None if row[15] is None else json.loads(row[15]),
        progress,
        row[17],
        row[18],
        row[19],
        bool(row[20]),
        {} if meta == "{}" else json.loads(meta),
    )


def _error_json(error: AttemptError) -> str:
    return json.dumps({"attempt": error.attempt, "at": error.at, "error": error.error})


def _pad(states: Collection[JobState], n: int) -> list[str]:
    values = [str(s) for s in states] or ["-"]
    return (values * n)[:n] if len(values) < n else values[:n]


class _Thread:
    """One thread that owns one connection and runs calls on it, in order."""

    def __init__(self, name: str) -> None:
        self._calls: queue_module.SimpleQueue[Any] = queue_module.SimpleQueue()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self.conn: sqlite3.Connection | None = None

    def start(self) -> None:
        self._thread.start()

    def _main(self) -> None:
        while True:
            item = self._calls.get()
            if item is None:
                return
            fn, args, token, task = item
            result = outcome.capture(fn, *args)
            token.run_sync_soon(trio.lowlevel.reschedule, task, result)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on the thread; the caller waits without blocking the loop.

        Not cancellable once sent: a transaction runs to its end (bounded by the busy
        timeout); a cancel is delivered at the next checkpoint after it."""
        await trio.lowlevel.checkpoint_if_cancelled()
        self._calls.put(
            (fn, args, trio.lowlevel.current_trio_token(), trio.lowlevel.current_task())
        )
        result: T = await trio.lowlevel.wait_task_rescheduled(lambda _: trio.lowlevel.Abort.FAILED)
        return result

    def stop(self) -> None:
        self._calls.put(None)

    def join(self) -> None:
        self._thread.join()


class SQLiteStore:
    """The embedded durable job store: one SQLite file (WAL), shared by any number of
    queue instances in any number of processes on this host.

    Args:
        path: the database file (created if missing), or a ``file:`` URI (e.g.
            ``file:jobs.db?mode=ro``, which the store refuses at open: it must write).
        synchronous: ``"NORMAL"`` (default: survives a killed process; a power loss
            may lose the last commits) or ``"FULL"`` (survives a power loss too; an
            fsync per transaction).
        busy_timeout: seconds a transaction waits for another writer's lock before
            :exc:`StoreBusyError`. Default **5.0**.
        poll_interval: seconds between two looks for jobs inserted by other
            processes (SQLite has no notifications); also how often a handle's
            ``wait`` looks at a job another process runs. Default **0.5**.
        wal_limit: bytes; past this size the ``-wal`` file is checkpointed and
            truncated. Default **64 MiB**.
        migrate: apply missing schema migrations at open (default **True**); with
            ``False``, an older schema is a :exc:`StoreSchemaError`.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: str = "NORMAL",
        busy_timeout: float = 5.0,
        poll_interval: float = 0.5,
        wal_limit: int = 64 * 1024 * 1024,
        migrate: bool = True,
    ) -> None:
        given: object = os.fspath(path)
        if not isinstance(given, str) or not given:
            raise TypeError(f"path must be a file path or a file: URI, got {path!r}")
        path = given
        if path == ":memory:":
            raise ValueError(
                "SQLiteStore needs a file (':memory:' dies with its connection and no "
                "other process sees it): give a path, or use the in-memory JobQueue"
            )
        self.path = path
        raw: object = synchronous
        sync = raw.upper() if isinstance(raw, str) else raw
        if not isinstance(sync, str) or sync not in ("NORMAL", "FULL"):
            raise ValueError(f"synchronous must be 'NORMAL' or 'FULL', got {synchronous!r}")
        self.synchronous: str = sync
        timeout: object = busy_timeout
        if not (isinstance(timeout, (int, float)) and timeout >= 0):
            raise ValueError(f"busy_timeout must be seconds >= 0, got {busy_timeout!r}")
        self.busy_timeout: float = float(busy_timeout)
        interval: object = poll_interval
        if not (isinstance(interval, (int, float)) and 0 < interval < math.inf):
            raise ValueError(f"poll_interval must be seconds > 0, got {poll_interval!r}")
        self.poll_interval: float = float(poll_interval)
        self.wal_limit: int = int(wal_limit)
        self.migrate_on_open: bool = bool(migrate)
        self._next_checkpoint = 0.0
        self._thread: _Thread | None = None
        self._reader: _Thread | None = None  # for stats(), from its first call
        self._closing = False
        self._inserted = trio.Event()

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r})"

    @property
    def _file(self) -> str:
        """The database file's path (the URI's path part for a ``file:`` URI)."""
        if self.path.startswith("file:"):
            return self.path[5:].split("?", 1)[0]
        return self.path

    # -- the thread's side ---------------------------------------------------------

    def _not_open(self) -> StoreError:
        return StoreError(repr(self._file), "the store is not open: use `async with store.open()`")

    def _error(self, exc: sqlite3.Error) -> StoreError:
        code = (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF
        where = repr(self._file)
        text = str(exc)
        if code in (_SQLITE_BUSY, _SQLITE_LOCKED):
            return StoreBusyError(
                where,
                f"the database stayed locked for more than busy_timeout="
                f"{self.busy_timeout:g} s ({text}): another program holds a lock on it; "
                "stop that program, or give SQLiteStore a longer busy_timeout",
            )
        if code == _SQLITE_READONLY:
            return StoreReadOnlyError(
                where,
                f"the database is read-only ({text}): a job queue must write to its "
                "store; open it read-write (no mode=ro URI, a writable file and directory)",
            )
        if code in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
            return StoreCorruptError(
                where,
                f"the file is not a usable SQLite database ({text}): restore it from a "
                "backup, or give SQLiteStore another path",
            )
        if code == _SQLITE_FULL:
            return StoreFullError(
                where,
                f"the disk or the database's size limit is full ({text}): this "
                "operation was rolled back, committed jobs are kept; free space and retry",
            )
        if code == _SQLITE_IOERR:
            return StoreError(
                where,
                f"an I/O error ({text}): this operation was rolled back; check the disk",
            )
        if code == _SQLITE_CANTOPEN:
            return StoreError(
                where,
                f"cannot open the database file ({text}): check that its directory "
                "exists and is writable",
            )
        return StoreError(where, f"{type(exc).__name__}: {text}")

    def _connect(self) -> None:
        assert self._thread is not None
        try:
            conn = sqlite3.connect(
                self.path,
                timeout=self.busy_timeout,
                isolation_level=None,
                uri=self.path.startswith("file:"),
            )
        except sqlite3.Error as exc:
            raise self._error(exc) from exc
        self._thread.conn = conn
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # NOTADB here
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            conn.execute(f"PRAGMA synchronous = {self.synchronous}")
            conn.execute(f"PRAGMA journal_size_limit = {self.wal_limit}")
            # SQLite's passive checkpoint restarts the WAL at half the limit (when no
            # reader pins it), so the file stays under wal_limit without our help.
            page = conn.execute("PRAGMA page_size").fetchone()[0]
            conn.execute(f"PRAGMA wal_autocheckpoint = {max(16, self.wal_limit // page // 2)}")
            # The write lock now: a read-only database fails here, clearly.
            conn.execute("BEGIN IMMEDIATE")
            try:
                # A write, undone at once: a read-only database (a mode=ro URI, a
                # read-only mount) fails here, at start, not at the first job.
                conn.execute(sql.SQL_PROBE_WRITE)
                conn.execute(sql.SQL_PROBE_UNDO)
                self._check_schema(conn, migrate=self.migrate_on_open)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            if str(mode).lower() != "wal":
                raise StoreError(
                    repr(self._file),
                    f"could not switch the database to WAL mode (it is in {mode!r} mode): "
                    "the file system may not support it (use a local disk)",
                )
        except sqlite3.Error as exc:
            conn.close()
            self._thread.conn = None
            raise self._error(exc) from exc
        except BaseException:
            conn.close()
            self._thread.conn = None
            raise

    def _check_schema(self, conn: sqlite3.Connection, *, migrate: bool) -> int:
        if conn.execute(sql.SQL_HAS_SCHEMA).fetchone()[0] == 0:
            conn.execute(sql.SQL_CREATE_SCHEMA)
        version: int = conn.execute(sql.SQL_VERSION).fetchone()[0]
        if version > sql.SCHEMA_VERSION:
            raise StoreSchemaError(
                repr(self._file),
                f"its schema is version {version}, newer than this trio_otp knows "
                f"({sql.SCHEMA_VERSION}): upgrade trio_otp, or give SQLiteStore another path",
            )
        if version < sql.SCHEMA_VERSION:
            if not migrate:
                raise StoreSchemaError(
                    repr(self._file),
                    f"its schema is version {version}, older than this trio_otp's "
                    f"({sql.SCHEMA_VERSION}): run `await store.migrate()` (or open it with "
                    "migrate=True)",
                )
            for number in range(version + 1, sql.SCHEMA_VERSION + 1):
                for statement in sql.MIGRATIONS[number - 1].split(";"):
                    if statement.strip():
                        conn.execute(statement)
                conn.execute(sql.SQL_SET_VERSION, (number,))
        return sql.SCHEMA_VERSION

    def _close(self) -> None:
        assert self._thread is not None
        conn = self._thread.conn
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):
                # Busy: another connection still reads; its last close checkpoints.
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            conn.close()
            self._thread.conn = None

    def _tx(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(conn, *args)`` in one ``BEGIN IMMEDIATE`` transaction (thread side)."""
        assert self._thread is not None
        conn = self._thread.conn
        if conn is None:
            raise self._not_open()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(conn, *args)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise self._error(exc) from exc
        self._bound_wal(conn)
        return result

    def _read(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(conn, *args)`` as an autocommit read (thread side)."""
        assert self._thread is not None
        conn = self._thread.conn
        if conn is None:
            raise self._not_open()
        try:
            return fn(conn, *args)
        except sqlite3.Error as exc:
            raise self._error(exc) from exc

    def _count(self, reader: _Thread, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run the read ``fn(conn)`` on the reader's connection, opening it first
        (reader thread side)."""
        conn = reader.conn
        try:
            if conn is None:
                conn = sqlite3.connect(
                    self.path,
                    timeout=self.busy_timeout,
                    isolation_level=None,
                    uri=self.path.startswith("file:"),
                )
                reader.conn = conn
                conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
                conn.execute("PRAGMA query_only = ON")
            return fn(conn)
        except sqlite3.Error as exc:
            raise self._error(exc) from exc

    @staticmethod
    def _close_reader(reader: _Thread) -> None:
        if reader.conn is not None:
            reader.conn.close()
            reader.conn = None

    def _bound_wal(self, conn: sqlite3.Connection) -> None:
        try:
            size = os.path.getsize(self._file + "-wal")
        except OSError:
            return
        if size <= self.wal_limit:
            return
        now = time.monotonic()
        if now < self._next_checkpoint:
            return
        # Wait at most 0.1 s for old readers (holding the write lock meanwhile, so new
        # readers see the newest snapshot and cannot keep it starving); try again at
        # most once a second while some reader pins the WAL.
        conn.execute("PRAGMA busy_timeout = 100")
        try:
            busy = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        except sqlite3.Error:
            busy = 1
        finally:
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
        self._next_checkpoint = now + 1.0 if busy else 0.0

    # -- running it --------------------------------------------------------------------

    @asynccontextmanager
    async def open(self) -> AsyncIterator[SQLiteStore]:
        """Open the file (create it, migrate its schema) on the store's own thread; close
        it (checkpoint the WAL) after the block.

        Raises:
            StoreError: the database cannot be used: busy, read-only, corrupt, or of
                another schema (a :exc:`StoreBusyError`, :exc:`StoreReadOnlyError`,
                :exc:`StoreCorruptError` or :exc:`StoreSchemaError`); the message says
                why and what to do, naming the path.
        """
        if self._thread is not None:
            raise RuntimeError(f"{self!r} is open already: a store object opens once at a time")
        thread = self._thread = _Thread(f"trio_otp SQLiteStore {self._file}")
        self._closing = False
        thread.start()
        try:
            await thread.run(self._connect)
            yield self
        finally:
            # Closing: no new call may queue behind a thread's stop (it would wait
            # forever), so each thread is forgotten before it is told to stop.
            self._closing = True
            with trio.CancelScope(shield=True):
                reader, self._reader = self._reader, None
                if reader is not None:
                    await reader.run(self._close_reader, reader)
                    reader.stop()
                    await trio.to_thread.run_sync(reader.join)
                await thread.run(self._close)
                self._thread = None
                thread.stop()
                await trio.to_thread.run_sync(thread.join)

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        thread = self._thread
        if thread is None:
            raise self._not_open()
        return await thread.run(fn, *args)

    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        result: T = await self._run(self._tx, fn)
        return result

    async def _query(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        result: T = await self._run(self._read, fn)
        return result

    async def migrate(self) -> int:
        """Apply the missing schema migrations now (the store must be open). Returns
        the schema's version."""

        def run(conn: sqlite3.Connection) -> int:
            return self._check_schema(conn, migrate=True)

        return await self._write(run)

    async def schema_version(self) -> int:
        """The schema version of the open database."""
        return await self._query(lambda conn: conn.execute(sql.SQL_VERSION).fetchone()[0])

    # -- the protocol ---------------------------------------------------------------------

    async def insert(self, jobs: Sequence[NewJob], now: float) -> list[InsertResult]:
        def run(conn: sqlite3.Connection) -> list[InsertResult]:
            results = []
            for job in jobs:
                unique = job.unique
                if unique is not None:
                    row = conn.execute(
                        sql.SQL_FIND_UNIQUE,
                        (unique.key, now - unique.period, *_pad(unique.states, 7)),
                    ).fetchone()
                    if row is not None:
                        results.append(InsertResult(_record(row), conflict=True))
                        continue
                state = JobState.AVAILABLE if job.scheduled_at <= now else JobState.SCHEDULED
                row = conn.execute(
                    sql.SQL_INSERT,
                    (
                        job.worker,
                        json.dumps(job.args),
                        job.queue,
                        str(state),
                        job.priority,
                        job.max_attempts,
                        now,
                        max(job.scheduled_at, now) if state is JobState.SCHEDULED else now,
                        None if unique is None else unique.key,
                        json.dumps(dict(job.meta)),
                    ),
                ).fetchone()
                results.append(InsertResult(_record(row)))
            return results

        results = await self._write(run)
        self._inserted.set()
        self._inserted = trio.Event()
        return results

    async def insert_cron(
        self, name: str, tick: float, job: NewJob, now: float, *, first: bool
    ) -> JobRecord | None:
        def run(conn: sqlite3.Connection) -> JobRecord | None:
            row = conn.execute(sql.SQL_CRON_GET, (name,)).fetchone()
            if row is not None and row[0] >= tick:
                return None
            conn.execute(sql.SQL_CRON_SET, (name, tick))
            if row is None and first:
                return None
            inserted = conn.execute(
                sql.SQL_INSERT,
                (
                    job.worker,
                    json.dumps(job.args),
                    job.queue,
                    str(JobState.AVAILABLE),
                    job.priority,
                    job.max_attempts,
                    now,
                    now,
                    None,
                    json.dumps(dict(job.meta)),
                ),
            ).fetchone()
            return _record(inserted)

        record = await self._write(run)
        if record is not None:
            self._inserted.set()
            self._inserted = trio.Event()
        return record

    async def claim(
        self, queue: str, limit: int, instance: str, node: str, now: float
    ) -> list[JobRecord]:
        def run(conn: sqlite3.Connection) -> list[JobRecord]:
            conn.execute(sql.SQL_STAGE, (now,))
            rows = conn.execute(sql.SQL_CLAIM, (now, instance, node, queue, limit)).fetchall()
            records = [_record(row) for row in rows]
            records.sort(key=lambda r: (r.priority, r.scheduled_at, r.id))
            return records

        return await self._write(run)

    async def ack(self, acks: Sequence[Ack], now: float) -> list[bool]:
        def run(conn: sqlite3.Connection) -> list[bool]:
            done = []
            for ack in acks:
                fence = (ack.id, ack.attempt, ack.claimed_by)
                state = ack.state
                if state is JobState.COMPLETED:
                    result = None if ack.result is None else json.dumps(ack.result)
                    cursor = conn.execute(sql.SQL_ACK_COMPLETED, (now, now, result, *fence))
                else:
                    error = _error_json(
                        ack.error or AttemptError(ack.attempt, now, f"{state} without a reason")
                    )
                    if state is JobState.RETRYABLE:
                        at = now if ack.scheduled_at is None else ack.scheduled_at
                        cursor = conn.execute(sql.SQL_ACK_RETRYABLE, (at, error, *fence))
                    elif state is JobState.DISCARDED:
                        cursor = conn.execute(sql.SQL_ACK_DISCARDED, (now, now, error, *fence))
                    elif state is JobState.CANCELLED:
                        cursor = conn.execute(sql.SQL_ACK_CANCELLED, (now, now, error, *fence))
                    else:
                        raise ValueError(f"an ack cannot set the state {state!r}")
                done.append(cursor.rowcount == 1)
            return done

        return await self._write(run)

    async def report_progress(
        self, job_id: int, attempt: int, instance: str, progress: Progress
    ) -> bool:
        value = json.dumps([progress.fraction, progress.message])

        def run(conn: sqlite3.Connection) -> bool:
            return conn.execute(sql.SQL_PROGRESS, (value, job_id, attempt, instance)).rowcount == 1

        return await self._write(run)

    async def cancel_requests(self, instance: str) -> list[int]:
        def run(conn: sqlite3.Connection) -> list[int]:
            return [row[0] for row in conn.execute(sql.SQL_CANCEL_REQUESTS, (instance,))]

        return await self._query(run)

    async def wait_for_jobs(self, queues: Collection[str]) -> None:
        await self._inserted.wait()

    async def heartbeat(
        self, instance: str, node: str, queues: Collection[str], now: float
    ) -> None:
        names = json.dumps(sorted(queues))

        def run(conn: sqlite3.Connection) -> None:
            conn.execute(sql.SQL_HEARTBEAT, (instance, node, names, now, now))

        await self._write(run)

    async def rescue(self, expired_before: float, now: float) -> RescueReport:
        def run(conn: sqlite3.Connection) -> RescueReport:
            dead = tuple(row[0] for row in conn.execute(sql.SQL_DEAD_INSTANCES, (expired_before,)))
            conn.execute(sql.SQL_DELETE_DEAD, (expired_before,))
            available, discarded = [], []
            for job_id, attempt, max_attempts, holder in conn.execute(sql.SQL_ORPHANS).fetchall():
                error = _error_json(
                    AttemptError(
                        attempt,
                        now,
                        f"rescued: queue instance {holder} stopped its heartbeat during "
                        f"attempt {attempt}",
                    )
                )
                if attempt >= max_attempts:
                    conn.execute(sql.SQL_RESCUE_DISCARDED, (now, now, error, job_id))
                    discarded.append(job_id)
                else:
                    conn.execute(sql.SQL_RESCUE_AVAILABLE, (error, job_id))
                    available.append(job_id)
            return RescueReport(tuple(available), tuple(discarded), dead)

        report = await self._write(run)
        if report.available:
            self._inserted.set()
            self._inserted = trio.Event()
        return report

    async def release(self, instance: str, now: float) -> int:
        def run(conn: sqlite3.Connection) -> int:
            count = conn.execute(sql.SQL_RELEASE, (now, now, instance)).rowcount
            conn.execute(sql.SQL_DELETE_INSTANCE, (instance,))
            return count

        return await self._write(run)

    async def acquire_lease(self, name: str, holder: str, ttl: float, now: float) -> bool:
        def run(conn: sqlite3.Connection) -> bool:
            conn.execute(sql.SQL_LEASE, (name, holder, now + ttl, now))
            row = conn.execute(sql.SQL_LEASE_HOLDER, (name,)).fetchone()
            return row is not None and row[0] == holder

        return await self._write(run)

    async def get(self, job_id: int) -> JobRecord | None:
        def run(conn: sqlite3.Connection) -> JobRecord | None:
            row = conn.execute(sql.SQL_GET, (job_id,)).fetchone()
            return None if row is None else _record(row)

        return await self._query(run)

    async def get_many(self, job_ids: Collection[int]) -> dict[int, JobRecord]:
        ids = json.dumps([int(i) for i in job_ids])

        def run(conn: sqlite3.Connection) -> dict[int, JobRecord]:
            records = (_record(row) for row in conn.execute(sql.SQL_GET_MANY, (ids,)))
            return {r.id: r for r in records}

        return await self._query(run)

    async def request_cancel(self, job_id: int, now: float) -> JobRecord | None:
        def run(conn: sqlite3.Connection) -> JobRecord | None:
            if conn.execute(sql.SQL_CANCEL_WAITING, (now, now, job_id)).rowcount == 0:
                conn.execute(sql.SQL_CANCEL_EXECUTING, (job_id,))
            row = conn.execute(sql.SQL_GET, (job_id,)).fetchone()
            return None if row is None else _record(row)

        return await self._write(run)

    async def retry_job(self, job_id: int, now: float) -> JobRecord | None:
        def run(conn: sqlite3.Connection) -> JobRecord | None:
            conn.execute(sql.SQL_RETRY_JOB, (now, job_id))
            row = conn.execute(sql.SQL_GET, (job_id,)).fetchone()
            return None if row is None else _record(row)

        record = await self._write(run)
        self._inserted.set()
        self._inserted = trio.Event()
        return record

    async def stats(self) -> dict[str, dict[JobState, int]]:
        def run(conn: sqlite3.Connection) -> dict[str, dict[JobState, int]]:
            out: dict[str, dict[JobState, int]] = {}
            for queue, state, count in conn.execute(sql.SQL_STATS):
                out.setdefault(queue, {})[JobState(state)] = count
            return out

        if self._thread is None or self._closing:
            raise self._not_open()
        reader = self._reader
        if reader is None:
            reader = self._reader = _Thread(f"trio_otp SQLiteStore reader {self._file}")
            reader.start()
        result: dict[str, dict[JobState, int]] = await reader.run(self._count, reader, run)
        return result

    async def prune(self, before: float, states: Collection[JobState], limit: int) -> int:
        chosen = [s for s in states if s in _FINISHED]
        if not chosen:
            return 0

        def run(conn: sqlite3.Connection) -> int:
            return conn.execute(sql.SQL_PRUNE, (before, *_pad(chosen, 3), limit)).rowcount

        return await self._write(run)
