"""Why a mailbox is a deque and a reply a one-shot slot, not trio memory channels.

The figures docs/design.rst quotes ("Mailboxes and replies: not memory channels"):
memory per mailbox, and calls per second of a request/reply loop built each way in
plain trio, beside trio_otp's own ``call``. About 10 s on one core:

    PYTHONPATH=. python bench/mailbox_vs_channel.py
"""

from __future__ import annotations

import collections
import gc
import math
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from typing import Any

import outcome
import trio
import trio.lowlevel as ll

import trio_otp as otp

N = 10_000
CALLS = 50_000


def bytes_each(make: Callable[[], object]) -> float:
    """Bytes allocated per object, over N of them (the list's own slot taken out)."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    kept = [make() for _ in range(N)]
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    del kept
    return sum(s.size_diff for s in after.compare_to(before, "filename")) / N - 8


def _abort(_: object) -> ll.Abort:
    return ll.Abort.SUCCEEDED


async def channel_calls() -> float:
    """A mailbox channel, and a reply channel per call (trio's idiom)."""
    send, receive = trio.open_memory_channel[Any](math.inf)

    async def server() -> None:
        async for request, reply in receive:
            reply.send_nowait(request)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(server)
        start = time.perf_counter()
        for i in range(CALLS):
            reply_send, reply_receive = trio.open_memory_channel[int](1)
            send.send_nowait((i, reply_send))
            await reply_receive.receive()
        elapsed = time.perf_counter() - start
        nursery.cancel_scope.cancel()
    return CALLS / elapsed


class _Slot:
    __slots__ = ("answered", "task")

    def __init__(self) -> None:
        self.task = ll.current_task()
        self.answered = False


async def slot_calls() -> float:
    """A deque with a direct wake-up, and a one-shot reply slot (trio_otp's way)."""
    box: collections.deque[tuple[int, _Slot]] = collections.deque()
    parked: list[ll.Task | None] = [None]

    async def server() -> None:
        while True:
            while not box:
                parked[0] = ll.current_task()
                await ll.wait_task_rescheduled(_abort)
            request, slot = box.popleft()
            if not slot.answered:  # a late reply is dropped
                slot.answered = True
                ll.reschedule(slot.task, outcome.Value(request))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(server)
        await ll.checkpoint()
        start = time.perf_counter()
        for i in range(CALLS):
            box.append((i, _Slot()))
            task, parked[0] = parked[0], None
            if task is not None:
                ll.reschedule(task)
            await ll.wait_task_rescheduled(_abort)
        elapsed = time.perf_counter() - start
        nursery.cancel_scope.cancel()
    return CALLS / elapsed


class _Echo(otp.GenServer[None]):
    async def handle_call(self, request: int, from_: otp.From, state: None) -> otp.Reply[None]:
        return otp.Reply(request, state)


async def otp_calls() -> float:
    """trio_otp's own call to a GenServer (the 5 s deadline included)."""
    async with trio.open_nursery() as nursery:
        pid = await _Echo.start(nursery, None)
        start = time.perf_counter()
        for i in range(CALLS):
            await otp.call(pid, i)
        elapsed = time.perf_counter() - start
        nursery.cancel_scope.cancel()
    return CALLS / elapsed


def main() -> None:
    print("bytes per mailbox:")
    channel = bytes_each(lambda: trio.open_memory_channel[Any](math.inf))
    print(f"  memory channel pair (unbounded)  {channel:6.0f}")
    print(f"  deque                            {bytes_each(collections.deque):6.0f}")
    runs: list[Callable[[], Awaitable[float]]] = [channel_calls, slot_calls, otp_calls]
    for run in runs:
        best = max(trio.run(run) for _ in range(3))
        print(f"{run.__name__:14} {best:10,.0f} calls/s (best of 3)")


if __name__ == "__main__":
    main()
