"""TaskSupervisor, AsyncTask.yield_/shutdown, await_many, yield_many, async_stream_nolink."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing

import trio_otp as otp
from trio_otp import TaskSupervisor


async def nap(n: float) -> float:
    await trio.sleep(n)
    return n


async def fail_after(n: float) -> None:
    await trio.sleep(n)
    raise ValueError(f"failed after {n}")


async def test_start_child_fire_and_forget(autojump_clock: Any):
    """start_child runs fn under the supervisor; children lists it until it ends."""
    done: list[float] = []

    async def work(n: float) -> None:
        await trio.sleep(n)
        done.append(n)

    async with trio.open_nursery() as nursery:
        sup = await TaskSupervisor.start(nursery, name="tasks")
        pid = await TaskSupervisor.start_child("tasks", work, 2)
        assert await TaskSupervisor.children(sup) == [pid]
        await pid.wait_exited()
        assert done == [2]
        assert await TaskSupervisor.children(sup) == []
        await otp.stop(sup)


async def test_start_child_transient_restarts_and_terminate_child(autojump_clock: Any):
    """restart="transient" runs a crashed task again; terminate_child stops a task."""
    runs: list[float] = []

    async def flaky() -> None:
        runs.append(trio.current_time())
        if len(runs) == 1:
            raise ValueError("first run fails")
        await trio.sleep_forever()

    async with trio.open_nursery() as nursery:
        sup = await TaskSupervisor.start(nursery)
        await TaskSupervisor.start_child(sup, flaky, restart="transient", shutdown=1)
        await trio.testing.wait_all_tasks_blocked()
        assert len(runs) == 2
        [pid] = await TaskSupervisor.children(sup)
        await TaskSupervisor.terminate_child(sup, pid)
        assert pid.exit_reason == otp.SHUTDOWN
        assert await TaskSupervisor.children(sup) == []
        with pytest.raises(otp.ChildNotFoundError):
            await TaskSupervisor.terminate_child(sup, pid)
        await otp.stop(sup)


async def test_max_children_keeps_raising():
    """At max_children, start_child raises MaxChildrenError at once (never waits)."""
    async with trio.open_nursery() as nursery:
        sup = await TaskSupervisor.start(nursery, max_children=1)
        await TaskSupervisor.start_child(sup, trio.sleep_forever)
        for _ in range(2):
            with pytest.raises(otp.MaxChildrenError):
                await TaskSupervisor.start_child(sup, trio.sleep_forever)
        await otp.stop(sup)


async def test_async_nolink_yield_and_await(autojump_clock: Any):
    """yield_ returns None while running, ("ok", v) when done; wait returns the value."""
    async with trio.open_nursery() as nursery:
        sup = await TaskSupervisor.start(nursery)
        task = await TaskSupervisor.async_nolink(sup, nap, 3)
        assert await task.yield_(1) is None
        assert trio.current_time() == 1
        assert await task.yield_(None) == ("ok", 3)
        assert await task.wait() == 3
        bad = await TaskSupervisor.async_nolink(sup, fail_after, 1)
        result = await bad.yield_()
        assert result is not None
        assert result[0] == "exit"
        assert isinstance(result[1], ValueError)
        await otp.stop(sup)


async def test_shutdown(autojump_clock: Any):
    """shutdown stops a running task (None), or reports how a finished one ended."""
    async with trio.open_nursery() as nursery:
        sup = await TaskSupervisor.start(nursery)
        running = await TaskSupervisor.async_nolink(sup, nap, 10)
        assert await running.shutdown() is None
        assert running.pid.exit_reason == otp.SHUTDOWN
        assert trio.current_time() == 0
        with pytest.raises(otp.TaskExit):
            await running.wait()
        finished = await TaskSupervisor.async_nolink(sup, nap, 1)
        await finished.pid.wait_exited()
        assert await finished.shutdown() == ("ok", 1)
        assert await TaskSupervisor.children(sup) == []
        await otp.stop(sup)


async def test_async_links_the_task_and_its_caller(autojump_clock: Any):
    """async_ links: an abnormal exit of the caller kills the task, a crash of the task
    kills the caller; a normal exit of the caller leaves the task running (OTP links)."""
    tasks: list[otp.AsyncTask[Any]] = []

    class Owner(otp.GenServer[None]):
        trap_exit = False  # die with the linked task, as an Elixir process would

        async def handle_call(self, request: Any, from_: otp.From, state: None) -> Any:
            sup, fn, n = request
            tasks.append(await TaskSupervisor.async_(sup, fn, n))
            return otp.Reply("ok", state)

        async def handle_info(self, message: Any, state: None) -> Any:
            return otp.NoReply(state)  # TaskReply / Down of its tasks

    async with trio.open_nursery() as nursery:
        sup = await TaskSupervisor.start(nursery)
        owners = await otp.DynamicSupervisor.start(nursery)
        spec = Owner.child_spec(None, restart="temporary")
        owner = await otp.DynamicSupervisor.start_child(owners, spec)
        assert owner is not None
        await otp.call(owner, (sup, nap, 100))
        await otp.stop(owner)  # a normal exit: the task goes on
        assert tasks[0].pid.alive
        owner = await otp.DynamicSupervisor.start_child(owners, spec)
        assert owner is not None
        await otp.call(owner, (sup, nap, 100))
        await otp.stop(owner, "crash")  # abnormal: kills the linked task
        assert await tasks[1].pid.wait_exited() == "crash"
        owner = await otp.DynamicSupervisor.start_child(owners, spec)
        assert owner is not None
        await otp.call(owner, (sup, fail_after, 1))  # its crash kills the caller
        reason = await owner.wait_exited()
        assert isinstance(reason, ValueError)
        assert trio.current_time() == 1
        # Outside any process, async_ is async_nolink.
        assert await (await TaskSupervisor.async_(sup, nap, 1)).wait() == 1
        nursery.cancel_scope.cancel()


async def test_await_many(autojump_clock: Any):
    """await_many returns all results in order, under one deadline."""
    async with trio.open_nursery() as nursery:
        sup = await TaskSupervisor.start(nursery)
        tasks = [await TaskSupervisor.async_nolink(sup, nap, n) for n in (3, 1, 2)]
        assert await otp.await_many(tasks) == [3, 1, 2]
        assert trio.current_time() == 3
        assert await otp.await_many(tasks) == [3, 1, 2]  # all done: at once
        assert await otp.await_many([]) == []
        again = await TaskSupervisor.async_nolink(sup, nap, 1)
        assert await otp.await_many([again, again]) == [1, 1]  # the same task twice
        assert trio.current_time() == 4
        await otp.stop(sup)


async def test_await_many_fails_fast_and_times_out(autojump_clock: Any):
    """await_many raises TaskExit at the first crash, TaskTimeout at the deadline."""
    async with trio.open_nursery() as nursery:
        sup = await TaskSupervisor.start(nursery)
        slow = await TaskSupervisor.async_nolink(sup, nap, 10)
        bad = await TaskSupervisor.async_nolink(sup, fail_after, 1)
        with pytest.raises(otp.TaskExit) as info:
            await otp.await_many([slow, bad])
        assert isinstance(info.value.__cause__, ValueError)
        assert trio.current_time() == 1
        with pytest.raises(otp.TaskTimeout):
            await otp.await_many([slow], timeout=2)
        assert trio.current_time() == 3
        with pytest.raises(otp.TaskExit):  # already failed: at once
            await otp.await_many([slow, bad])
        assert not slow.pid._watchers  # nothing left behind
        await otp.stop(sup)


async def test_yield_many(autojump_clock: Any):
    """yield_many waits for all or the deadline and pairs each task with its result."""
    async with trio.open_nursery() as nursery:
        sup = await TaskSupervisor.start(nursery)
        tasks = [
            await TaskSupervisor.async_nolink(sup, nap, 1),
            await TaskSupervisor.async_nolink(sup, fail_after, 1),
            await TaskSupervisor.async_nolink(sup, nap, 10),
        ]
        results = await otp.yield_many(tasks, timeout=2)
        assert trio.current_time() == 2
        assert [task for task, _ in results] == tasks
        assert results[0][1] == ("ok", 1)
        assert results[1][1] is not None
        assert results[1][1][0] == "exit"
        assert results[2][1] is None
        assert [r for _, r in await otp.yield_many(tasks[:1])] == [("ok", 1)]
        await otp.stop(sup)


async def test_async_stream_nolink_yields_crashes_as_exits(autojump_clock: Any):
    """Under a supervisor a crashing job yields ("exit", exception); the others go on."""

    async def job(n: int) -> int:
        await trio.sleep(n)
        if n == 2:
            raise ValueError("two")
        return n

    async with trio.open_nursery() as nursery:
        sup = await TaskSupervisor.start(nursery)
        async with TaskSupervisor.async_stream_nolink(
            sup, [1, 2, 3], job, max_concurrency=2, zip_input_on_exit=True
        ) as results:
            out = [r async for r in results]
        assert out[0] == ("ok", 1)
        assert out[1][0] == "exit"
        assert out[1][1][0] == 2
        assert isinstance(out[1][1][1], ValueError)
        assert out[2] == ("ok", 3)
        assert await TaskSupervisor.children(sup) == []
        await otp.stop(sup)


async def test_async_stream_nolink_consumer_break_shuts_jobs_down(autojump_clock: Any):
    """Breaking out shuts the running jobs down under their supervisor at once."""
    async with trio.open_nursery() as nursery:
        sup = await TaskSupervisor.start(nursery)
        async with TaskSupervisor.async_stream_nolink(
            sup, [1, 50, 50], nap, max_concurrency=3, timeout=None
        ) as results:
            async for _ in results:
                break
        await trio.testing.wait_all_tasks_blocked()
        assert await TaskSupervisor.children(sup) == []
        assert trio.current_time() == 1
        await otp.stop(sup)


async def test_async_stream_nolink_kill_task_timeout(autojump_clock: Any):
    """kill_task under a supervisor shuts the late job down and yields ("exit", "timeout")."""
    async with trio.open_nursery() as nursery:
        sup = await TaskSupervisor.start(nursery)
        async with TaskSupervisor.async_stream_nolink(
            sup, [9], nap, timeout=1, on_timeout="kill_task"
        ) as results:
            assert [r async for r in results] == [("exit", "timeout")]
        await trio.testing.wait_all_tasks_blocked()
        assert await TaskSupervisor.children(sup) == []
        await otp.stop(sup)


async def test_async_stream_nolink_never_hangs_on_a_full_or_dead_supervisor(
    autojump_clock: Any,
):
    """A supervisor at max_children, or one that stops, fails the stream instead of hanging."""
    async with trio.open_nursery() as nursery:
        full = await TaskSupervisor.start(nursery, max_children=1)
        await TaskSupervisor.start_child(full, trio.sleep_forever)
        with pytest.raises(otp.MaxChildrenError):
            async with TaskSupervisor.async_stream_nolink(full, [1], nap) as results:
                await results.__anext__()
        sup = await TaskSupervisor.start(nursery)
        out = []
        with pytest.raises(otp.NoProcessError):  # noqa: PT012 - the stream's whole life
            async with TaskSupervisor.async_stream_nolink(
                sup, [5, 5], nap, max_concurrency=1, timeout=None
            ) as results:
                await trio.testing.wait_all_tasks_blocked()  # the first job runs
                nursery.start_soon(otp.stop, sup)
                async for result in results:
                    out.append(result)
        # The running job was shut down with its supervisor; the next could not start.
        assert out == [("exit", "shutdown")]
        with pytest.raises(otp.NoProcessError):
            TaskSupervisor.async_stream_nolink(sup, [1], nap)
        await otp.stop(full)


async def test_task_supervisor_child_spec():
    """(TaskSupervisor, options) runs under a Supervisor as a DynamicSupervisor."""
    async with trio.open_nursery() as nursery:
        top = await otp.Supervisor.start(nursery, [(TaskSupervisor, {"name": "ts"})])
        pid = await TaskSupervisor.start_child("ts", nap, 0)
        await pid.wait_exited()
        assert pid.exit_reason == otp.NORMAL
        await otp.stop(top)
