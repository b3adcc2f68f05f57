"""The job store protocol, behaviour by behaviour, against every store (tests/_stores.py).

Times are given explicitly (``now``) as the protocol says: no clock is involved, so
these tests need neither trio's virtual clock nor real waiting. Each store object
here is a real database connection (a real SQLite file for SQLiteStore).
"""

from __future__ import annotations

import math
import threading
from contextlib import AsyncExitStack

import pytest
import trio
from _stores import StoreFactory

from trio_otp.jobs import (
    Ack,
    AttemptError,
    JobState,
    JobStore,
    NewJob,
    Progress,
    Unique,
)

T0 = 1_800_000_000.0


def job(*args: object, **options: object) -> NewJob:
    return NewJob("mod:fn", list(args), **options)  # type: ignore[arg-type]


async def test_insert_makes_available_or_scheduled_jobs(make_store: StoreFactory) -> None:
    """A job due now is available; one for later is scheduled; ids grow."""
    async with make_store().open() as store:
        now_job, later = await store.insert([job(1), job(2, scheduled_at=T0 + 60)], T0)
        assert now_job.job.state is JobState.AVAILABLE
        assert later.job.state is JobState.SCHEDULED
        assert later.job.scheduled_at == T0 + 60
        assert now_job.job.id < later.job.id
        assert (now_job.conflict, later.conflict) == (False, False)
        got = await store.get(now_job.job.id)
        assert got == now_job.job
        assert got.args == [1]
        assert got.attempt == 0
        assert got.max_attempts == 20
        assert await store.get(10_000) is None


async def test_claim_orders_by_priority_then_time_then_id(make_store: StoreFactory) -> None:
    """Claims take priority 0 first, then the earliest scheduled, then the lowest id,
    limited to the free capacity, and mark them executing with attempt + 1."""
    async with make_store().open() as store:
        await store.heartbeat("i1", "node", ["q"], T0)
        jobs = [
            job("p5", queue="q", priority=5),
            job("p0-late", queue="q", scheduled_at=T0 - 1),
            job("p0-early", queue="q", scheduled_at=T0 - 10),
            job("p0-early-2", queue="q", scheduled_at=T0 - 10),
            job("other-queue", queue="r"),
        ]
        # Scheduled in the past: inserted available (due already).
        await store.insert(jobs, T0 - 20)
        first = await store.claim("q", 3, "i1", "node", T0)
        assert [r.args[0] for r in first] == ["p0-early", "p0-early-2", "p0-late"]
        assert all(r.state is JobState.EXECUTING and r.attempt == 1 for r in first)
        assert all(r.claimed_by == "i1" and r.node == "node" for r in first)
        rest = await store.claim("q", 10, "i1", "node", T0)
        assert [r.args[0] for r in rest] == ["p5"]
        assert await store.claim("q", 10, "i1", "node", T0) == []


async def test_claim_stages_due_scheduled_and_retryable_jobs(make_store: StoreFactory) -> None:
    """A scheduled job is claimed only once its time has come."""
    async with make_store().open() as store:
        await store.heartbeat("i1", "n", ["default"], T0)
        (later,) = await store.insert([job(scheduled_at=T0 + 30)], T0)
        assert await store.claim("default", 5, "i1", "n", T0 + 29) == []
        (claimed,) = await store.claim("default", 5, "i1", "n", T0 + 30)
        assert claimed.id == later.job.id


async def test_acks_are_fenced_by_attempt_and_claimer(make_store: StoreFactory) -> None:
    """An ack changes its row only if (id, attempt, claimed_by) still match."""
    async with make_store().open() as store:
        await store.heartbeat("i1", "n", ["default"], T0)
        await store.insert([job(1)], T0)
        (r,) = await store.claim("default", 1, "i1", "n", T0)
        wrong = [
            Ack(r.id, r.attempt + 1, "i1", JobState.COMPLETED),
            Ack(r.id, r.attempt, "i2", JobState.COMPLETED),
        ]
        assert await store.ack(wrong, T0) == [False, False]
        assert (await store.get(r.id)).state is JobState.EXECUTING
        ok = Ack(r.id, r.attempt, "i1", JobState.COMPLETED, result={"sum": 3})
        assert await store.ack([ok], T0 + 1) == [True]
        done = await store.get(r.id)
        assert done.state is JobState.COMPLETED
        assert done.result == {"sum": 3}
        assert done.completed_at == T0 + 1
        assert done.claimed_by is None
        assert await store.ack([ok], T0 + 2) == [False]  # acked once only


