"""Timers: ``send_after``, ``cancel_timer``, ``read_timer``, with no task per timer.

OTP's ``Process.send_after/3``. One system task per ``trio.run`` (started by the
first timer, like the service that enforces call deadlines) sleeps in a cancel
scope until the earliest timer's deadline, then delivers every message that is due,
in deadline order (timers with the same deadline in the order they were set). A
timer is an entry in one heap, so thousands of them cost no task each, and they end
with the run.

A cancelled timer's message is released at once; its heap entry stays until its
deadline or the next compaction. The heap is compacted whenever it has doubled since
the last compaction, so it never holds more than about twice the live timers.

Timers to a process handle are dropped when that process exits (OTP cancels a
timer whose destination pid is gone). The first timer set to a process registers
one exit callback on it (a process that never gets a timer pays
nothing) that keeps that process's timers; when the process exits the watcher
marks every pending one dropped and releases its message at once, and if then at
least half the heap is dead it is compacted on the spot, so memory comes back when
the process exits, not at the timers' deadlines.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable
from typing import Final, cast, final

import trio
from trio.lowlevel import RunVar

from ._call import INFO
from ._names import whereis
from ._process import Pid
from ._runlocal import RUN

_service: RunVar[_Timers] = RunVar("trio_otp.timers")
_ids = itertools.count(1)

_PENDING: Final = 0
_FIRED: Final = 1
_CANCELLED: Final = 2
_DROPPED: Final = 3  # its destination process exited


@final
class TimerRef:
    """A timer set by :func:`send_after`: pass it to :func:`cancel_timer` or
    :func:`read_timer`. Compares equal only to itself."""

    __slots__ = ("_deadline", "_dest", "_id", "_message", "_state")

    _id: int
    _deadline: float
    _dest: object
    _message: object
    _state: int

    def __init__(self) -> None:
        raise TypeError("TimerRef has no public constructor: send_after() returns one")

    def __repr__(self) -> str:
        state = ("pending", "fired", "cancelled", "dropped")[self._state]
        return f"<TimerRef 0.{self._id} to {self._dest!r} ({state})>"

    def _live(self) -> bool:
        if self._state != _PENDING:
            return False
        dest = self._dest
        return type(dest) is not Pid or dest._mailbox is not None


@final
class _Dropper:
    """The exit watcher of one process that has timers: drops them when it exits.

    Its list is pruned of timers that fired or were cancelled whenever it has
    doubled, so a process that sets a timer every second keeps a bounded list.
    """

    __slots__ = ("prune_at", "timers")

    def __init__(self) -> None:
        self.timers: list[TimerRef] = []
        self.prune_at = 16

    def add(self, timer: TimerRef) -> None:
        timers = self.timers
        if len(timers) >= self.prune_at:
            timers[:] = [t for t in timers if t._state == _PENDING]
            self.prune_at = 2 * len(timers) + 16
        timers.append(timer)

    def __call__(self, pid: Pid, reason: object) -> None:
        dropped = 0
        for timer in self.timers:
            if timer._state == _PENDING:
                timer._state = _DROPPED
                timer._message = None  # never delivered: release it now
                dropped += 1
        self.timers = []
        if dropped:
            try:
                service = _service.get()
            except LookupError:  # pragma: no cover - a timer was set, so it exists
                return
            service.dead(dropped)


@final
class _Timers:
    __slots__ = ("compact_at", "heap", "now", "scope", "seq", "stale", "wakeup")

    def __init__(self) -> None:
        self.heap: list[tuple[float, int, TimerRef]] = []
        self.seq = itertools.count()
        self.wakeup = math.inf
        self.scope: trio.CancelScope | None = None
        self.compact_at = 64
        self.stale = 0  # entries dropped because their process exited, not yet removed
        # The run's clock, read directly (made in the run): ``trio.current_time()``
        # is three Python calls on the way to it, per timer set.
        self.now: Callable[[], float] = trio.lowlevel.current_clock().current_time

    def compact(self) -> None:
        # Remove cancelled timers and those whose destination exited.
        heap = self.heap
        heap[:] = [entry for entry in heap if entry[2]._live()]
        heapq.heapify(heap)
        self.compact_at = 2 * len(heap) + 64
        self.stale = 0

    def dead(self, count: int) -> None:
        # ``count`` timers were dropped with their process: compact now if at least
        # half the heap is dead, so the heap shrinks when a busy destination exits
        # (amortised: the dead entries removed pay for the pass).
        self.stale += count
        if 2 * self.stale >= len(self.heap):
            self.compact()

    def add(self, timer: TimerRef) -> None:
        heap = self.heap
        if len(heap) >= self.compact_at:
            self.compact()
        heapq.heappush(heap, (timer._deadline, next(self.seq), timer))
        if timer._deadline < self.wakeup:
            self.wakeup = timer._deadline
            if self.scope is not None:
                self.scope.deadline = timer._deadline

    async def serve(self) -> None:
        heap = self.heap
        while True:
            with trio.CancelScope(deadline=self.wakeup) as scope:
                self.scope = scope
                await trio.sleep_forever()
            self.scope = None
            now = self.now()
            while heap and heap[0][0] <= now:
                timer = heapq.heappop(heap)[2]
                if timer._state == _PENDING:
                    timer._state = _FIRED
                    _deliver(timer._dest, timer._message)
                    timer._message = None  # delivered: do not keep it alive
                elif timer._state == _DROPPED:
                    self.stale -= 1  # counted by dead(), gone now
            self.wakeup = heap[0][0] if heap else math.inf


def _deliver(dest: object, message: object) -> None:
    pid = dest if type(dest) is Pid else whereis(dest)
    if pid is not None and pid._mailbox is not None:
        pid._post((INFO, message, None))


def send_after(dest: object, message: object, seconds: float) -> TimerRef:
    """Send ``message`` to ``dest`` after ``seconds`` (OTP's ``Process.send_after/3``).

    A GenServer receives it in ``handle_info``; a :func:`~trio_otp.mailbox` block
    from ``receive``. Never blocks. The timer belongs to the current ``trio.run``:
    it fires in deadline order (timers due at the same time in the order they were
    set), costs a heap entry and no task, and is dropped when ``dest`` (a handle)
    exits: its message is released then, not at the deadline. A name is looked up
    when the timer fires; if nobody holds it then, the message is dropped.

    Periodic work is a timer that the handler sets again::

        async def init(self, arg):
            otp.send_after(self.pid, "tick", 1.0)
            return otp.Ok(arg)

        async def handle_info(self, message, state):
            if message == "tick":
                otp.send_after(self.pid, "tick", 1.0)  # the next one
                ...
            return otp.NoReply(state)

    Args:
        dest: a :class:`~trio_otp.Pid` or a registered name.
        message: any value.
        seconds: the delay, ``>= 0``.

    Returns:
        The timer's reference, for :func:`cancel_timer` and :func:`read_timer`.

    Raises:
        TypeError: ``seconds`` is not a number, or ``dest`` is not hashable.
        ValueError: ``seconds`` is negative or NaN.
    """
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        raise TypeError(f"send_after() needs a delay in seconds, got {seconds!r}")
    if math.isnan(seconds) or seconds < 0:
        raise ValueError(f"send_after() needs a delay >= 0 seconds, got {seconds!r}")
    if type(dest) is not Pid:
        try:
            hash(dest)
        except TypeError:
            raise TypeError(
                f"send_after() sends to a Pid or a registered name, got {dest!r}"
            ) from None
    try:
        timers = RUN.runner._locals[_service]  # _service.get() in one step
    except (AttributeError, KeyError):
        try:
            timers = _service.get()
        except LookupError:
            timers = _Timers()
            _service.set(timers)
        trio.lowlevel.spawn_system_task(timers.serve, name="trio_otp timers")
    timer = object.__new__(TimerRef)
    timer._id = next(_ids)
    timer._deadline = timers.now() + seconds
    timer._dest = dest
    timer._message = message
    timer._state = _PENDING
    if type(dest) is not Pid or dest._mailbox is not None:  # timer._live(), inline
        timers.add(timer)
        if type(dest) is Pid:
            watchers = dest._watchers
            dropper = watchers.get(_Dropper) if watchers is not None else None
            if dropper is None:
                dropper = _Dropper()
                dest._watch(_Dropper, dropper)
            cast(_Dropper, dropper).add(timer)
    else:
        timer._state = _CANCELLED  # to a process that has exited: never fires
    return timer


def read_timer(timer: TimerRef) -> float | None:
    """The seconds left before ``timer`` fires, or ``None`` (OTP's ``Process.read_timer``).

    ``None`` if it has fired, was cancelled, or its destination process exited.
    """
    if type(timer) is not TimerRef:
        raise TypeError(f"read_timer() takes what send_after() returned, got {timer!r}")
    if not timer._live():
        return None
    return max(0.0, timer._deadline - trio.current_time())


def cancel_timer(timer: TimerRef) -> float | None:
    """Cancel ``timer``; return the seconds that were left (OTP's ``Process.cancel_timer``).

    ``None`` if it had already fired (its message was delivered and stays in the
    mailbox), was cancelled before, or its destination exited.
    """
    if type(timer) is not TimerRef:
        raise TypeError(f"cancel_timer() takes what send_after() returned, got {timer!r}")
    left = read_timer(timer)
    if timer._state == _PENDING:
        timer._state = _CANCELLED
        timer._message = None
    return left
