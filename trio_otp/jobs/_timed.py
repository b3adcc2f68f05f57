"""Later and periodic jobs of an in-memory queue (they do not survive a restart).

A durable queue keeps both in its store (a row's ``scheduled_at``, cron ticks). An
in-memory queue keeps them here: delayed jobs in a heap on trio's clock, periodic
entries with their next tick on the queue's wall clock (``clock``, POSIX seconds:
cron expressions name wall-clock times). One task in the queue's own nursery hands
each job to the queue when it is due, through the same admission as any job: the
queue's bound and its ``on_full`` apply then, not when the job was submitted.

A delayed job's handle exists from :meth:`~trio_otp.JobQueue.submit` on, with status
``queued``: it can be waited for and cancelled before it is due. A periodic tick
that finds the queue full waits for room (``on_full="wait"``) and runs late; the
ticks that pass meanwhile are skipped (it stood for them), the ones after keep
their times. Daylight-saving changes follow :class:`Cron`'s
policy (``trio_otp.jobs._cron``).
"""

from __future__ import annotations

import heapq
import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import attrs
import trio

from ._cron import Schedule, to_schedule
from ._handle import JobHandle

logger = logging.getLogger("trio_otp.job_queue")

#: The longest wait between two looks at the wall clock: it may jump (NTP, a
#: suspended laptop), and a periodic tick is a wall-clock time.
_WALL_CLOCK_RECHECK = 60.0


@attrs.define
class _Periodic:
    name: str
    schedule: Schedule
    fn: Callable[..., Any]
    args: tuple[Any, ...]
    next: float = 0.0


class TimedJobs:
    """The delayed jobs and periodic entries of one in-memory queue."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        #: Delayed jobs not yet handed to the queue, and when each is due (trio time).
        #: A job stays here until its hand-over is over, so a stop still answers it.
        self.pending: dict[JobHandle[Any], float] = {}
        self._heap: list[tuple[float, int, JobHandle[Any]]] = []
        self._seq = 0
        self._periodic: list[_Periodic] = []
        self._started = False
        self._wake = trio.Event()

    def add_cron(
        self,
        schedule: object,
        fn: Callable[..., Any],
        args: Sequence[Any],
        name: str | None,
        check: Callable[[Callable[..., Any], tuple[Any, ...], str], None] | None = None,
    ) -> None:
        """Add a periodic entry; ``check`` is the executor's (can it ship the job?)."""
        if self._started:
            raise RuntimeError("add periodic jobs before the queue starts")
        if not callable(fn):
            raise TypeError(f"a periodic job must be callable, got {fn!r}")
        if name is not None and type(name) is not str:
            raise TypeError(f"a periodic job's name must be a str, got {name!r}")
        sched = to_schedule(schedule)
        entry_name = name or f"{getattr(fn, '__qualname__', repr(fn))} {sched!r}"
        if any(entry.name == entry_name for entry in self._periodic):
            raise ValueError(f"two periodic jobs named {entry_name!r}: give each a name=")
        if check is not None:
            check(fn, tuple(args), entry_name)
        self._periodic.append(_Periodic(entry_name, sched, fn, tuple(args)))

    def delay(self, job: JobHandle[Any], due: float) -> None:
        """Keep ``job`` until trio time ``due``."""
        self._seq += 1
        heapq.heappush(self._heap, (due, self._seq, job))
        self.pending[job] = due
        if self._heap[0][2] is job:
            self._wake.set()  # sooner than what the task waits for

    def discard(self, job: JobHandle[Any]) -> bool:
        """Forget a pending job (its handle cancelled it); whether it was pending."""
        return self.pending.pop(job, None) is not None

    def take_all(self) -> list[JobHandle[Any]]:
        """Every pending job, forgotten (the queue stops: it answers them)."""
        jobs = list(self.pending)
        self.pending.clear()
        self._heap.clear()
        return jobs

    async def run(
        self,
        hand_over: Callable[[JobHandle[Any]], Awaitable[None]],
        run_periodic: Callable[[Callable[..., Any], tuple[Any, ...], str], Awaitable[None]],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Hand each job to the queue when it is due, until cancelled (the queue ends)."""
        self._started = True
        now = self.clock()
        for entry in self._periodic:
            entry.next = entry.schedule.next_after(now)
        task_status.started()
        while True:
            self._wake = trio.Event()
            await self._hand_over_due(hand_over)
            await self._run_periodic(run_periodic)
            deadline = trio.current_time() + _WALL_CLOCK_RECHECK
            if self._heap:
                deadline = min(deadline, self._heap[0][0])
            if self._periodic:
                wall = self.clock()
                soonest = min(entry.next for entry in self._periodic)
                deadline = min(deadline, trio.current_time() + max(soonest - wall, 0.0))
            with trio.move_on_at(deadline):
                await self._wake.wait()

    async def _hand_over_due(self, hand_over: Callable[[JobHandle[Any]], Awaitable[None]]) -> None:
        heap = self._heap
        while heap and heap[0][0] <= trio.current_time():
            _, _, job = heapq.heappop(heap)
            if job not in self.pending:
                continue  # cancelled by its handle
            await hand_over(job)
            # Not on cancellation: a job still pending then is answered by the stop.
            self.pending.pop(job, None)

    async def _run_periodic(
        self, run_periodic: Callable[[Callable[..., Any], tuple[Any, ...], str], Awaitable[None]]
    ) -> None:
        for entry in self._periodic:
            now = self.clock()
            if entry.next > now:
                continue
            entry.next = entry.schedule.next_after(now)
            await run_periodic(entry.fn, entry.args, entry.name)
            # Ticks that passed while it waited for room are skipped: it stood for them.
            entry.next = max(entry.next, entry.schedule.next_after(self.clock()))


def wait_before(delay: object, at: object, timed: TimedJobs | None) -> float:
    """Seconds until a job given ``delay=`` or ``at=`` is due (checked)."""
    if delay is not None and at is not None:
        raise ValueError("give delay= (seconds) or at= (a time), not both")
    value, what = (delay, "delay") if delay is not None else (at, "at")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{what} must be a finite number of seconds, got {value!r}")
    if delay is not None:
        if value < 0:
            raise ValueError(f"delay must be >= 0 seconds, got {value!r}")
        return float(value)
    now = time.time() if timed is None else timed.clock()
    return max(float(value) - now, 0.0)
