"""Task: one function as a supervised process, and async_nolink/wait (_behaviours/_task.py).

Task rows of otp-behaviour.md sections A, C, G and H (2, 3).
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
import trio
import trio.testing

import trio_otp as otp
from trio_otp import DynamicSupervisor, Supervisor, Task
from trio_otp.testing import capture_reports


def test_child_spec_defaults():
    """Task.child_spec(fn, *args): id Task, restart temporary, shutdown 5 s, worker."""

    def fn(a: int, b: int) -> int:
        return a + b

    spec = Task.child_spec(fn, 1, 2)
    assert spec == otp.ChildSpec(
        id=Task,
        start=Task.serve,
        args=(fn, 1, 2),
        restart=otp.Restart.TEMPORARY,
        type=otp.ChildType.WORKER,
        shutdown=5.0,
        modules=(Task,),
    )
    assert Supervisor.child_spec((Task, fn)) == Task.child_spec(fn)


def test_child_spec_needs_a_function():
    """Task.child_spec of something that is not callable is a ChildSpecError, like any bad spec."""
    with pytest.raises(otp.ChildSpecError, match="function"):
        Task.child_spec(42)  # type: ignore[arg-type]


async def test_task_under_dynamic_supervisor_runs_and_is_forgotten():
    """(Task, fn) under a DynamicSupervisor runs fn in a new process, then is removed."""
    ran: list[Any] = []
    done = trio.Event()

    async def job(x: int) -> None:
        ran.append((x, otp.current_process()))
        await done.wait()

    async with trio.open_nursery() as nursery:
        ds = await DynamicSupervisor.start(nursery, name="jobs")
        pid = await DynamicSupervisor.start_child(ds, Task.child_spec(job, 7))
        assert pid is not None
        assert pid.kind == "Task"
        assert pid.parent is ds
        await trio.testing.wait_all_tasks_blocked()
        assert ran == [(7, pid)]
        assert await DynamicSupervisor.which_children(ds) == [
            otp.ChildInfo(None, pid, otp.ChildType.WORKER, (Task,))
        ]
        done.set()
        assert await pid.wait_exited() == otp.NORMAL
        await trio.testing.wait_all_tasks_blocked()
        assert await DynamicSupervisor.which_children(ds) == []
        await DynamicSupervisor.stop(ds)


async def test_sync_and_async_functions_both_run():
    """A plain function runs inline; an async function's result is awaited."""
    seen: list[str] = []

    def sync_job() -> None:
        seen.append("sync")

    async def async_job() -> None:
        await trio.lowlevel.checkpoint()
        seen.append("async")

    async with trio.open_nursery() as nursery:
        for fn in (sync_job, async_job):
            pid = await Task.start(nursery, fn)
            assert await pid.wait_exited() == otp.NORMAL
    assert seen == ["sync", "async"]


async def test_crashing_temporary_task_is_logged_and_not_restarted():
    """A temporary task that raises is logged once ('started from <parent>'), not re-run."""
    attempts: list[otp.Pid | None] = []

    def boom() -> None:
        attempts.append(otp.current_process())
        raise RuntimeError("boom")

    with capture_reports() as reports:
        async with trio.open_nursery() as nursery:
            ds = await DynamicSupervisor.start(nursery, name="JobSupervisor")
            pid = await DynamicSupervisor.start_child(ds, (Task, boom))
            assert pid is not None
            reason = await pid.wait_exited()
            assert isinstance(reason, RuntimeError)
            await trio.testing.wait_all_tasks_blocked()
            assert attempts == [pid]
            assert await DynamicSupervisor.count_children(ds) == otp.ChildCounts(0, 0, 0, 0)
            await DynamicSupervisor.stop(ds)
    (report,) = reports.crashes()
    assert report.kind == "task_terminating"
    assert report.process == pid
    assert isinstance(report.reason, RuntimeError)
    assert report.level == logging.ERROR
    message = report.message
    assert message.startswith(f"Task {pid!r} started from JobSupervisor terminating\n")
    assert "** (RuntimeError) boom" in message
    assert "Function: " in message
    assert "Args: []" in message


