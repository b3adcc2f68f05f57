"""SQLiteStore's own behaviour: its file, its errors, its durability settings.

Real SQLite files in the test's temporary directory; the "other program" is a plain
``sqlite3`` connection of the test. Times are explicit (no clock involved).
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
import trio

from trio_otp.jobs import (
    Ack,
    JobState,
    NewJob,
    SQLiteStore,
    StoreBusyError,
    StoreCorruptError,
    StoreError,
    StoreFullError,
    StoreReadOnlyError,
    StoreSchemaError,
)
from trio_otp.jobs._sqlite_sql import SCHEMA_VERSION

T0 = 1_800_000_000.0


def _wal_size(path: Path) -> int:
    wal = Path(f"{path}-wal")
    return wal.stat().st_size if wal.exists() else 0


async def _pragma(store: SQLiteStore, statement: str) -> object:
    return await store._query(lambda conn: conn.execute(statement).fetchone())


async def test_a_new_file_gets_the_schema_wal_and_normal_sync(tmp_path: Path) -> None:
    """Opening creates the file at the current schema version, in WAL mode, with
    synchronous=NORMAL (1) by default and FULL (2) on request."""
    path = tmp_path / "new.db"
    async with SQLiteStore(path).open() as store:
        assert await store.schema_version() == SCHEMA_VERSION
        assert await _pragma(store, "PRAGMA journal_mode") == ("wal",)
        assert await _pragma(store, "PRAGMA synchronous") == (1,)
        assert await store.migrate() == SCHEMA_VERSION  # nothing left to apply
    async with SQLiteStore(path, synchronous="full").open() as store:
        assert await _pragma(store, "PRAGMA synchronous") == (2,)
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        versions = conn.execute("SELECT version FROM trio_otp_schema").fetchall()
    assert versions == [(n,) for n in range(1, SCHEMA_VERSION + 1)]


async def test_a_file_locked_by_another_program_is_a_clear_busy_error(tmp_path: Path) -> None:
    """Another program holding an exclusive lock past busy_timeout: StoreBusyError
    naming the path and what to do."""
    path = tmp_path / "locked.db"
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("CREATE TABLE app (x)")
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreBusyError, match=r"locked\.db") as info:
            async with SQLiteStore(path, busy_timeout=0.1).open():
                pass  # pragma: no cover
        assert "another program holds a lock" in str(info.value)
        assert "busy_timeout" in str(info.value)
    finally:
        other.execute("ROLLBACK")
        other.close()
    async with SQLiteStore(path).open():
        pass  # free again: it opens


async def test_a_read_only_database_is_refused_at_start(tmp_path: Path) -> None:
    """A mode=ro URI (as root, file modes would not stop writes): StoreReadOnlyError."""
    path = tmp_path / "ro.db"
    async with SQLiteStore(path).open():
        pass
    with pytest.raises(StoreReadOnlyError, match=r"ro\.db") as info:
        async with SQLiteStore(f"file:{path}?mode=ro").open():
            pass  # pragma: no cover
    assert "read-write" in str(info.value)


async def test_a_corrupt_file_is_refused_at_start(tmp_path: Path) -> None:
    """A file that is not a database: StoreCorruptError naming it."""
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not a database, " * 200)
    with pytest.raises(StoreCorruptError, match=r"junk\.db") as info:
        async with SQLiteStore(path).open():
            pass  # pragma: no cover
    assert "backup" in str(info.value)


async def test_a_newer_schema_is_refused_and_an_older_one_needs_migrate(tmp_path: Path) -> None:
    """A schema newer than the code: StoreSchemaError (upgrade trio_otp). An older one
    with migrate=False: StoreSchemaError (run migrate); migrate() then applies it."""
    newer = tmp_path / "newer.db"
    async with SQLiteStore(newer).open():
        pass
    with contextlib.closing(sqlite3.connect(newer)) as conn, conn:
        conn.execute("INSERT INTO trio_otp_schema VALUES (?)", (SCHEMA_VERSION + 1,))
    with pytest.raises(StoreSchemaError, match="newer than this trio_otp") as info:
        async with SQLiteStore(newer).open():
            pass  # pragma: no cover
    assert "newer.db" in str(info.value)

    older = tmp_path / "older.db"
    with contextlib.closing(sqlite3.connect(older)) as conn, conn:
        conn.execute("CREATE TABLE trio_otp_schema (version INTEGER NOT NULL)")
    with pytest.raises(StoreSchemaError, match=r"store\.migrate"):
        async with SQLiteStore(older, migrate=False).open():
            pass  # pragma: no cover
    async with SQLiteStore(older).open() as store:  # migrate=True by default
        assert await store.schema_version() == SCHEMA_VERSION


async def test_a_full_disk_fails_that_insert_and_keeps_committed_jobs(tmp_path: Path) -> None:
    """With the database's size capped (PRAGMA max_page_count), an insert that does
    not fit fails with StoreFullError, inserts nothing of its batch, and every job
    committed before is still there; the store keeps working for what fits."""
    path = tmp_path / "full.db"
    async with SQLiteStore(path).open() as store:
        (pages,) = await _pragma(store, "PRAGMA page_count")  # type: ignore[misc]
        await _pragma(store, f"PRAGMA max_page_count = {pages + 8}")
        big = "x" * 2000
        committed = 0
        error: StoreFullError | None = None
        for _ in range(1000):
            try:
                await store.insert([NewJob("m:f", [big]) for _ in range(3)], T0)
            except StoreFullError as exc:
                error = exc
                break
            committed += 3
        assert error is not None
        assert "full.db" in str(error)
        assert "committed jobs are kept" in str(error)
        assert committed > 0
        assert (await store.stats())["default"] == {JobState.AVAILABLE: committed}
        await store.heartbeat("i", "n", ["default"], T0)  # a small write still fits
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        (count,) = conn.execute("SELECT count(*) FROM trio_otp_jobs").fetchone()
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert count == committed


async def test_the_wal_file_stays_bounded_once_a_long_reader_lets_go(tmp_path: Path) -> None:
    """A reader holding an old snapshot lets the -wal grow past wal_limit; after it
    lets go, the store's next check checkpoints and truncates the -wal."""
    path = tmp_path / "wal.db"
    limit = 256 * 1024
    async with SQLiteStore(path, wal_limit=limit, busy_timeout=0.2).open() as store:
        reader = sqlite3.connect(path, isolation_level=None)
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM trio_otp_jobs").fetchone()
        payload = "y" * 1000
        for _ in range(300):
            await store.insert([NewJob("m:f", [payload])], T0)
        grown = _wal_size(path)
        assert grown > limit  # the reader pinned its snapshot
        reader.execute("COMMIT")
        reader.close()
        for _ in range(300):
            await store.insert([NewJob("m:f", [payload])], T0)
            await trio.lowlevel.checkpoint()
        assert _wal_size(path) <= limit
    assert _wal_size(path) == 0  # closed: checkpointed and truncated (or removed)


