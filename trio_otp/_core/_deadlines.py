"""Call deadlines: one cancel scope per run instead of one per call.

OTP gives every call a deadline (5 s by default). The obvious trio implementation,
a ``trio.CancelScope(deadline=...)`` around each call's wait, costs about 10 µs in
trio 0.35: as much as the rest of a call, two scheduler passes' worth. Instead, one
system task per ``trio.run`` sleeps, in a cancel scope, until the earliest pending
call's deadline and then fails the calls whose deadline has passed with
:exc:`~trio_otp.CallTimeout`, rescheduling their parked callers directly.

Pending calls wait in one FIFO queue per timeout value: calls made with the same
timeout expire in the order they were made, so each queue is sorted by deadline
for free. A queue is an insertion-ordered dict, so a call that finishes (answered,
cancelled, failed) leaves its queue at once, in O(1), and its slot and request with
it (OTP's ``gen:call`` cancels its timer on the reply): the table holds only pending
calls. A heap holds an entry per queue, its head's deadline at the time, so the
service finds the earliest deadline in O(log queues) however many distinct timeouts
are in use (a service that computes each call's timeout from a remaining budget
uses a new value per call). The hot path stays cheap: a call with a timeout already
in use adds itself to its queue (no heap operation); only a new timeout value pushes
a heap entry.

A queue left empty by finished calls stays, with its heap entry, until the service
reaches that entry (so that a caller making one call after another with the same
timeout does not make a queue per call), but only while there are few of them: when
the queues outnumber ``_SPARE`` and twice the live ones, a new timeout value first
drops the empty queues and rebuilds the heap from the live ones (amortised O(1) per
call). The table is therefore bounded by the pending calls plus one queue per
distinct timeout in use, of which at most ``max(_SPARE, live queues)`` are empty
(issue 13, issue 21: 20,000 calls with ``timeout=1+random()`` leave nothing behind).

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

import heapq
import math
from collections.abc import Callable
from typing import Any, Protocol, final

import trio
from trio.lowlevel import RunVar

from ._runlocal import RUN


class Slot(Protocol):
    """What a deadline needs of a waiting call (:class:`trio_otp.From` is one).

    A protocol, so that this module sits below :mod:`._call` in the core. The slot
    removes itself from ``_queue`` when its call finishes.
    """

    _task: trio.lowlevel.Task | None
    _deadline: float
    _queue: dict[Any, None] | None

    def _expire(self) -> None: ...


#: Empty queues kept for reuse before a new timeout value clears them out.
_SPARE = 32

_timers: RunVar[_Timers] = RunVar("trio_otp.call_deadlines")


@final
class _Timers:
    __slots__ = ("heap", "limit", "now", "queues", "scope", "seq", "wakeup")

    def __init__(self) -> None:
        # Invariant: every queue in ``queues`` has exactly one heap entry
        # ``(deadline, seq, timeout, queue)`` whose deadline is at or before its
        # head's; entries whose queue is no longer ``queues[timeout]`` are stale.
        self.queues: dict[float, dict[Slot, None]] = {}
        self.heap: list[tuple[float, int, float, dict[Slot, None]]] = []
        self.seq = 0  # ties in the heap never compare queues
        self.limit = _SPARE
        self.wakeup = math.inf
        self.scope: trio.CancelScope | None = None
        # The run's clock, read directly: ``trio.current_time()`` is three Python
        # calls on the way to it, per call armed (a run's clock never changes).
        self.now: Callable[[], float] = trio.lowlevel.current_clock().current_time

    async def serve(self) -> None:
        heap = self.heap
        queues = self.queues
        while True:
            with trio.CancelScope(deadline=self.wakeup) as scope:
                self.scope = scope
                await trio.sleep_forever()
            self.scope = None
            now = self.now()
            while heap and heap[0][0] <= now:
                _, _, timeout, queue = heapq.heappop(heap)
                if queues.get(timeout) is not queue:
                    continue  # stale: that queue was dropped
                # The slots before the first one still running have expired; each
                # leaves the queue as its call finishes (one pass: deleting from the
                # front of a dict makes the next ``iter`` skip the hole).
                expired = []
                for slot in queue:
                    if slot._deadline > now:
                        break
                    expired.append(slot)
                for slot in expired:
                    slot._expire()
                if queue:
                    self._push(next(iter(queue))._deadline, timeout, queue)
                else:
                    del queues[timeout]
            self.wakeup = heap[0][0] if heap else math.inf

    def _push(self, deadline: float, timeout: float, queue: dict[Slot, None]) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (deadline, self.seq, timeout, queue))

    def _new_queue(self, deadline: float, timeout: float) -> dict[Slot, None]:
        queues = self.queues
        if len(queues) >= self.limit:
            # Drop the empty queues and their entries; keep one entry per live queue.
            for key in [key for key, queue in queues.items() if not queue]:
                del queues[key]
            heap = self.heap
            heap[:] = [
                (next(iter(q))._deadline, i, t, q) for i, (t, q) in enumerate(queues.items())
            ]
            heapq.heapify(heap)
            self.seq = len(heap)
            self.limit = max(_SPARE, 2 * len(queues))
        queue: dict[Slot, None] = {}
        queues[timeout] = queue
        self._push(deadline, timeout, queue)
        return queue


def arm(slot: Slot, timeout: float) -> None:
    """Give ``slot`` (a call about to wait) its deadline, ``timeout`` from now."""
    try:
        timers = RUN.runner._locals[_timers]  # _timers.get() in one step
    except (AttributeError, KeyError):
        try:
            timers = _timers.get()
        except LookupError:
            timers = _Timers()
            _timers.set(timers)
            trio.lowlevel.spawn_system_task(timers.serve, name="trio_otp call deadlines")
    deadline = slot._deadline = timers.now() + timeout
    queue = timers.queues.get(timeout)
    if queue is None:
        queue = timers._new_queue(deadline, timeout)
    # (Its heap entry, maybe older than this deadline, stays at or before its head's.)
    queue[slot] = None
    slot._queue = queue
    if deadline < timers.wakeup:
        timers.wakeup = deadline
        if timers.scope is not None:
            timers.scope.deadline = deadline


def table_size() -> tuple[int, int, int]:
    """The current run's queues, queued slots and heap entries (for tests)."""
    try:
        timers = _timers.get()
    except LookupError:
        return 0, 0, 0
    slots = sum(len(queue) for queue in timers.queues.values())
    return len(timers.queues), slots, len(timers.heap)
