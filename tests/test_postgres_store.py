"""PostgresStore's own behaviour, beyond the shared store suite (tests/test_job_store.py):
notifications between hosts, the polling fallback, limits over several instances,
transactional enqueue with the user's connection, secrets, threads, the schema.

Every test runs on the session's real PostgreSQL server (tests/conftest.py), a fresh
database each. Several store objects on one database play several hosts. Times given
to the store are explicit where the test is about the store's logic; the tests of
wakeups and of a running queue use the real clock with short intervals (a real
database thread works while they wait, so trio's autojump clock cannot be used), and
bound every wait with ``trio.fail_after``.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack

import psycopg
import pytest
import trio
import trio.testing

from trio_otp.jobs import (
    Ack,
    DurableJob,
    JobArgumentsError,
    JobQueue,
    JobState,
    NewJob,
    PostgresStore,
    QueueLimits,
    StoreConnectionError,
    StoreError,
    StoreSchemaError,
    every,
)

T0 = 1_800_000_000.0
SECRET = "hunter2-very-secret"


def job(*args: object, queue: str = "q", **options: object) -> NewJob:
    return NewJob("_durable_jobs:add", list(args), queue=queue, **options)  # type: ignore[arg-type]


def leader_of(dsn: str) -> str | None:
    """The holder of the "leader" lease, read without touching it."""
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT holder FROM trio_otp_leases WHERE name = 'leader'").fetchone()
        return None if row is None else str(row[0])


async def eventually(check: Callable[[], Awaitable[bool]], seconds: float = 10.0) -> None:
    """Poll ``check`` (a database row, a queue's state) every 50 ms until it holds."""
    with trio.fail_after(seconds):
        for _ in itertools.count():
            if await check():
                return
            await trio.sleep(0.05)


async def _true(value: bool) -> bool:
    return value


async def _executing(handle: DurableJob) -> bool:
    return (await handle.refresh()).state is JobState.EXECUTING


def store_threads() -> set[str]:
    return {
        t.name
        for t in threading.enumerate()
        if t.name.startswith(("trio_otp PostgresStore", "trio_otp-pg-"))
    }


async def test_notify_wakes_an_idle_queue_on_another_host(postgres_dsn: str) -> None:
    """An insert through one store wakes a waiter of another store (another host) at
    once through LISTEN/NOTIFY, long before its 60 s poll would."""
    async with AsyncExitStack() as stack:
        waiting = await stack.enter_async_context(
            PostgresStore(postgres_dsn, poll_interval=60).open()
        )
        other = await stack.enter_async_context(PostgresStore(postgres_dsn).open())
        woken = trio.Event()

        async def waiter() -> None:
            await waiting.wait_for_jobs(["q"])
            woken.set()

        async with trio.open_nursery() as nursery:
            # No settling sleep: open() returns once its LISTEN took effect, and a
            # wakeup that comes before the waiter waits is kept for it.
            nursery.start_soon(waiter)
            started = time.monotonic()
            await other.insert([job(1, 2)], T0)
            with trio.fail_after(10):
                await woken.wait()
            latency = time.monotonic() - started
        print(f"NOTIFY wakeup latency: {latency * 1000:.1f} ms")
        assert latency < 5


async def test_a_queue_runs_jobs_of_another_host_by_notify_or_by_polling(
    postgres_dsn: str,
) -> None:
    """A running queue whose poll is 60 s runs a job inserted through another store
    within seconds (NOTIFY); with notifications off (``listen=False``, as behind a
    transaction-pooling proxy) the 0.05 s poll finds it (the fallback)."""
    import _durable_jobs

    for listen, poll in ((True, 60.0), (False, 0.05)):
        store = PostgresStore(postgres_dsn, listen=listen, poll_interval=poll)
        async with trio.open_nursery() as nursery:
            queue = await JobQueue.start(
                nursery, store=store, jobs=[_durable_jobs.add], queues={"q": 4}
            )
            async with PostgresStore(postgres_dsn).open() as other:
                (inserted,) = await other.insert([job(20, 22)], time.time())
                handle = await queue.get_job(inserted.job.id)
                with trio.fail_after(10):
                    assert await handle.wait() == 42
            await queue.stop()


async def test_a_notification_that_comes_between_two_waits_is_not_lost(
    postgres_dsn: str,
) -> None:
    """A NOTIFY that arrives while nobody waits for its queue (the engine's waiter is
    between two waits, or not yet waiting) makes the next wait return at once: it
    does not wait for the next notification, or a whole poll interval."""
    async with (
        PostgresStore(postgres_dsn, poll_interval=60).open() as store,
        PostgresStore(postgres_dsn).open() as other,
    ):
        delivered = trio.Event()

        async def any_wakeup() -> None:
            await store.wait_for_jobs([])  # any notification at all
            delivered.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(any_wakeup)
            await trio.testing.wait_all_tasks_blocked()
            await other.insert([job(1, 2)], time.time())  # its commit notifies queue q
            with trio.fail_after(10):
                await delivered.wait()  # came while nobody waited for q
        with trio.fail_after(1):
            await store.wait_for_jobs(["q"])


async def test_a_wakeup_of_a_second_queue_after_a_wait_on_both_is_not_lost(
    postgres_dsn: str,
) -> None:
    """A waiter on queues a and b, woken by a, leaves b's wakeup behind; a notification
    for b while nobody waits must still make the next wait on b return at once."""
    async with (
        PostgresStore(postgres_dsn, poll_interval=60).open() as store,
        PostgresStore(postgres_dsn).open() as other,
    ):
        with trio.fail_after(10):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(store.wait_for_jobs, ["a", "b"])
                await trio.testing.wait_all_tasks_blocked()
                await other.insert([job(1, 2, queue="a")], time.time())
            delivered = trio.Event()

            async def any_wakeup() -> None:
                await store.wait_for_jobs([])
                delivered.set()

            async with trio.open_nursery() as nursery:
                nursery.start_soon(any_wakeup)
                await trio.testing.wait_all_tasks_blocked()
                await other.insert([job(3, 4, queue="b")], time.time())
                await delivered.wait()  # b's notification came while nobody waited for b
        with trio.fail_after(1):
            await store.wait_for_jobs(["b"])


def hold_listen(store: PostgresStore) -> tuple[threading.Event, threading.Event]:
    """Hold the store's next LISTENs back (the listener thread's seam just before each
    LISTEN): returns (held: a LISTEN is being held, release: let them through). Bounded
    at 10 s, so that a failing test cannot leave the thread stuck."""
    held, release = threading.Event(), threading.Event()

    def before_listen() -> None:
        held.set()
        release.wait(10)

    store._before_listen = before_listen
    return held, release


async def terminate_listener(dsn: str) -> None:
    """Cut the listener's session only (the pool's stay): as a proxy or a failover
    dropping one connection."""

    def run() -> int:
        with psycopg.connect(dsn, autocommit=True) as conn:
            cut = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                "datname = current_database() AND pid <> pg_backend_pid() AND query LIKE "
                "'LISTEN %%'"
            ).fetchall()
            return len(cut)

    assert await trio.to_thread.run_sync(run) == 1


