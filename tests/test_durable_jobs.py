"""The durable engine under ``JobQueue(store=...)``, behaviour by behaviour, against
every store (tests/_stores.py): the lifecycle, retries, discard and retry, cancel,
delays, priorities, uniqueness under concurrent inserts, named queues, pause and
resume, an orderly stop's release, progress, waiting across instances, pruning, and
the errors of bad input.

A real store is involved, so these tests run on trio's real clock with short
intervals (the store polls every 20 ms; retries wait 10 ms), never on the
autojump clock (it would jump while a thread works: trio issue 456). The one test
that needs days to pass (pruning) moves the queue's POSIX ``clock=`` by hand.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import _durable_jobs as jobs
import pytest
import trio
from _stores import StoreFactory

import trio_otp as otp
from trio_otp import JobQueue
from trio_otp.jobs import (
    DurableJob,
    JobArgumentsError,
    JobDiscardedError,
    JobFunctionError,
    JobNotFoundError,
    JobState,
    Progress,
    UniqueJob,
)

FAST_RETRY = otp.RetryPolicy(attempts=3, wait_initial=0.01, wait_max=0.01, wait_jitter=0)
ALL = [jobs.add, jobs.slow, jobs.fail, jobs.flaky, jobs.record, jobs.progress, jobs.gated]


@pytest.fixture(autouse=True)
def _fresh_calls() -> None:
    """The job functions' records are per process: each test (and store) starts clean."""
    jobs.CALLS.clear()
    jobs._FLAKY.clear()
    jobs.GATES.clear()


def make_queue(make_store: StoreFactory, **options: Any) -> JobQueue:
    options.setdefault("jobs", ALL)
    options.setdefault("retry", FAST_RETRY)
    return JobQueue(store=make_store(), **options)


async def eventually(check: Callable[[], Any], seconds: float = 5.0) -> None:
    """Poll ``check`` (sync or async) until it is true: the store is real."""
    with trio.fail_after(seconds):
        while True:
            value = check()
            if hasattr(value, "__await__"):
                value = await value
            if value:
                return
            await trio.sleep(0.01)


async def test_a_job_runs_and_its_record_tells_its_life(make_store: StoreFactory) -> None:
    """enqueue returns once the insert committed; the job runs once; its row says
    completed, attempt 1, its result, its node; get_job finds it by id."""
    async with make_queue(make_store).open() as queue:
        job = await queue.enqueue(jobs.add, 2, 3)
        assert isinstance(job, DurableJob)
        assert (job.state, job.record.attempt, job.duplicate) == (JobState.AVAILABLE, 0, False)
        assert repr(job) == f"<durable job _durable_jobs:add#{job.id} (available, attempt 0)>"
        assert await job.wait() == 5
        record = job.record
        assert (record.state, record.attempt, record.result) == (JobState.COMPLETED, 1, 5)
        assert record.completed_at is not None
        assert record.claimed_by is None
        assert record.node
        again = await queue.get_job(job.id)
        assert (again.id, again.state, again.done()) == (job.id, JobState.COMPLETED, True)
    assert jobs.CALLS == [("add", (2, 3))]


async def test_a_failing_job_is_retried_then_completes_keeping_each_error(
    make_store: StoreFactory,
) -> None:
    """Two failures then success: attempt 3, both errors kept in order."""
    async with make_queue(make_store).open() as queue:
        job = await queue.enqueue(jobs.flaky, "k", 2)
        assert await job.wait() == "ok"
    assert job.record.attempt == 3
    assert [(e.attempt, e.error) for e in job.record.errors] == [
        (1, "RuntimeError: flaky k failure 1"),
        (2, "RuntimeError: flaky k failure 2"),
    ]


async def test_a_jobs_own_retry_policy_is_stored_with_it_and_sets_its_waits(
    make_store: StoreFactory,
) -> None:
    """enqueue(retry=RetryPolicy(...)): its attempts and waits are stored with the
    job (JSON), not the queue's (10 ms): the next attempt is claimed no earlier than
    0.3 s after a failure."""
    policy = otp.RetryPolicy(attempts=2, wait_initial=0.3, wait_max=0.3, wait_jitter=0)
    async with make_queue(make_store).open() as queue:
        job = await queue.enqueue(jobs.flaky, "own", 1, retry=policy)
        assert job.record.max_attempts == 2
        assert job.record.meta["backoff"] == [0.3, 0.3, 2.0, 0.0]
        with trio.fail_after(5):
            assert await job.wait() == "ok"
    (error,) = job.record.errors
    assert job.record.attempted_at is not None
    assert job.record.attempted_at - error.at >= 0.3


