"""Registry: unique and duplicate keys, via names, dispatch (trio_otp/_behaviours/_registry.py)."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.lowlevel
import trio.testing

import trio_otp as otp
from trio_otp import Registry


class Member(otp.GenServer[Any]):
    """Registers itself under the keys it is given; registers more, or crashes, on request."""

    async def init(self, arg: Any) -> Any:
        registry, entries = arg
        for key, value in entries:
            Registry.register(registry, key, value)
        return otp.Ok(registry)

    async def handle_call(self, request: Any, from_: otp.From, registry: Any) -> Any:
        op, *args = request
        fn = {
            "register": Registry.register,
            "unregister": Registry.unregister,
            "update": Registry.update_value,
        }[op]
        try:
            return otp.Reply(fn(registry, *args), registry)
        except Exception as exc:  # handed back to the test, which raises it
            return otp.Reply(exc, registry)

    async def handle_cast(self, request: Any, registry: Any) -> Any:
        raise ValueError("crash")

    async def handle_info(self, message: Any, registry: Any) -> Any:
        return otp.NoReply(registry)


class Room(otp.GenServer[list[Any]]):
    """A room named by key: remembers what it was told."""

    async def init(self, arg: Any) -> Any:
        return otp.Ok([arg])

    async def handle_call(self, request: Any, from_: otp.From, state: list[Any]) -> Any:
        return otp.Reply(state, state)

    async def handle_cast(self, request: Any, state: list[Any]) -> Any:
        return otp.NoReply([*state, request])

    async def handle_info(self, message: Any, state: list[Any]) -> Any:
        return otp.NoReply([*state, ("info", message)])


async def ask(pid: otp.Pid, *request: Any) -> Any:
    result = await otp.call(pid, request)
    if isinstance(result, Exception):
        raise result
    return result


async def start_member(nursery: trio.Nursery, registry: object, *entries: Any) -> otp.Pid:
    pid = await Member.start(nursery, (registry, list(entries)))
    assert pid is not None
    return pid


# -- unique ---------------------------------------------------------------------------------


async def test_unique_register_lookup_keys_count():
    """A process registers itself; lookup, keys, values and count see the entry."""
    async with trio.open_nursery() as nursery:
        reg = await Registry.start(nursery, keys="unique", name="reg")
        a = await start_member(nursery, "reg", ("a", 1), ("b", 2))
        assert Registry.lookup("reg", "a") == [(a, 1)]
        assert Registry.lookup(reg, "b") == [(a, 2)]
        assert Registry.lookup("reg", "missing") == []
        assert Registry.keys("reg", a) == ["a", "b"]
        assert Registry.values("reg", "a", a) == [1]
        assert Registry.count("reg") == 2
        nursery.cancel_scope.cancel()


async def test_unique_duplicate_key_names_the_holder():
    """A taken key in a unique registry raises AlreadyRegisteredError naming the holder."""
    async with trio.open_nursery() as nursery:
        await Registry.start(nursery, keys="unique", name="reg")
        a = await start_member(nursery, "reg", ("k", 1))
        b = await start_member(nursery, "reg")
        with pytest.raises(otp.AlreadyRegisteredError) as info:
            await ask(b, "register", "k", 2)
        assert info.value.holder is a
        assert info.value.key == "k"
        assert "'k' is already registered in 'reg'" in str(info.value)
        assert Registry.lookup("reg", "k") == [(a, 1)]
        nursery.cancel_scope.cancel()


async def test_unregister_and_update_value():
    """unregister drops only the caller's entry; update_value replaces it and returns (new, old)."""
    async with trio.open_nursery() as nursery:
        await Registry.start(nursery, keys="unique", name="reg")
        a = await start_member(nursery, "reg", ("k", 1), ("j", 0))
        b = await start_member(nursery, "reg")
        assert await ask(a, "update", "k", lambda v: v + 10) == (11, 1)
        assert Registry.lookup("reg", "k") == [(a, 11)]
        assert await ask(b, "update", "k", lambda v: v) is None  # not its key
        await ask(b, "unregister", "k")  # not its key: no error, no change
        assert Registry.lookup("reg", "k") == [(a, 11)]
        await ask(a, "unregister", "k")
        assert Registry.lookup("reg", "k") == []
        assert Registry.keys("reg", a) == ["j"]
        nursery.cancel_scope.cancel()