@pytest.mark.parametrize("when", ["first LISTEN late", "LISTEN again after a cut"])
async def test_a_job_committed_before_the_listen_took_effect_wakes_the_waiter(
    postgres_dsn: str, when: str
) -> None:
    """The window between a queue's claim and its LISTEN: a job committed before the
    LISTEN took effect sent a NOTIFY that nobody heard. Once the LISTEN is in place
    every waiter is woken (it claims once more), instead of sleeping until the poll.
    The LISTEN is held back at exactly that point (the listener's seam): the first one
    past open()'s wait (connect_timeout 0.5 s), or the one after the listener's session
    was cut."""
    store = PostgresStore(postgres_dsn, poll_interval=60, connect_timeout=0.5)
    if when == "first LISTEN late":
        held, release = hold_listen(store)
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(store.open())
        if when == "first LISTEN late":
            assert held.is_set()
            assert not store._listening.is_set()  # open() stopped waiting for it
        else:
            held, release = hold_listen(store)
            await terminate_listener(postgres_dsn)
            assert await trio.to_thread.run_sync(held.wait, 10)
        other = await stack.enter_async_context(PostgresStore(postgres_dsn).open())
        woken = trio.Event()

        async def waiter() -> None:  # as the engine's, after a claim that found nothing
            await store.wait_for_jobs(["q"])
            woken.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(waiter)
            await trio.testing.wait_all_tasks_blocked()
            await other.insert([job(1, 2)], time.time())  # its NOTIFY: nobody listens
            release.set()
            with trio.fail_after(5):
                await woken.wait()
    assert store_threads() == set()