async def test_a_job_out_of_attempts_is_discarded_and_retry_runs_it_again(
    make_store: StoreFactory,
) -> None:
    """max_attempts=2 and two failures: discarded (wait raises JobDiscardedError);
    handle.retry() makes it available with one more attempt, which succeeds."""
    async with make_queue(make_store).open() as queue:
        job = await queue.enqueue(jobs.flaky, "d", 2, max_attempts=2)
        with pytest.raises(JobDiscardedError):
            await job.wait()
        assert job.state is JobState.DISCARDED
        assert len(job.record.errors) == 2
        record = await job.retry()
        assert record.state is JobState.AVAILABLE
        assert await job.wait() == "ok"
        assert job.record.attempt == 3


async def test_cancel_ends_a_waiting_job_at_once_and_interrupts_a_running_one(
    make_store: StoreFactory,
) -> None:
    """A scheduled job is cancelled in the store at once; a running one is
    interrupted by its instance and acked cancelled. Both waits raise."""
    async with make_queue(make_store).open() as queue:
        later = await queue.enqueue(jobs.add, 1, 1, delay=60)
        assert later.state is JobState.SCHEDULED
        assert (await later.cancel()).state is JobState.CANCELLED
        with pytest.raises(otp.JobCancelledError):
            await later.wait()
        running = await queue.enqueue(jobs.slow, 30, "long")
        await eventually(lambda: jobs.CALLS == [("slow", "long")])
        await running.cancel()
        with trio.fail_after(5), pytest.raises(otp.JobCancelledError):
            await running.wait()
        assert running.record.state is JobState.CANCELLED
        stats = await queue.store_statistics()
        assert stats.cancelled == 1
    assert jobs.CALLS == [("slow", "long")]  # the cancelled-while-waiting one never ran


async def test_an_attempt_past_its_timeout_is_retried_then_discarded(
    make_store: StoreFactory,
) -> None:
    """An async job past its per-job timeout= is stopped, and the attempt fails with a
    JobTimeoutError: retried up to max_attempts, then discarded. A plain function
    cannot be interrupted (it never awaits): it runs to its end and completes."""
    async with make_queue(make_store).open() as queue:
        late = await queue.enqueue(jobs.slow, 30, "late", timeout=0.05, max_attempts=2)
        with trio.fail_after(5), pytest.raises(JobDiscardedError):
            await late.wait()
        assert [(e.attempt, e.error) for e in late.record.errors] == [
            (1, "JobTimeoutError: the attempt ran past 0.05 s"),
            (2, "JobTimeoutError: the attempt ran past 0.05 s"),
        ]
        in_time = await queue.enqueue(jobs.slow, 0, "in time", timeout=5)
        assert await in_time.wait() == "in time"
        plain = await queue.enqueue(jobs.add, 1, 2, timeout=0.05)
        assert await plain.wait() == 3
    assert jobs.CALLS == [("slow", "late"), ("slow", "late"), ("slow", "in time"), ("add", (1, 2))]


async def test_an_attempt_whose_task_is_killed_before_it_runs_is_run_again(
    make_store: StoreFactory,
) -> None:
    """A claim's attempts spawn as one burst; a kill that reaches one's Task before it
    ran (an operator, the observer's kill) skips the job function. The attempt then
    ends as interrupted (a retry), instead of holding its claim, renewed by every
    heartbeat, until the queue stops. Drives the engine's own start of a claimed job,
    with no checkpoint between the spawn and the kill, to reach that window."""
    from trio_otp._supervision._dynamic_supervisor import _supervisor

    queue = make_queue(make_store)
    queue.pause()  # before it opens: no claim of its own is under way (pause's docs)
    async with queue.open():
        job = await queue.enqueue(jobs.add, 1, 2)
        engine = queue._engine
        assert engine is not None
        named = engine.queues[engine.default_queue]
        (record,) = await engine.store.claim(
            named.name, 1, engine.instance, engine.node, engine.clock()
        )
        engine._start(named, record)
        (task,) = _supervisor(engine._jobs_sup, "which_children")._children
        otp.exit(task, "kill")  # before any checkpoint: its Task has not run
        queue.resume()
        with trio.fail_after(5):
            assert await job.wait() == 3
    assert job.record.attempt == 2
    assert [e.error for e in job.record.errors] == [
        "the attempt was interrupted (its task was cancelled)"
    ]
    assert jobs.CALLS == [("add", (1, 2))]  # once: the killed attempt never ran it


