"""PostgresStore's calls whose outcome a broken connection left unknown.

A connection can break after the server did a statement's work and before its reply
arrived (a network cut, a failover, a proxy restarting): the client cannot tell
whether it happened. The store sends a one-job insert, a claim and an ack as
autocommit statements, so that window is the whole statement; each is settled on its
next try, never done twice and never lost. The cuts are real: a TCP proxy on
127.0.0.1 (tests/_pgcut.py) in front of the session's real server drops the reply of
the exact statement once it committed, or holds the statement back until the second
try is on its way. Real clock (the store's threads retry with short real sleeps).
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
import trio
from _pgcut import CuttingProxy
from _postgres import PostgresServer
from attrs import evolve as attrs_evolve

from trio_otp.jobs import Ack, JobState, NewJob, PostgresStore

T0 = 1_800_000_000.0
INSERT_ONE = "INSERT INTO trio_otp_jobs (id, "
CLAIM = "UPDATE trio_otp_jobs j SET state = 'executing'"
ACK = "UPDATE trio_otp_jobs j SET state = v.state"


@pytest.fixture
def proxy(postgres_server: PostgresServer) -> Iterator[CuttingProxy]:
    with CuttingProxy(postgres_server.port) as cutting:
        yield cutting


def through(dsn: str, proxy: CuttingProxy) -> str:
    """The same database, reached through the proxy."""
    return " ".join(
        f"port={proxy.port}" if part.startswith("port=") else part for part in dsn.split()
    )


def rows(dsn: str) -> list[tuple[int, str, int, str | None]]:
    with psycopg.connect(dsn) as conn:
        return [
            (r[0], r[1], r[2], r[3])
            for r in conn.execute(
                "SELECT id, state, attempt, claimed_by FROM trio_otp_jobs ORDER BY id"
            )
        ]


def job(*args: object) -> NewJob:
    return NewJob("_durable_jobs:add", list(args), queue="q")


def store_of(dsn: str, proxy: CuttingProxy) -> PostgresStore:
    return PostgresStore(through(dsn, proxy), poll_interval=0.05)


async def test_a_one_job_insert_whose_reply_is_lost_is_there_once(
    postgres_dsn: str, proxy: CuttingProxy
) -> None:
    store = store_of(postgres_dsn, proxy)
    async with store.open():
        proxy.arm(INSERT_ONE, "reply")
        with trio.fail_after(20):
            (result,) = await store.insert([job(1, 2)], T0)
        assert proxy.cuts == 1
        assert store.retried_calls >= 1
        assert not result.conflict
        assert result.job.state is JobState.AVAILABLE
        assert rows(postgres_dsn) == [(result.job.id, "available", 0, None)]
        # The store goes on inserting (and waking) as before.
        (second,) = await store.insert([job(3, 4)], T0)
        assert [r[0] for r in rows(postgres_dsn)] == [result.job.id, second.job.id]


async def test_a_one_job_insert_that_commits_after_its_retry_looked_is_there_once(
    postgres_dsn: str, proxy: CuttingProxy
) -> None:
    # The first try reaches the server only when the second has looked for the job
    # (and not found it) and is sending its own insert: the first commits, the second
    # is refused by the primary key, and the job is returned from the first.
    store = store_of(postgres_dsn, proxy)
    async with store.open():
        proxy.arm(INSERT_ONE, "late")
        with trio.fail_after(20):
            (result,) = await store.insert([job(5, 6)], T0)
        assert proxy.cuts == 1
        assert store.retried_calls >= 1
        assert rows(postgres_dsn) == [(result.job.id, "available", 0, None)]
        assert result.job.args == [5, 6]


async def test_a_claim_whose_reply_is_lost_hands_its_rows_back_and_claims_them(
    postgres_dsn: str, proxy: CuttingProxy
) -> None:
    store = store_of(postgres_dsn, proxy)
    async with store.open():
        (inserted,) = await store.insert([job(1, 1)], T0)
        proxy.arm(CLAIM, "reply")
        with trio.fail_after(20):
            claimed = await store.claim("q", 10, "node-a/1", "node-a", T0 + 1)
        assert proxy.cuts == 1
        # Without the hand-back the second try finds the row already executing (the
        # first try's) and claims nothing: the job would wait for a rescue.
        assert [(r.id, r.attempt, r.state) for r in claimed] == [
            (inserted.job.id, 1, JobState.EXECUTING)
        ]
        assert rows(postgres_dsn) == [(inserted.job.id, "executing", 1, "node-a/1")]


async def test_an_ack_whose_reply_is_lost_counts_as_done(
    postgres_dsn: str, proxy: CuttingProxy
) -> None:
    store = store_of(postgres_dsn, proxy)
    async with store.open():
        (inserted,) = await store.insert([job(1, 1)], T0)
        (record,) = await store.claim("q", 10, "node-a/1", "node-a", T0 + 1)
        proxy.arm(ACK, "reply")
        with trio.fail_after(20):
            done = await store.ack(
                [Ack(record.id, record.attempt, "node-a/1", JobState.COMPLETED, result=2)],
                T0 + 2,
            )
        assert proxy.cuts == 1
        assert done == [True]  # the row is in its acked state at that attempt
        assert rows(postgres_dsn) == [(inserted.job.id, "completed", 1, None)]


async def test_a_limited_queue_still_claims_in_one_transaction(
    postgres_dsn: str, proxy: CuttingProxy
) -> None:
    # A queue with limits locks its row for the whole claim: a cut before COMMIT
    # undoes everything (nothing is in doubt), and the retry claims within the limit.
    from trio_otp.jobs import QueueLimits

    store = PostgresStore(
        through(postgres_dsn, proxy),
        poll_interval=0.05,
        limits={"q": QueueLimits(global_max_running=1)},
    )
    async with store.open():
        await store.insert([job(1, 1), job(2, 2)], T0)
        proxy.arm(CLAIM, "reply")
        with trio.fail_after(20):
            claimed = await store.claim("q", 10, "node-a/1", "node-a", T0 + 1)
        assert proxy.cuts == 1
        assert len(claimed) == 1
        assert sorted(r[1] for r in rows(postgres_dsn)) == ["available", "executing"]


async def test_a_batch_whose_commit_reply_is_lost_is_there_once(
    postgres_dsn: str, proxy: CuttingProxy
) -> None:
    # A batch (here with a unique job in it) is one transaction; its COMMIT went
    # through, the answer did not. The second try finds its own rows under the ids
    # reserved for them: no error, no conflict, nothing twice.
    from trio_otp.jobs import Unique

    store = store_of(postgres_dsn, proxy)
    async with store.open():
        jobs = [job(1, 1), job(2, 2), attrs_evolve(job(3, 3), unique=Unique("k", period=60))]
        proxy.arm("COMMIT", "reply")
        with trio.fail_after(20):
            results = await store.insert(jobs, T0)
        assert proxy.cuts == 1
        assert [r.conflict for r in results] == [False, False, False]
        assert [r.job.args for r in results] == [[1, 1], [2, 2], [3, 3]]
        assert rows(postgres_dsn) == [(r.job.id, "available", 0, None) for r in results]
        # The unique key still holds against a real second insert.
        (again,) = await store.insert([attrs_evolve(job(4, 4), unique=Unique("k", period=60))], T0)
        assert again.conflict
        assert again.job.id == results[2].job.id


async def test_a_periodic_insert_whose_commit_reply_is_lost_is_there_once(
    postgres_dsn: str, proxy: CuttingProxy
) -> None:
    # The tick row and the job commit together; the answer is lost. The next try
    # finds the tick recorded and returns the job it inserted (by the id chosen for
    # it), where it raised StoreConnectionError; a later look at the tick inserts
    # nothing, and the next tick inserts its own job.
    store = store_of(postgres_dsn, proxy)
    async with store.open():
        assert await store.insert_cron("every-minute", T0, job(0, 0), T0, first=True) is None
        proxy.arm("COMMIT", "reply")
        with trio.fail_after(20):
            record = await store.insert_cron(
                "every-minute", T0 + 60, job(1, 1), T0 + 60, first=False
            )
        assert proxy.cuts == 1
        assert store.retried_calls >= 1
        assert record is not None
        assert record.args == [1, 1]
        assert rows(postgres_dsn) == [(record.id, "available", 0, None)]
        again = await store.insert_cron("every-minute", T0 + 60, job(1, 1), T0 + 61, first=False)
        assert again is None
        later = await store.insert_cron("every-minute", T0 + 120, job(2, 2), T0 + 120, first=False)
        assert later is not None
        assert [r[0] for r in rows(postgres_dsn)] == [record.id, later.id]