async def test_entries_vanish_when_the_process_crashes():
    """A process that crashes while registered is gone from every lookup at once."""
    async with trio.open_nursery() as nursery:
        await Registry.start(nursery, keys="unique", name="reg")
        sup = await otp.DynamicSupervisor.start(nursery)
        a = await otp.DynamicSupervisor.start_child(
            sup, otp.Supervisor.child_spec((Member, ("reg", [("k", 1)])), restart="temporary")
        )
        assert a is not None
        otp.cast(a, "crash")
        await a.wait_exited()
        assert Registry.lookup("reg", "k") == []
        assert Registry.keys("reg", a) == []
        assert Registry.count("reg") == 0
        assert a not in Registry.select("reg")
        nursery.cancel_scope.cancel()


async def test_a_crash_frees_the_key_before_anyone_can_look():
    """No task ever sees a stale entry: the key is free in the same step the process crashes."""
    seen: list[Any] = []
    async with trio.open_nursery() as nursery:
        await Registry.start(nursery, keys="unique", name="reg")
        sup = await otp.DynamicSupervisor.start(nursery)
        a = await otp.DynamicSupervisor.start_child(
            sup, Member.child_spec(("reg", [("k", 1)]), restart="temporary")
        )
        assert a is not None

        async def watcher() -> None:
            while True:
                entries = Registry.lookup("reg", "k")
                seen.append(all(pid.alive for pid, _ in entries))
                await trio.lowlevel.checkpoint()

        nursery.start_soon(watcher)
        await trio.lowlevel.checkpoint()
        otp.cast(a, "crash")  # handle_cast raises
        assert isinstance(await a.wait_exited(), ValueError)
        await trio.lowlevel.checkpoint()
        assert Registry.lookup("reg", "k") == []
        assert seen
        assert all(seen)
        nursery.cancel_scope.cancel()


class Recorder(Member):
    """A trapping member (the GenServer default) that records its Exit messages."""

    exits: list[otp.Exit] = []

    async def handle_info(self, message: Any, registry: Any) -> Any:
        if isinstance(message, otp.Exit):
            Recorder.exits.append(message)
        return otp.NoReply(registry)


class Untrapping(Member):
    """A member that does not trap exits: a linked process's crash kills it."""

    trap_exit = False


async def test_a_registry_crash_takes_its_registered_processes_with_it():
    """A crashing registry kills its non-trapping registered processes with its reason and
    sends trapping ones an Exit; the restarted registry is empty and the key is free."""
    Recorder.exits = []
    async with trio.open_nursery() as nursery:
        await otp.Supervisor.start(nursery, [(Registry, {"keys": "unique", "name": "reg"})])
        old = otp.whereis("reg")
        assert old is not None
        members = await otp.DynamicSupervisor.start(nursery)
        plain = await otp.DynamicSupervisor.start_child(
            members, Untrapping.child_spec(("reg", [("a", 1)]), restart="temporary")
        )
        trapping = await Recorder.start(nursery, ("reg", [("b", 2)]))
        by_via = await Room.start(nursery, "room", name=Registry.via("reg", "room"))
        assert plain is not None
        assert trapping is not None
        assert by_via is not None
        otp.exit(old, "kill")  # the registry dies with "killed"
        with trio.fail_after(1):
            assert await plain.wait_exited() == "killed"
        await trio.testing.wait_all_tasks_blocked()
        assert otp.whereis("reg") not in (None, old)  # restarted by its supervisor
        assert Recorder.exits == [otp.Exit(old, "killed")]
        assert trapping.alive
        assert by_via.alive
        assert await otp.call(by_via, "state") == ["room", ("info", otp.Exit(old, "killed"))]
        assert Registry.lookup("reg", "a") == Registry.lookup("reg", "b") == []
        again = await start_member(nursery, "reg", ("a", 3))
        assert Registry.lookup("reg", "a") == [(again, 3)]
        nursery.cancel_scope.cancel()


