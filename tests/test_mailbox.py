"""Mailbox blocks: any trio task as a process for a while (trio_otp/_core/_mailbox.py)."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing

import trio_otp as otp


class Server(otp.GenServer[None]):
    """Answers calls with the caller's pid; stops on request."""

    async def handle_call(self, request: Any, from_: otp.From, state: None) -> Any:
        return otp.Reply(from_.pid, state)


async def test_block_is_a_process_that_receives_in_order():
    """Inside the block the task has a pid; messages sent to it arrive in order."""
    assert otp.current_process() is None
    async with otp.mailbox() as inbox:
        assert otp.current_process() is inbox.pid
        assert inbox.pid.kind == "Mailbox"
        for n in range(3):
            otp.send(inbox.pid, n)
        assert [await inbox.receive() for _ in range(3)] == [0, 1, 2]
    assert otp.current_process() is None
    assert inbox.pid.exit_reason == otp.NORMAL


async def test_selective_receive_keeps_the_other_messages_in_order():
    """receive(match) takes the first match; skipped messages come later, in arrival order."""
    async with otp.mailbox() as inbox:
        for message in ["a", 1, "b", 2]:
            otp.send(inbox.pid, message)
        assert await inbox.receive(lambda m: isinstance(m, int)) == 1
        assert await inbox.receive(lambda m: m == 2) == 2
        assert await inbox.receive() == "a"
        assert await inbox.receive() == "b"


async def test_receive_waits_for_a_match_that_comes_later(autojump_clock):
    """A selective receive parks until a matching message arrives (skipping others)."""
    async with otp.mailbox() as inbox:
        otp.send_after(inbox.pid, "noise", 1)
        otp.send_after(inbox.pid, ("reply", 42), 2)
        assert await inbox.receive(lambda m: m[0] == "reply") == ("reply", 42)
        assert trio.current_time() == 2
        assert await inbox.receive(timeout=0) == "noise"


async def test_receive_timeout_raises_at_the_exact_time(autojump_clock):
    """receive(timeout=t) raises ReceiveTimeout (a trio.TooSlowError) exactly t later."""
    async with otp.mailbox() as inbox:
        otp.send(inbox.pid, "unwanted")
        with pytest.raises(trio.TooSlowError):
            await inbox.receive(lambda m: m == "wanted", timeout=1.5)
        assert trio.current_time() == 1.5
        with pytest.raises(otp.ReceiveTimeout, match="0 s"):
            await inbox.receive(lambda m: m == "wanted", timeout=0)
        assert await inbox.receive(timeout=0) == "unwanted"


async def test_monitors_of_a_block_left_by_an_exception_get_the_exception():
    """Another process's monitor of a block left by KeyError gets Down(..., that KeyError)."""
    ready = trio.Event()
    error = KeyError("lost")

    async def worker() -> None:
        async with otp.mailbox("worker"):
            ready.set()
            await trio.sleep(1)
            raise error

    async with otp.mailbox() as watcher:
        with pytest.RaisesGroup(KeyError):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(worker)
                await ready.wait()
                pid = otp.whereis("worker")
                ref = otp.monitor("worker")
        assert otp.whereis("worker") is None
        assert await watcher.receive(timeout=0) == otp.Down(ref, pid, error)


async def test_calls_and_casts_to_a_block_arrive_as_otp_tuples():
    """A call to a block arrives as ("$gen_call", from_, request); reply() answers it."""
    async with otp.mailbox("box") as inbox, trio.open_nursery() as nursery:
        answers: list[object] = []

        async def caller() -> None:
            answers.append(await otp.call("box", "ping"))

        nursery.start_soon(caller)
        tag, from_, request = await inbox.receive()
        assert (tag, request) == ("$gen_call", "ping")
        otp.reply(from_, "pong")
        otp.cast(inbox.pid, "hi")
        assert await inbox.receive() == ("$gen_cast", "hi")
    assert answers == ["pong"]


async def test_stop_ends_a_block_quietly_with_a_normal_reason():
    """otp.stop(block) cancels the block when it receives; a normal reason raises nothing."""
    after: list[str] = []
    async with trio.open_nursery() as nursery:

        async def block() -> None:
            async with otp.mailbox("box") as inbox:
                await inbox.receive()
                after.append("not reached")
            after.append("after the block")

        nursery.start_soon(block)
        await trio.testing.wait_all_tasks_blocked()
        await otp.stop("box")
    assert after == ["after the block"]


async def test_a_block_cannot_nest_in_a_process():
    """Opening a mailbox in a task that already is a process raises RuntimeError."""
    async with otp.mailbox():
        with pytest.raises(RuntimeError, match="already the process"):
            async with otp.mailbox():
                pass


