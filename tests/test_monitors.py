"""Monitors, links and exit signals (trio_otp/_core/_monitors.py)."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing

import trio_otp as otp
from trio_otp.testing import assert_receive, refute_receive


class Echo(otp.GenServer[list[Any]]):
    """Records every handle_info message; stops or crashes on request."""

    async def init(self, record: list[Any]) -> Any:
        return otp.Ok(record)

    async def handle_call(self, request: Any, from_: otp.From, record: list[Any]) -> Any:
        match request:
            case ("monitor", target):
                return otp.Reply(otp.monitor(target), record)
            case ("link", target):
                otp.link(target)
                return otp.Reply(None, record)
            case ("trap", flag):
                return otp.Reply(otp.trap_exit(flag), record)
            case ("crash", reason):
                return otp.Stop(reason, record, reply="bye")
        return otp.Reply(None, record)

    async def handle_info(self, message: Any, record: list[Any]) -> Any:
        record.append(message)
        return otp.NoReply(record)

    async def terminate(self, reason: object, record: list[Any]) -> None:
        record.append(("terminate", reason))


class Mortal(Echo):
    """An Echo that does not trap exits: linked crashes kill it."""

    trap_exit = False


async def test_monitor_delivers_one_down_with_the_exit_reason():
    """A monitor of a live process delivers exactly one Down(ref, pid, reason) when it exits."""
    async with trio.open_nursery() as nursery:
        target = await Echo.start(nursery, [])
        async with otp.mailbox():
            ref = otp.monitor(target)
            await otp.stop(target, otp.Shutdown("bye"))
            await assert_receive(otp.Down(ref, target, otp.Shutdown("bye")))
            await refute_receive(timeout=0)


async def test_monitor_of_a_dead_pid_delivers_noproc_at_once():
    """Monitoring a process that has exited delivers Down with reason "noproc" at once."""
    async with trio.open_nursery() as nursery:
        target = await Echo.start(nursery, [])
        await otp.stop(target)
    async with otp.mailbox():
        ref = otp.monitor(target)
        await assert_receive(otp.Down(ref, target, otp.NOPROC), timeout=0)


async def test_monitor_of_an_unregistered_name_delivers_noproc_with_the_name():
    """Monitoring a name nobody holds delivers Down(ref, name, "noproc")."""
    async with otp.mailbox():
        ref = otp.monitor("nobody")
        await assert_receive(otp.Down(ref, "nobody", otp.NOPROC), timeout=0)


async def test_many_monitors_on_one_process_each_fire_once():
    """Two monitors of one process give two Downs, each with its own reference."""
    async with trio.open_nursery() as nursery:
        target = await Echo.start(nursery, [])
        async with otp.mailbox() as inbox:
            refs = {otp.monitor(target), otp.monitor(target)}
            assert len(refs) == 2
            await otp.stop(target)
            got = {(await inbox.receive()).ref for _ in range(2)}
            assert got == refs
            assert target._watchers is None


async def test_demonitor_before_exit_means_no_down():
    """demonitor() of an active monitor returns True and no Down ever arrives."""
    async with trio.open_nursery() as nursery:
        target = await Echo.start(nursery, [])
        async with otp.mailbox() as inbox:
            ref = otp.monitor(target)
            assert otp.demonitor(ref) is True
            assert otp.demonitor(ref) is False
            await otp.stop(target)
            await refute_receive(otp.Down, timeout=0)
            assert inbox.pid._watchers == {}


async def test_demonitor_with_flush_drops_a_queued_down():
    """demonitor(flush=True) after the Down was queued removes it; without flush it stays."""
    async with trio.open_nursery() as nursery:
        a = await Echo.start(nursery, [])
        b = await Echo.start(nursery, [])
        async with otp.mailbox() as inbox:
            ref_a, ref_b = otp.monitor(a), otp.monitor(b)
            await otp.stop(a)
            await otp.stop(b)
            assert otp.demonitor(ref_a, flush=True) is False
            assert otp.demonitor(ref_b) is False
            otp.send(inbox.pid, "after")
            assert await inbox.receive() == otp.Down(ref_b, b, otp.NORMAL)
            assert await inbox.receive() == "after"


async def test_gen_server_gets_down_in_handle_info():
    """A GenServer's monitor delivers Down to its handle_info."""
    record: list[Any] = []
    async with trio.open_nursery() as nursery:
        watcher = await Echo.start(nursery, record)
        a = await Echo.start(nursery, [])
        ref = await otp.call(watcher, ("monitor", a))
        await otp.stop(a)
        await otp.call(watcher, "sync")
        assert record == [otp.Down(ref, a, otp.NORMAL)]
        await otp.stop(watcher)