async def test_transient_task_reruns_the_same_function_and_replies(autojump_clock):
    """A transient task re-runs the same function in new processes; its from gets the reply."""
    attempts: list[otp.Pid | None] = []

    class Front(otp.GenServer[None]):
        async def handle_call(self, request: Any, from_: otp.From, state: None) -> Any:
            def job() -> None:
                attempts.append(otp.current_process())
                if len(attempts) <= 2:
                    raise RuntimeError(f"attempt {len(attempts)} failed")
                otp.reply(from_, ("result", request))

            spec = Supervisor.child_spec((Task, job), restart="transient")
            await DynamicSupervisor.start_child("jobs", spec)
            return otp.NoReply(state)

    async with Supervisor.open([(DynamicSupervisor, {"name": "jobs"}), Front]) as sup:
        front = {i.id: i.pid for i in await Supervisor.which_children(sup)}[Front]
        assert await otp.call(front, 42) == ("result", 42)
        assert trio.current_time() == 0
        assert len(attempts) == 3
        assert len(set(attempts)) == 3
        assert all(p is not None and p.parent is otp.whereis("jobs") for p in attempts)


async def test_transient_task_that_returns_is_not_restarted():
    """A transient task that returns normally runs once and is removed."""
    runs: list[int] = []

    async with trio.open_nursery() as nursery:
        ds = await DynamicSupervisor.start(nursery)
        spec = Supervisor.child_spec((Task, lambda: runs.append(1)), restart="transient")
        pid = await DynamicSupervisor.start_child(ds, spec)
        assert pid is not None
        await pid.wait_exited()
        await trio.testing.wait_all_tasks_blocked()
        assert runs == [1]
        assert await DynamicSupervisor.which_children(ds) == []
        await DynamicSupervisor.stop(ds)


async def test_task_start_links_to_the_nursery():
    """Task.start is linked: the function's exception reaches the owning nursery."""
    boom = ValueError("linked")

    def fail() -> None:
        raise boom

    with pytest.RaisesGroup(pytest.RaisesExc(ValueError, check=lambda e: e is boom)):
        async with trio.open_nursery() as nursery:
            pid = await Task.start(nursery, fail)
    assert pid.exit_reason is boom


# --------------------------------------------------------------------------------------
# async_nolink / wait
# --------------------------------------------------------------------------------------


async def test_async_nolink_wait_returns_the_result(autojump_clock):
    """async_nolink runs fn under the DynamicSupervisor; wait returns its result (sync or async)."""

    async def slow(x: int) -> int:
        await trio.sleep(1)
        return x * 2

    async with trio.open_nursery() as nursery:
        ds = await DynamicSupervisor.start(nursery)
        first = await Task.async_nolink(ds, slow, 21)
        second = await Task.async_nolink(ds, lambda: "sync result")
        assert first.pid.parent is ds
        assert await first.wait() == 42
        assert trio.current_time() == 1
        assert await second.wait() == "sync result"
        await DynamicSupervisor.stop(ds)


async def test_async_nolink_crash_raises_task_exit_with_cause(caplog):
    """A crashed task makes wait raise TaskExit whose reason and __cause__ are the exception."""
    boom = RuntimeError("boom")

    def fail() -> None:
        raise boom

    async with trio.open_nursery() as nursery:
        ds = await DynamicSupervisor.start(nursery)
        task = await Task.async_nolink(ds, fail)
        with pytest.raises(otp.TaskExit) as info:
            await task.wait()
        assert info.value.reason is boom
        assert info.value.__cause__ is boom
        assert info.value.task is task
        # Not linked: the caller and the supervisor carry on.
        assert ds.alive
        assert not nursery.cancel_scope.cancel_called
        await DynamicSupervisor.stop(ds)