def test_bad_options_are_refused_with_what_to_do(tmp_path: Path) -> None:
    """':memory:', an unknown synchronous level, bad seconds: clear errors."""
    with pytest.raises(ValueError, match="needs a file"):
        SQLiteStore(":memory:")
    with pytest.raises(ValueError, match="synchronous must be"):
        SQLiteStore(tmp_path / "a.db", synchronous="OFF")
    with pytest.raises(ValueError, match="poll_interval"):
        SQLiteStore(tmp_path / "a.db", poll_interval=0)
    assert repr(SQLiteStore("x.db")) == "SQLiteStore('x.db')"


async def test_a_store_opens_once_at_a_time(tmp_path: Path) -> None:
    """The same store object cannot be opened twice at once (one thread, one
    connection); it can be opened again after."""
    store = SQLiteStore(tmp_path / "once.db")
    async with store.open():
        with pytest.raises(RuntimeError, match="open already"):
            async with store.open():
                pass  # pragma: no cover
    async with store.open():
        pass


async def test_a_row_whose_stored_retry_waits_were_edited_fails_over_to_the_queues(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A job's own retry waits are stored in its row (JSON). Whoever can write the
    file can make them invalid: the attempt's end then uses the queue's policy and
    says so (a warning), it does not crash. The file is edited with plain sqlite3
    while the queue is paused."""
    import _durable_jobs

    import trio_otp as otp
    from trio_otp import JobQueue

    _durable_jobs._FLAKY.clear()
    path = tmp_path / "jobs.db"
    queue = JobQueue(
        store=SQLiteStore(path, poll_interval=0.02),
        jobs=[_durable_jobs.flaky],
        retry=otp.RetryPolicy(attempts=3, wait_initial=0.01, wait_max=0.01, wait_jitter=0),
    )
    queue.pause()
    async with queue.open():
        own = otp.RetryPolicy(attempts=2, wait_initial=60, wait_max=60, wait_jitter=0)
        job = await queue.enqueue(_durable_jobs.flaky, "edited", 1, retry=own)
        with contextlib.closing(sqlite3.connect(path)) as conn, conn:
            conn.execute(
                "UPDATE trio_otp_jobs SET meta = ? WHERE id = ?",
                ('{"backoff": [-1, "x", 2.0, 0.0]}', job.id),
            )
        queue.resume()
        with trio.fail_after(5):  # the queue's 10 ms wait, not the job's own 60 s
            assert await job.wait() == "ok"
    assert job.record.attempt == 2
    assert any(
        "stored retry waits" in r.getMessage() and "the queue's used" in r.getMessage()
        for r in caplog.records
    )


async def test_a_count_runs_beside_the_writes_and_its_thread_ends_with_the_store(
    tmp_path: Path,
) -> None:
    """stats() scans the whole table (0.7 s at a million rows): it runs on a
    query-only connection and thread of its own, so while a count is under way (held
    here on its thread) inserts, claims and acks go on; the count sees them; closing
    the store ends the reader's thread too, and a count after the close is refused."""
    store = SQLiteStore(tmp_path / "count.db")
    started, release = threading.Event(), threading.Event()
    count = store._count

    def held(reader: Any, fn: Any) -> Any:
        started.set()
        release.wait(10)
        return count(reader, fn)

    counted: dict[str, dict[JobState, int]] = {}

    async def counting() -> None:
        counted.update(await store.stats())

    async with store.open():
        assert await store.stats() == {}
        store._count = held  # type: ignore[method-assign]
        async with trio.open_nursery() as nursery:
            nursery.start_soon(counting)
            await trio.to_thread.run_sync(started.wait)
            with trio.fail_after(5):
                await store.insert([NewJob("m:f", [], queue="q") for _ in range(3)], T0)
                claimed = await store.claim("q", 2, "i1", "n", T0)
                acked = await store.ack(
                    [Ack(claimed[0].id, claimed[0].attempt, "i1", JobState.COMPLETED)], T0
                )
            assert not counted  # the count is still held
            assert acked == [True]
            release.set()
        assert counted == {
            "q": {JobState.AVAILABLE: 1, JobState.EXECUTING: 1, JobState.COMPLETED: 1}
        }
        reader = store._reader
        assert reader is not None
        with pytest.raises(StoreReadOnlyError):  # the reader's connection cannot write
            await reader.run(count, reader, lambda conn: conn.execute("DELETE FROM trio_otp_jobs"))
    assert not [t for t in threading.enumerate() if t.name.startswith("trio_otp SQLiteStore")]
    with pytest.raises(StoreError, match="not open"):
        await store.stats()
