"""The call-deadline service (_deadlines.py): exact expiry, any order of timeouts."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing

import trio_otp as otp


class Silent(otp.GenServer[None]):
    """Never replies: every call to it ends at its deadline."""

    async def handle_call(self, request: Any, from_: otp.From, state: None) -> otp.NoReply[None]:
        return otp.NoReply(state)


class Echo(otp.GenServer[None]):
    async def handle_call(self, request: Any, from_: otp.From, state: None) -> otp.Reply[None]:
        return otp.Reply(request, state)


async def test_concurrent_calls_expire_each_at_its_own_deadline(
    autojump_clock: trio.abc.Clock,
) -> None:
    """Calls with different timeouts, made in any order, each time out at start + timeout."""
    ended: dict[float, float] = {}

    async def timed_call(server: otp.Pid, delay: float, limit: float) -> None:
        await trio.sleep(delay)
        with pytest.raises(otp.CallTimeout):
            await otp.call(server, "x", timeout=limit)
        ended[limit] = trio.current_time()

    async with trio.open_nursery() as nursery:
        server = await Silent.start(nursery)
        assert server is not None
        # A long timeout first, then shorter ones: later calls expire earlier.
        for delay, timeout in [(0, 9.0), (1, 2.0), (1.5, 0.25), (2, 5.0), (2, 5.0 + 1e-9)]:
            nursery.start_soon(timed_call, server, delay, timeout)
        await trio.sleep(20)
        nursery.cancel_scope.cancel()
    assert ended == {9.0: 9.0, 2.0: 3.0, 0.25: 1.75, 5.0: 7.0, 5.0 + 1e-9: 7.0 + 1e-9}


async def test_finished_calls_leave_no_deadline_that_moves_time(
    autojump_clock: trio.abc.Clock,
) -> None:
    """After calls finish, waiting for all tasks to block does not advance the clock."""
    async with trio.open_nursery() as nursery:
        server = await Echo.start(nursery)
        for i in range(3):
            assert await otp.call(server, i) == i
        await trio.testing.wait_all_tasks_blocked()
        assert trio.current_time() == 0
        await trio.sleep(12)  # passes the finished calls' old deadlines
        assert trio.current_time() == 12
        assert await otp.call(server, "again") == "again"
        nursery.cancel_scope.cancel()


async def test_reply_racing_the_deadline_reaches_the_caller(
    autojump_clock: trio.abc.Clock,
) -> None:
    """A reply made just before the deadline wins; the expiry then finds nobody waiting."""
    froms: list[otp.From] = []

    class Holder(otp.GenServer[None]):
        async def handle_call(
            self, request: Any, from_: otp.From, state: None
        ) -> otp.NoReply[None]:
            froms.append(from_)
            return otp.NoReply(state)

    async def replier() -> None:
        await trio.sleep(5.0 - 1e-6)
        otp.reply(froms[0], "just in time")

    async with trio.open_nursery() as nursery:
        server = await Holder.start(nursery)
        nursery.start_soon(replier)
        assert await otp.call(server, "x") == "just in time"
        assert trio.current_time() == 5.0 - 1e-6
        await trio.sleep(1)  # the old deadline passes: nothing happens
        nursery.cancel_scope.cancel()


def test_deadlines_are_per_run() -> None:
    """Each trio.run has its own deadline service: a second run starts clean."""

    async def one_run() -> float:
        async with trio.open_nursery() as nursery:
            server = await Silent.start(nursery)
            assert server is not None
            with pytest.raises(otp.CallTimeout):
                await otp.call(server, "x", timeout=0.5)
            nursery.cancel_scope.cancel()
        return trio.current_time()

    for _ in range(2):
        clock = trio.testing.MockClock(autojump_threshold=0)
        assert trio.run(one_run, clock=clock) == 0.5


async def test_distinct_timeouts_leave_no_queue_behind(autojump_clock: trio.abc.Clock) -> None:
    """Issue 13: calls with ever-new timeouts leave no table entry once their deadlines pass."""
    from trio_otp._core._deadlines import table_size

    async with trio.open_nursery() as nursery:
        server = await Echo.start(nursery)
        for i in range(2_000):
            assert await otp.call(server, i, timeout=1 + i / 7919) == i
        queues, slots, heap = table_size()
        assert slots == 0  # finished calls left at once (issue 21)
        assert queues <= 32
        assert heap <= 32
        await trio.sleep(2)
        assert table_size() == (0, 0, 0)
        nursery.cancel_scope.cancel()


async def test_memory_stays_flat_under_computed_timeouts(autojump_clock: trio.abc.Clock) -> None:
    """Issue 13: 4,000 calls with distinct computed timeouts do not grow traced memory."""
    import tracemalloc

    from trio_otp._core._deadlines import table_size

    async def rounds(server: otp.Pid, start: int) -> None:
        for i in range(start, start + 1_000):
            await otp.call(server, i, timeout=0.5 + (i % 9973) / 9973)
        await trio.sleep(2)  # every deadline of the round has passed

    async with trio.open_nursery() as nursery:
        server = await Echo.start(nursery)
        assert server is not None
        await rounds(server, 0)
        tracemalloc.start()
        try:
            await rounds(server, 1_000)
            first, _ = tracemalloc.get_traced_memory()
            for n in range(2, 4):
                await rounds(server, n * 1_000)
            last, _ = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert table_size() == (0, 0, 0)
        assert last - first < 64 * 1024
        nursery.cancel_scope.cancel()


async def test_deadline_fires_on_time_after_many_distinct_timeouts(
    autojump_clock: trio.abc.Clock,
) -> None:
    """Issue 13: after 5,000 distinct timeouts were used, a 0.1 s call fails at exactly +0.1 s."""
    async with trio.open_nursery() as nursery:
        echo = await Echo.start(nursery)
        silent = await Silent.start(nursery)
        assert echo is not None
        assert silent is not None
        for i in range(5_000):
            await otp.call(echo, i, timeout=3 + i / 5000)
        # Pending calls with many other deadlines, later and earlier than the next one.
        for i in range(50):
            nursery.start_soon(_expect_timeout, silent, 0.05 + i * 0.01)
        began = trio.current_time()
        with pytest.raises(otp.CallTimeout):
            await otp.call(silent, "late?", timeout=0.1)
        assert trio.current_time() - began == pytest.approx(0.1, abs=1e-9)
        await trio.sleep(1)
        nursery.cancel_scope.cancel()


async def _expect_timeout(server: otp.Pid, seconds: float) -> None:
    began = trio.current_time()
    with pytest.raises(otp.CallTimeout):
        await otp.call(server, "x", timeout=seconds)
    assert trio.current_time() - began == pytest.approx(seconds, abs=1e-9)