async def test_a_delayed_job_waits_scheduled_until_its_time(make_store: StoreFactory) -> None:
    """delay=0.2: scheduled, then run no earlier than 0.2 s after its insert."""
    async with make_queue(make_store).open() as queue:
        job = await queue.enqueue(jobs.add, 1, 2, delay=0.2)
        assert job.state is JobState.SCHEDULED
        assert await job.wait() == 3
    record = job.record
    assert record.attempted_at is not None
    assert record.attempted_at - record.inserted_at >= 0.2


async def test_jobs_run_by_priority_then_insertion(make_store: StoreFactory) -> None:
    """One job at a time, inserted while paused: 0 first … 9 last, ties by insertion.

    Paused before it opens: pause() does not stop a claim already under way (its
    documented behaviour), and the queue's first claim starts as it opens."""
    queue = make_queue(make_store, queues={"default": 1})
    queue.pause()
    async with queue.open():
        handles = [
            await queue.enqueue(jobs.record, tag, priority=priority)
            for tag, priority in [("p9", 9), ("p0-a", 0), ("p5", 5), ("p0-b", 0)]
        ]
        queue.resume()
        for handle in handles:
            await handle.wait()
    assert [tag for _, tag in jobs.CALLS] == ["p0-a", "p0-b", "p5", "p9"]


async def test_unique_holds_under_concurrent_inserts_from_two_instances(
    make_store: StoreFactory,
) -> None:
    """Twenty concurrent enqueues of one unique job through two queue instances on
    one store: one row; everyone gets its handle; 19 are duplicates. Uniqueness holds
    inside one enqueue_many batch too. (Scheduled a day ahead, so none runs.)"""
    results: list[DurableJob] = []
    once = UniqueJob(period=60)
    async with (
        make_queue(make_store).open() as a,
        make_queue(make_store).open() as b,
    ):

        async def enqueue(queue: JobQueue) -> None:
            results.append(await queue.enqueue(jobs.add, 1, 1, unique=once, delay=86_400))

        async with trio.open_nursery() as nursery:
            for i in range(20):
                nursery.start_soon(enqueue, a if i % 2 else b)
        assert len({job.id for job in results}) == 1
        assert sorted(job.duplicate for job in results) == [False] + [True] * 19
        many = await a.enqueue_many([(jobs.add, [2, 2])] * 5, unique=once, delay=86_400)
        assert len({job.id for job in many}) == 1
        assert [job.duplicate for job in many] == [False, True, True, True, True]
        stats = await a.store_statistics()
        assert stats.queues["default"].states[JobState.SCHEDULED] == 2


async def test_named_queues_have_their_own_bounds_and_pause(make_store: StoreFactory) -> None:
    """queues={"a": 2, "b": 1}: at most two of a's jobs run at once; b, paused, runs
    none until resumed; resize raises a's bound while it runs."""
    async with make_queue(make_store, queues={"a": 2, "b": 1}).open() as queue:
        queue.pause("b")
        await trio.sleep(0.1)  # a claim of b's already under way at the pause completes
        on_b = await queue.enqueue(jobs.record, "on b", queue="b")
        on_a = [await queue.enqueue(jobs.slow, 0.3, f"a{i}", queue="a") for i in range(4)]

        async def two_running() -> bool:
            stats = await queue.store_statistics()
            return stats.queues["a"].running == 2

        await eventually(two_running)
        stats = await queue.store_statistics()
        assert stats.queues["a"].states[JobState.EXECUTING] == 2
        assert (stats.queues["b"].paused, stats.queues["b"].running) == (True, 0)
        queue.resize(4, queue="a")
        assert (await queue.store_statistics()).queues["a"].max_running == 4
        for handle in on_a:
            await handle.wait()
        assert (await on_b.refresh()).state is JobState.AVAILABLE
        queue.resume("b")
        assert await on_b.wait() == "on b"