async def test_a_queue_whose_first_listen_is_late_runs_a_job_committed_meanwhile(
    postgres_dsn: str,
) -> None:
    """End to end: a running queue (poll 60 s) whose LISTEN is held back past open()'s
    wait runs a job committed by another connection before the LISTEN took effect, as
    soon as it does. Real clock: 0.3 s let the queue's first claim pass (it finds
    nothing) before the job is committed."""
    import _durable_jobs

    store = PostgresStore(postgres_dsn, poll_interval=60, connect_timeout=0.5)
    _, release = hold_listen(store)
    async with trio.open_nursery() as nursery:
        queue = await JobQueue.start(
            nursery, store=store, jobs=[_durable_jobs.add], queues={"q": 2}
        )
        await trio.sleep(0.3)
        async with PostgresStore(postgres_dsn).open() as other:
            (inserted,) = await other.insert([job(20, 22)], time.time())
        handle = await queue.get_job(inserted.job.id)
        await trio.sleep(0.3)
        assert (await handle.refresh()).state is JobState.AVAILABLE  # not heard
        release.set()
        with trio.fail_after(5):
            assert await handle.wait() == 42
        await queue.stop()


async def test_global_max_running_holds_over_instances_with_larger_local_limits(
    postgres_dsn: str,
) -> None:
    """Three instances, each asking for 100 jobs at once, never hold more than the
    queue's global_max_running (5) between them; a finished job frees one slot."""
    limits = {"q": QueueLimits(global_max_running=5)}
    async with AsyncExitStack() as stack:
        stores = [
            await stack.enter_async_context(PostgresStore(postgres_dsn, limits=limits).open())
            for _ in range(3)
        ]
        await stores[0].insert([job(i, i) for i in range(50)], T0)
        claimed: dict[int, list[int]] = {}

        async def claim(i: int) -> None:
            got = []
            for _ in range(5):
                got += [r.id for r in await stores[i].claim("q", 100, f"i{i}", "n", T0)]
            claimed[i] = got

        async with trio.open_nursery() as nursery:
            for i in range(3):
                nursery.start_soon(claim, i)
        every = [job_id for ids in claimed.values() for job_id in ids]
        assert len(every) == len(set(every)) == 5
        holder, ids = next((i, ids) for i, ids in claimed.items() if ids)
        record = await stores[holder].get(ids[0])
        assert record is not None
        (ok,) = await stores[holder].ack(
            [Ack(record.id, record.attempt, f"i{holder}", JobState.COMPLETED, result=1)], T0
        )
        assert ok
        assert len(await stores[(holder + 1) % 3].claim("q", 100, "late", "n", T0)) == 1
        assert await stores[0].claim("q", 100, "later", "n", T0) == []


async def test_rate_limit_is_a_sliding_window_over_instances(postgres_dsn: str) -> None:
    """At most rate_limit (10) claims in any rate_period (60 s) over three instances;
    the window slides: 30 s later none more, 61 s after the first claims 10 more."""
    limits = {"q": QueueLimits(rate_limit=10, rate_period=60)}
    async with AsyncExitStack() as stack:
        stores = [
            await stack.enter_async_context(PostgresStore(postgres_dsn, limits=limits).open())
            for _ in range(3)
        ]
        await stores[0].insert([job(i, i) for i in range(40)], T0)

        async def claims(now: float) -> int:
            counts = []

            async def one(i: int) -> None:
                counts.append(len(await stores[i].claim("q", 100, f"i{i}", "n", now)))

            async with trio.open_nursery() as nursery:
                for i in range(3):
                    nursery.start_soon(one, i)
            return sum(counts)

        assert await claims(T0) == 10
        assert await claims(T0 + 30) == 0
        assert await claims(T0 + 61) == 10
        # Limits can be changed for every host at run time, and dropped.
        await stores[1].set_limits("q", None)
        assert await claims(T0 + 62) == 20


