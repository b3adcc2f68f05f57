"""Periodic jobs (trio_otp/jobs/_cron.py): cron and interval schedules, their
daylight-saving and missed-tick policy, and once-per-tick insertion by the durable
engine across restarts and instances.

The schedules are pure functions of POSIX time: tested at exact instants around the
2026 clock changes in Europe/Paris (forward on 29 March at 02:00, back on 25 October at
03:00). The engine tests run a real SQLite file, so the trio clock is the real one
(short waits); the queue's ``clock=`` (POSIX seconds) is a virtual one the test moves
by hand, so hours pass between two starts at no cost.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import _durable_jobs as jobs
import pytest
import trio

from trio_otp import JobQueue
from trio_otp.jobs import Cron, Every, JobState, SQLiteStore, every


def utc(*fields: int) -> float:
    return datetime(*fields, tzinfo=UTC).timestamp()  # type: ignore[misc]


def ticks(schedule: Cron | Every, start: float, n: int) -> list[float]:
    found = []
    for _ in range(n):
        start = schedule.next_after(start)
        found.append(start)
    return found


def test_a_wall_time_skipped_by_the_clocks_going_forward_runs_after_the_gap() -> None:
    """02:30 does not exist on 29 March in Paris: that day's tick is 03:00 local."""
    daily = Cron("30 2 * * *", tz="Europe/Paris")
    assert ticks(daily, utc(2026, 3, 28, 12), 3) == [
        utc(2026, 3, 29, 1, 0),  # 03:00 CEST, the first instant after the gap
        utc(2026, 3, 30, 0, 30),  # 02:30 CEST
        utc(2026, 3, 31, 0, 30),
    ]
    assert daily.latest(utc(2026, 3, 29, 1, 30)) == utc(2026, 3, 29, 1, 0)


def test_a_wall_time_repeated_by_the_clocks_going_back_runs_once_at_its_first() -> None:
    """02:30 happens twice on 25 October in Paris: the tick is the first (CEST) one."""
    daily = Cron("30 2 * * *", tz="Europe/Paris")
    assert ticks(daily, utc(2026, 10, 24, 12), 3) == [
        utc(2026, 10, 25, 0, 30),  # 02:30 CEST; 02:30 CET (01:30 UTC) is skipped
        utc(2026, 10, 26, 1, 30),  # 02:30 CET
        utc(2026, 10, 27, 1, 30),
    ]
    # Inside the repeated hour, the latest tick is still the first 02:30.
    assert daily.latest(utc(2026, 10, 25, 1, 45)) == utc(2026, 10, 25, 0, 30)
    hourly = Cron("0 * * * *", tz="Europe/Paris")
    assert ticks(hourly, utc(2026, 10, 24, 22, 30), 4) == [
        utc(2026, 10, 24, 23),  # 01:00 CEST
        utc(2026, 10, 25, 0),  # 02:00 CEST
        utc(2026, 10, 25, 2),  # 03:00 CET: the repeated 02:00 CET is skipped
        utc(2026, 10, 25, 3),
    ]


def test_cron_defaults_to_utc_and_intervals_tick_on_multiples_of_themselves() -> None:
    """No tz is UTC; every(60) ticks on whole minutes since the epoch, so every
    instance agrees on its ticks."""
    assert ticks(Cron("0 9 * * *"), utc(2026, 6, 1), 1) == [utc(2026, 6, 1, 9)]
    minute = every(60)
    assert (minute.next_after(125), minute.latest(125), minute.latest(120)) == (180, 120, 120)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: Cron("every day"), "not a cron expression"),
        (lambda: Cron("0 9 * * *", tz="Mars/Olympus"), "unknown time zone"),
        (lambda: every(0), "seconds > 0"),
        (lambda: every(float("inf")), "seconds > 0"),
    ],
)
def test_bad_schedules_are_refused_saying_what_to_give(make: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        make()  # type: ignore[operator]


class Clock:
    """POSIX seconds the test sets (the queue's ``clock=``)."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def hourly_queue(db: Path, clock: Clock) -> JobQueue:
    queue = JobQueue(store=SQLiteStore(db, poll_interval=0.02), jobs=[jobs.record], clock=clock)
    queue.cron(every(3600), jobs.record, "tick", name="hourly")
    return queue


async def stored_jobs(db: Path) -> list[tuple[JobState, float]]:
    async with SQLiteStore(db).open() as store:
        records = await store.get_many(range(1, 50))
    return [(r.state, r.meta["tick"]) for _, r in sorted(records.items())]


async def wait_completed(queue: JobQueue, n: int) -> None:
    with trio.fail_after(10):
        while True:
            stats = await queue.store_statistics()
            if stats.queues["default"].states[JobState.COMPLETED] >= n:
                return
            await trio.sleep(0.01)


async def test_missed_ticks_run_once_and_a_new_entry_skips_ticks_before_it(tmp_path: Path) -> None:
    """First start at 10:30: the entry is new, the 10:00 tick is not run. Five hours
    later (nothing ran meanwhile) the next start runs the latest missed tick, 15:00,
    once; 11:00 … 14:00 are skipped."""
    db, clock = tmp_path / "jobs.db", Clock(utc(2026, 1, 5, 10, 30))
    async with hourly_queue(db, clock).open():
        await trio.sleep(0.1)
    assert await stored_jobs(db) == []
    clock.now += 5 * 3600
    async with hourly_queue(db, clock).open() as queue:
        await wait_completed(queue, 1)
    assert await stored_jobs(db) == [(JobState.COMPLETED, utc(2026, 1, 5, 15))]


async def test_a_tick_is_inserted_once_across_instances_and_restarts(tmp_path: Path) -> None:
    """Three instances on one file at 15:30 insert the 15:00 tick once; a restart in
    the same hour inserts nothing; the 16:00 tick comes once."""
    db, clock = tmp_path / "jobs.db", Clock(utc(2026, 1, 5, 14, 10))
    async with hourly_queue(db, clock).open():
        await trio.sleep(0.1)  # the entry is known from 14:00 on
    clock.now = utc(2026, 1, 5, 15, 30)
    async with (
        hourly_queue(db, clock).open() as a,
        hourly_queue(db, clock).open(),
        hourly_queue(db, clock).open(),
    ):
        await wait_completed(a, 1)
        await trio.sleep(0.1)
    async with hourly_queue(db, clock).open():
        await trio.sleep(0.1)
    clock.now = utc(2026, 1, 5, 16, 0, 1)
    async with hourly_queue(db, clock).open() as queue:
        await wait_completed(queue, 2)
    assert await stored_jobs(db) == [
        (JobState.COMPLETED, utc(2026, 1, 5, 15)),
        (JobState.COMPLETED, utc(2026, 1, 5, 16)),
    ]