async def test_a_registry_stopping_normally_leaves_its_processes_alive():
    """A registry that exits with "normal" sends no killing signal: its members live on."""
    Recorder.exits = []
    async with trio.open_nursery() as nursery:
        reg = await Registry.start(nursery, keys="duplicate")
        plain = await Untrapping.start(nursery, (reg, [("t", 1)]))
        trapping = await Recorder.start(nursery, (reg, [("t", 2)]))
        assert plain is not None
        assert trapping is not None
        await otp.stop(reg)
        await trio.testing.wait_all_tasks_blocked()
        assert plain.alive
        assert trapping.alive
        assert Recorder.exits == [otp.Exit(reg, "normal")]
        with pytest.raises(otp.UnknownRegistryError):
            Registry.lookup(reg, "t")
        nursery.cancel_scope.cancel()


async def test_register_outside_a_process_is_refused():
    """register from plain trio code raises RuntimeError: only a process can be registered."""
    async with trio.open_nursery() as nursery:
        await Registry.start(nursery, keys="unique", name="reg")
        with pytest.raises(RuntimeError, match="plain trio code"):
            Registry.register("reg", "k")
        nursery.cancel_scope.cancel()


async def test_unknown_registry():
    """Every function raises UnknownRegistryError for a name no registry runs under."""
    with pytest.raises(otp.UnknownRegistryError, match="unknown registry: 'nope'"):
        Registry.lookup("nope", "k")
    for fn, args in [
        (Registry.register, ("k",)),
        (Registry.unregister, ("k",)),
        (Registry.count, ()),
        (Registry.select, ()),
        (Registry.dispatch, ("k", print)),
        (Registry.match, ("k", bool)),
    ]:
        with pytest.raises(otp.UnknownRegistryError):
            fn("nope", *args)  # type: ignore[operator]


async def test_a_stopped_registry_is_unknown_and_forgets_its_members():
    """After the registry exits, its tables are empty and its members carry no callback."""
    async with trio.open_nursery() as nursery:
        reg = await Registry.start(nursery, keys="unique")
        a = await start_member(nursery, reg, ("k", 1))
        impl = reg._impl
        await otp.stop(reg)
        with pytest.raises(otp.UnknownRegistryError):
            Registry.lookup(reg, "k")
        assert impl.table == {}
        assert impl.by_pid == {}
        assert not a._watchers
        nursery.cancel_scope.cancel()


async def test_a_name_resolved_once_follows_the_registry_that_holds_it():
    """Lookups resolve a registry's name once (R1); the resolution goes with the
    registry: a stopped one is unknown, a new one under the same name is found, and
    nothing is kept for a registry that exited."""
    from trio_otp._behaviours._registry import _resolved

    async with trio.open_nursery() as nursery:
        first = await Registry.start(nursery, keys="unique", name="reg")
        a = await start_member(nursery, "reg", ("k", 1))
        assert Registry.lookup("reg", "k") == [(a, 1)]
        assert Registry.lookup(first, "k") == [(a, 1)]
        assert set(_resolved) == {"reg", first}
        await otp.stop(first)
        assert _resolved == {}
        with pytest.raises(otp.UnknownRegistryError):
            Registry.lookup("reg", "k")
        await Registry.start(nursery, keys="duplicate", name="reg")
        b = await start_member(nursery, "reg", ("k", 2))
        assert Registry.lookup("reg", "k") == [(b, 2)]
        nursery.cancel_scope.cancel()
    assert _resolved == {}  # the run's registries exited with it


def test_each_run_resolves_its_own_registry():
    """Two runs (one after the other, and one in another thread meanwhile) with a
    registry of the same name never see each other's entries."""

    async def one_run(value: int, inner: Any = None) -> list[Any]:
        async with trio.open_nursery() as nursery:
            await Registry.start(nursery, keys="unique", name="reg")
            member = await start_member(nursery, "reg", ("k", value))
            assert Registry.lookup("reg", "k") == [(member, value)]
            if inner is not None:
                assert await trio.to_thread.run_sync(inner) == [7]
            got = [v for _, v in Registry.lookup("reg", "k")]
            nursery.cancel_scope.cancel()
        return got

    assert trio.run(one_run, 1) == [1]
    assert trio.run(one_run, 2, lambda: trio.run(one_run, 7)) == [2]