async def test_transactional_enqueue_commits_or_rolls_back_with_the_users_rows(
    postgres_dsn: str,
) -> None:
    """Jobs inserted with the user's own sync psycopg connection, in the user's
    transaction, exist exactly when the user's rows do; a commit wakes idle queues."""
    conn = psycopg.connect(postgres_dsn)
    try:
        conn.execute("CREATE TABLE accounts (id int PRIMARY KEY, owner text)")
        conn.commit()
        async with AsyncExitStack() as stack:
            store = await stack.enter_async_context(PostgresStore(postgres_dsn).open())
            watcher = await stack.enter_async_context(
                PostgresStore(postgres_dsn, poll_interval=60).open()
            )

            def transfer(account: int, fail: bool) -> int:
                with conn.transaction():
                    conn.execute("INSERT INTO accounts VALUES (%s, 'ann')", (account,))
                    (result,) = store.insert_with(conn, [job(account, 0)], time.time())
                    if fail:
                        raise RuntimeError("the application changed its mind")
                return result.job.id

            with pytest.raises(RuntimeError, match="changed its mind"):
                await trio.to_thread.run_sync(transfer, 1, True)
            assert await store.stats() == {}
            rolled_back = conn.execute("SELECT count(*) FROM accounts").fetchone()
            assert rolled_back == (0,)
            conn.commit()

            woken = trio.Event()

            async def waiter() -> None:
                await watcher.wait_for_jobs(["q"])
                woken.set()

            async with trio.open_nursery() as nursery:
                nursery.start_soon(waiter)
                job_id = await trio.to_thread.run_sync(transfer, 2, False)
                with trio.fail_after(10):
                    await woken.wait()
            record = await store.get(job_id)
            assert record is not None
            assert record.state is JobState.AVAILABLE
            assert record.args == [2, 0]
            with pytest.raises(TypeError, match=r"sync psycopg\.Connection"):
                store.insert_with("not a connection", [job(3, 0)], T0)  # type: ignore[arg-type]
    finally:
        conn.close()


async def test_the_password_is_never_shown(
    postgres_dsn: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A DSN's password is in no repr, description, error message or log record: not
    for a working store (the test server trusts local roles, so any password works),
    not for an unreachable one."""
    caplog.set_level(logging.DEBUG, logger="trio_otp")
    params = psycopg.conninfo.conninfo_to_dict(postgres_dsn)
    with_password = psycopg.conninfo.make_conninfo(postgres_dsn, password=SECRET)
    uri = f"postgresql://{params['user']}:{SECRET}@127.0.0.1:1/nowhere"
    store = PostgresStore(with_password)
    async with store.open():
        await store.insert([job(1, 1)], T0)
        shown = [repr(store), store.description]
    unreachable = PostgresStore(uri, connect_timeout=1, reconnect_timeout=1)
    shown += [repr(unreachable), unreachable.description]
    with pytest.raises(StoreConnectionError) as caught:
        async with unreachable.open():
            pass
    shown.append(str(caught.value))
    with pytest.raises(ValueError, match="not a libpq") as bad:
        PostgresStore(f"password={SECRET} host='unclosed")
    shown.append(str(bad.value))
    shown += [r.getMessage() for r in caplog.records]
    assert "127.0.0.1" in repr(unreachable)
    assert not [text for text in shown if SECRET in text]


async def test_no_store_thread_is_left_after_close(postgres_dsn: str) -> None:
    """After a store closes, neither its listener nor its pool's threads still run."""
    assert store_threads() == set()
    async with PostgresStore(postgres_dsn).open() as store:
        await store.insert([job(1, 1)], T0)
        await store.claim("q", 1, "i", "n", T0)
        assert store_threads()
    assert store_threads() == set()


async def test_schema_checks_without_migrating(postgres_dsn: str) -> None:
    """With migrate=False a fresh database is refused with what to run; once migrated
    the same store opens and reports the current version."""
    with pytest.raises(StoreSchemaError, match="trio-otp migrate"):
        async with PostgresStore(postgres_dsn, migrate=False).open():
            pass
    async with PostgresStore(postgres_dsn).open() as store:
        assert await store.schema_version() == 1
    async with PostgresStore(postgres_dsn, migrate=False).open() as store:
        assert await store.schema_version() == 1


def test_bad_options_say_what_was_wrong() -> None:
    with pytest.raises(ValueError, match="max_connections"):
        PostgresStore("dbname=x", min_connections=3, max_connections=2)
    with pytest.raises(ValueError, match="poll_interval"):
        PostgresStore("dbname=x", poll_interval=0)
    with pytest.raises(TypeError, match="QueueLimits"):
        PostgresStore("dbname=x", limits={"q": 5})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="global_max_running"):
        QueueLimits(global_max_running=0)
    with pytest.raises(ValueError, match="rate_period"):
        QueueLimits(rate_limit=3, rate_period=0)


