"""Process handles and current_process (trio_otp/_core/_process.py)."""

from __future__ import annotations

import re
from typing import Any

import pytest
import trio
import trio.testing

import trio_otp as otp


class Probe(otp.GenServer[list[Any]]):
    """Records current_process() in every callback; starts children on request."""

    async def init(self, record: list[Any]) -> Any:
        record.append(("init", otp.current_process() is self.pid))
        return otp.Ok(record, otp.Continue("go"))

    async def handle_continue(self, arg: Any, state: list[Any]) -> Any:
        state.append(("continue", otp.current_process() is self.pid))
        return otp.NoReply(state)

    async def handle_call(self, request: Any, from_: otp.From, state: list[Any]) -> Any:
        state.append(("call", otp.current_process() is self.pid))
        if isinstance(request, trio.Nursery):
            child = await Probe.start(request, [])
            return otp.Reply(child, state)
        return otp.Reply(self.pid, state)

    async def handle_cast(self, request: Any, state: list[Any]) -> Any:
        state.append(("cast", otp.current_process() is self.pid))
        return otp.NoReply(state)

    async def handle_info(self, message: Any, state: list[Any]) -> Any:
        state.append(("info", otp.current_process() is self.pid))
        return otp.NoReply(state)

    async def terminate(self, reason: object, state: list[Any]) -> None:
        state.append(("terminate", otp.current_process() is self.pid))


async def test_pid_has_no_public_constructor():
    """Pid() raises TypeError: handles come only from starting a process."""
    with pytest.raises(TypeError, match="no public constructor"):
        otp.Pid()


async def test_pids_compare_equal_only_to_themselves():
    """Two handles are equal only if they are the same process's handle."""
    async with trio.open_nursery() as nursery:
        a = await Probe.start(nursery, [])
        b = await Probe.start(nursery, [])
        assert a == a
        assert a != b
        assert a != "a"
        assert otp.whereis("nobody") != a
        await otp.stop(a)
        await otp.stop(b)


async def test_pids_order_by_creation():
    """Handles sort in the order their processes were created, like OTP pids."""
    async with trio.open_nursery() as nursery:
        pids = [await Probe.start(nursery, []) for _ in range(5)]
        assert sorted(reversed(pids)) == pids
        assert pids[0] < pids[1]
        assert not pids[1] < pids[0]
        with pytest.raises(TypeError):
            assert pids[0] < "x"
        for pid in pids:
            await otp.stop(pid)


async def test_pids_hash_and_stay_usable_as_keys_after_exit():
    """A handle works as a dict key and set member, before and after its process exits."""
    async with trio.open_nursery() as nursery:
        a = await Probe.start(nursery, [])
        b = await Probe.start(nursery, [])
        table = {a: "a", b: "b"}
        await otp.stop(a)
        assert table[a] == "a"
        await otp.stop(b)
    assert table[a] == "a"
    assert table[b] == "b"
    assert {a, b, a} == {a, b}
    assert hash(a) == hash(a)


async def test_pid_repr_shows_its_number_and_registered_name():
    """Handles print as <Pid 0.N>, or <Pid 0.N name> when registered (a class by its name)."""
    async with trio.open_nursery() as nursery:
        anonymous = await Probe.start(nursery, [])
        named = await Probe.start(nursery, [], name="srv")
        by_class = await Probe.start(nursery, [], name=Probe)
        assert re.fullmatch(r"<Pid 0\.\d+>", repr(anonymous))
        assert re.fullmatch(r"<Pid 0\.\d+ srv>", repr(named))
        assert re.fullmatch(r"<Pid 0\.\d+ Probe>", repr(by_class))
        assert len({repr(anonymous), repr(named), repr(by_class)}) == 3
        before = repr(named)
        for pid in (anonymous, named, by_class):
            await otp.stop(pid)
    assert repr(named) == before  # still printable after exit


async def test_pid_attributes_describe_the_process():
    """name, kind, alive and parent describe a running server."""
    async with trio.open_nursery() as nursery:
        pid = await Probe.start(nursery, [], name="srv")
        assert pid.name == "srv"
        assert pid.kind == "GenServer"
        assert pid.alive
        assert pid.parent is None
        await otp.stop(pid)
    assert not pid.alive
    assert pid.name == "srv"


