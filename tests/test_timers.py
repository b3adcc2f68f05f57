"""Timers: send_after, cancel_timer, read_timer (trio_otp/_core/_timers.py)."""

from __future__ import annotations

import gc
import tracemalloc
import weakref
from typing import Any

import pytest
import trio
import trio.testing

import trio_otp as otp
from trio_otp._core import _timers


class Ticker(otp.GenServer[list[Any]]):
    """The periodic idiom: every tick sets the next one."""

    async def init(self, record: list[Any]) -> Any:
        otp.send_after(self.pid, "tick", 1.0)
        return otp.Ok(record)

    async def handle_info(self, message: Any, record: list[Any]) -> Any:
        record.append((message, trio.current_time()))
        if len(record) < 3:
            otp.send_after(self.pid, "tick", 1.0)
        return otp.NoReply(record)


async def test_send_after_delivers_at_the_deadline(autojump_clock):
    """A timer's message arrives exactly `seconds` later."""
    async with otp.mailbox() as inbox:
        otp.send_after(inbox.pid, "hello", 2.5)
        assert await inbox.receive() == "hello"
        assert trio.current_time() == 2.5


async def test_timers_fire_in_deadline_order_then_in_the_order_set(autojump_clock):
    """Timers fire by deadline; timers with the same deadline fire in the order they were set."""
    async with otp.mailbox() as inbox:
        for message, seconds in [("c", 3), ("a", 1), ("b1", 2), ("b2", 2), ("z", 0)]:
            otp.send_after(inbox.pid, message, seconds)
        got = [(await inbox.receive(), trio.current_time()) for _ in range(5)]
        assert got == [("z", 0), ("a", 1), ("b1", 2), ("b2", 2), ("c", 3)]


async def test_periodic_work_is_a_timer_set_again_by_its_handler(autojump_clock):
    """A GenServer that re-arms its timer in handle_info ticks at 1, 2 and 3 s."""
    record: list[Any] = []
    async with trio.open_nursery() as nursery:
        ticker = await Ticker.start(nursery, record)
        await trio.sleep(10)
        await otp.stop(ticker)
    assert record == [("tick", 1.0), ("tick", 2.0), ("tick", 3.0)]


async def test_cancel_timer_returns_the_time_left_and_nothing_arrives(autojump_clock):
    """cancel_timer() before it fires returns the seconds left; the message never comes."""
    async with otp.mailbox() as inbox:
        timer = otp.send_after(inbox.pid, "never", 5)
        await trio.sleep(2)
        assert otp.read_timer(timer) == 3.0
        assert otp.cancel_timer(timer) == 3.0
        assert otp.read_timer(timer) is None
        assert otp.cancel_timer(timer) is None
        with pytest.raises(otp.ReceiveTimeout):
            await inbox.receive(timeout=10)
        assert trio.current_time() == 12


async def test_timer_cancelled_after_it_fired_returns_none_and_the_message_stays(autojump_clock):
    """cancel_timer() after the timer fired returns None; its message is still delivered."""
    async with otp.mailbox() as inbox:
        timer = otp.send_after(inbox.pid, "fired", 1)
        await trio.sleep(2)
        assert otp.cancel_timer(timer) is None
        assert otp.read_timer(timer) is None
        assert await inbox.receive(timeout=0) == "fired"


class _Payload:
    """A message that can be watched with a weak reference."""


async def test_timer_to_an_exited_process_is_dropped(autojump_clock):
    """A timer whose destination exits is dropped at once: its message released, never sent."""
    record: list[Any] = []
    async with trio.open_nursery() as nursery:
        ticker = await Ticker.start(nursery, record)
        payload = _Payload()
        alive = weakref.ref(payload)
        timer = otp.send_after(ticker, payload, 5)
        del payload
        assert otp.read_timer(timer) == 5.0
        await otp.stop(ticker)
        assert trio.current_time() == 0.0
        assert alive() is None  # released when the process exited, not at t=5
        assert otp.read_timer(timer) is None
        assert otp.cancel_timer(timer) is None
        assert repr(timer).endswith("(dropped)>")
        assert otp.read_timer(otp.send_after(ticker, "later", 1)) is None
        await trio.sleep(6)
        assert record == []  # stopped before its first tick: nothing ever arrived
        assert _timers._service.get().heap == []


