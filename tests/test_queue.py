"""trio_otp.JobQueue with the in-process executor: back-pressure, timeouts, retries,
events, statistics, cancellation and the draining stop (virtual time throughout)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import pytest
import trio
import trio.testing

import trio_otp as otp
from trio_otp import EventKind, JobQueue, JobStatus, RetryPolicy

NO_JITTER = RetryPolicy(attempts=3, wait_initial=0.1, wait_jitter=0)


async def sleepy(seconds: float, value: object = "ok") -> object:
    await trio.sleep(seconds)
    return value


class Flaky:
    """Raises ``error`` on its first ``failures`` calls, then returns ``"ok"``."""

    def __init__(self, failures: int, error: type[Exception] = RuntimeError) -> None:
        self.failures = failures
        self.error = error
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error(f"failure {self.calls}")
        return "ok"


async def test_schedule_returns_result(autojump_clock: trio.abc.Clock) -> None:
    """schedule runs plain and async jobs in supervised tasks and returns their results."""
    async with JobQueue().open() as queue:
        assert await queue.schedule(lambda: 42) == 42
        assert await queue.schedule(sleepy, 1.5, "slow") == "slow"
        assert trio.current_time() == 1.5
        stats = queue.statistics()
    assert (stats.done, stats.failed, stats.running, stats.queued) == (2, 0, 0, 0)
    with pytest.raises(AttributeError):
        stats.done = 3  # type: ignore[misc]


async def test_submit_handle_status_and_wait(autojump_clock: trio.abc.Clock) -> None:
    """submit returns a handle at once; its status moves running -> done; wait gives the result."""
    async with JobQueue().open() as queue:
        job = await queue.submit(sleepy, 2, "v", name="nightly")
        assert (job.status, job.name, job.id, job.done()) == (
            JobStatus.RUNNING,
            "nightly",
            1,
            False,
        )
        assert await job.wait() == "v"
        assert (job.status, job.attempts, job.done(), trio.current_time()) == (
            JobStatus.DONE,
            1,
            True,
            2,
        )
        assert await job.wait() == "v"  # again: the same result
        assert repr(job) == "<job nightly#1 (done)>"


async def test_job_exception_reaches_caller_with_its_type(autojump_clock: trio.abc.Clock) -> None:
    """A job that raises fails: its caller gets the job's own exception, the queue goes on."""
    async with JobQueue().open() as queue:
        with pytest.raises(KeyError, match="failure 1"):
            await queue.schedule(Flaky(1, KeyError))
        assert await queue.schedule(lambda: "still here") == "still here"
        assert queue.statistics().failed == 1


async def test_timeout_is_a_cancel_scope(autojump_clock: trio.abc.Clock) -> None:
    """A job past its timeout is cancelled at its deadline; the caller gets JobTimeoutError."""
    async with JobQueue(timeout=3).open() as queue:
        job = await queue.submit(sleepy, 10)
        with pytest.raises(otp.JobTimeoutError, match="within its timeout of 3 s") as info:
            await job.wait()
        assert info.value.job is job
        assert (trio.current_time(), job.status) == (3, JobStatus.FAILED)
        # A per-job timeout overrides the queue's.
        with pytest.raises(otp.JobTimeoutError):
            await queue.schedule(sleepy, 10, timeout=0.5)
        assert trio.current_time() == 3.5


async def test_retry_with_exponential_backoff(autojump_clock: trio.abc.Clock) -> None:
    """A failing job is retried after 0.1 s then 0.2 s (no jitter); its caller gets the result."""
    events: list[tuple[EventKind, int, str]] = []
    flaky = Flaky(2)

    def record(event: otp.JobEvent) -> None:
        events.append((event.kind, event.attempt, str(event.reason or "")))

    async with JobQueue(retry=NO_JITTER, on_event=record).open() as queue:
        assert await queue.schedule(flaky) == "ok"
        assert trio.current_time() == 0.1 + 0.2  # exact: the virtual clock adds the waits
        assert queue.statistics().retries == 2
    assert events == [
        (EventKind.QUEUED, 0, ""),
        (EventKind.STARTED, 1, ""),
        (EventKind.RETRIED, 1, "failure 1"),
        (EventKind.STARTED, 2, ""),
        (EventKind.RETRIED, 2, "failure 2"),
        (EventKind.STARTED, 3, ""),
        (EventKind.FINISHED, 3, ""),
    ]


