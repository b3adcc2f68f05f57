"""Issue 21, points 1, 2 and 8b: the task helpers as Elixir's own tests have them.

``Task.await_many`` exits with a failing task's reason whichever task it is, and
every helper that waits for a task (``await``, ``await_many``, ``shutdown``,
``async_stream_nolink``) demonitors it with ``:flush``: nothing is left in the
caller's mailbox. ``Task.shutdown`` of a task that already exited with
``:shutdown`` returns ``nil``.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
import trio
import trio.testing

import trio_otp as otp
from trio_otp import Task, TaskSupervisor


async def nap(n: float) -> float:
    await trio.sleep(n)
    return n


async def fail_after(n: float) -> None:
    await trio.sleep(n)
    raise ValueError(f"failed after {n}")


async def assert_mailbox_empty(inbox: otp.Mailbox) -> None:
    with pytest.raises(otp.ReceiveTimeout):
        await inbox.receive(timeout=30)


async def test_await_many_raises_when_the_last_task_to_finish_crashed(autojump_clock: Any):
    """await_many: the last task to exit crashed, so TaskExit, never a placeholder."""
    async with trio.open_nursery() as nursery:
        sup = await TaskSupervisor.start(nursery)
        tasks = [
            await TaskSupervisor.async_nolink(sup, nap, 1),
            await TaskSupervisor.async_nolink(sup, fail_after, 2),
        ]
        with pytest.raises(otp.TaskExit) as info:
            await otp.await_many(tasks)
        assert info.value.task is tasks[1]
        assert isinstance(info.value.__cause__, ValueError)
        await otp.stop(sup)


async def test_await_many_raises_when_the_last_task_was_shut_down(autojump_clock: Any):
    """A last task that exits without a result (shut down) is a failure too."""
    async with trio.open_nursery() as nursery:
        sup = await TaskSupervisor.start(nursery)
        quick = await TaskSupervisor.async_nolink(sup, nap, 1)
        slow = await TaskSupervisor.async_nolink(sup, nap, 10)

        async def stop_slow() -> None:
            await trio.sleep(2)
            await TaskSupervisor.terminate_child(sup, slow.pid)

        nursery.start_soon(stop_slow)
        with pytest.raises(otp.TaskExit) as info:
            await otp.await_many([quick, slow])
        assert info.value.reason == otp.SHUTDOWN
        await otp.stop(sup)


async def test_await_many_single_failing_task(autojump_clock: Any):
    """One task that crashes: TaskExit (it is the last and the only one)."""
    async with trio.open_nursery() as nursery:
        sup = await TaskSupervisor.start(nursery)
        task = await TaskSupervisor.async_nolink(sup, fail_after, 1)
        with pytest.raises(otp.TaskExit):
            await otp.await_many([task])
        await otp.stop(sup)


async def test_wait_timeout_drops_the_late_reply(autojump_clock: Any):
    """AsyncTask.wait() times out; the reply that comes later never reaches the caller."""
    async with trio.open_nursery() as nursery, otp.mailbox() as inbox:
        sup = await TaskSupervisor.start(nursery)
        task = await TaskSupervisor.async_nolink(sup, nap, 10)
        with pytest.raises(otp.TaskTimeout):
            await task.wait(timeout=1)
        await task.pid.wait_exited()  # the task finishes after all
        await assert_mailbox_empty(inbox)
        await otp.stop(sup)


async def test_successful_await_many_leaves_no_task_reply(autojump_clock: Any):
    async with trio.open_nursery() as nursery, otp.mailbox() as inbox:
        sup = await TaskSupervisor.start(nursery)
        tasks = [await TaskSupervisor.async_nolink(sup, nap, n) for n in (1, 2, 3)]
        assert await otp.await_many(tasks) == [1, 2, 3]
        await assert_mailbox_empty(inbox)
        await otp.stop(sup)


async def test_failing_await_many_leaves_no_down(autojump_clock: Any, caplog: Any):
    """After a failure, the other tasks' later exits send nothing to the caller."""
    async with trio.open_nursery() as nursery, otp.mailbox() as inbox:
        sup = await TaskSupervisor.start(nursery)
        tasks = [
            await TaskSupervisor.async_nolink(sup, fail_after, 1),
            await TaskSupervisor.async_nolink(sup, nap, 5),
            await TaskSupervisor.async_nolink(sup, fail_after, 6),
        ]
        with pytest.raises(otp.TaskExit):
            await otp.await_many(tasks)
        for task in tasks:
            await task.pid.wait_exited()
        await assert_mailbox_empty(inbox)
        await otp.stop(sup)