async def test_receive_outside_the_block_or_from_another_task_is_an_error():
    """receive() after the block, or from another task, raises RuntimeError."""
    async with otp.mailbox() as inbox:

        async def other() -> None:
            with pytest.raises(RuntimeError, match="by the task that opened it"):
                await inbox.receive()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(other)
    with pytest.raises(RuntimeError, match="inside the mailbox"):
        await inbox.receive()
    with pytest.raises(RuntimeError, match="outside"):
        otp.Mailbox().pid  # noqa: B018


async def test_a_taken_name_is_refused_on_entry():
    """A block registering a taken name raises AlreadyStartedError and never runs."""

    async def second() -> None:
        with pytest.raises(otp.AlreadyStartedError):
            async with otp.mailbox("box"):
                pytest.fail("the block must not run")

    async with otp.mailbox("box") as inbox, trio.open_nursery() as nursery:
        nursery.start_soon(second)
    assert otp.registered() == {}
    assert inbox.pid.exit_reason == otp.NORMAL


async def test_from_pid_of_a_call_made_in_a_block_is_the_block():
    """A server sees a block's call as coming from the block's pid (OTP's {pid, tag})."""
    async with trio.open_nursery() as nursery:
        server = await Server.start(nursery)
        assert await otp.call(server, "who") is None  # plain trio code: no process
        async with otp.mailbox() as inbox:
            assert await otp.call(server, "who") is inbox.pid
        await otp.stop(server)


async def test_a_block_that_waited_with_nothing_queued_receives_later_messages(autojump_clock):
    """A block that parked with an empty mailbox gets messages sent later, in order."""
    async with otp.mailbox() as inbox:

        async def later() -> None:
            await trio.sleep(5)
            otp.send(inbox.pid, "a")
            otp.send(inbox.pid, "b")

        async with trio.open_nursery() as nursery:
            nursery.start_soon(later)
            assert await inbox.receive() == "a"
            assert trio.current_time() == 5
            assert await inbox.receive(timeout=1) == "b"
            with pytest.raises(otp.ReceiveTimeout):
                await inbox.receive(timeout=1)
            assert trio.current_time() == 6


async def test_a_cancelled_receive_leaves_the_queued_message_for_the_next() -> None:
    # receive's fast path takes its cancel point before it takes the message.
    async with otp.mailbox() as inbox:
        otp.send(inbox.pid, "first")
        with trio.CancelScope() as scope:
            scope.cancel()
            await inbox.receive()
        assert scope.cancelled_caught
        assert await inbox.receive(timeout=0) == "first"


async def test_a_cancelled_selective_receive_loses_no_message() -> None:
    # The general path (a match, a message passed over before, one waited for): a
    # cancel that reaches receive as it takes a message leaves that message, in order.
    async with otp.mailbox() as inbox:
        otp.send(inbox.pid, ("other", 1))
        otp.send(inbox.pid, ("wanted", 2))
        with trio.CancelScope() as scope:
            scope.cancel()
            await inbox.receive(lambda m: m[0] == "wanted")
        assert scope.cancelled_caught
        # Both wait, in arrival order: one passed over and the one matched.
        with trio.CancelScope() as scope:
            scope.cancel()
            await inbox.receive(lambda m: m[0] == "wanted")  # found among passed over
        assert scope.cancelled_caught
        assert await inbox.receive(timeout=0) == ("other", 1)
        assert await inbox.receive(timeout=0) == ("wanted", 2)

    async with otp.mailbox() as inbox:
        got: list[object] = []
        with trio.CancelScope() as scope:

            async def send_then_cancel() -> None:
                # The block is parked in receive: the message wakes it, and the
                # cancel comes before it runs again.
                await trio.testing.wait_all_tasks_blocked()
                otp.send(inbox.pid, "late")
                scope.cancel()

            async with trio.open_nursery() as nursery:
                nursery.start_soon(send_then_cancel)
                got.append(await inbox.receive(lambda m: m == "late"))
        assert scope.cancelled_caught
        assert got == []
        assert await inbox.receive(timeout=0) == "late"


async def test_monitor_from_a_helper_task_of_a_mailbox_block() -> None:
    # Not the block's own task: monitor's general path finds the enclosing process.
    go = trio.Event()

    async def target(task_status: trio.TaskStatus[otp.Pid]) -> None:
        async with otp.mailbox() as box:
            task_status.started(box.pid)
            await go.wait()

    async with trio.open_nursery() as targets:
        pid = await targets.start(target)
        async with otp.mailbox() as inbox:
            refs: list[otp.Ref] = []
            async with trio.open_nursery() as helpers:
                helpers.start_soon(lambda: _append_monitor(refs, pid))
            go.set()
            down = await inbox.receive()
            assert down == otp.Down(refs[0], pid, otp.NORMAL)
            assert down.pid is pid


async def _append_monitor(refs: list[otp.Ref], pid: otp.Pid) -> None:
    refs.append(otp.monitor(pid))
