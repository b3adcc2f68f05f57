"""Issue 21, point 6: a GenServer named through a Registry dies with its registry.

In Elixir the registry's link kills a registered process when the registry exits;
its supervisor restarts it and it registers again. trio_otp's GenServers trap exits
by default, so the default ``handle_info`` stops on that ``Exit`` with the
registry's reason; a server that overrides ``handle_info`` keeps running.
"""

from __future__ import annotations

import contextlib
from typing import Any

import trio
import trio.testing

import trio_otp as otp
from trio_otp import Registry


class Room(otp.GenServer[str]):
    """Default handle_info: stops with its registry."""

    async def handle_call(self, request: Any, from_: otp.From, state: str) -> otp.Reply[str]:
        return otp.Reply((state, self.pid), state)


class Stubborn(otp.GenServer[list[Any]]):
    """Takes every Exit itself: keeps running, nameless, by its own choice."""

    async def handle_call(
        self, request: Any, from_: otp.From, state: list[Any]
    ) -> otp.Reply[list[Any]]:
        return otp.Reply(state, state)

    async def handle_info(self, message: Any, state: list[Any]) -> otp.NoReply[list[Any]]:
        return otp.NoReply([*state, message])


async def test_via_named_server_restarts_and_registers_again_after_its_registry_dies(
    autojump_clock: Any,
):
    children = [
        (Registry, {"keys": "unique", "name": "rooms"}),
        Room.child_spec("lobby", name=Registry.via("rooms", "lobby")),
    ]
    async with trio.open_nursery() as nursery:
        sup = await otp.Supervisor.start(nursery, children)
        old_registry = otp.whereis("rooms")
        assert old_registry is not None
        _, first = await otp.call(Registry.via("rooms", "lobby"), "who")
        otp.exit(old_registry, otp.KILL)
        with trio.fail_after(10):
            assert await first.wait_exited() == otp.KILLED  # the registry's reason
        await trio.testing.wait_all_tasks_blocked()
        state, second = await otp.call(Registry.via("rooms", "lobby"), "who")
        assert state == "lobby"
        assert second is not first
        assert Registry.lookup("rooms", "lobby") == [(second, None)]
        await otp.stop(sup)


async def test_a_registry_crash_stops_a_registered_server_with_the_crash_reason(
    autojump_clock: Any,
):
    async with trio.open_nursery() as nursery:
        await otp.Supervisor.start(nursery, [(Registry, {"keys": "unique", "name": "rooms"})])
        members = await otp.DynamicSupervisor.start(nursery)
        spec = Room.child_spec("a", name=Registry.via("rooms", "a"), restart="temporary")
        room = await otp.DynamicSupervisor.start_child(members, spec)
        assert room is not None
        registry = otp.whereis("rooms")
        assert registry is not None
        with contextlib.suppress(otp.CalleeExit):
            await otp.stop(registry, "boom")  # an abnormal exit, logged as a crash
        with trio.fail_after(10):
            assert await room.wait_exited() == "boom"
        nursery.cancel_scope.cancel()


async def test_a_server_that_takes_the_exit_keeps_running(autojump_clock: Any):
    async with trio.open_nursery() as nursery:
        await otp.Supervisor.start(nursery, [(Registry, {"keys": "unique", "name": "rooms"})])
        stubborn = await Stubborn.start(nursery, [], name=Registry.via("rooms", "s"))
        old_registry = otp.whereis("rooms")
        assert old_registry is not None
        otp.exit(old_registry, otp.KILL)
        await trio.testing.wait_all_tasks_blocked()
        assert stubborn.alive
        assert await otp.call(stubborn, "state") == [otp.Exit(old_registry, otp.KILLED)]
        assert Registry.lookup("rooms", "s") == []
        nursery.cancel_scope.cancel()


async def test_a_registry_stopped_normally_leaves_its_members_running(autojump_clock: Any):
    """A "normal" exit signal is ignored by a non-trapping process: so here too."""
    async with trio.open_nursery() as nursery:
        registry = await Registry.start(nursery, keys="unique", name="rooms")
        room = await Room.start(nursery, "a", name=Registry.via("rooms", "a"))
        await otp.stop(registry)
        await trio.testing.wait_all_tasks_blocked()
        assert room.alive
        nursery.cancel_scope.cancel()
