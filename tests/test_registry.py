"""The name registry: whereis / registered, scoped to one trio.run (trio_otp/_core/_names.py)."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
import trio
import trio.testing

import trio_otp as otp


class Named(otp.GenServer[list[Any]]):
    """Records whereis() of its own name during init; crashes or stops on request."""

    async def init(self, arg: Any) -> Any:
        record, name = arg
        record.append(("init sees", otp.whereis(name)))
        return otp.Ok(record)

    async def handle_cast(self, request: Any, state: list[Any]) -> Any:
        if request == "crash":
            raise ValueError("crash")
        return otp.Stop(request, state)


async def test_whereis_unknown_name_is_none():
    """whereis of a name nobody holds is None, and registered() is empty."""
    assert otp.whereis("nobody") is None
    assert otp.registered() == {}


async def test_whereis_finds_a_named_server_from_before_init():
    """The name is registered before init runs (OTP order), and whereis finds the handle."""
    record: list[Any] = []
    async with trio.open_nursery() as nursery:
        pid = await Named.start(nursery, (record, "srv"), name="srv")
        assert otp.whereis("srv") is pid
        await otp.stop(pid)
    assert record == [("init sees", pid)]


async def test_registered_is_a_snapshot_of_all_names():
    """registered() maps every name to its handle, and is a copy the caller may change."""
    async with trio.open_nursery() as nursery:
        a = await Named.start(nursery, ([], "a"), name="a")
        b = await Named.start(nursery, ([], ("b", 1)), name=("b", 1))
        anonymous = await Named.start(nursery, ([], None))
        snapshot = otp.registered()
        assert snapshot == {"a": a, ("b", 1): b}
        snapshot.clear()
        assert otp.registered() == {"a": a, ("b", 1): b}
        for pid in (a, b, anonymous):
            await otp.stop(pid)
    assert otp.registered() == {}


@pytest.mark.parametrize("name", ["str", 42, ("tuple", 1), Named, frozenset({1})])
async def test_any_hashable_value_is_a_name(name):
    """Strings, ints, tuples, classes and frozensets all work as names."""
    async with trio.open_nursery() as nursery:
        pid = await Named.start(nursery, ([], name), name=name)
        assert otp.whereis(name) is pid
        assert otp.registered() == {name: pid}
        await otp.stop(name)
    assert otp.whereis(name) is None


async def test_unhashable_name_is_a_type_error():
    """An unhashable name (a list) fails the start with TypeError, before init."""
    record: list[Any] = []
    async with trio.open_nursery() as nursery:
        with pytest.raises(TypeError, match="hashable"):
            await Named.start(nursery, (record, None), name=["x"])
    assert record == []
    assert otp.registered() == {}


async def test_name_is_freed_on_stop_crash_and_kill(autojump_clock):
    """Whatever way a server exits (stop, crash, cancel), its name is free afterwards."""
    async with trio.open_nursery() as nursery:
        await Named.start(nursery, ([], "srv"), name="srv")
        await otp.stop("srv")
        assert otp.whereis("srv") is None

    with pytest.RaisesGroup(ValueError):
        async with trio.open_nursery() as nursery:
            pid = await Named.start(nursery, ([], "srv"), name="srv")
            otp.cast(pid, "crash")
    assert otp.whereis("srv") is None

    async with trio.open_nursery() as nursery:
        pid = await Named.start(nursery, ([], "srv"), name="srv")
        nursery.cancel_scope.cancel()
    assert pid.exit_reason == otp.KILLED
    assert otp.whereis("srv") is None


async def test_failed_or_ignored_start_frees_the_name(autojump_clock):
    """A start that fails or is ignored leaves the name free."""

    class Refuses(otp.GenServer[None]):
        async def init(self, arg: Any) -> Any:
            assert otp.whereis("srv") is not None
            if arg == "ignore":
                return otp.Ignore()
            if arg == "raise":
                raise ValueError("no")
            return otp.Stop("bad_init")

    async with trio.open_nursery() as nursery:
        for how in ("ignore", "raise", "stop"):
            with contextlib.suppress(otp.StartError):
                await Refuses.start(nursery, how, name="srv")
            assert otp.whereis("srv") is None


async def test_a_name_belongs_to_one_process_at_a_time(autojump_clock):
    """A held name cannot be taken; the holder keeps it and a failed start leaves it."""
    async with trio.open_nursery() as nursery:
        holder = await Named.start(nursery, ([], "dup"), name="dup")
        with pytest.raises(otp.AlreadyStartedError):
            await Named.start(nursery, ([], "dup"), name="dup")
        assert otp.registered() == {"dup": holder}
        other = await Named.start(nursery, ([], "other"), name="other")
        assert otp.registered() == {"dup": holder, "other": other}
        await otp.stop(holder)
        await otp.stop(other)


def _run_and_report(name: str) -> tuple[object, dict[Any, Any], bool]:
    """In a fresh trio.run: look the name up, then register it ourselves."""

    async def main() -> tuple[object, dict[Any, Any], bool]:
        seen = otp.whereis(name)
        names = otp.registered()
        async with trio.open_nursery() as nursery:
            pid = await Named.start(nursery, ([], name), name=name)
            mine = otp.whereis(name) is pid
            await otp.stop(pid)
        return seen, names, mine

    return trio.run(main)


async def test_registry_is_per_trio_run_not_global():
    """A name held in this trio.run is invisible in another run (in a thread) at that moment."""
    async with trio.open_nursery() as nursery:
        pid = await Named.start(nursery, ([], "shared"), name="shared")
        seen, names, mine = await trio.to_thread.run_sync(_run_and_report, "shared")
        assert (seen, names, mine) == (None, {}, True)
        # The other run's registration did not touch ours.
        assert otp.whereis("shared") is pid
        await otp.stop(pid)


async def test_name_clash_leaves_no_trace_of_the_would_be_process():
    """A start refused for a taken name leaves the holder registered and no stale entry."""
    from trio_otp._core._process import _table

    async with trio.open_nursery() as nursery:
        holder = await otp.GenServer.start(nursery, name="dup")
        entries = len(_table())
        for _ in range(3):
            with pytest.raises(otp.AlreadyStartedError):
                await otp.GenServer.start(nursery, name="dup")
        assert len(_table()) == entries
        assert otp.whereis("dup") is holder
        nursery.cancel_scope.cancel()


# -- unhashable names (issue 13, defect 4) ---------------------------------------------


class _Plain(otp.GenServer[None]):
    async def handle_call(self, request: object, from_: otp.From, state: None) -> otp.Reply[None]:
        return otp.Reply(request, state)


async def test_start_with_an_unhashable_name_fails_clearly_and_records_nothing() -> None:
    """Starting under an unhashable name raises the helpful TypeError; no table keeps it."""
    from trio_otp._core._process import _table

    async with trio.open_nursery() as nursery:
        before = dict(_table())
        with pytest.raises(TypeError, match=r"must be hashable.*use a str or a tuple"):
            await _Plain.start(nursery, name=["not", "hashable"])
        assert otp.registered() == {}
        assert _table() == before
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize("registered_first", [False, True])
async def test_unhashable_names_in_call_cast_whereis_raise_the_same_error(
    registered_first: bool,
) -> None:
    """call, cast, send and whereis refuse an unhashable name alike, before or after a register."""
    async with trio.open_nursery() as nursery:
        if registered_first:
            await _Plain.start(nursery, name="taken")
        bad: object = {"a": 1}
        for attempt in (
            lambda: otp.whereis(bad),
            lambda: otp.cast(bad, "x"),
            lambda: otp.send(bad, "x"),
        ):
            with pytest.raises(TypeError, match=r"must be hashable.*use a str or a tuple"):
                attempt()
        with pytest.raises(TypeError, match=r"must be hashable.*use a str or a tuple"):
            await otp.call(bad, "x")
        nursery.cancel_scope.cancel()


def test_whereis_outside_trio_run_says_to_use_trio_run() -> None:
    """whereis outside trio.run (plain code, asyncio) names trio.run instead of a bare error."""
    import asyncio

    with pytest.raises(RuntimeError, match=r"outside trio\.run.*start your program with trio\.run"):
        otp.whereis("x")

    async def under_asyncio() -> None:
        await otp.call("x", "hello")

    with pytest.raises(RuntimeError, match=r"outside trio\.run"):
        asyncio.run(under_asyncio())