async def test_pid_parent_is_the_process_that_started_it():
    """A server started from inside another server's callback has that server as parent."""
    async with trio.open_nursery() as nursery:
        parent = await Probe.start(nursery, [])
        child = await otp.call(parent, nursery)
        assert child.parent is parent
        assert parent.parent is None
        await otp.stop(child)
        await otp.stop(parent)


async def test_exit_reason_raises_while_alive_and_is_kept_after_exit():
    """exit_reason is a RuntimeError while the process runs, then its exit reason."""
    async with trio.open_nursery() as nursery:
        pid = await Probe.start(nursery, [])
        with pytest.raises(RuntimeError, match="still alive"):
            _ = pid.exit_reason
        await otp.stop(pid, otp.Shutdown("bye"))
    assert pid.exit_reason == otp.Shutdown("bye")


async def test_wait_exited_returns_the_reason_to_every_waiter(autojump_clock):
    """Several tasks waiting on wait_exited all get the exit reason when it exits."""
    got: list[tuple[object, float]] = []
    async with trio.open_nursery() as nursery:
        pid = await Probe.start(nursery, [])

        async def waiter() -> None:
            got.append((await pid.wait_exited(), trio.current_time()))

        for _ in range(3):
            nursery.start_soon(waiter)
        await trio.sleep(4)
        await otp.stop(pid, otp.SHUTDOWN)
    assert got == [(otp.SHUTDOWN, 4.0)] * 3


async def test_wait_exited_after_exit_returns_at_once_but_checkpoints(autojump_clock):
    """wait_exited on an exited process returns its reason at once, still as a checkpoint."""
    async with trio.open_nursery() as nursery:
        pid = await Probe.start(nursery, [])
        await otp.stop(pid)
    assert await pid.wait_exited() == otp.NORMAL
    assert trio.current_time() == 0.0
    with trio.CancelScope() as scope:
        scope.cancel()
        with pytest.raises(trio.Cancelled):
            await pid.wait_exited()


async def test_pid_use_after_death(autojump_clock):
    """After exit: call and stop fail with NoProcessError; cast and send are dropped."""
    record: list[Any] = []
    async with trio.open_nursery() as nursery:
        pid = await Probe.start(nursery, record)
        await otp.stop(pid)
    del record[:]
    with pytest.raises(otp.NoProcessError):
        await otp.call(pid, "x")
    with pytest.raises(otp.NoProcessError):
        await otp.stop(pid)
    otp.cast(pid, "x")
    otp.send(pid, "x")
    assert record == []
    assert trio.current_time() == 0.0


async def test_current_process_is_none_outside_any_process():
    """current_process() is None in plain trio code, before and after starting servers."""
    assert otp.current_process() is None
    async with trio.open_nursery() as nursery:
        pid = await Probe.start(nursery, [])
        assert otp.current_process() is None
        await otp.call(pid, "x")
        assert otp.current_process() is None
        await otp.stop(pid)
    assert otp.current_process() is None


async def test_current_process_inside_callbacks_is_self_pid():
    """Inside every callback current_process() is the server's own handle (self.pid)."""
    record: list[Any] = []
    async with trio.open_nursery() as nursery:
        pid = await Probe.start(nursery, record)
        assert await otp.call(pid, "who") is pid
        otp.cast(pid, "x")
        otp.send(pid, "x")
        await otp.stop(pid)
    assert record == [
        ("init", True),
        ("continue", True),
        ("call", True),
        ("cast", True),
        ("info", True),
        ("terminate", True),
    ]


class Idle(otp.GenServer[None]):
    """Does nothing until stopped."""

    async def handle_call(self, request: Any, from_: otp.From, state: None) -> Any:
        return otp.Stop(request, state, reply="bye")


async def test_watchers_run_once_with_the_exit_reason_and_unwatch_forgets() -> None:
    """A watch fires exactly once, after the name is freed; _unwatch and dead pids record none."""
    seen: list[Any] = []
    async with trio.open_nursery() as nursery:
        pid = await Idle.start(nursery, None, name="idle")
        assert pid._watch("a", lambda p, r: seen.append(("a", p is pid, r, otp.whereis("idle"))))
        assert pid._watch("b", lambda p, r: seen.append(("b", r)))
        pid._unwatch("b")
        pid._unwatch("never added")
        assert await otp.call(pid, otp.NORMAL) == "bye"
        await pid.wait_exited()
    assert seen == [("a", True, otp.NORMAL, None)]
    assert pid._watch("late", lambda p, r: seen.append(r)) is False
    assert pid._watchers is None