async def test_retries_exhausted_and_not_matching(autojump_clock: trio.abc.Clock) -> None:
    """After ``attempts`` runs the last error reaches the caller; errors outside ``on``
    are not retried."""
    async with JobQueue(retry=NO_JITTER).open() as queue:
        always = Flaky(99)
        with pytest.raises(RuntimeError, match="failure 3"):
            await queue.schedule(always)
        assert always.calls == 3
        picky = Flaky(99, KeyError)
        with pytest.raises(KeyError):
            await queue.schedule(picky, retry=RetryPolicy(on=ValueError, wait_jitter=0))
        assert picky.calls == 1


async def test_retries_do_not_count_toward_restart_intensity(
    autojump_clock: trio.abc.Clock,
) -> None:
    """Forty transient jobs failing 30% of their attempts (seeded) all succeed, and the
    job supervisor is never restarted: retries are not restarts."""
    import random

    rng = random.Random(11)
    failures = 0

    def flaky() -> str:
        nonlocal failures
        if rng.random() < 0.3:
            failures += 1
            raise RuntimeError("flaky")
        return "ok"

    retry = RetryPolicy(attempts=10, wait_jitter=0)
    async with JobQueue(retry=retry, restart="transient").open() as queue:
        jobs_sup = otp.whereis(queue._jobs_name)
        results = []

        async def one() -> None:
            results.append(await queue.schedule(flaky))

        async with trio.open_nursery() as nursery:
            for _ in range(40):
                nursery.start_soon(one)
        assert results == ["ok"] * 40
        assert failures > 40 * 0.3 * 0.5  # the seeded rate really failed many attempts
        assert otp.whereis(queue._jobs_name) is jobs_sup
        stats = queue.statistics()
        assert (stats.retries, stats.restarts, stats.failed) == (failures, 0, 0)


async def test_back_pressure_waits_for_room(autojump_clock: trio.abc.Clock) -> None:
    """With one slot and a queue of one, a third job waits for room, then runs in order."""
    order: list[str] = []

    async def job(name: str) -> str:
        order.append(name)
        await trio.sleep(1)
        return name

    async with JobQueue(max_running=1, max_queued=1).open() as queue:
        a = await queue.submit(job, "a")
        b = await queue.submit(job, "b")
        assert (a.status, b.status) == (JobStatus.RUNNING, JobStatus.QUEUED)
        async with trio.open_nursery() as nursery:
            got: list[otp.JobHandle[Any]] = []

            async def third() -> None:
                got.append(await queue.submit(job, "c"))

            nursery.start_soon(third)
            await trio.testing.wait_all_tasks_blocked()
            stats = queue.statistics()
            assert (stats.running, stats.queued, stats.waiting) == (1, 1, 1)
        assert trio.current_time() == 1  # admitted when "a" finished
        assert [await h.wait() for h in (a, b, got[0])] == ["a", "b", "c"]
        assert order == ["a", "b", "c"]
        assert trio.current_time() == 3


async def test_callers_that_give_up_waiting_leave_no_entry(
    autojump_clock: trio.abc.Clock,
) -> None:
    """10,000 callers that give up waiting for room in a full queue leave no entry behind."""
    async with JobQueue(max_running=1, max_queued=0).open() as queue:
        blocker = await queue.submit(sleepy, 1000)
        for _ in range(10_000):
            with trio.move_on_after(0.001):
                await queue.submit(sleepy, 1)
            assert len(queue._waiting) == 0
        assert queue.statistics().waiting == 0
        # The one caller still waiting is admitted first when the slot frees up.
        async with trio.open_nursery() as nursery:
            got: list[otp.JobHandle[Any]] = []

            async def waiter() -> None:
                got.append(await queue.submit(sleepy, 1, "late"))

            nursery.start_soon(waiter)
            await trio.testing.wait_all_tasks_blocked()
            assert queue.statistics().waiting == 1
            blocker.cancel()
        assert await got[0].wait() == "late"
        stats = queue.statistics()
        assert (stats.waiting, stats.cancelled, stats.done) == (0, 1, 1)


