"""Issue 22: a GenServer's kill switch without a cancel scope per server.

A server enters a cancel scope only before its first callback that may suspend
(one that awaits); until then, and for good if none of its callbacks awaits, an
exit signal or its supervisor's kill wakes it from its own park instead. These
tests pin the points where a kill takes effect on such a server to those a
cancelled scope gives (they pass on the scoped design too): while it waits, while
it is runnable with a message, from inside its own callback, in its checkpoint
every 32 messages, in a timed wait, by its supervisor; and that a server that
switches to a scope on the way is killed in its suspended callback as before.
"""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing

import trio_otp as otp


class Plain(otp.GenServer[list[Any]]):
    """No callback awaits: the server never needs a cancel scope."""

    trap_exit = False

    async def handle_call(self, request: Any, from_: otp.From, log: list[Any]) -> Any:
        log.append(("call", request))
        if request == "exit-self":
            otp.exit(otp.current_process(), "by-itself")
        if request == "timeout":
            return otp.Reply("ok", log, timeout=100)
        return otp.Reply("ok", log)

    async def handle_cast(self, request: Any, log: list[Any]) -> otp.NoReply[list[Any]]:
        log.append(("cast", request))
        if request == "exit-self":
            otp.exit(otp.current_process(), "by-itself")
        return otp.NoReply(log)

    async def handle_info(self, message: Any, log: list[Any]) -> otp.NoReply[list[Any]]:
        log.append(("info", message))
        return otp.NoReply(log)

    async def terminate(self, reason: object, log: list[Any]) -> None:
        log.append(("terminate", reason))


class Mixed(Plain):
    """handle_cast awaits (and tries to swallow the kill): the server enters its
    scope at its first cast, after calls without one."""

    async def handle_cast(self, request: Any, log: list[Any]) -> otp.NoReply[list[Any]]:
        log.append(("cast", request))
        try:
            await trio.sleep_forever()
        except BaseException:
            log.append("caught")
            await trio.sleep(1)
            log.append("carried on")
        return otp.NoReply(log)


async def _exit_reason(pid: otp.Pid | None) -> object:
    assert pid is not None
    return await pid.wait_exited()


@pytest.mark.parametrize("request_", ["a", "timeout"])
async def test_a_server_with_no_suspending_callback_is_killed_while_it_waits(
    autojump_clock, request_
):
    """Parked for its next message, with or without a GenServer timeout: no TIMEOUT
    info, no terminate (it does not run on a kill)."""
    log: list[Any] = []
    with pytest.RaisesGroup(pytest.RaisesExc(otp.ProcessExit, check=lambda e: e.reason == "boom")):
        async with trio.open_nursery() as nursery:
            pid = await Plain.start(nursery, log)
            assert await otp.call(pid, request_) == "ok"
            await trio.sleep(1)
            otp.exit(pid, "boom")
            assert await _exit_reason(pid) == "boom"
    assert log == [("call", request_)]


async def test_a_kill_while_runnable_lets_a_callback_that_cannot_suspend_finish(autojump_clock):
    """Killed after a message woke it but before it ran: the callback runs (it has
    no await a cancelled scope could interrupt), then the server dies."""
    log: list[Any] = []
    with pytest.RaisesGroup(pytest.RaisesExc(otp.ProcessExit, check=lambda e: e.reason == "boom")):
        async with trio.open_nursery() as nursery:
            pid = await Plain.start(nursery, log)
            await trio.testing.wait_all_tasks_blocked()
            otp.send(pid, "m1")
            otp.exit(pid, "boom")
            otp.exit(pid, otp.KILL)  # the first signal that took effect wins
            assert await _exit_reason(pid) == "boom"
    assert log == [("info", "m1")]


class Lazy(Plain):
    """handle_info may suspend (so judged) but does not: the server enters its scope
    at its first info and goes on in it, like a server of the scoped design."""

    async def handle_info(self, message: Any, log: list[Any]) -> otp.NoReply[list[Any]]:
        log.append(("info", message))
        if message == "sleep":
            await trio.sleep(1)
        return otp.NoReply(log)


