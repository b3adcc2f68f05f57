"""Call deadlines: one cancel scope per run instead of one per call.

OTP gives every call a deadline (5 s by default). The obvious trio implementation,
a ``trio.CancelScope(deadline=...)`` around each call's wait, costs about 10 µs in
trio 0.35: as much as the rest of a call, two scheduler passes' worth. Instead, one
system task per ``trio.run`` sleeps, in a cancel scope, until the earliest pending
call's deadline and then fails the calls whose deadline has passed with
:exc:`~trio_otp.CallTimeout`, rescheduling their parked callers directly.

Pending calls wait in one FIFO queue per timeout value: calls made with the same
timeout expire in the order they were made, so each queue is sorted by deadline
for free, and finished calls are dropped from its front as new ones arrive. A heap
holds one entry per queue, its head's deadline, so the service finds the earliest
deadline in O(log queues) however many distinct timeouts are in use (a service that
computes each call's timeout from a remaining budget uses a new value per call). A
queue is deleted once empty, so the table holds only the calls made within the last
timeout period (issue 13: an empty queue per distinct timeout used to stay forever).
The hot path stays cheap: a call with a timeout already in use appends to its queue
(no heap operation); only a new timeout value pushes a heap entry.

The service sleeps until the earliest deadline it knows of; a call finishing does not
move that deadline (moving a scope's deadline costs ~2 µs), so the service may wake
for a call that already finished, once per timeout period at most, and then sleeps
until the next pending one. Nothing else wakes at such a stale deadline, so it is
not observable, not even under ``autojump_clock`` (trio wakes
``wait_all_tasks_blocked`` waiters before it jumps the clock).

What callers observe is what a cancel scope in ``call`` would give: the timeout
error at exactly ``start + timeout`` (also under ``autojump_clock``), enclosing
cancel scopes still apply, and a reply that arrives later is dropped.
"""

from __future__ import annotations

import collections
import heapq
import math
from typing import Protocol, final

import trio
from trio.lowlevel import RunVar


class Slot(Protocol):
    """What a deadline needs of a waiting call (:class:`trio_otp.From` is one).

    A protocol, so that this module sits below :mod:`._call` in the core.
    """

    _task: trio.lowlevel.Task | None
    _deadline: float

    def _expire(self) -> None: ...


_timers: RunVar[_Timers] = RunVar("trio_otp.call_deadlines")


@final
class _Timers:
    __slots__ = ("heap", "queues", "scope", "wakeup")

    def __init__(self) -> None:
        # Invariant: every queue is non-empty and has exactly one heap entry,
        # ``(deadline of a slot at or before its head, timeout)``.
        self.queues: dict[float, collections.deque[Slot]] = {}
        self.heap: list[tuple[float, float]] = []
        self.wakeup = math.inf
        self.scope: trio.CancelScope | None = None

    async def serve(self) -> None:
        heap = self.heap
        queues = self.queues
        while True:
            with trio.CancelScope(deadline=self.wakeup) as scope:
                self.scope = scope
                await trio.sleep_forever()
            self.scope = None
            now = trio.current_time()
            while heap and heap[0][0] <= now:
                timeout = heapq.heappop(heap)[1]
                queue = queues[timeout]
                while queue and (queue[0]._task is None or queue[0]._deadline <= now):
                    queue.popleft()._expire()
                if queue:
                    heapq.heappush(heap, (queue[0]._deadline, timeout))
                else:
                    del queues[timeout]
            self.wakeup = heap[0][0] if heap else math.inf


def arm(slot: Slot, timeout: float) -> None:
    """Give ``slot`` (a call about to wait) its deadline, ``timeout`` from now."""
    try:
        timers = _timers.get()
    except LookupError:
        timers = _Timers()
        _timers.set(timers)
        trio.lowlevel.spawn_system_task(timers.serve, name="trio_otp call deadlines")
    deadline = slot._deadline = trio.current_time() + timeout
    queue = timers.queues.get(timeout)
    if queue is None:
        queue = timers.queues[timeout] = collections.deque()
        heapq.heappush(timers.heap, (deadline, timeout))
    else:
        # Its heap entry stays: it is at or before the new head's deadline.
        while queue and queue[0]._task is None:
            queue.popleft()
    queue.append(slot)
    if deadline < timers.wakeup:
        timers.wakeup = deadline
        if timers.scope is not None:
            timers.scope.deadline = deadline


def table_size() -> tuple[int, int]:
    """How many queues and queued slots the current run's table holds (for tests)."""
    try:
        timers = _timers.get()
    except LookupError:
        return 0, 0
    return len(timers.queues), sum(len(queue) for queue in timers.queues.values())