async def test_back_pressure_fails_at_once(autojump_clock: trio.abc.Clock) -> None:
    """With on_full="fail", scheduling into a full queue raises QueueFullError at once."""
    async with JobQueue(max_running=1, max_queued=0, on_full="fail").open() as queue:
        await queue.submit(sleepy, 1)
        with pytest.raises(otp.QueueFullError, match="1 jobs running and 0 queued"):
            await queue.schedule(sleepy, 1)
        assert trio.current_time() == 0
        assert queue.statistics().queued == 0


async def test_cancel_queued_and_running(autojump_clock: trio.abc.Clock) -> None:
    """Cancelling a handle dequeues or cancels the job; its waiter gets JobCancelledError."""
    events: list[EventKind] = []
    async with JobQueue(max_running=1, on_event=lambda e: events.append(e.kind)).open() as queue:
        running = await queue.submit(sleepy, 10)
        queued = await queue.submit(sleepy, 10)
        queued.cancel()
        with pytest.raises(otp.JobCancelledError, match="cancelled"):
            await queued.wait()
        await trio.sleep(1)
        running.cancel()
        with pytest.raises(otp.JobCancelledError):
            await running.wait()
        assert (running.status, queued.status, trio.current_time()) == (
            JobStatus.CANCELLED,
            JobStatus.CANCELLED,
            1,
        )
        running.cancel()  # over already: nothing happens
        assert queue.statistics().cancelled == 2
    assert events.count(EventKind.CANCELLED) == 2


async def test_cancelled_caller_cancels_its_job(autojump_clock: trio.abc.Clock) -> None:
    """A schedule caller cancelled by its own scope takes its running and queued jobs
    down with it; a submitted job lives on regardless."""
    finished: list[str] = []

    async def job(name: str) -> None:
        await trio.sleep(10)
        finished.append(name)

    async with JobQueue(max_running=2).open() as queue:
        kept = await queue.submit(job, "submitted")
        async with trio.open_nursery() as nursery:
            for name in ("running", "queued"):
                nursery.start_soon(queue.schedule, job, name)
                await trio.testing.wait_all_tasks_blocked()
            assert queue.statistics().queued == 1
            await trio.sleep(1)
            nursery.cancel_scope.cancel()
        await trio.testing.wait_all_tasks_blocked()
        stats = queue.statistics()
        assert (stats.running, stats.queued, stats.cancelled) == (1, 0, 2)
        await kept.wait()
    assert finished == ["submitted"]
    assert trio.current_time() == 10


async def test_stop_drains(autojump_clock: trio.abc.Clock) -> None:
    """Stopping: quick running jobs finish, slow ones are cancelled at the shutdown budget,
    queued jobs are cancelled, waiting callers are turned away, new jobs are refused."""
    queue = JobQueue(max_running=2, max_queued=1, shutdown=2)
    outcomes: dict[str, object] = {}

    async def caller(key: str, fn: Callable[..., Any], *args: Any) -> None:
        try:
            outcomes[key] = await queue.schedule(fn, *args)
        except otp.JobQueueError as exc:
            outcomes[key] = type(exc).__name__

    async with trio.open_nursery() as nursery:
        await nursery.start(queue.serve)
        nursery.start_soon(caller, "quick", sleepy, 1, "quick done")
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(caller, "slow", sleepy, 60)
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(caller, "queued", sleepy, 1)
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(caller, "waiting", sleepy, 1)
        await trio.testing.wait_all_tasks_blocked()
        assert queue.statistics().waiting == 1
        await queue.stop()
        assert trio.current_time() == 2
    assert outcomes == {
        "quick": "quick done",
        "slow": "JobCancelledError",
        "queued": "JobCancelledError",
        "waiting": "QueueStoppedError",
    }
    with pytest.raises(otp.QueueStoppedError):
        await queue.schedule(sleepy, 1)


