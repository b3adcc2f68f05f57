"""Agent: state behind a process, read and changed by functions (trio_otp/_behaviours/_agent.py)."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing

import trio_otp as otp
from trio_otp import Agent


async def test_get_update_get_and_update_cast():
    """get reads, update and cast replace, get_and_update does both, in mailbox order."""
    async with trio.open_nursery() as nursery:
        agent = await Agent.start(nursery, lambda: 0, name="counter")
        assert await Agent.get(agent, lambda n: n) == 0
        assert await Agent.update("counter", lambda n: n + 1) is None
        Agent.cast(agent, lambda n: n * 10)
        assert await Agent.get_and_update(agent, lambda n: (n, n + 5)) == 10
        assert await Agent.get(agent, lambda n: n) == 15
        await Agent.stop("counter")
        assert not agent.alive
        assert agent.kind == "Agent"


async def test_async_functions_run_in_the_agent(autojump_clock: Any):
    """An async function is awaited inside the agent, for init and for every operation."""

    async def start() -> list[int]:
        await trio.sleep(1)
        return [1]

    async def append(items: list[int]) -> list[int]:
        await trio.sleep(1)
        return [*items, 2]

    async with trio.open_nursery() as nursery:
        agent = await Agent.start(nursery, start)
        assert trio.current_time() == 1
        await Agent.update(agent, append)
        assert trio.current_time() == 2
        assert await Agent.get(agent, len) == 2
        await Agent.stop(agent)


async def test_a_function_that_raises_crashes_the_agent(autojump_clock: Any):
    """A raising function crashes the agent; the caller gets CalleeExit with the cause."""
    with pytest.RaisesGroup(ZeroDivisionError):
        async with trio.open_nursery() as nursery:
            agent = await Agent.start(nursery, lambda: 1)
            with pytest.raises(otp.CalleeExit) as info:
                await Agent.get(agent, lambda n: n / 0)
            assert isinstance(info.value.__cause__, ZeroDivisionError)
            assert not agent.alive


async def test_get_and_update_needs_a_pair():
    """get_and_update whose function returns no (reply, state) pair crashes with a TypeError."""
    async with trio.open_nursery() as nursery:
        sup = await otp.Supervisor.start(nursery, [(Agent, lambda: 0)])
        [info] = await otp.Supervisor.which_children(sup)
        with pytest.raises(otp.CalleeExit) as exc:
            await Agent.get_and_update(info.pid, lambda n: n)
        assert isinstance(exc.value.__cause__, TypeError)
        assert "(reply, new_state)" in str(exc.value.__cause__)
        await otp.stop(sup)


async def test_call_deadline_like_gen_server_call(autojump_clock: Any):
    """A slow function hits the default 5 s call deadline (CallTimeout), as GenServer.call does."""

    async def slow(n: int) -> int:
        await trio.sleep(10)
        return n

    async with trio.open_nursery() as nursery:
        agent = await Agent.start(nursery, lambda: 0)
        start = trio.current_time()
        with pytest.raises(otp.CallTimeout):
            await Agent.get(agent, slow)
        assert trio.current_time() - start == 5
        assert await Agent.get(agent, lambda n: n, timeout=None) == 0
        await Agent.stop(agent)


async def test_supervised_agent_restarts_with_fresh_state():
    """Under a supervisor ((Agent, fn) child) a crashed agent restarts from fn()."""
    async with trio.open_nursery() as nursery:
        sup = await otp.Supervisor.start(nursery, [Agent.child_spec(lambda: "fresh", name="state")])
        await Agent.update("state", lambda s: "changed")
        first = otp.whereis("state")
        assert first is not None
        Agent.cast("state", lambda s: 1 / 0)
        await first.wait_exited()
        await trio.testing.wait_all_tasks_blocked()  # the supervisor restarts it
        assert await Agent.get("state", lambda s: s) == "fresh"
        await otp.stop(sup)


async def test_errors():
    """Bad functions are refused up front; an unknown agent is NoProcessError; init errors."""
    async with trio.open_nursery() as nursery:
        with pytest.raises(TypeError, match="must be callable"):
            await Agent.start(nursery, 42)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="must be callable"):
            Agent.child_spec(42)  # type: ignore[arg-type]
        with pytest.raises(otp.NoProcessError):
            await Agent.get("nobody", lambda s: s)
        with pytest.raises(otp.StartError) as info:
            await Agent.start(nursery, lambda: 1 / 0)
        assert isinstance(info.value.__cause__, ZeroDivisionError)
        Agent.cast("nobody", lambda s: s)  # dropped, as any cast