async def test_only_the_leader_inserts_cron_jobs_and_another_takes_over(
    postgres_dsn: str,
) -> None:
    """Two instances with the same every-0.5 s cron entry: only the "leader" lease's
    holder inserts; each tick once. When the leader stops, the other takes over once
    the lease (rescue_after = 1 s) runs out, and inserts the following ticks. Real
    clock, short intervals (a real database thread works meanwhile)."""
    import _durable_jobs

    options = {
        "jobs": [_durable_jobs.record],
        "queues": {"q": 4},
        "heartbeat_interval": 0.2,
        "rescue_after": 1.0,
    }
    async with trio.open_nursery() as nursery:
        queues = []
        for _ in range(2):
            queue = JobQueue(store=PostgresStore(postgres_dsn, poll_interval=0.05), **options)
            queue.cron(every(0.5), _durable_jobs.record, "tick", name="tick")
            await nursery.start(queue.serve)
            queues.append(queue)
        async with PostgresStore(postgres_dsn).open() as look:
            await trio.sleep(1.6)
            instances = [q._engine.instance for q in queues]  # type: ignore[union-attr]
            leader = instances.index(await trio.to_thread.run_sync(leader_of, postgres_dsn))
            await queues[leader].stop()
            stopped_at = time.time()
            await trio.sleep(2.6)
            follower = queues[1 - leader]
            assert await trio.to_thread.run_sync(leader_of, postgres_dsn) == instances[1 - leader]
            await follower.stop()
            ticks = await _cron_ticks(look)
    assert len(ticks) == len(set(ticks)), f"a tick inserted twice: {ticks}"
    later = [t for t in ticks if t > stopped_at + 1.5]
    print(f"cron ticks {len(ticks)}, after the leader stopped {len(later)}")
    assert later, "the other instance never took over the cron entry"


async def _cron_ticks(store: PostgresStore) -> list[float]:
    def ids() -> list[int]:
        # Job ids are not dense (the stores reserve blocks of them): read them all.
        with psycopg.connect(store._dsn) as conn:
            return [row[0] for row in conn.execute("SELECT id FROM trio_otp_jobs")]

    records = await store.get_many(await trio.to_thread.run_sync(ids))
    return sorted(r.meta["tick"] for r in records.values() if "tick" in r.meta)


async def test_fencing_stops_an_attempt_whose_claim_was_rescued(postgres_dsn: str) -> None:
    """An instance whose running job is rescued by another (as if it had been cut off
    past the expiry) stops that attempt at its next heartbeat and records nothing:
    the job is available again, with the rescue in its errors and no result."""
    import _durable_jobs

    async with trio.open_nursery() as nursery:
        queue = JobQueue(
            store=PostgresStore(postgres_dsn, poll_interval=0.05),
            jobs=[_durable_jobs.slow],
            queues={"q": 1},
            heartbeat_interval=0.2,
            rescue_after=30.0,
        )
        await nursery.start(queue.serve)
        handle = await queue.enqueue(_durable_jobs.slow, 30.0, "fenced", queue="q")
        async with PostgresStore(postgres_dsn).open() as other:
            await eventually(lambda: _executing(handle))
            # Another host decides this instance is dead: its heartbeat is "too old".
            queue.pause("q")  # so that it does not claim the job straight back
            report = await other.rescue(time.time() + 60, time.time())
            assert report.available == (handle.id,)
            engine = queue._engine
            assert engine is not None
            await eventually(lambda: _true(not engine.queues["q"].running))
            record = await other.get(handle.id)
        await queue.stop()
    assert record is not None
    assert record.state is JobState.AVAILABLE
    assert record.result is None
    assert record.rescued == 1
    assert "rescued" in record.errors[-1].error
    assert engine.completed == engine.cancelled == 0