async def test_retryable_discarded_and_cancelled_acks_keep_every_error(
    make_store: StoreFactory,
) -> None:
    """Every attempt's error is appended; retryable waits for its scheduled time."""
    async with make_store().open() as store:
        await store.heartbeat("i1", "n", ["default"], T0)
        await store.insert([job(1, max_attempts=2), job(2)], T0)
        a, b = await store.claim("default", 2, "i1", "n", T0)
        e1 = AttemptError(1, T0, "ValueError: one")
        await store.ack(
            [
                Ack(a.id, 1, "i1", JobState.RETRYABLE, error=e1, scheduled_at=T0 + 5),
                Ack(b.id, 1, "i1", JobState.CANCELLED, error=AttemptError(1, T0, "cancelled")),
            ],
            T0,
        )
        retry = await store.get(a.id)
        assert retry.state is JobState.RETRYABLE
        assert retry.scheduled_at == T0 + 5
        assert await store.claim("default", 5, "i1", "n", T0 + 4) == []
        (again,) = await store.claim("default", 5, "i1", "n", T0 + 5)
        assert again.attempt == 2
        e2 = AttemptError(2, T0 + 5, "ValueError: two")
        await store.ack([Ack(a.id, 2, "i1", JobState.DISCARDED, error=e2)], T0 + 6)
        gone = await store.get(a.id)
        assert gone.state is JobState.DISCARDED
        assert gone.discarded_at == T0 + 6
        assert gone.errors == (e1, e2)
        cancelled = await store.get(b.id)
        assert cancelled.state is JobState.CANCELLED
        assert cancelled.cancelled_at == T0


async def test_unique_returns_the_existing_job_within_period_and_states(
    make_store: StoreFactory,
) -> None:
    """A duplicate (same key, state in the set, inside the period) is not inserted;
    the stored job comes back. Inside one batch too."""
    async with make_store().open() as store:
        u = Unique("k1", period=60)
        first, dup_in_batch = await store.insert([job(1, unique=u), job(1, unique=u)], T0)
        assert not first.conflict
        assert dup_in_batch.conflict
        assert dup_in_batch.job.id == first.job.id
        (dup,) = await store.insert([job(1, unique=u)], T0 + 59)
        assert dup.conflict
        assert dup.job.id == first.job.id
        (after,) = await store.insert([job(1, unique=u)], T0 + 61)
        assert not after.conflict  # outside the period
        only_completed = Unique("k1", period=math.inf, states=frozenset({JobState.COMPLETED}))
        (other_states,) = await store.insert([job(1, unique=only_completed)], T0 + 62)
        assert not other_states.conflict  # none of them completed