async def test_cancelled_owner_still_answers(autojump_clock: trio.abc.Clock) -> None:
    """If the queue's owner is cancelled, a job's waiter still gets JobCancelledError."""
    handles: list[otp.JobHandle[Any]] = []
    with trio.move_on_after(5):
        async with JobQueue().open() as queue:
            handles.append(await queue.submit(sleepy, 60))
            await trio.sleep_forever()
    with pytest.raises(otp.JobCancelledError, match="shutdown"):
        await handles[0].wait()


async def test_event_hook_errors_are_logged(
    autojump_clock: trio.abc.Clock, caplog: pytest.LogCaptureFixture
) -> None:
    """A hook that raises is logged on trio_otp.job_queue and the job still completes."""

    def bad_hook(event: otp.JobEvent) -> None:
        raise ValueError("hook bug")

    async with JobQueue(on_event=bad_hook).open() as queue:
        assert await queue.schedule(lambda: 1) == 1
    records = [r for r in caplog.records if r.name == "trio_otp.job_queue"]
    assert len(records) == 3  # queued, started, finished
    assert records[0].levelno == logging.ERROR
    # Issue 12: structured fields, as on every trio_otp record.
    fields = [(r.otp_event, type(r.otp_reason), r.otp_job_event.kind) for r in records]  # type: ignore[attr-defined]
    assert fields == [
        ("job_event_hook_failed", ValueError, kind) for kind in ("queued", "started", "finished")
    ]
    assert all(isinstance(r.otp_pid, otp.Pid) for r in records)  # type: ignore[attr-defined]


class LossyExecutor:
    """A real executor whose workers die on the first ``losses`` attempts."""

    inline = False
    capacity = None

    def __init__(self, losses: int) -> None:
        self.losses = losses
        self.runs = 0

    async def prepare(self) -> None:
        await trio.lowlevel.checkpoint()

    def open(self) -> AbstractAsyncContextManager[None]:
        @asynccontextmanager
        async def nothing() -> AsyncIterator[None]:
            yield

        return nothing()

    def check(self, fn: Callable[..., Any], args: tuple[Any, ...], name: str) -> None:
        pass

    async def run(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        self.runs += 1
        await trio.sleep(0.1)
        if self.runs <= self.losses:
            raise otp.WorkerLostError(self, "worker died")
        return fn(*args)


async def test_worker_lost_is_a_crash_reason(autojump_clock: trio.abc.Clock) -> None:
    """A lost worker fails a temporary job, and re-runs a transient one in a new task."""
    caplog_free = LossyExecutor(1)
    async with JobQueue(caplog_free, retry=NO_JITTER).open() as queue:
        with pytest.raises(otp.WorkerLostError):
            await queue.schedule(lambda: "x")  # temporary; the retry policy ignores it
        assert caplog_free.runs == 1
    lossy = LossyExecutor(2)
    async with JobQueue(lossy, restart="transient").open() as queue:
        job = await queue.submit(lambda: "y")
        assert await job.wait() == "y"
        assert (job.attempts, lossy.runs, queue.statistics().restarts) == (3, 3, 2)


async def test_job_supervisor_giving_up_answers_callers(autojump_clock: trio.abc.Clock) -> None:
    """When a transient job keeps crashing, the job supervisor gives up and its caller
    gets JobLostError (caused by the last crash); the queue keeps serving."""
    async with JobQueue(LossyExecutor(4), restart="transient").open() as queue:
        with pytest.raises(otp.JobLostError) as info:
            await queue.schedule(lambda: "z")
        assert isinstance(info.value.__cause__, otp.WorkerLostError)
        assert await queue.schedule(lambda: "after") == "after"


async def test_a_caller_waiting_for_room_survives_the_job_supervisor_giving_up(
    autojump_clock: trio.abc.Clock,
) -> None:
    """A caller waiting for room when the job supervisor gives up is not turned away:
    its job runs on the restarted one, while the lost running job's caller gets
    JobLostError (issue 18, point 2)."""
    lossy = LossyExecutor(4)  # four crashes: the job supervisor gives up
    async with JobQueue(lossy, restart="transient", max_running=1, max_queued=0).open() as queue:
        outcomes: dict[str, object] = {}

        async def caller(key: str) -> None:
            try:
                outcomes[key] = await queue.schedule(lambda: key)
            except otp.JobQueueError as exc:
                outcomes[key] = exc

        async with trio.open_nursery() as nursery:
            nursery.start_soon(caller, "crashing")
            await trio.testing.wait_all_tasks_blocked()
            nursery.start_soon(caller, "waiter")
        assert type(outcomes["crashing"]) is otp.JobLostError
        assert outcomes["waiter"] == "waiter"
        assert lossy.runs == 5  # four crashes, then the waiter's one run
        assert await queue.schedule(lambda: "again") == "again"


async def test_bad_options_and_misuse() -> None:
    """Bad options and misuse raise clear errors."""
    with pytest.raises(ValueError, match="max_running"):
        JobQueue(max_running=0)
    with pytest.raises(ValueError, match="on_full"):
        JobQueue(on_full="drop")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="permanent job"):
        JobQueue(restart="permanent")
    with pytest.raises(ValueError, match="attempts"):
        RetryPolicy(attempts=0)
    with pytest.raises(ValueError, match="Exception subclasses"):
        RetryPolicy(on=(KeyboardInterrupt,))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Executor"):
        JobQueue(executor=object())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_restarts must be an int >= 0, got -1"):
        JobQueue(max_restarts=-1)
    with pytest.raises(ValueError, match="max_seconds must be a number of seconds > 0"):
        JobQueue(max_seconds="x")  # type: ignore[arg-type]
    queue = JobQueue()
    with pytest.raises(RuntimeError, match="not running"):
        await queue.schedule(lambda: 1)
    async with queue.open():
        with pytest.raises(TypeError, match="callable"):
            await queue.schedule(42)  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="started before"):
        await queue.serve()