async def test_async_nolink_wait_times_out_at_5_s_and_task_keeps_running(autojump_clock):
    """wait() raises TaskTimeout at exactly 5 s; the task runs on; a later wait gets its result."""

    async def slow() -> str:
        await trio.sleep(8)
        return "late"

    async with trio.open_nursery() as nursery:
        ds = await DynamicSupervisor.start(nursery)
        task = await Task.async_nolink(ds, slow)
        with pytest.raises(otp.TaskTimeout) as info:
            await task.wait()
        assert trio.current_time() == 5.0
        assert info.value.timeout == 5.0
        assert info.value.task is task
        assert task.pid.alive
        assert await task.wait(timeout=None) == "late"
        assert trio.current_time() == 8.0
        await DynamicSupervisor.stop(ds)


async def test_async_nolink_shut_down_task_raises_task_exit(autojump_clock):
    """A task terminated by its supervisor makes wait raise TaskExit with reason shutdown."""
    async with trio.open_nursery() as nursery:
        ds = await DynamicSupervisor.start(nursery)
        task = await Task.async_nolink(ds, trio.sleep_forever)
        await DynamicSupervisor.terminate_child(ds, task.pid)
        assert trio.current_time() == 0  # a Task does not trap exits: stopped at once
        with pytest.raises(otp.TaskExit) as info:
            await task.wait()
        assert info.value.reason == otp.SHUTDOWN
        assert info.value.__cause__ is None
        await DynamicSupervisor.stop(ds)


async def test_task_exit_normal_is_silent(caplog):
    """A task that returns gets no crash report and no 'terminated' supervisor report."""
    caplog.set_level(logging.DEBUG, logger="trio_otp")
    async with trio.open_nursery() as nursery:
        ds = await DynamicSupervisor.start(nursery)
        task = await Task.async_nolink(ds, lambda: None)
        assert await task.wait() is None
        await DynamicSupervisor.stop(ds)
    assert [r for r in caplog.records if r.name in ("trio_otp.task", "trio_otp.gen_server")] == []
    assert [r for r in caplog.records if "terminated" in r.getMessage()] == []


async def test_async_nolink_ignores_extra_arguments() -> None:
    """A DynamicSupervisor's extra_arguments are not passed to an async_nolink task."""
    async with trio.open_nursery() as nursery:
        sup = await DynamicSupervisor.start(nursery, extra_arguments=("extra",))
        task = await Task.async_nolink(sup, lambda x: x * 2, 21)
        assert await task.wait() == 42
        await DynamicSupervisor.stop(sup)


# --------------------------------------------------------------------------------------
# async_nolink from a process: results as messages
# --------------------------------------------------------------------------------------


class Coordinator(otp.GenServer[list[Any]]):
    """Starts tasks with async_nolink and records the messages they produce."""

    async def handle_call(self, request: Any, from_: otp.From, record: list[Any]) -> Any:
        ds, fn = request
        task = await Task.async_nolink(ds, fn)
        return otp.Reply(task, record)

    async def handle_info(self, message: Any, record: list[Any]) -> Any:
        record.append(message)
        return otp.NoReply(record)


async def test_async_nolink_from_a_process_delivers_task_reply_and_down(autojump_clock, caplog):
    """From a GenServer: success is TaskReply(ref, result), failure Down(ref, pid, exc)."""
    record: list[Any] = []

    async def ok() -> str:
        await trio.sleep(1)
        return "done"

    async def fail() -> None:
        await trio.sleep(2)
        raise ValueError("nope")

    async with trio.open_nursery() as nursery:
        ds = await DynamicSupervisor.start(nursery)
        server = await Coordinator.start(nursery, record)
        good = await otp.call(server, (ds, ok))
        bad = await otp.call(server, (ds, fail))
        await trio.sleep(3)
        await otp.stop(server)
        await DynamicSupervisor.stop(ds)
    assert good.ref != bad.ref
    assert record[0] == otp.TaskReply(good.ref, "done")
    assert record[1].ref is bad.ref
    assert record[1].pid is bad.pid
    assert isinstance(record[1].reason, ValueError)
    assert len(record) == 2


async def test_async_nolink_wait_in_a_block_drops_the_message(autojump_clock):
    """AsyncTask.wait() from a process consumes the result: no TaskReply arrives later."""
    async with trio.open_nursery() as nursery, otp.mailbox() as inbox:
        ds = await DynamicSupervisor.start(nursery)
        task = await Task.async_nolink(ds, lambda: 7)
        assert task.ref is not None
        assert await task.wait() == 7
        with pytest.raises(otp.ReceiveTimeout):
            await inbox.receive(timeout=1)
        await DynamicSupervisor.stop(ds)