@pytest.mark.parametrize("cls", [Plain, Lazy])
async def test_messages_sent_after_a_kill_to_a_runnable_server_are_taken_until_it_waits(
    autojump_clock, cls
):
    """A cancelled scope lets a runnable server take its whole queue before its next
    wait; a server without one does the same (the kill's mark in its mailbox goes
    behind a message that came after it), then dies where it would have parked."""
    log: list[Any] = []
    with pytest.RaisesGroup(pytest.RaisesExc(otp.ProcessExit, check=lambda e: e.reason == "boom")):
        async with trio.open_nursery() as nursery:
            pid = await cls.start(nursery, log)
            await trio.testing.wait_all_tasks_blocked()
            otp.send(pid, "m1")
            otp.exit(pid, "boom")
            otp.send(pid, "m2")
            assert await _exit_reason(pid) == "boom"
    assert log == [("info", "m1"), ("info", "m2")]


async def test_a_server_that_kills_itself_in_init_starts_then_dies_before_a_message(
    autojump_clock,
):
    class KillsItself(Plain):
        async def init(self, log: list[Any]) -> otp.Ok[list[Any]]:
            otp.exit(otp.current_process(), "boom")
            return otp.Ok(log)

    log: list[Any] = []
    with pytest.RaisesGroup(pytest.RaisesExc(otp.ProcessExit, check=lambda e: e.reason == "boom")):
        async with trio.open_nursery() as nursery:
            pid = await KillsItself.start(nursery, log)
            otp.send(pid, "m1")
            assert await _exit_reason(pid) == "boom"
    assert log == []


async def test_a_kill_while_runnable_interrupts_a_suspending_callback_at_once(autojump_clock):
    log: list[Any] = []
    with pytest.RaisesGroup(pytest.RaisesExc(otp.ProcessExit, check=lambda e: e.reason == "boom")):
        async with trio.open_nursery() as nursery:
            pid = await Mixed.start(nursery, log)
            await trio.testing.wait_all_tasks_blocked()
            otp.cast(pid, "c1")
            otp.exit(pid, "boom")
            assert await _exit_reason(pid) == "boom"
    assert log == [("cast", "c1"), "caught"]


@pytest.mark.parametrize("how", ["call", "cast"])
async def test_a_server_that_kills_itself_finishes_the_callback_then_dies(autojump_clock, how):
    log: list[Any] = []
    with pytest.RaisesGroup(
        pytest.RaisesExc(otp.ProcessExit, check=lambda e: e.reason == "by-itself")
    ):
        async with trio.open_nursery() as nursery:
            pid = await Plain.start(nursery, log)
            if how == "call":
                assert await otp.call(pid, "exit-self") == "ok"  # the reply went out
            else:
                otp.cast(pid, "exit-self")
            assert await _exit_reason(pid) == "by-itself"
    assert log == [(how, "exit-self")]


async def test_a_self_kill_takes_effect_at_the_checkpoint_every_32_messages(autojump_clock):
    """Messages already queued are handled until the server's own checkpoint (every
    32 messages), as a cancelled scope would have it; the rest are dropped."""
    log: list[Any] = []
    with pytest.RaisesGroup(
        pytest.RaisesExc(otp.ProcessExit, check=lambda e: e.reason == "by-itself")
    ):
        async with trio.open_nursery() as nursery:
            pid = await Plain.start(nursery, log)
            await trio.testing.wait_all_tasks_blocked()
            otp.cast(pid, "exit-self")
            for i in range(60):
                otp.cast(pid, i)
            assert await _exit_reason(pid) == "by-itself"
    assert log == [("cast", "exit-self")] + [("cast", i) for i in range(31)]