async def test_a_running_queue_runs_a_job_enqueued_in_the_users_transaction(
    postgres_dsn: str,
) -> None:
    """The documented call shape: ``queue.new_job`` checks the job, the user's thread
    inserts it with ``store.insert_with`` in its own transaction; at the commit the
    queue (poll 60 s, so woken by NOTIFY) runs it."""
    import _durable_jobs

    store = PostgresStore(postgres_dsn, poll_interval=60)
    async with trio.open_nursery() as nursery:
        queue = await JobQueue.start(
            nursery, store=store, jobs=[_durable_jobs.add], queues={"q": 2}
        )
        job = queue.new_job(_durable_jobs.add, 40, 2)
        with pytest.raises(JobArgumentsError):
            queue.new_job(_durable_jobs.add, object())

        def enqueue_with_my_rows() -> int:
            with psycopg.connect(postgres_dsn) as conn, conn.transaction():
                conn.execute("CREATE TABLE orders (id int)")
                conn.execute("INSERT INTO orders VALUES (1)")
                (result,) = store.insert_with(conn, [job], time.time())
                return result.job.id

        job_id = await trio.to_thread.run_sync(enqueue_with_my_rows)
        handle = await queue.get_job(job_id)
        with trio.fail_after(10):
            assert await handle.wait() == 42
        await queue.stop()


async def test_the_documented_least_privileges_are_enough(postgres_dsn: str) -> None:
    """A role with only the grants docs/deployment.rst lists (no CREATE) runs a queue's
    whole round on a schema migrated by another role; it cannot migrate."""
    async with PostgresStore(postgres_dsn).open():
        pass  # migrated by the owner
    role = f"jobs_worker_{int(time.monotonic() * 1000)}"
    grants = [
        f"CREATE ROLE {role} LOGIN",
        f"GRANT USAGE ON SCHEMA public TO {role}",
        "GRANT SELECT, INSERT, UPDATE, DELETE ON trio_otp_jobs, trio_otp_instances, "
        f"trio_otp_cron, trio_otp_leases, trio_otp_queues TO {role}",
        f"GRANT SELECT ON trio_otp_schema TO {role}",
        f"GRANT USAGE ON SEQUENCE trio_otp_jobs_id_seq TO {role}",
    ]
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        for statement in grants:
            conn.execute(statement.encode())  # our own generated role name
    worker_dsn = psycopg.conninfo.make_conninfo(postgres_dsn, user=role)
    try:
        limits = {"q": QueueLimits(global_max_running=3)}
        async with PostgresStore(worker_dsn, migrate=False, limits=limits).open() as store:
            await store.heartbeat("i", "n", ["q"], T0)
            await store.insert([job(1, 1), job(2, 2)], T0)
            claimed = await store.claim("q", 5, "i", "n", T0)
            assert len(claimed) == 2
            acks = [Ack(r.id, r.attempt, "i", JobState.COMPLETED, result=1) for r in claimed]
            assert await store.ack(acks, T0) == [True, True]
            assert await store.acquire_lease("leader", "i", 5, T0)
            assert await store.insert_cron("c", T0, job(3, 3), T0, first=False) is not None
            await store.rescue(T0 - 30, T0)
            assert await store.prune(T0 + 1, [JobState.COMPLETED], 10) == 2
            with pytest.raises(StoreError, match=r"permission denied|must be owner"):
                await store.migrate()
    finally:
        with psycopg.connect(postgres_dsn, autocommit=True) as conn:
            conn.execute(f"DROP OWNED BY {role}".encode())
            conn.execute(f"DROP ROLE {role}".encode())