async def test_async_nolink_in_a_block_receives_the_reply_and_plain_code_has_no_ref():
    """A mailbox block receives TaskReply; from plain trio code the task has no ref."""
    async with trio.open_nursery() as nursery:
        ds = await DynamicSupervisor.start(nursery)
        plain = await Task.async_nolink(ds, lambda: 1)
        assert plain.ref is None
        assert await plain.wait() == 1
        async with otp.mailbox() as inbox:
            task = await Task.async_nolink(ds, lambda: 2)
            assert await inbox.receive() == otp.TaskReply(task.ref, 2)
        await DynamicSupervisor.stop(ds)


async def test_async_nolink_demonitor_flush_forgets_the_task(autojump_clock):
    """demonitor(task.ref, flush=True) means no message, even once the task finishes."""
    async with trio.open_nursery() as nursery, otp.mailbox() as inbox:
        ds = await DynamicSupervisor.start(nursery)
        task = await Task.async_nolink(ds, trio.sleep, 1)
        assert otp.demonitor(task.ref, flush=True) is True
        with pytest.raises(otp.ReceiveTimeout):
            await inbox.receive(timeout=2)
        await DynamicSupervisor.stop(ds)


# -- a Task spawned by a DynamicSupervisor: the supervisor's books and the pid's ------------


async def test_spawned_task_is_listed_counted_and_terminated_by_its_pid(autojump_clock):
    """A spawned Task is listed and counted while it runs; terminate_child stops it (shutdown)."""
    async with trio.open_nursery() as nursery:
        ds = await DynamicSupervisor.start(nursery, max_children=2)
        one = await DynamicSupervisor.start_child(ds, (Task, trio.sleep_forever))
        two = await DynamicSupervisor.start_child(ds, (Task, trio.sleep_forever))
        assert one is not None
        assert two is not None
        assert await DynamicSupervisor.count_children(ds) == otp.ChildCounts(2, 2, 0, 2)
        with pytest.raises(otp.MaxChildrenError):
            await DynamicSupervisor.start_child(ds, (Task, trio.sleep_forever))
        await DynamicSupervisor.terminate_child(ds, one)
        assert one.exit_reason == otp.SHUTDOWN
        assert trio.current_time() == 0  # a Task does not trap exits: stopped at once
        assert await DynamicSupervisor.which_children(ds) == [
            otp.ChildInfo(None, two, otp.ChildType.WORKER, (Task,))
        ]
        with pytest.raises(otp.ChildNotFoundError):
            await DynamicSupervisor.terminate_child(ds, one)
        await DynamicSupervisor.stop(ds)
        assert two.exit_reason == otp.SHUTDOWN


async def test_spawned_task_pid_can_be_monitored_linked_and_killed(autojump_clock):
    """A spawned Task's pid takes monitors and links; an exit signal kills it by its reason."""
    async with trio.open_nursery() as nursery:
        ds = await DynamicSupervisor.start(nursery)
        task = await DynamicSupervisor.start_child(ds, (Task, trio.sleep_forever))
        assert task is not None
        async with otp.mailbox(trap_exit=True) as inbox:
            ref = otp.monitor(task)
            otp.link(task)
            otp.exit(task, "boom")
            down = await inbox.receive(match=lambda m: isinstance(m, otp.Down))
            exit_ = await inbox.receive(match=lambda m: isinstance(m, otp.Exit))
        assert down == otp.Down(ref, task, "boom")
        assert exit_ == otp.Exit(task, "boom")
        assert task.exit_reason == "boom"
        assert await DynamicSupervisor.count_children(ds) == otp.ChildCounts(0, 0, 0, 0)
        await DynamicSupervisor.stop(ds)