async def test_a_job_enqueued_while_its_queue_is_full_or_paused_starts_without_a_poll(
    make_store: StoreFactory,
) -> None:
    """An insert into a full or paused queue does not wake its producer (it could claim
    nothing); the room an ack makes and ``resume`` do, and the claim then finds the
    job. With a 60 s poll, each job must start at once, not at the next poll."""
    jobs.GATES["first"] = first = trio.Event()
    queue = JobQueue(
        store=make_store(poll_interval=60), jobs=ALL, retry=FAST_RETRY, queues={"q": 1}
    )
    async with queue.open():
        with trio.fail_after(5):
            running = await queue.enqueue(jobs.gated, "first")
            await eventually(lambda: jobs.CALLS == [("gated", "first")])
            waiting = await queue.enqueue(jobs.record, "behind")  # q is full
            await trio.sleep(0.05)
            assert jobs.CALLS == [("gated", "first")]
            first.set()
            assert await running.wait() == "first"
            assert await waiting.wait() == "behind"
            queue.pause("q")
            paused = await queue.enqueue(jobs.record, "paused")
            await trio.sleep(0.05)
            assert (await paused.refresh()).state is JobState.AVAILABLE
            queue.resume("q")
            assert await paused.wait() == "paused"


async def test_an_orderly_stop_hands_back_running_claims_at_once(make_store: StoreFactory) -> None:
    """A job still running when the shutdown budget ends goes back to available at
    once, its attempt not counted; the next instance runs it."""
    async with make_queue(make_store, shutdown=0.05).open() as queue:
        job = await queue.enqueue(jobs.slow, 30, "cut")
        await eventually(lambda: jobs.CALLS == [("slow", "cut")])
        stats = await queue.store_statistics()
        assert stats.queues["default"].states[JobState.EXECUTING] == 1
    async with make_store().open() as store:
        record = await store.get(job.id)
    assert record is not None
    assert (record.state, record.attempt, record.claimed_by) == (JobState.AVAILABLE, 0, None)
    assert not record.errors
    async with make_queue(make_store, shutdown=0.05).open() as queue:
        again = await queue.get_job(job.id)
        await eventually(lambda: jobs.CALLS == [("slow", "cut")] * 2)
        assert (await again.refresh()).state is JobState.EXECUTING


async def test_progress_is_shown_while_running_and_kept_after(make_store: StoreFactory) -> None:
    """report_progress: the handle and store_statistics show it while the job runs;
    the row keeps the last one."""
    async with make_queue(make_store).open() as queue:
        job = await queue.enqueue(jobs.progress, 4, 0.1)
        await eventually(lambda: job.progress is not None)
        assert job.progress is not None
        assert 0 < job.progress.fraction <= 1
        stats = await queue.store_statistics()
        assert job.id in stats.progress or job.done()
        assert await job.wait() == 4
    assert job.record.progress == Progress(1.0, "step 4/4")


async def test_a_job_run_by_another_instance_is_waited_for_by_polling(
    make_store: StoreFactory,
) -> None:
    """A inserts into queue "x", which only B serves; A's handle learns the end by
    polling the row."""
    async with (
        make_queue(make_store, queues={"default": 1}).open() as a,
        make_queue(make_store, queues={"x": 1}).open(),
    ):
        job = await a.enqueue(jobs.add, 20, 22, queue="x")
        with trio.fail_after(5):
            assert await job.wait() == 42
        assert a._engine is not None
        assert a._engine._watch == {}  # B acked it: nothing here pops the watch but wait
        stats = await a.store_statistics()
        assert (stats.completed, stats.queues["default"].running) == (0, 0)


async def test_an_enqueue_only_instance_inserts_waits_and_cancels_but_runs_nothing(
    make_store: StoreFactory,
) -> None:
    """queues={} (Oban's ``queues: false``, a web process's queue): it enqueues into a
    queue another instance runs and waits on the job; it cancels a scheduled one; a job
    without queue= is refused, saying what to give; it claims nothing itself."""
    async with make_queue(make_store, queues={}).open() as web:
        with pytest.raises(ValueError, match=r"runs no queues .*give the job its queue="):
            await web.enqueue(jobs.add, 1, 2)
        later = await web.enqueue(jobs.add, 1, 1, queue="x", delay=60)
        assert (await later.cancel()).state is JobState.CANCELLED
        first = await web.enqueue(jobs.add, 1, 2, queue="x")
        await trio.sleep(0.2)  # a running instance of queue x would have claimed it
        assert (await first.refresh()).state is JobState.AVAILABLE
        async with make_queue(make_store, queues={"x": 2}).open():
            second = await web.enqueue(jobs.add, 20, 22, queue="x")
            with trio.fail_after(5):
                assert (await first.wait(), await second.wait()) == (3, 42)
        stats = await web.store_statistics()
        assert (stats.completed, stats.queues["x"].running) == (0, 0)  # B ran them
    assert sorted(jobs.CALLS) == [("add", (1, 2)), ("add", (20, 22))]