class _Flusher(Echo):
    """Monitors a target, waits 1 s in handle_call, then demonitors with flush."""

    async def handle_call(self, request: Any, from_: otp.From, record: list[Any]) -> Any:
        if isinstance(request, tuple) and request[0] == "watch then flush":
            ref = otp.monitor(request[1])
            await trio.sleep(1)  # the target exits meanwhile: its Down is queued
            record.append(("demonitor", otp.demonitor(ref, flush=True), trio.current_time()))
            return otp.Reply(ref, record)
        return await super().handle_call(request, from_, record)


async def test_gen_server_demonitor_flush_drops_a_down_already_in_its_mailbox(autojump_clock):
    """demonitor(flush=True) in a GenServer drops a queued Down: handle_info never sees it."""
    record: list[Any] = []
    async with trio.open_nursery() as nursery:
        watcher = await _Flusher.start(nursery, record)
        target = await Echo.start(nursery, [])
        nursery.start_soon(otp.call, watcher, ("watch then flush", target))
        await trio.sleep(0.5)
        await otp.stop(target)  # at 0.5: the Down waits behind the running call
        otp.send(watcher, "after")
        await otp.call(watcher, "sync")
        assert trio.current_time() == 1.0
        assert record == [("demonitor", False, 1.0), "after"]
        await otp.stop(watcher)


async def test_monitors_of_an_exited_watcher_are_removed_from_the_target():
    """When the watcher exits first, the target forgets its monitor (no memory kept)."""
    async with trio.open_nursery() as nursery:
        target = await Echo.start(nursery, [])
        async with otp.mailbox():
            otp.monitor(target)
            assert len(target._watchers) == 1
        assert target._watchers == {}
        await otp.stop(target)


async def test_monitor_outside_a_process_says_how_to_become_one():
    """monitor() from plain trio code raises RuntimeError naming otp.mailbox()."""
    with pytest.raises(RuntimeError, match=r"otp\.mailbox\(\)"):
        otp.monitor("x")


async def test_monitor_from_a_task_gets_its_down_in_the_tasks_mailbox():
    """monitor() from a Task works (issue 21, point 7): the Down is the task's to receive."""
    got: list[object] = []

    async def job() -> None:
        ref = otp.monitor("nobody")
        async with otp.mailbox() as inbox:
            got.append(await inbox.receive(timeout=0) == otp.Down(ref, "nobody", otp.NOPROC))

    async with trio.open_nursery() as nursery:
        await otp.Task.start(nursery, job)
    assert got == [True]


async def test_link_to_a_process_that_exits_normally_does_nothing():
    """A non-trapping process linked to one that exits "normal" keeps running."""
    async with trio.open_nursery() as nursery:
        target = await Echo.start(nursery, [])
        async with otp.mailbox() as inbox:
            otp.link(target)
            await otp.stop(target)
            otp.send(inbox.pid, "still here")
            assert await inbox.receive() == "still here"
            assert inbox.pid._watchers == {}


def temporary(name: str, cls: type[Echo] = Echo) -> otp.ChildSpec:
    """A child whose crash its supervisor logs and forgets (nothing escalates)."""
    return cls.child_spec([], name=name, restart="temporary")


async def test_link_kills_a_non_trapping_process_with_the_abnormal_reason():
    """A crash reaches a linked non-trapping block: it is cancelled, ProcessExit("boom")."""
    finished: list[bool] = []
    async with otp.Supervisor.open([temporary("t")]), trio.open_nursery() as nursery:
        target = otp.whereis("t")
        pids: list[otp.Pid] = []

        async def block() -> None:
            async with otp.mailbox() as inbox:
                pids.append(inbox.pid)
                otp.link(target)
                nursery.start_soon(otp.stop, target, "boom")
                try:
                    await inbox.receive()
                finally:
                    finished.append(True)

        with pytest.raises(otp.ProcessExit) as info:
            await block()
        assert info.value.reason == "boom"
        assert info.value.pid is pids[0]
        assert pids[0].exit_reason == "boom"
    assert finished == [True]


async def test_link_kills_with_a_shutdown_reason_too():
    """Only "normal" is ignored: a linked Shutdown(x) exit ends a non-trapping block quietly."""
    after: list[str] = []
    async with trio.open_nursery() as nursery:
        target = await Echo.start(nursery, [])
        async with otp.mailbox() as inbox:
            otp.link(target)
            nursery.start_soon(otp.stop, target, otp.Shutdown("x"))
            await inbox.receive()
            after.append("not reached")
        assert inbox.pid.exit_reason == otp.Shutdown("x")
    assert after == []


async def linked_block(target: otp.Pid, reason: str) -> None:
    """A mailbox block that links to ``target`` and then exits itself with ``reason``."""
    async with otp.mailbox():
        otp.link(target)
        otp.exit(otp.current_process(), reason)
        await trio.sleep_forever()