async def test_not_a_registry_and_bad_arguments():
    """A process that is not a registry is a TypeError; bad keys and options are explained."""
    async with trio.open_nursery() as nursery:
        room = await Room.start(nursery, "x", name="room")
        with pytest.raises(TypeError, match="not a Registry"):
            Registry.lookup(room, "k")
        with pytest.raises(ValueError, match='"unique" or "duplicate"'):
            await Registry.start(nursery, keys="many")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="needs the option 'keys'"):
            Registry.child_spec({"name": "x"})
        reg = await Registry.start(nursery, keys="duplicate")
        a = await start_member(nursery, reg)
        with pytest.raises(TypeError, match="must be hashable"):
            await ask(a, "register", ["unhashable"], 1)
        with pytest.raises(TypeError, match=r"must be hashable .*got \['x'\]: use a tuple"):
            Registry.lookup(reg, ["x"])
        with pytest.raises(TypeError, match=r"must be hashable .* use a tuple"):
            Registry.via(reg, ["x"])  # before it can reach start, whereis or call
        with pytest.raises(ValueError, match="needs a unique registry"):
            await ask(a, "update", "k", str)
        nursery.cancel_scope.cancel()


# -- duplicate ------------------------------------------------------------------------------


async def test_duplicate_keys_match_select_count_match():
    """A duplicate registry holds many processes (and repeats) per key; match/select filter."""
    async with trio.open_nursery() as nursery:
        await Registry.start(nursery, keys="duplicate", name="topics")
        a = await start_member(nursery, "topics", ("news", 1), ("news", 2), ("sport", 3))
        b = await start_member(nursery, "topics", ("news", 10))
        assert sorted(Registry.lookup("topics", "news")) == sorted([(a, 1), (a, 2), (b, 10)])
        assert Registry.keys("topics", a) == ["news", "news", "sport"]
        assert Registry.values("topics", "news", a) == [1, 2]
        assert Registry.count("topics") == 4
        assert sorted(Registry.match("topics", "news", lambda v: v > 1)) == [(a, 2), (b, 10)]
        assert Registry.count_match("topics", "news", lambda v: v > 1) == 2
        assert Registry.select("topics", lambda k, p, v: k == "sport") == [("sport", a, 3)]
        assert len(Registry.select("topics")) == 4
        await ask(a, "unregister", "news")
        assert Registry.lookup("topics", "news") == [(b, 10)]
        await otp.stop(b)
        assert Registry.lookup("topics", "news") == []
        assert Registry.select("topics") == [("sport", a, 3)]
        nursery.cancel_scope.cancel()


async def test_dispatch_publishes_to_every_subscriber():
    """dispatch calls fn once with all entries of the key; with no entries fn is not called."""
    calls: list[Any] = []
    async with trio.open_nursery() as nursery:
        await Registry.start(nursery, keys="duplicate", name="topics")
        a = await start_member(nursery, "topics", ("news", "a"))
        b = await start_member(nursery, "topics", ("news", "b"))
        Registry.dispatch("topics", "news", lambda entries: calls.append(sorted(entries)))
        assert calls == [sorted([(a, "a"), (b, "b")])]
        Registry.dispatch("topics", "nobody", calls.append)
        assert len(calls) == 1
        nursery.cancel_scope.cancel()


async def test_many_members_come_and_go_without_growth():
    """Tables shrink back to empty after thousands of registered processes exit."""
    async with trio.open_nursery() as nursery:
        reg = await Registry.start(nursery, keys="duplicate")
        sup = await otp.DynamicSupervisor.start(nursery)
        for round_ in range(3):
            pids = []
            for i in range(300):
                pid = await otp.DynamicSupervisor.start_child(
                    sup,
                    otp.Supervisor.child_spec(
                        (Member, (reg, [("topic", i), (i, round_)])), restart="temporary"
                    ),
                )
                pids.append(pid)
            assert Registry.count(reg) == 600
            for pid in pids:
                await otp.stop(pid)
            impl = reg._impl
            assert impl.table == {}
            assert impl.by_pid == {}
        nursery.cancel_scope.cancel()


# -- via names ------------------------------------------------------------------------------


