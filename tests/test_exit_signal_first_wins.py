"""Issue 21, point 3: the first exit signal that takes effect wins (process_SUITE exit_twice).

Erlang's ``exit_twice`` sends ``exit(Low, first)`` then ``exit(Low, second)`` and
expects ``{'EXIT', Low, first}``: once a signal has killed a process, later
signals to it are ignored, ``kill`` included. A signal that a trapping process
turns into a message has not taken effect, so a later ``kill`` still kills it.
"""

from __future__ import annotations

from typing import Any

import trio
import trio.testing

import trio_otp as otp
from trio_otp.testing import assert_receive, refute_receive


class Plain(otp.GenServer[None]):
    trap_exit = False


class Trapping(otp.GenServer[list[Any]]):
    async def handle_info(self, message: Any, state: list[Any]) -> otp.NoReply[list[Any]]:
        state.append(message)
        return otp.NoReply(state)


async def _start_temporary(
    ds: otp.Pid, server: type[otp.GenServer[Any]], arg: Any = None
) -> otp.Pid:
    spec = otp.Supervisor.child_spec((server, arg), restart="temporary")
    pid = await otp.DynamicSupervisor.start_child(ds, spec)
    assert pid is not None
    return pid


async def test_exit_twice_the_first_reason_wins_for_a_gen_server():
    async with trio.open_nursery() as nursery, otp.mailbox(trap_exit=True):
        ds = await otp.DynamicSupervisor.start(nursery)
        pid = await _start_temporary(ds, Plain)
        otp.link(pid)
        otp.exit(pid, "first")
        otp.exit(pid, "second")
        await assert_receive(otp.Exit(pid, "first"))
        await refute_receive(otp.Exit, timeout=0)  # one exit signal, the first
        assert pid.exit_reason == "first"
        await otp.stop(ds)


async def test_kill_after_a_signal_that_took_effect_reports_the_first_reason():
    async with trio.open_nursery() as nursery, otp.mailbox():
        ds = await otp.DynamicSupervisor.start(nursery)
        pid = await _start_temporary(ds, Plain)
        ref = otp.monitor(pid)
        otp.exit(pid, "x")
        otp.exit(pid, otp.KILL)
        await assert_receive(otp.Down(ref, pid, "x"))
        await otp.stop(ds)


async def test_exit_twice_for_a_task(autojump_clock: Any):
    async with trio.open_nursery() as nursery:
        sup = await otp.TaskSupervisor.start(nursery)
        task = await otp.TaskSupervisor.async_nolink(sup, trio.sleep_forever)
        otp.exit(task.pid, "first")
        otp.exit(task.pid, "second")
        assert await task.pid.wait_exited() == "first"
        task2 = await otp.TaskSupervisor.async_nolink(sup, trio.sleep_forever)
        otp.exit(task2.pid, "x")
        otp.exit(task2.pid, otp.KILL)
        assert await task2.pid.wait_exited() == "x"
        await otp.stop(sup)


async def test_exit_twice_for_a_mailbox_block():
    reasons: list[object] = []

    async def block(task_status: trio.TaskStatus[otp.Pid]) -> None:
        try:
            async with otp.mailbox() as inbox:
                task_status.started(otp.current_process())
                await inbox.receive()
        except otp.ProcessExit as exit_:
            reasons.append(exit_.reason)

    async with trio.open_nursery() as nursery:
        pid = await nursery.start(block)
        otp.exit(pid, "first")
        otp.exit(pid, "second")
        await pid.wait_exited()
    assert reasons == ["first"]
    assert pid.exit_reason == "first"


async def test_a_trapped_signal_has_not_taken_effect_so_kill_still_kills():
    async with trio.open_nursery() as nursery, otp.mailbox():
        received: list[Any] = []
        ds = await otp.DynamicSupervisor.start(nursery)
        pid = await _start_temporary(ds, Trapping, received)
        ref = otp.monitor(pid)
        otp.exit(pid, "x")  # a message: the server lives on
        await trio.testing.wait_all_tasks_blocked()
        assert pid.alive
        otp.exit(pid, otp.KILL)
        await assert_receive(otp.Down(ref, pid, otp.KILLED))
        assert [type(m) for m in received] == [otp.Exit]
        await otp.stop(ds)


async def test_a_supervisor_shutdown_after_an_exit_signal_keeps_its_reason(autojump_clock: Any):
    """A Task killed by exit(p, "x") while its supervisor then shuts it down exits "x"."""

    async def slow_to_stop() -> None:
        try:
            await trio.sleep_forever()
        finally:
            with trio.CancelScope(shield=True):
                await trio.sleep(1)  # still alive when its supervisor asks it to stop

    async with trio.open_nursery() as nursery:
        sup = await otp.TaskSupervisor.start(nursery)
        task = await otp.TaskSupervisor.async_nolink(sup, slow_to_stop)
        await trio.testing.wait_all_tasks_blocked()
        otp.exit(task.pid, "x")
        await trio.testing.wait_all_tasks_blocked()
        assert task.pid.alive
        await otp.TaskSupervisor.terminate_child(sup, task.pid)
        assert task.pid.exit_reason == "x"
        await otp.stop(sup)