async def test_link_is_two_way():
    """A linked mailbox block that crashes kills a non-trapping GenServer with its reason."""
    record: list[Any] = []
    with pytest.RaisesGroup(pytest.RaisesExc(otp.ProcessExit, check=lambda e: e.reason == "gone")):
        async with trio.open_nursery() as nursery:
            server = await Mortal.start(nursery, record)
            with pytest.raises(otp.ProcessExit, match="gone"):
                await linked_block(server, "gone")
    assert server.exit_reason == "gone"
    assert record == []  # killed: terminate does not run


async def test_trapping_process_gets_exit_messages_from_links():
    """A trapping GenServer receives Exit(pid, reason) from a linked crash and keeps running."""
    record: list[Any] = []
    async with otp.Supervisor.open([temporary("other")]), trio.open_nursery() as nursery:
        server = await Echo.start(nursery, record)
        other = otp.whereis("other")
        await otp.call(server, ("link", other))
        assert await otp.call(other, ("crash", "boom")) == "bye"
        await otp.call(server, "sync")
        assert record == [otp.Exit(other, "boom")]
        await otp.stop(server)


async def test_exit_normal_is_ignored_by_non_trappers_and_trapped_by_trappers():
    """exit(pid, "normal") does nothing to a non-trapper and is an Exit message to a trapper."""
    record: list[Any] = []
    async with trio.open_nursery() as nursery:
        mortal = await Mortal.start(nursery, [])
        trapper = await Echo.start(nursery, record)
        otp.exit(mortal, otp.NORMAL)
        otp.exit(trapper, otp.NORMAL)
        await otp.call(trapper, "sync")
        assert mortal.alive
        assert record == [otp.Exit(None, otp.NORMAL)]
        await otp.stop(mortal)
        await otp.stop(trapper)


async def test_exit_kill_cannot_be_trapped():
    """exit(pid, "kill") on a trapping GenServer kills it ("killed"), without terminate."""
    record: list[Any] = []
    with pytest.RaisesGroup(
        pytest.RaisesExc(otp.ProcessExit, check=lambda e: e.reason == otp.KILLED)
    ):
        async with trio.open_nursery() as nursery:
            server = await Echo.start(nursery, record)
            async with otp.mailbox() as inbox:
                ref = otp.monitor(server)
                otp.exit(server, otp.KILL)
                assert await inbox.receive() == otp.Down(ref, server, otp.KILLED)
    assert record == []


async def test_exit_abnormal_on_a_supervised_non_trapper_restarts_it():
    """exit(pid, reason) on a supervised non-trapping server makes its supervisor restart it."""
    async with otp.Supervisor.open([Mortal.child_spec([], name="m")]):
        old = otp.whereis("m")
        otp.exit("m", "boom")
        assert await old.wait_exited() == "boom"
        await trio.testing.wait_all_tasks_blocked()
        assert otp.whereis("m") not in (None, old)


async def test_trap_exit_can_be_switched_at_run_time():
    """trap_exit(flag) returns the old flag; a block that traps gets Exit instead of dying."""
    async with otp.Supervisor.open([temporary("t")]):
        target = otp.whereis("t")
        async with otp.mailbox() as inbox:
            assert otp.trap_exit(True) is False
            otp.link(target)
            await otp.stop(target, "boom")
            assert await inbox.receive() == otp.Exit(target, "boom")
            assert otp.trap_exit(False) is True


async def test_link_to_a_dead_process_raises_unless_trapping():
    """link() to a dead pid raises NoProcessError; a trapping caller gets Exit(pid, "noproc")."""
    async with trio.open_nursery() as nursery:
        target = await Echo.start(nursery, [])
        await otp.stop(target)
    async with otp.mailbox(trap_exit=True) as inbox:
        otp.link(target)
        assert await inbox.receive() == otp.Exit(target, otp.NOPROC)
    async with otp.mailbox():
        with pytest.raises(otp.NoProcessError, match=r"link\("):
            otp.link(target)


async def test_unlink_removes_both_sides():
    """After unlink(), a crash of the other process no longer reaches the caller."""
    async with trio.open_nursery() as nursery:
        target = await Echo.start(nursery, [])
        async with otp.mailbox() as inbox:
            otp.link(target)
            otp.unlink(target)
            assert target._watchers == {}
            nursery.start_soon(otp.stop, target, otp.Shutdown("x"))
            await target.wait_exited()
            otp.send(inbox.pid, "alive")
            assert await inbox.receive() == "alive"


async def test_exit_to_an_unregistered_name_raises_noprocess():
    """exit() to a name nobody holds raises NoProcessError; to a dead pid it does nothing."""
    with pytest.raises(otp.NoProcessError, match=r"exit\('nobody', 'boom'\)"):
        otp.exit("nobody", "boom")


