"""Issue 21, point 5: a finished call leaves the deadline table at once.

OTP's ``gen:call`` cancels its timer when the reply comes. Here the table holds the
pending calls plus at most a few empty queues (one per distinct timeout in use),
whatever timeouts the calls use.
"""

from __future__ import annotations

import gc
import random
import weakref
from typing import Any

import pytest
import trio
import trio.testing

import trio_otp as otp
from trio_otp._core._deadlines import _SPARE, table_size


class Echo(otp.GenServer[None]):
    async def handle_call(self, request: Any, from_: otp.From, state: None) -> otp.Reply[None]:
        return otp.Reply(request, state)


class Silent(otp.GenServer[None]):
    async def handle_call(self, request: Any, from_: otp.From, state: None) -> otp.NoReply[None]:
        return otp.NoReply(state)


class Payload:
    """A request whose lifetime the test watches."""


async def test_random_timeouts_leave_no_slots(autojump_clock: trio.abc.Clock) -> None:
    """20,000 calls with timeout=1+random() leave no slot and a bounded table behind."""
    rng = random.Random(21)  # deterministic
    async with trio.open_nursery() as nursery:
        server = await Echo.start(nursery)
        for i in range(20_000):
            assert await otp.call(server, i, timeout=1 + rng.random()) == i
        queues, slots, heap = table_size()
        assert slots == 0
        assert queues <= _SPARE
        assert heap <= _SPARE
        assert trio.current_time() == 0  # no time passed: nothing expired them
        nursery.cancel_scope.cancel()


async def test_a_finished_call_releases_its_request_at_once(
    autojump_clock: trio.abc.Clock,
) -> None:
    """The request of an answered call is freed before its deadline."""
    async with trio.open_nursery() as nursery:
        server = await Echo.start(nursery)
        request = Payload()
        ref = weakref.ref(request)
        await otp.call(server, request, timeout=3.25)
        await otp.call(server, "next")  # the server's own last message is the next one
        del request
        gc.collect()
        assert ref() is None
        assert table_size()[1] == 0
        nursery.cancel_scope.cancel()


async def test_table_holds_pending_calls_plus_spare_queues(
    autojump_clock: trio.abc.Clock,
) -> None:
    """With calls pending under many timeouts, finished ones do not stay in the table."""
    rng = random.Random(5)
    async with trio.open_nursery() as nursery:
        echo = await Echo.start(nursery)
        silent = await Silent.start(nursery)

        async def waits(limit: float) -> None:
            with pytest.raises(otp.CallTimeout):
                await otp.call(silent, "x", timeout=limit)

        for i in range(100):
            nursery.start_soon(waits, 10 + i)
        await trio.testing.wait_all_tasks_blocked()
        for i in range(5_000):
            await otp.call(echo, i, timeout=1 + rng.random())
        queues, slots, heap = table_size()
        assert slots == 100
        # Empty queues are dropped once they outnumber the live ones (and _SPARE).
        assert queues <= max(_SPARE, 2 * 100)
        assert heap <= max(_SPARE, 2 * 100)
        await trio.sleep(200)
        assert table_size() == (0, 0, 0)
        nursery.cancel_scope.cancel()


async def test_cancelled_and_failed_calls_leave_the_table(autojump_clock: trio.abc.Clock) -> None:
    """A call cancelled by its own scope, or whose server exits, leaves no slot."""
    async with trio.open_nursery() as nursery:
        silent = await Silent.start(nursery)
        with trio.move_on_after(1):
            await otp.call(silent, "x", timeout=7.5)
        assert table_size()[1] == 0

        async def stopper() -> None:
            await trio.sleep(1)
            await otp.stop(silent)

        nursery.start_soon(stopper)
        with pytest.raises(otp.CalleeExit):
            await otp.call(silent, "y", timeout=9.5)
        assert table_size()[1] == 0
        nursery.cancel_scope.cancel()