async def test_await_many_timeout_leaves_no_message(autojump_clock: Any):
    async with trio.open_nursery() as nursery, otp.mailbox() as inbox:
        sup = await TaskSupervisor.start(nursery)
        tasks = [await TaskSupervisor.async_nolink(sup, nap, n) for n in (1, 9)]
        with pytest.raises(otp.TaskTimeout):
            await otp.await_many(tasks, timeout=2)
        await tasks[1].pid.wait_exited()
        await assert_mailbox_empty(inbox)
        await otp.stop(sup)


async def test_leaving_async_stream_nolink_early_leaves_no_down(autojump_clock: Any):
    """Breaking out of async_stream_nolink kills its jobs; no Down reaches the consumer."""
    async with trio.open_nursery() as nursery, otp.mailbox() as inbox:
        sup = await TaskSupervisor.start(nursery)
        async with TaskSupervisor.async_stream_nolink(
            sup, [1, 50, 60, 70], nap, max_concurrency=4, timeout=None
        ) as results:
            async for status, value in results:
                assert (status, value) == ("ok", 1)
                break
        await trio.testing.wait_all_tasks_blocked()
        assert await TaskSupervisor.children(sup) == []
        await assert_mailbox_empty(inbox)
        await otp.stop(sup)


async def test_async_stream_nolink_to_the_end_leaves_no_message(autojump_clock: Any):
    async with trio.open_nursery() as nursery, otp.mailbox() as inbox:
        sup = await TaskSupervisor.start(nursery)
        async with TaskSupervisor.async_stream_nolink(sup, [1, 2, 3], nap) as results:
            assert [value async for _, value in results] == [1, 2, 3]
        await assert_mailbox_empty(inbox)
        await otp.stop(sup)


async def test_shutdown_leaves_no_message(autojump_clock: Any):
    async with trio.open_nursery() as nursery, otp.mailbox() as inbox:
        sup = await TaskSupervisor.start(nursery)
        running = await TaskSupervisor.async_nolink(sup, nap, 10)
        done = await TaskSupervisor.async_nolink(sup, nap, 1)
        await trio.sleep(2)
        assert await running.shutdown() is None
        assert await done.shutdown() == ("ok", 1)
        await assert_mailbox_empty(inbox)
        await otp.stop(sup)


async def test_shutdown_of_a_task_already_shut_down_is_none(autojump_clock: Any):
    """Elixir's Task.shutdown returns nil for a task that already exited :shutdown."""
    async with trio.open_nursery() as nursery:
        sup = await TaskSupervisor.start(nursery)
        task = await TaskSupervisor.async_nolink(sup, nap, 10)
        await TaskSupervisor.terminate_child(sup, task.pid)
        assert task.pid.exit_reason == otp.SHUTDOWN
        assert await task.shutdown() is None
        crashed = await TaskSupervisor.async_nolink(sup, fail_after, 1)
        await crashed.pid.wait_exited()
        result = await crashed.shutdown()
        assert result is not None
        assert result[0] == "exit"
        assert isinstance(result[1], ValueError)
        await otp.stop(sup)


class Fanout(otp.GenServer[Any]):
    """Awaits several tasks inside handle_call, as an application would."""

    async def handle_call(self, request: Any, from_: otp.From, sup: Any) -> otp.Reply[Any]:
        tasks = [await Task.async_nolink(sup, nap, n) for n in request]
        return otp.Reply(await otp.await_many(tasks), sup)


async def test_gen_server_using_await_many_logs_no_unexpected_message(
    autojump_clock: Any, caplog: Any
):
    caplog.set_level(logging.DEBUG, logger="trio_otp")
    async with trio.open_nursery() as nursery:
        sup = await TaskSupervisor.start(nursery)
        server = await Fanout.start(nursery, sup)
        for _ in range(3):
            assert await otp.call(server, [1, 2, 3], timeout=30) == [1, 2, 3]
        await trio.sleep(1)
        assert await otp.call(server, [1], timeout=30) == [1]
        await otp.stop(server)
        await otp.stop(sup)
    unexpected = [r for r in caplog.records if "unexpected" in r.getMessage()]
    assert unexpected == []