async def test_timers_to_a_process_that_exits_release_their_memory_and_shrink_the_heap(
    autojump_clock,
):
    """100 000 timers to a process are released, and leave the heap, when it exits."""
    gc.collect()
    tracemalloc.start()
    try:
        async with otp.mailbox() as keeper:
            keep = otp.send_after(keeper.pid, "kept", 10_000)
            async with trio.open_nursery() as nursery:
                target = await Ticker.start(nursery, [])
                before = tracemalloc.get_traced_memory()[0]
                for _ in range(100_000):
                    otp.send_after(target, bytes(100), 10_000)
                heap = _timers._service.get().heap
                assert len(heap) >= 100_000
                loaded = tracemalloc.get_traced_memory()[0]
                assert loaded - before > 100_000 * 100  # the payloads are held
                await otp.stop(target)
                gc.collect()
                released = tracemalloc.get_traced_memory()[0]
            assert trio.current_time() == 0.0
            assert released - before < 1_000_000  # < 10 bytes a timer left behind
            assert [entry[2] for entry in _timers._service.get().heap] == [keep]
            assert otp.read_timer(keep) == 10_000.0
    finally:
        tracemalloc.stop()


async def test_a_process_that_sets_a_timer_every_tick_keeps_a_bounded_list(autojump_clock):
    """A process setting 1000 successive timers keeps only a bounded list of them."""
    async with otp.mailbox() as inbox:
        for i in range(1000):
            otp.send_after(inbox.pid, i, 1)
            assert await inbox.receive() == i
        dropper = inbox.pid._watchers[_timers._Dropper]
        assert len(dropper.timers) <= 32
        assert trio.current_time() == 1000.0


async def test_timer_to_a_name_is_resolved_when_it_fires(autojump_clock):
    """A timer to a name reaches whoever holds the name when it fires; nobody: dropped."""
    otp.send_after("box", "early", 1)
    timer = otp.send_after("box", "on time", 3)
    await trio.sleep(2)
    async with otp.mailbox("box") as inbox:
        assert await inbox.receive() == "on time"
        assert trio.current_time() == 3
        assert otp.read_timer(timer) is None


async def test_thousands_of_timers_share_one_task(autojump_clock):
    """5000 timers add one system task in all and fire in deadline order."""
    async with otp.mailbox() as inbox:
        otp.send_after(inbox.pid, -1, 0)
        assert await inbox.receive() == -1
        before = len(trio.lowlevel.current_root_task().child_nurseries[0].child_tasks)
        for i in range(5000):
            otp.send_after(inbox.pid, i, (5000 - i) / 1000)
        after = len(trio.lowlevel.current_root_task().child_nurseries[0].child_tasks)
        assert after == before
        got = [await inbox.receive() for _ in range(5000)]
        assert got == list(range(4999, -1, -1))


async def test_cancelled_timers_do_not_accumulate(autojump_clock):
    """Set-and-cancel 10 000 times: the heap stays bounded by compaction."""
    async with otp.mailbox() as inbox:
        for _ in range(10_000):
            otp.cancel_timer(otp.send_after(inbox.pid, "x", 3600))
        assert len(_timers._service.get().heap) <= 200


async def test_send_after_rejects_bad_delays_and_destinations():
    """send_after() with a negative, NaN or non-number delay or an unhashable dest raises."""
    with pytest.raises(ValueError, match=">= 0"):
        otp.send_after("x", "m", -1)
    with pytest.raises(ValueError, match=">= 0"):
        otp.send_after("x", "m", float("nan"))
    with pytest.raises(TypeError, match="seconds"):
        otp.send_after("x", "m", "1")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="Pid or a registered name"):
        otp.send_after(["x"], "m", 1)
    with pytest.raises(TypeError, match="send_after"):
        otp.read_timer("nope")  # type: ignore[arg-type]


def test_timers_are_per_run():
    """Each trio.run has its own timer service: a pending timer does not leak into the next."""

    async def one_run() -> object:
        async with otp.mailbox() as inbox:
            otp.send_after(inbox.pid, "m", 0)
            return await inbox.receive()

    async def leave_a_timer() -> None:
        otp.send_after("box", "stale", 0.001)

    trio.run(leave_a_timer)
    assert trio.run(one_run) == "m"
    assert trio.run(one_run) == "m"