async def test_transient_task_killed_by_an_exit_signal_is_restarted_under_a_new_pid(autojump_clock):
    """A transient Task killed by an abnormal exit signal runs again in a new process."""
    pids: list[otp.Pid | None] = []
    release = trio.Event()

    async def job() -> None:
        pids.append(otp.current_process())
        await release.wait()

    async with trio.open_nursery() as nursery:
        ds = await DynamicSupervisor.start(nursery)
        spec = Supervisor.child_spec((Task, job), restart="transient")
        first = await DynamicSupervisor.start_child(ds, spec)
        assert first is not None
        await trio.testing.wait_all_tasks_blocked()
        otp.exit(first, "boom")
        await trio.testing.wait_all_tasks_blocked()
        assert first.exit_reason == "boom"
        assert pids == [first, pids[1]]
        second = pids[1]
        assert second is not None
        assert second is not first
        assert second.parent is ds
        assert await DynamicSupervisor.which_children(ds) == [
            otp.ChildInfo(None, second, otp.ChildType.WORKER, (Task,))
        ]
        release.set()
        assert await second.wait_exited() == otp.NORMAL
        await trio.testing.wait_all_tasks_blocked()
        assert await DynamicSupervisor.count_children(ds) == otp.ChildCounts(0, 0, 0, 0)
        await DynamicSupervisor.stop(ds)


class _Jobs(otp.GenServer[bool]):
    """The Elixir chapter's job queue: a Task per call replies to the caller."""

    async def handle_call(self, request: Any, from_: otp.From, transient: bool) -> Any:
        spec = Task.child_spec(_reply_with, request, from_)
        if transient:
            spec = Supervisor.child_spec(spec, restart=otp.Restart.TRANSIENT)
        await DynamicSupervisor.start_child("JobSupervisor", spec)
        return otp.NoReply(transient)


def _reply_with(fn: Any, from_: otp.From) -> None:
    otp.reply(from_, fn())


async def _run_jobs(n: int, *, transient: bool) -> None:
    failed: set[int] = set()

    def job(i: int) -> Any:
        if transient and i % 3 == 0 and i not in failed:
            failed.add(i)
            raise RuntimeError("flaky")
        return i

    children = [
        (DynamicSupervisor, {"name": "JobSupervisor", "max_restarts": 10_000}),
        (_Jobs, transient),
    ]
    async with Supervisor.open(children) as sup:
        jobs = {i.id: i.pid for i in await Supervisor.which_children(sup)}[_Jobs]
        for i in range(n):
            assert await otp.call(jobs, lambda i=i: job(i)) == i


@pytest.mark.parametrize("transient", [False, True])
async def test_spawned_jobs_leave_no_garbage_cycles(transient: bool, caplog: Any) -> None:
    """A job's Task, its pid and its records are freed by reference counting, not the cyclic GC."""
    import gc

    caplog.set_level(logging.CRITICAL, logger="trio_otp")
    await _run_jobs(10, transient=transient)  # warm up: first-use caches, interned objects
    gc.collect()
    gc.disable()
    try:
        await _run_jobs(10, transient=transient)
        few = gc.collect()
        await _run_jobs(200, transient=transient)
        many = gc.collect()
    finally:
        gc.enable()
    # The tree's own start and stop may leave a fixed amount; 20 times the jobs, not more.
    assert many == few


async def test_crashed_async_nolink_tasks_leave_no_garbage_cycles(caplog: Any) -> None:
    """A crashed async_nolink task's pid, box and error are freed by reference counting."""
    import gc

    caplog.set_level(logging.CRITICAL, logger="trio_otp")

    def boom() -> None:
        raise RuntimeError("boom")

    async def crash(ds: otp.Pid, n: int) -> None:
        for _ in range(n):
            task = await Task.async_nolink(ds, boom)
            with pytest.raises(otp.TaskExit):
                await task.wait()

    async with trio.open_nursery() as nursery:
        ds = await DynamicSupervisor.start(nursery)
        await crash(ds, 5)
        gc.collect()
        gc.disable()
        try:
            await crash(ds, 5)
            few = gc.collect()
            await crash(ds, 100)
            many = gc.collect()
        finally:
            gc.enable()
        await DynamicSupervisor.stop(ds)
    assert many == few