async def test_a_server_that_entered_its_scope_is_killed_in_its_suspended_callback(
    autojump_clock,
):
    log: list[Any] = []
    async with trio.open_nursery() as nursery:
        sup = await otp.DynamicSupervisor.start(nursery)
        spec = otp.Supervisor.child_spec((Mixed, log), restart="temporary")
        pid = await otp.DynamicSupervisor.start_child(sup, spec)
        assert pid is not None
        assert await otp.call(pid, "a") == "ok"
        otp.cast(pid, "c1")
        await trio.testing.wait_all_tasks_blocked()
        otp.exit(pid, otp.KILL)
        assert await _exit_reason(pid) == otp.KILLED
        await otp.DynamicSupervisor.stop(sup)
    assert log == [("call", "a"), ("cast", "c1"), "caught"]


@pytest.mark.parametrize("shutdown", ["brutal_kill", 5])
async def test_a_supervisor_stops_a_scopeless_server_that_does_not_trap(autojump_clock, shutdown):
    """A server with trap_exit off is cancelled by its supervisor's shutdown, without
    terminate, whether it has a scope or not."""
    log: list[Any] = []
    async with trio.open_nursery() as nursery:
        sup = await otp.DynamicSupervisor.start(nursery)
        spec = otp.Supervisor.child_spec((Plain, log), restart="temporary", shutdown=shutdown)
        pid = await otp.DynamicSupervisor.start_child(sup, spec)
        assert pid is not None
        await otp.call(pid, "a")
        await otp.DynamicSupervisor.terminate_child(sup, pid)
        expected = otp.KILLED if shutdown == "brutal_kill" else otp.SHUTDOWN
        assert await _exit_reason(pid) == expected
        await otp.DynamicSupervisor.stop(sup)
    assert log == [("call", "a")]


async def test_a_supervisor_stop_right_after_a_start_stops_the_child_in_order(autojump_clock):
    """A child that has just started (its supervisor not yet back from the start) and
    has no scope is stopped by the tree's shutdown like the others: terminate runs."""

    class Trapping(Plain):
        trap_exit = True

    log: list[Any] = []
    async with trio.open_nursery() as nursery:
        sup = await otp.DynamicSupervisor.start(nursery)
        spec = otp.Supervisor.child_spec((Trapping, log), restart="temporary")
        nursery.start_soon(otp.DynamicSupervisor.start_child, sup, spec)
        await trio.testing.wait_all_tasks_blocked()
        await otp.DynamicSupervisor.stop(sup)
    assert log == [("terminate", otp.SHUTDOWN)]


async def _suspending_cast(self: Any, request: Any, log: list[Any]) -> otp.NoReply[list[Any]]:
    log.append(("cast", request))
    await trio.sleep_forever()
    raise AssertionError("unreachable")


@pytest.mark.parametrize("where", ["class", "instance"])
async def test_a_callback_replaced_after_the_class_was_made_is_still_killable(
    autojump_clock, monkeypatch, where
):
    """The verdict "cannot suspend" is taken when the class is made; a callback that
    awaits put in place later (on the class, as monkeypatch does, or on the instance)
    must not run outside a kill scope: a kill while it sleeps ends the server."""

    class Patched(Plain):
        pass

    log: list[Any] = []
    if where == "class":
        monkeypatch.setattr(Patched, "handle_cast", _suspending_cast)
        original_init = None
    else:
        original_init = Patched.__init__

        def init_with_patch(self: Any, *args: Any, **kwargs: Any) -> None:
            original_init(self, *args, **kwargs)  # type: ignore[misc]
            self.handle_cast = _suspending_cast.__get__(self)

        monkeypatch.setattr(Patched, "__init__", init_with_patch)
    with pytest.RaisesGroup(pytest.RaisesExc(otp.ProcessExit, check=lambda e: e.reason == "boom")):
        async with trio.open_nursery() as nursery:
            pid = await Patched.start(nursery, log)
            otp.cast(pid, "c1")
            await trio.testing.wait_all_tasks_blocked()  # asleep in the replaced callback
            with trio.fail_after(5):
                otp.exit(pid, "boom")
                assert await _exit_reason(pid) == "boom"
    assert log == [("cast", "c1")]