async def test_open_block_exception_comes_out_as_itself(autojump_clock: trio.abc.Clock) -> None:
    """An exception raised in the queue's block leaves ``async with`` as itself, ungrouped,
    and the job it left running is cancelled with an answer."""
    queue = JobQueue()
    jobs: list[otp.JobHandle[Any]] = []

    async def block() -> None:
        async with queue.open():
            jobs.append(await queue.submit(sleepy, 10))
            raise KeyError("mine")

    with pytest.raises(KeyError, match="mine"):
        await block()
    (job,) = jobs
    assert trio.current_time() == 0
    with pytest.raises(otp.JobCancelledError):
        await job.wait()


async def test_failed_and_cancelled_events_carry_their_reason(
    autojump_clock: trio.abc.Clock,
) -> None:
    """A job that fails for good emits FAILED with its exception; a cancelled one emits
    CANCELLED with the JobCancelledError its caller gets."""
    events: list[otp.JobEvent] = []
    async with JobQueue(on_event=events.append).open() as queue:
        with pytest.raises(KeyError):
            await queue.schedule(Flaky(1, KeyError))
        job = await queue.submit(sleepy, 10)
        job.cancel()
        with pytest.raises(otp.JobCancelledError) as info:
            await job.wait()
    failed = [e for e in events if e.kind is EventKind.FAILED]
    cancelled = [e for e in events if e.kind is EventKind.CANCELLED]
    assert len(failed) == 1
    assert isinstance(failed[0].reason, KeyError)
    assert (failed[0].attempt, failed[0].time) == (1, 0)
    assert len(cancelled) == 1
    assert cancelled[0].reason is info.value
    assert (cancelled[0].job, info.value.reason) == (job, "cancelled")


def test_retry_policy_wait_is_capped_and_jittered() -> None:
    """Backoff grows exponentially, adds at most wait_jitter, and never exceeds wait_max."""
    import random

    policy = RetryPolicy(attempts=10, wait_initial=1, wait_max=5, wait_jitter=0.5)
    rng = random.Random(1)
    waits = [policy.wait(n, rng) for n in range(1, 6)]
    assert 1 <= waits[0] <= 1.5
    assert 2 <= waits[1] <= 2.5
    assert 4 <= waits[2] <= 4.5
    assert waits[3:] == [5, 5]
    assert not policy.retries(otp.WorkerLostError(None, "x"), 1)
    assert not policy.retries(RuntimeError(), 10)