async def test_wait_sees_an_ack_that_commits_while_it_reads_the_row(
    make_store: StoreFactory,
) -> None:
    """The window of issue 19's flake (a handle's wait slept a whole poll_interval
    about one run in ten): wait reads the row (``executing``), and the job's ack
    commits before that read is back. The store's reads are held at exactly that
    point: the read is done, then the job ends and its ack commits, then the read
    returns. With a 60 s poll, wait must still return at once (it watches for the
    ack before it reads), and no watch is left behind."""
    jobs.GATES["w"] = gate = trio.Event()
    queue = JobQueue(store=make_store(poll_interval=60), jobs=ALL, retry=FAST_RETRY)
    async with queue.open():
        engine = queue._engine
        assert engine is not None
        job = await queue.enqueue(jobs.gated, "w")
        await eventually(lambda: jobs.CALLS == [("gated", "w")])
        store = engine.store
        read = store.get

        async def read_then_let_the_ack_commit(job_id: int) -> Any:
            record = await read(job_id)
            if not gate.is_set():
                assert record.state is JobState.EXECUTING
                gate.set()  # the job ends now: its ack commits before this read returns
                await eventually(lambda: engine.completed == 1)
            return record

        store.get = read_then_let_the_ack_commit  # type: ignore[method-assign]
        with trio.fail_after(5):
            assert await job.wait() == "w"
        assert engine._watch == {}


async def test_final_jobs_are_pruned_after_prune_after(make_store: StoreFactory) -> None:
    """A completed job is deleted once prune_after has passed (the POSIX clock is
    moved by hand); a waiting one is never pruned."""
    now = [1_800_000_000.0]
    queue = make_queue(make_store, prune_after=3600, clock=lambda: now[0])
    async with queue.open():
        done = await queue.enqueue(jobs.add, 1, 1)
        await done.wait()
        waiting = await queue.enqueue(jobs.add, 2, 2, delay=10 * 86_400)
        assert await queue.prune() == 0
        now[0] += 3601
        assert await queue.prune() == 1
        with pytest.raises(JobNotFoundError):
            await queue.get_job(done.id)
        assert (await queue.get_job(waiting.id)).state is JobState.SCHEDULED


def local_function() -> None:
    """Defined in a test module: registrable, but not registered below."""


@pytest.mark.parametrize(
    ("fn", "args", "error", "match"),
    [
        (local_function, (), JobFunctionError, "not registered"),
        (jobs.add, ((1, 2), 3), JobArgumentsError, r"args\[0\] is \(1, 2\)"),
        (jobs.add, ({1: "one"}, 3), JobArgumentsError, "JSON keys are strings"),
        (jobs.add, (math.nan, 3), JobArgumentsError, "no NaN"),
    ],
)
async def test_bad_jobs_are_refused_at_enqueue_saying_what_to_do(
    make_store: StoreFactory, fn: Any, args: tuple[Any, ...], error: type, match: str
) -> None:
    async with make_queue(make_store).open() as queue:
        with pytest.raises(error, match=match):
            await queue.enqueue(fn, *args)
        assert sum((await queue.store_statistics()).queues["default"].states.values()) == 0


async def test_misuse_gets_clear_errors(make_store: StoreFactory) -> None:
    """A lambda cannot be registered; a stopped queue refuses enqueue; an unknown id
    is JobNotFoundError; the durable methods of an in-memory queue say what to do."""
    queue = make_queue(make_store)
    with pytest.raises(JobFunctionError, match="lambda"):
        queue.register(lambda: None)
    with pytest.raises(otp.QueueStoppedError):
        await queue.enqueue(jobs.add, 1, 1)
    async with queue.open():
        with pytest.raises(JobNotFoundError):
            await queue.get_job(10_000)
    with pytest.raises(TypeError, match=r"JobQueue\.enqueue is for a durable queue"):
        await JobQueue().enqueue(jobs.add, 1, 1)