async def test_unique_holds_under_concurrent_inserts_from_threads(
    make_store: StoreFactory,
) -> None:
    """Eight threads, each with its own store (connection), insert the same unique
    job at once: exactly one row is inserted, every other insert gets it back."""
    results: list[tuple[int, bool]] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def one() -> None:
        async def main() -> None:
            async with make_store().open() as store:
                start.wait()
                for _ in range(5):
                    (r,) = await store.insert([job("x", unique=Unique("same"))], T0)
                    with lock:
                        results.append((r.job.id, r.conflict))

        trio.run(main)

    async with make_store().open():  # create the schema first
        pass
    threads = [threading.Thread(target=one) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        await trio.to_thread.run_sync(t.join)
    assert len(results) == 40
    assert len({job_id for job_id, _ in results}) == 1
    assert sum(1 for _, conflict in results if not conflict) == 1


async def test_two_claimers_never_get_the_same_job(make_store: StoreFactory) -> None:
    """Two instances claiming at once from one queue share its jobs, each job once."""
    async with AsyncExitStack() as stack:
        a = await stack.enter_async_context(make_store().open())
        b = await stack.enter_async_context(make_store().open())
        await a.insert([job(i) for i in range(200)], T0)
        got: dict[str, list[int]] = {"a": [], "b": []}

        async def claim(store: JobStore, name: str) -> None:
            while batch := await store.claim("default", 7, name, "n", T0):
                got[name] += [r.id for r in batch]

        async with trio.open_nursery() as nursery:
            nursery.start_soon(claim, a, "a")
            nursery.start_soon(claim, b, "b")
        ids = got["a"] + got["b"]
        assert sorted(ids) == sorted(set(ids))
        assert len(ids) == 200


async def test_rescue_takes_back_jobs_of_dead_instances_only(make_store: StoreFactory) -> None:
    """Jobs executing under an instance whose heartbeat expired go back to available
    (attempt counted, rescued + 1), or discarded when out of attempts; a live
    instance's jobs stay."""
    async with make_store().open() as store:
        await store.heartbeat("dead", "n1", ["default"], T0)
        await store.heartbeat("live", "n2", ["default"], T0)
        await store.insert([job(1), job(2, max_attempts=1), job(3)], T0)
        d1, d2 = await store.claim("default", 2, "dead", "n1", T0)
        (l1,) = await store.claim("default", 1, "live", "n2", T0)
        await store.heartbeat("live", "n2", ["default"], T0 + 100)
        report = await store.rescue(T0 + 50, T0 + 100)
        assert report.instances == ("dead",)
        assert report.available == (d1.id,)
        assert report.discarded == (d2.id,)
        back = await store.get(d1.id)
        assert back.state is JobState.AVAILABLE
        assert back.rescued == 1
        assert back.attempt == 1
        assert "rescued" in back.errors[-1].error
        assert back.claimed_by is None
        assert (await store.get(d2.id)).state is JobState.DISCARDED
        assert (await store.get(l1.id)).state is JobState.EXECUTING
        # The dead instance's late ack is fenced out.
        assert await store.ack([Ack(d1.id, 1, "dead", JobState.COMPLETED)], T0 + 101) == [False]
        (again,) = await store.claim("default", 5, "live", "n2", T0 + 101)
        assert again.id == d1.id
        assert again.attempt == 2


async def test_release_hands_back_claims_without_counting_the_attempt(
    make_store: StoreFactory,
) -> None:
    """An orderly stop's release: available at once, attempt - 1; a job whose cancel
    was requested is cancelled instead."""
    async with make_store().open() as store:
        await store.heartbeat("i1", "n", ["default"], T0)
        await store.insert([job(1), job(2)], T0)
        a, b = await store.claim("default", 2, "i1", "n", T0)
        await store.request_cancel(b.id, T0)
        assert await store.release("i1", T0 + 1) == 2
        ra, rb = await store.get(a.id), await store.get(b.id)
        assert ra.state is JobState.AVAILABLE
        assert ra.attempt == 0
        assert ra.claimed_by is None
        assert rb.state is JobState.CANCELLED
        # The instance's row is gone: nothing to rescue later.
        assert (await store.rescue(T0 + 1000, T0 + 1000)).instances == ()


async def test_cancel_request_and_retry_job(make_store: StoreFactory) -> None:
    """A waiting job is cancelled at once; an executing one is flagged for its
    instance; a discarded or cancelled one can be retried with one more attempt."""
    async with make_store().open() as store:
        await store.heartbeat("i1", "n", ["default"], T0)
        (w,) = await store.insert([job("waiting", scheduled_at=T0 + 100)], T0)
        assert (await store.request_cancel(w.job.id, T0)).state is JobState.CANCELLED
        (r,) = await store.insert([job("running", max_attempts=1)], T0)
        await store.claim("default", 1, "i1", "n", T0)
        flagged = await store.request_cancel(r.job.id, T0)
        assert flagged.state is JobState.EXECUTING
        assert flagged.cancel_requested
        assert await store.cancel_requests("i1") == [r.job.id]
        assert await store.cancel_requests("other") == []
        await store.ack([Ack(r.job.id, 1, "i1", JobState.DISCARDED)], T0)
        retried = await store.retry_job(r.job.id, T0 + 1)
        assert retried.state is JobState.AVAILABLE
        assert retried.max_attempts == 2
        completed_retry = await store.retry_job(w.job.id, T0 + 1)
        assert completed_retry.state is JobState.AVAILABLE  # cancelled → available
        assert await store.request_cancel(99_999, T0) is None


async def test_progress_is_fenced_and_stored(make_store: StoreFactory) -> None:
    """Progress of a running attempt is stored; a stale attempt's is refused."""
    async with make_store().open() as store:
        await store.heartbeat("i1", "n", ["default"], T0)
        await store.insert([job()], T0)
        (r,) = await store.claim("default", 1, "i1", "n", T0)
        assert await store.report_progress(r.id, 1, "i1", Progress(0.5, "half"))
        assert not await store.report_progress(r.id, 2, "i1", Progress(0.9))
        assert (await store.get(r.id)).progress == Progress(0.5, "half")


async def test_stats_prune_and_get_many(make_store: StoreFactory) -> None:
    """Stats count per queue and state; prune deletes old final jobs only."""
    async with make_store().open() as store:
        await store.heartbeat("i1", "n", ["a", "b"], T0)
        await store.insert([job(1, queue="a"), job(2, queue="a"), job(3, queue="b")], T0)
        x, y = await store.claim("a", 2, "i1", "n", T0)
        await store.ack([Ack(x.id, 1, "i1", JobState.COMPLETED)], T0 + 10)
        stats = await store.stats()
        assert stats == {
            "a": {JobState.COMPLETED: 1, JobState.EXECUTING: 1},
            "b": {JobState.AVAILABLE: 1},
        }
        assert await store.prune(T0 + 10, [JobState.COMPLETED], 100) == 0  # not older
        assert await store.prune(T0 + 11, [JobState.DISCARDED], 100) == 0  # not that state
        assert await store.prune(T0 + 11, [JobState.COMPLETED], 100) == 1
        assert set(await store.get_many([x.id, y.id, 12345])) == {y.id}


async def test_cron_ticks_are_inserted_once_each(make_store: StoreFactory) -> None:
    """A tick is inserted once, whoever asks again; a new entry's first tick only
    records it; an older tick never goes in after a newer one."""
    async with AsyncExitStack() as stack:
        a = await stack.enter_async_context(make_store().open())
        b = await stack.enter_async_context(make_store().open())
        cron_job = job("tick")
        assert await a.insert_cron("c", T0, cron_job, T0, first=True) is None
        first = await a.insert_cron("c", T0 + 60, cron_job, T0 + 60, first=False)
        assert first is not None
        assert first.state is JobState.AVAILABLE
        assert await b.insert_cron("c", T0 + 60, cron_job, T0 + 61, first=True) is None
        assert await b.insert_cron("c", T0, cron_job, T0 + 61, first=False) is None
        assert await b.insert_cron("c", T0 + 120, cron_job, T0 + 120, first=True) is not None
        assert (await a.stats())["default"] == {JobState.AVAILABLE: 2}


async def test_leases_have_one_holder_until_they_expire(make_store: StoreFactory) -> None:
    """One holder at a time; renewable by it; taken over after it expires."""
    async with make_store().open() as store:
        assert await store.acquire_lease("leader", "a", 10, T0)
        assert not await store.acquire_lease("leader", "b", 10, T0 + 5)
        assert await store.acquire_lease("leader", "a", 10, T0 + 5)  # renewed to T0 + 15
        assert not await store.acquire_lease("leader", "b", 10, T0 + 14)
        assert await store.acquire_lease("leader", "b", 10, T0 + 16)
        assert not await store.acquire_lease("leader", "a", 10, T0 + 17)


async def test_wait_for_jobs_returns_after_an_insert(make_store: StoreFactory) -> None:
    """A waiter wakes when jobs are inserted (through this store object)."""
    async with make_store().open() as store:
        woke = trio.Event()

        async def waiter() -> None:
            await store.wait_for_jobs(["default"])
            woke.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(waiter)
            await trio.testing.wait_all_tasks_blocked()
            assert not woke.is_set()
            await store.insert([job()], T0)
            with trio.fail_after(5):
                await woke.wait()


def test_a_store_implements_the_protocol(make_store: StoreFactory) -> None:
    """Every store is a JobStore and says its poll interval."""
    store = make_store()
    assert isinstance(store, JobStore)
    assert store.poll_interval > 0


@pytest.mark.parametrize("states", [[], [JobState.AVAILABLE]])
async def test_prune_never_deletes_waiting_jobs(make_store: StoreFactory, states: list) -> None:
    """Prune touches final states only, whatever it is asked."""
    async with make_store().open() as store:
        await store.insert([job()], T0)
        assert await store.prune(T0 + 1e9, states, 100) == 0
        assert (await store.stats())["default"] == {JobState.AVAILABLE: 1}