async def test_exit_signal_kills_a_linked_task():
    """A Task started with Task.start dies with a linked block's abnormal exit reason."""
    started = trio.Event()
    pids: list[otp.Pid] = []

    async def job() -> None:
        pids.append(otp.current_process())
        started.set()
        await trio.sleep_forever()

    with pytest.RaisesGroup(pytest.RaisesExc(otp.ProcessExit, check=lambda e: e.reason == "boom")):
        async with trio.open_nursery() as nursery:
            await otp.Task.start(nursery, job)
            await started.wait()
            with pytest.raises(otp.ProcessExit, match="boom"):
                await linked_block(pids[0], "boom")
    assert pids[0].exit_reason == "boom"


async def test_cancellation_is_never_turned_into_a_message():
    """A monitored block cancelled from outside reports "killed", and Cancelled propagates."""
    async with otp.mailbox() as inbox:
        async with trio.open_nursery() as nursery:
            holder: list[otp.Pid] = []

            async def block() -> None:
                async with otp.mailbox() as inner:
                    holder.append(inner.pid)
                    await trio.sleep_forever()

            nursery.start_soon(block)
            await trio.testing.wait_all_tasks_blocked()
            ref = otp.monitor(holder[0])
            nursery.cancel_scope.cancel()
        assert await inbox.receive() == otp.Down(ref, holder[0], otp.KILLED)


async def test_supervisor_shutdown_cancels_a_non_trapping_server_without_terminate():
    """A GenServer with trap_exit = False is cancelled at shutdown ("shutdown", no terminate)."""
    record: list[Any] = []
    async with otp.Supervisor.open([Mortal.child_spec(record, name="m")]):
        pid = otp.whereis("m")
    assert pid.exit_reason == otp.SHUTDOWN
    assert record == []


async def test_exit_normal_sent_to_itself_ends_a_non_trapping_block_quietly():
    """exit(self, "normal") ends the caller's own block (OTP), with no exception."""
    reached: list[str] = []
    async with otp.mailbox() as inbox:
        otp.exit(inbox.pid, otp.NORMAL)
        await trio.lowlevel.checkpoint()
        reached.append("not reached")
    assert reached == []
    assert inbox.pid.exit_reason == otp.NORMAL


async def test_exit_kill_on_a_supervisor_takes_its_children_down():
    """exit(sup, "kill") kills a supervisor without terminate: its children are cancelled too."""
    record: list[Any] = []
    with pytest.RaisesGroup(
        pytest.RaisesExc(otp.ProcessExit, check=lambda e: e.reason == otp.KILLED)
    ):
        async with trio.open_nursery() as nursery:
            sup = await otp.Supervisor.start(nursery, [Echo.child_spec(record, name="e")])
            child = otp.whereis("e")
            otp.exit(sup, otp.KILL)
    assert sup.exit_reason == otp.KILLED
    assert child.exit_reason == otp.KILLED
    assert record == []


class Stubborn(otp.GenServer[list[Any]]):
    """Traps exits, and its callback catches what interrupts it, then carries on."""

    trap_exit = True

    async def handle_call(self, request: Any, from_: otp.From, record: list[Any]) -> Any:
        caught: type[BaseException] = BaseException if request == "base" else Exception
        try:
            await trio.sleep_forever()
        except caught:
            record.append("caught")
            await trio.sleep(1)
            record.append("carried on after catching")
        return otp.Reply("survived", record)

    async def terminate(self, reason: object, record: list[Any]) -> None:
        record.append(("terminate", reason))


@pytest.mark.parametrize("catch", ["base", "exception"])
async def test_a_kill_cannot_be_caught_in_a_callback(autojump_clock: Any, catch: str):
    """exit(pid, "kill") during a callback that catches ``Exception`` or even
    ``BaseException`` (trio's Cancelled included): the next await is interrupted
    again, the process exits "killed", terminate never runs, the caller fails."""
    record: list[Any] = []
    with pytest.RaisesGroup(
        pytest.RaisesExc(otp.ProcessExit, check=lambda e: e.reason == otp.KILLED)
    ):
        async with trio.open_nursery() as nursery:
            server = await Stubborn.start(nursery, record)
            async with otp.mailbox() as inbox:
                ref = otp.monitor(server)

                async def ask() -> None:
                    with pytest.raises(otp.CallError):
                        await otp.call(server, catch)

                async with trio.open_nursery() as callers:
                    callers.start_soon(ask)
                    await trio.testing.wait_all_tasks_blocked()
                    otp.exit(server, otp.KILL)
                assert await inbox.receive() == otp.Down(ref, server, otp.KILLED)
    assert record == (["caught"] if catch == "base" else [])
