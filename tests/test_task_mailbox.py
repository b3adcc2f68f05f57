"""Issue 21, point 7: a Task receives the messages sent to its pid (as in Elixir).

Inside a Task, ``otp.mailbox()`` is a view of the task's own mailbox: what was sent
to the task's pid, even before the block opened, is received there.
"""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing

import trio_otp as otp
from trio_otp import Registry, TaskSupervisor


async def test_a_supervised_task_receives_what_is_sent_to_its_pid(autojump_clock: Any):
    got: list[Any] = []

    async def worker() -> None:
        async with otp.mailbox() as inbox:
            assert inbox.pid is otp.current_process()
            got.append(await inbox.receive(timeout=5))
            got.append(await inbox.receive(timeout=5))

    async with trio.open_nursery() as nursery:
        sup = await TaskSupervisor.start(nursery)
        pid = await TaskSupervisor.start_child(sup, worker)
        otp.send(pid, "sent before the task ran")  # queued, as in Elixir
        await trio.testing.wait_all_tasks_blocked()
        otp.send(pid, "sent while it waits")
        with trio.fail_after(10):
            assert await pid.wait_exited() == otp.NORMAL
        await otp.stop(sup)
    assert got == ["sent before the task ran", "sent while it waits"]


async def test_a_task_gets_registry_dispatches_and_monitor_downs(autojump_clock: Any):
    got: list[Any] = []

    async def subscriber(registry: str, other: otp.Pid) -> None:
        Registry.register(registry, "topic", None)
        async with otp.mailbox() as inbox:
            ref = otp.monitor(other)
            got.append(await inbox.receive(lambda m: isinstance(m, tuple), timeout=5))
            got.append(await inbox.receive(timeout=5) == otp.Down(ref, other, otp.NORMAL))

    async def short_lived() -> None:
        await trio.sleep(3)

    async with trio.open_nursery() as nursery:
        await Registry.start(nursery, keys="duplicate", name="bus")
        sup = await TaskSupervisor.start(nursery)
        other = await TaskSupervisor.start_child(sup, short_lived)
        pid = await TaskSupervisor.start_child(sup, subscriber, "bus", other)
        await trio.testing.wait_all_tasks_blocked()
        Registry.dispatch(
            "bus", "topic", lambda entries: [otp.send(p, ("news", 1)) for p, _ in entries]
        )
        with trio.fail_after(10):
            await pid.wait_exited()
        await otp.stop(sup)
        nursery.cancel_scope.cancel()
    assert got == [("news", 1), True]


async def test_leaving_a_block_keeps_what_a_selective_receive_passed_over(autojump_clock: Any):
    got: list[Any] = []

    async def worker() -> None:
        async with otp.mailbox() as inbox:
            got.append(await inbox.receive(lambda m: m == "b", timeout=5))
        async with otp.mailbox() as inbox:
            got.append(await inbox.receive(timeout=5))
            got.append(await inbox.receive(timeout=5))

    async with trio.open_nursery() as nursery:
        sup = await TaskSupervisor.start(nursery)
        pid = await TaskSupervisor.start_child(sup, worker)
        for message in ("a", "b", "c"):
            otp.send(pid, message)
        with trio.fail_after(10):
            await pid.wait_exited()
        await otp.stop(sup)
    assert got == ["b", "a", "c"]


async def test_a_task_started_in_a_nursery_has_a_mailbox_too():
    async def echo_once(parent: otp.Pid) -> None:
        async with otp.mailbox() as inbox:
            otp.send(parent, ("echo", await inbox.receive(timeout=5)))

    async with otp.mailbox() as me, trio.open_nursery() as nursery:
        pid = await otp.Task.start(nursery, echo_once, me.pid)
        otp.send(pid, "hi")
        assert await me.receive(timeout=5) == ("echo", "hi")


async def test_a_task_block_takes_no_name_and_cannot_trap():
    errors: list[str] = []

    async def worker() -> None:
        for kwargs in ({"name": "x"}, {"trap_exit": True}):
            with pytest.raises(TypeError) as info:
                async with otp.mailbox(**kwargs):
                    pass  # pragma: no cover
            errors.append(str(info.value))
        with pytest.raises(TypeError, match="does not trap exits"):
            otp.trap_exit(True)

    async with trio.open_nursery() as nursery:
        await otp.Task.start(nursery, worker)
    assert "takes no name" in errors[0]
    assert "does not trap exits" in errors[1]


async def test_stop_of_a_task_still_says_how_to_stop_one():
    async with trio.open_nursery() as nursery:
        pid = await otp.Task.start(nursery, trio.sleep_forever)
        with pytest.raises(TypeError, match="terminate_child"):
            await otp.stop(pid)
        nursery.cancel_scope.cancel()


async def test_a_task_answers_a_call_it_receives(autojump_clock: Any):
    """As a mailbox block does: a call arrives as ("$gen_call", from_, request)."""

    async def answer_one() -> None:
        async with otp.mailbox() as inbox:
            tag, from_, request = await inbox.receive(timeout=5)
            assert tag == "$gen_call"
            otp.reply(from_, ("answer", request))

    async with trio.open_nursery() as nursery:
        pid = await otp.Task.start(nursery, answer_one)
        assert await otp.call(pid, "question", timeout=5) == ("answer", "question")


async def test_trap_exit_false_in_a_task_leaves_its_function_alone():
    """trap_exit(False) in a Task returns False and sets nothing on ``fn`` (a bound
    method takes no attributes)."""
    seen: list[bool] = []

    class Job:
        async def run(self) -> None:
            seen.append(otp.trap_exit(False))

    async with trio.open_nursery() as nursery:
        await otp.Task.start(nursery, Job().run)
    assert seen == [False]


@pytest.mark.parametrize("process", [True, False])
async def test_async_stream_jobs_receive_as_the_docs_say(process: bool, autojump_clock: Any):
    """process=True: each job is a Task, its block reads the job's own mailbox;
    process=False: a job is a plain trio task, and a block in it is a process of its
    own (a pid apart from the block's caller)."""

    async def job(item: int) -> tuple[bool, int]:
        before = otp.current_process()
        async with otp.mailbox() as inbox:
            otp.send(inbox.pid, item * 10)
            return inbox.pid is before, await inbox.receive(timeout=1)

    async with otp.mailbox() as me, otp.async_stream([1, 2], job, process=process) as results:
        got = [value async for _status, value in results]
        assert me.pid is otp.current_process()
    assert got == [(process, 10), (process, 20)]


async def test_a_task_gets_the_task_reply_of_an_async_nolink_it_started(autojump_clock: Any):
    """As any process in Elixir: the result comes back as a TaskReply message (and no
    Down after it)."""
    got: list[Any] = []

    async def coordinator(sup: otp.Pid) -> None:
        task = await otp.Task.async_nolink(sup, trio.sleep, 1)
        async with otp.mailbox() as inbox:
            got.append(await inbox.receive(timeout=5) == otp.TaskReply(task.ref, None))
            with pytest.raises(otp.ReceiveTimeout):
                await inbox.receive(timeout=1)

    async with trio.open_nursery() as nursery:
        sup = await TaskSupervisor.start(nursery)
        pid = await TaskSupervisor.start_child(sup, coordinator, sup)
        with trio.fail_after(10):
            assert await pid.wait_exited() == otp.NORMAL
        await otp.stop(sup)
    assert got == [True]