async def test_via_names_work_everywhere_a_name_does():
    """A via name starts, calls, casts, sends to, whereis-es and stops a process."""
    async with trio.open_nursery() as nursery:
        await Registry.start(nursery, keys="unique", name="rooms")
        name = Registry.via("rooms", "lobby", "meta")
        pid = await Room.start(nursery, "lobby", name=name)
        assert otp.whereis(name) is pid
        assert otp.whereis(Registry.via("rooms", "lobby")) is pid  # the value is not the name
        assert Registry.lookup("rooms", "lobby") == [(pid, "meta")]
        otp.cast(name, "hi")
        otp.send(name, "raw")
        assert await otp.call(name, "get") == ["lobby", "hi", ("info", "raw")]
        assert repr(name) == "via('rooms', 'lobby', 'meta')"
        await otp.stop(name)
        assert otp.whereis(name) is None
        assert Registry.lookup("rooms", "lobby") == []
        with pytest.raises(otp.NoProcessError):
            await otp.call(name, "get")
        with pytest.raises(otp.NoProcessError):
            otp.send(name, "raw")
        otp.cast(name, "dropped")  # no error, as for any name
        nursery.cancel_scope.cancel()


async def test_one_server_per_key_under_a_dynamic_supervisor():
    """A DynamicSupervisor starts one GenServer per key; a second start names the holder."""
    async with trio.open_nursery() as nursery:
        await Registry.start(nursery, keys="unique", name="rooms")
        sup = await otp.DynamicSupervisor.start(nursery, name=Registry.via("rooms", "sup"))
        assert otp.whereis(Registry.via("rooms", "sup")) is sup
        pids = {}
        for room in ("a", "b"):
            name = Registry.via("rooms", room)
            pids[room] = await otp.DynamicSupervisor.start_child(
                Registry.via("rooms", "sup"), Room.child_spec(room, name=name)
            )
        with pytest.raises(otp.AlreadyStartedError) as info:
            await otp.DynamicSupervisor.start_child(
                sup, Room.child_spec("a", name=Registry.via("rooms", "a"))
            )
        assert info.value.holder is pids["a"]
        assert "via('rooms', 'a') is already started" in str(info.value)
        counts = await otp.DynamicSupervisor.count_children(Registry.via("rooms", "sup"))
        assert counts.active == 2
        assert await otp.call(Registry.via("rooms", "b"), "get") == ["b"]
        nursery.cancel_scope.cancel()


async def test_a_restarted_server_takes_its_via_name_again():
    """A permanent child under a via name is restarted and re-registered under the same key."""
    async with trio.open_nursery() as nursery:
        await Registry.start(nursery, keys="unique", name="reg")
        name = Registry.via("reg", "m")
        sup = await otp.Supervisor.start(nursery, [Member.child_spec(("reg", []), name=name)])
        first = otp.whereis(name)
        assert first is not None
        otp.cast(name, "crash")
        await first.wait_exited()
        await trio.testing.wait_all_tasks_blocked()
        second = otp.whereis(name)
        assert second is not None
        assert second is not first
        assert Registry.lookup("reg", "m") == [(second, None)]
        await otp.stop(sup)
        nursery.cancel_scope.cancel()


async def test_via_errors():
    """via needs a running unique registry: unknown and duplicate registries refuse the start."""
    async with trio.open_nursery() as nursery:
        with pytest.raises(otp.UnknownRegistryError):
            await Room.start(nursery, "x", name=Registry.via("nope", "x"))
        assert otp.whereis(Registry.via("nope", "x")) is None
        await Registry.start(nursery, keys="duplicate", name="dup")
        with pytest.raises(ValueError, match="need a unique registry"):
            await Room.start(nursery, "x", name=Registry.via("dup", "x"))
        assert otp.whereis(Registry.via("dup", "x")) is None
        nursery.cancel_scope.cancel()


async def test_registry_under_a_supervisor():
    """(Registry, options) is a child spec: the registry runs under a supervisor."""
    async with trio.open_nursery() as nursery:
        sup = await otp.Supervisor.start(nursery, [(Registry, {"keys": "unique", "name": "reg"})])
        [info] = await otp.Supervisor.which_children(sup)
        assert info.id == "reg"
        assert Registry.count("reg") == 0
        await otp.stop(sup)
        with pytest.raises(otp.UnknownRegistryError):
            Registry.count("reg")


