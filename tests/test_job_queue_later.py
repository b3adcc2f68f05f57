"""Later and periodic jobs of an in-memory JobQueue (issue 18: "in-memory queues get
the cron and delay features too, without surviving a restart").

All on trio's virtual clock (``autojump_clock``); cron entries get a virtual wall
clock through the queue's ``clock=``.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
import trio

import trio_otp as otp
from trio_otp import JobQueue, JobStatus
from trio_otp.jobs import Cron, every

#: A wall-clock start: 2026-03-28 12:00 UTC (the eve of Paris's clocks going forward).
T0 = 1_774_699_200.0


def virtual_wall() -> float:
    return T0 + trio.current_time()


async def stamp(log: list[float], tag: object = None) -> object:
    log.append(trio.current_time())
    return tag


async def test_a_delayed_job_runs_after_its_delay_and_not_before(autojump_clock: Any) -> None:
    ran: list[float] = []
    async with JobQueue().open() as queue:
        job = await queue.submit(stamp, ran, "late", delay=30)
        assert job.status is JobStatus.QUEUED
        assert queue.statistics().delayed == 1
        await trio.sleep(29)
        assert ran == []
        assert await job.wait() == "late"
        assert ran == [30.0]
        assert queue.statistics().delayed == 0


async def test_at_is_read_on_the_queues_clock(autojump_clock: Any) -> None:
    ran: list[float] = []
    async with JobQueue(clock=virtual_wall).open() as queue:
        job = await queue.submit(stamp, ran, at=T0 + 100)
        past = await queue.submit(stamp, ran, "now", at=T0 - 5)  # due already: runs now
        assert await past.wait() == "now"
        await job.wait()
    assert ran == [0.0, 100.0]


async def test_delayed_jobs_run_in_due_order_whatever_the_submit_order(
    autojump_clock: Any,
) -> None:
    order: list[str] = []

    async def note(tag: str) -> None:
        order.append(tag)

    async with JobQueue().open() as queue:
        jobs = [await queue.submit(note, tag, delay=d) for tag, d in [("c", 3), ("a", 1), ("b", 2)]]
        for job in jobs:
            await job.wait()
    assert order == ["a", "b", "c"]


async def test_a_delayed_job_cancelled_before_it_is_due_never_runs(autojump_clock: Any) -> None:
    ran: list[float] = []
    async with JobQueue().open() as queue:
        job = await queue.submit(stamp, ran, delay=10)
        job.cancel()
        with pytest.raises(otp.JobCancelledError, match="cancelled"):
            await job.wait()
        await trio.sleep(20)
        stats = queue.statistics()
    assert ran == []
    assert (stats.delayed, stats.cancelled, stats.done) == (0, 1, 0)


async def test_a_stop_cancels_the_delayed_jobs_with_shutdown(autojump_clock: Any) -> None:
    ran: list[float] = []
    async with JobQueue().open() as queue:
        job = await queue.submit(stamp, ran, delay=3600)
    with pytest.raises(otp.JobCancelledError, match="shutdown"):
        await job.wait()
    assert ran == []
    assert trio.current_time() < 1  # the stop did not wait for it


async def test_a_due_job_meets_the_queues_bound_then(autojump_clock: Any) -> None:
    """With on_full="fail", a delayed job due while the queue is full fails with
    QueueFullError; with "wait", it waits for room and runs."""
    for on_full in ("fail", "wait"):
        async with JobQueue(max_running=1, max_queued=0, on_full=on_full).open() as queue:
            busy = await queue.submit(trio.sleep, 10)
            later = await queue.submit(stamp, [], "done", delay=1)
            if on_full == "fail":
                with pytest.raises(otp.QueueFullError):
                    await later.wait()
            else:
                assert await later.wait() == "done"
                assert trio.current_time() >= 10  # after the busy job left
            await busy.wait()


async def test_cancelling_a_due_job_that_waits_for_room_answers_it_once(
    autojump_clock: Any,
) -> None:
    ran: list[float] = []
    async with JobQueue(max_running=1, max_queued=0).open() as queue:
        busy = await queue.submit(trio.sleep, 10)
        later = await queue.submit(stamp, ran, delay=1)
        await trio.sleep(2)  # due, waiting for room
        later.cancel()
        with pytest.raises(otp.JobCancelledError, match="cancelled"):
            await later.wait()
        await busy.wait()
        await trio.sleep(1)
        stats = queue.statistics()
    assert ran == []
    assert (stats.done, stats.cancelled) == (1, 1)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"delay": -1}, "delay must be >= 0"),
        ({"delay": math.nan}, "delay must be a finite number"),
        ({"at": math.inf}, "at must be a finite number"),
        ({"delay": "5"}, "delay must be a finite number"),
        ({"delay": 1, "at": 1.0}, "not both"),
    ],
)
async def test_bad_delays_are_refused_at_submit(
    autojump_clock: Any, options: dict[str, Any], message: str
) -> None:
    async with JobQueue().open() as queue:
        with pytest.raises(ValueError, match=message):
            await queue.submit(stamp, [], **options)
        assert queue.statistics().delayed == 0


async def test_an_interval_runs_on_its_ticks(autojump_clock: Any) -> None:
    ran: list[float] = []
    queue = JobQueue(clock=virtual_wall)
    queue.cron(every(60), stamp, ran)
    async with queue.open():
        await trio.sleep(300)
    # T0 is a multiple of 60: the ticks are 60, 120, ... seconds in.
    assert ran == [60.0, 120.0, 180.0, 240.0, 300.0]


async def test_a_cron_entry_follows_wall_clock_time_in_its_zone(autojump_clock: Any) -> None:
    """02:30 Paris, daily, from 2026-03-28 12:00 UTC: the 29th's 02:30 does not exist
    (the clocks go forward), so it runs at 03:00 CEST (01:00 UTC), then 02:30 CEST."""
    ran: list[float] = []
    queue = JobQueue(clock=virtual_wall)
    queue.cron(Cron("30 2 * * *", tz="Europe/Paris"), stamp, ran)
    async with queue.open():
        await trio.sleep(2 * 86_400)
    assert [T0 + t for t in ran] == [1_774_746_000.0, 1_774_830_600.0]


async def test_a_tick_missed_while_the_queue_was_full_runs_once(autojump_clock: Any) -> None:
    ran: list[float] = []
    queue = JobQueue(clock=virtual_wall, max_running=1, max_queued=0)
    queue.cron(every(10), stamp, ran)
    async with queue.open():
        await trio.sleep(5)
        busy = await queue.submit(trio.sleep, 40)  # from 5 s to 45 s: ticks 10..40 wait
        await busy.wait()
        await trio.sleep(20)
    assert ran == [45.0, 50.0, 60.0]


def test_cron_options_of_a_durable_queue_are_refused_in_memory() -> None:
    queue = JobQueue()
    with pytest.raises(TypeError, match="priority= is for a durable queue's periodic jobs"):
        queue.cron(every(5), stamp, [], priority=3)
    with pytest.raises(TypeError, match="must be callable"):
        queue.cron(every(5), "stamp")  # type: ignore[arg-type]
    queue.cron(every(5), stamp, [], name="one")
    with pytest.raises(ValueError, match="two periodic jobs named 'one'"):
        queue.cron(every(5), stamp, [], name="one")


async def test_a_cron_entry_added_after_the_start_is_refused(autojump_clock: Any) -> None:
    async with JobQueue().open() as queue:
        with pytest.raises(RuntimeError, match="before the queue starts"):
            queue.cron(every(5), stamp, [])


async def test_a_stop_during_a_due_hand_over_answers_the_job(autojump_clock: Any) -> None:
    """A delayed job due while the queue is full waits for room; the queue stopping
    then answers it ("shutdown"), as every job is answered."""
    async with JobQueue(max_running=1, max_queued=0, shutdown=1).open() as queue:
        await queue.submit(trio.sleep_forever)
        later = await queue.submit(stamp, [], delay=1)
        await trio.sleep(2)  # due, waiting for room
    with pytest.raises(otp.JobCancelledError, match="shutdown"):
        await later.wait()


async def test_a_periodic_tick_during_the_stop_does_not_break_it(autojump_clock: Any) -> None:
    """Ticks keep coming while the queue drains: they are not admitted, and the stop
    ends cleanly."""
    ran: list[float] = []
    queue = JobQueue(clock=virtual_wall, shutdown=30)
    queue.cron(every(1), stamp, ran)
    async with queue.open():
        await queue.submit(trio.sleep, 20)  # the drain waits for it
        await trio.sleep(0.5)
    assert ran == []
    assert trio.current_time() == pytest.approx(20)


def test_a_periodic_job_the_executor_cannot_ship_is_refused_when_added() -> None:
    from trio_otp import ProcessExecutor

    queue = JobQueue(ProcessExecutor(max_workers=1))
    with pytest.raises(otp.JobNotPicklableError):
        queue.cron(every(5), lambda: None)