async def test_via_names_in_supervisor_management_calls():
    """Supervisor and DynamicSupervisor management calls accept via names for the
    supervisor, and a terminated child's via name is free at once."""
    async with trio.open_nursery() as nursery:
        await Registry.start(nursery, keys="unique", name="reg")
        sup_name = Registry.via("reg", "sup")
        await otp.Supervisor.start(nursery, [Room.child_spec("a", id="a")], name=sup_name)
        assert [c.id for c in await otp.Supervisor.which_children(sup_name)] == ["a"]
        await otp.Supervisor.terminate_child(sup_name, "a")
        assert [c.pid for c in await otp.Supervisor.which_children(sup_name)] == [None]
        assert await otp.Supervisor.restart_child(sup_name, "a") is not None
        await otp.Supervisor.terminate_child(sup_name, "a")
        await otp.Supervisor.delete_child(sup_name, "a")
        assert await otp.Supervisor.which_children(sup_name) == []
        ds_name = Registry.via("reg", "ds")
        await otp.DynamicSupervisor.start(nursery, name=ds_name)
        room = Registry.via("reg", "room")
        pid = await otp.DynamicSupervisor.start_child(ds_name, Room.child_spec("r", name=room))
        assert pid is not None
        assert otp.whereis(room) is pid
        await otp.DynamicSupervisor.terminate_child(ds_name, pid)
        assert otp.whereis(room) is None
        assert Registry.lookup("reg", "room") == []
        assert await otp.DynamicSupervisor.which_children(ds_name) == []
        nursery.cancel_scope.cancel()


# -- handles -------------------------------------------------------------------------------


async def test_handle_lookup_answers_what_lookup_does_as_a_tuple():
    """A unique registry's handle: lookup is the table's C __getitem__, and follows
    registrations, updates, unregistrations and exits as Registry.lookup does."""
    async with trio.open_nursery() as nursery:
        reg = await Registry.start(nursery, keys="unique", name="reg")
        handle = Registry.handle("reg")
        assert isinstance(handle, otp.RegistryHandle)
        assert handle.registry is reg
        assert handle.alive
        assert repr(handle) == f"<RegistryHandle {reg!r}>"
        assert handle.lookup("a") == ()
        a = await start_member(nursery, "reg", ("a", 1))
        assert handle.lookup("a") == ((a, 1),) == tuple(Registry.lookup("reg", "a"))
        [(pid, value)] = handle.lookup("a")
        assert (pid, value) == (a, 1)
        assert type(handle.lookup).__name__ == "builtin_function_or_method"  # no frame
        assert await ask(a, "update", "a", lambda v: v + 1) == (2, 1)
        assert handle.lookup("a") == ((a, 2),)
        await ask(a, "unregister", "a")
        assert handle.lookup("a") == ()
        await ask(a, "register", "b", 3)
        assert Registry.select("reg") == [("b", a, 3)]
        with pytest.raises(TypeError, match="unhashable"):
            handle.lookup(["not", "hashable"])
        assert Registry.handle(reg).lookup("b") == ((a, 3),)  # by handle as by name
        await otp.stop(a)
        assert handle.lookup("b") == ()  # gone the moment it exited
        nursery.cancel_scope.cancel()


async def test_handle_of_a_duplicate_registry():
    async with trio.open_nursery() as nursery:
        await Registry.start(nursery, keys="duplicate", name="topics")
        handle = Registry.handle("topics")
        a = await start_member(nursery, "topics", ("news", 1), ("news", 2))
        b = await start_member(nursery, "topics", ("news", 3))
        assert handle.lookup("news") == ((a, 1), (a, 2), (b, 3))
        assert handle.lookup("sport") == ()
        nursery.cancel_scope.cancel()


async def test_handle_is_bound_to_the_registry_process():
    """When its registry exits the handle sees it empty; a restarted registry needs a
    new handle. A name that is no registry raises as every registry function does."""
    with pytest.raises(otp.UnknownRegistryError):
        Registry.handle("nowhere")
    with pytest.raises(TypeError, match="no public constructor"):
        otp.RegistryHandle()
    async with trio.open_nursery() as nursery:
        reg = await Registry.start(nursery, keys="unique", name="reg")
        handle = Registry.handle("reg")
        member = await start_member(nursery, "reg", ("k", 1))
        assert handle.lookup("k") == ((member, 1),)
        await otp.stop(reg)
        assert not handle.alive
        assert handle.lookup("k") == ()
        again = await Registry.start(nursery, keys="unique", name="reg")
        assert Registry.handle("reg").registry is again
        assert handle.registry is reg
        nursery.cancel_scope.cancel()
