"""A crashed transient Task restarted in its own trio task (_behaviours/_task.py, _run).

Under one_for_one within the intensity, the restart of a supervised Task that
raised runs in the trio task the crash ran in, under a new Pid: these tests pin what
the old way (a new trio task per restart) gave, as OTP's restart asks.
"""

from __future__ import annotations

from typing import Any

import trio
import trio.testing

import trio_otp as otp
from trio_otp import DynamicSupervisor, Supervisor, Task


def _me() -> otp.Pid:
    pid = otp.current_process()
    assert pid is not None
    return pid


async def _start_transient(
    nursery: trio.Nursery, job: Any, **intensity: Any
) -> tuple[otp.Pid, otp.Pid]:
    """A DynamicSupervisor in ``nursery`` and ``job`` under it as a transient Task."""
    ds = await DynamicSupervisor.start(nursery, **intensity)
    spec = Supervisor.child_spec((Task, job), restart="transient")
    first = await DynamicSupervisor.start_child(ds, spec)
    assert first is not None
    return ds, first


async def test_restart_runs_a_new_process_and_the_old_one_stays_dead(autojump_clock: Any):
    """Each attempt has its own Pid; the earlier ones stay exited with their crash."""
    attempts: list[otp.Pid] = []
    tasks: list[trio.lowlevel.Task] = []
    down: list[object] = []

    def job() -> str:
        pid = _me()
        attempts.append(pid)
        tasks.append(trio.lowlevel.current_task())
        if len(attempts) < 3:
            raise RuntimeError(f"attempt {len(attempts)}")
        return "done"

    async with trio.open_nursery() as nursery:
        ds, first = await _start_transient(nursery, job)
        await trio.testing.wait_all_tasks_blocked()
        assert attempts[0] is first
        assert len(set(attempts)) == 3
        assert tasks[0] is tasks[1] is tasks[2]  # one trio task ran them all
        for pid in attempts[:2]:
            assert not pid.alive
            assert isinstance(pid.exit_reason, RuntimeError)
            down.append(await pid.wait_exited())
        assert attempts[2].exit_reason == otp.NORMAL
        assert [str(r) for r in down] == ["attempt 1", "attempt 2"]
        assert all(p.parent is ds for p in attempts)
        assert await DynamicSupervisor.count_children(ds) == otp.ChildCounts(0, 0, 0, 0)
        await DynamicSupervisor.stop(ds)


async def test_each_restart_is_a_schedule_point(autojump_clock: Any):
    """A job that always fails lets the others run between its attempts: no starving."""
    attempts: list[int] = []
    ticks: list[int] = []

    def job() -> None:
        attempts.append(len(ticks))
        raise RuntimeError("always")

    async with trio.open_nursery() as nursery:
        ds, _ = await _start_transient(nursery, job, max_restarts=1_000_000, max_seconds=5)
        for i in range(20):
            ticks.append(i)
            await trio.lowlevel.cancel_shielded_checkpoint()
        # One scheduler pass per tick, and at most one attempt per pass.
        assert 10 <= len(attempts) <= 21
        assert attempts == sorted(attempts)
        await DynamicSupervisor.stop(ds)


async def test_monitor_and_link_of_the_crashed_attempt_fire(autojump_clock: Any):
    """Whoever watched the failed attempt gets its Down; the new attempt is not watched."""
    release = trio.Event()
    runs: list[otp.Pid] = []

    async def job() -> None:
        pid = _me()
        runs.append(pid)
        if len(runs) == 1:
            await release.wait()
            raise RuntimeError("first")
        await trio.sleep_forever()

    async with trio.open_nursery() as nursery:
        ds, first = await _start_transient(nursery, job)
        async with otp.mailbox() as inbox:
            ref = otp.monitor(first)
            await trio.testing.wait_all_tasks_blocked()
            release.set()
            down = await inbox.receive(timeout=1)
            assert isinstance(down, otp.Down)
            assert down.ref == ref
            assert down.pid is first
            assert isinstance(down.reason, RuntimeError)
        await trio.testing.wait_all_tasks_blocked()
        assert len(runs) == 2
        assert runs[1].alive
        assert await DynamicSupervisor.which_children(ds) == [
            otp.ChildInfo(None, runs[1], otp.ChildType.WORKER, (Task,))
        ]
        await DynamicSupervisor.stop(ds)
        assert runs[1].exit_reason == otp.SHUTDOWN


async def test_exit_signal_while_its_restart_waits(autojump_clock: Any):
    """An exit signal to the new handle before the restart ran: fn does not run under
    it, it exits with that reason, and the transient child is restarted again."""
    runs: list[otp.Pid] = []
    signalled: list[otp.Pid] = []
    holder: dict[str, Any] = {}

    def job() -> None:
        pid = _me()
        runs.append(pid)
        holder.setdefault("task", trio.lowlevel.current_task())
        if len(runs) == 1:
            raise RuntimeError("first")

    class SignalOnResume(trio.abc.Instrument):
        # Runs just before the job's task resumes after its crash: the restart's
        # schedule point, where a new trio task would not have run yet either.
        def before_task_step(self, task: trio.lowlevel.Task) -> None:
            if task is holder.get("task") and len(runs) == 1 and not signalled:
                ds = runs[0].parent
                assert ds is not None
                (new,) = list(ds._impl._children)  # type: ignore[attr-defined]
                signalled.append(new)
                otp.exit(new, "boom")

    trio.lowlevel.add_instrument(SignalOnResume())
    async with trio.open_nursery() as nursery:
        ds, first = await _start_transient(nursery, job)
        await trio.testing.wait_all_tasks_blocked()
        assert len(signalled) == 1
        (killed,) = signalled
        assert killed is not first
        assert killed.exit_reason == "boom"
        assert killed not in runs  # fn never ran under it
        assert len(runs) == 2
        assert runs[0] is first
        assert runs[1].exit_reason == otp.NORMAL
        assert await DynamicSupervisor.count_children(ds) == otp.ChildCounts(0, 0, 0, 0)
        await DynamicSupervisor.stop(ds)


async def test_supervisor_stop_stops_a_crashing_job(autojump_clock: Any):
    """A job that keeps failing is stopped with its supervisor, whatever attempt runs."""
    runs: list[otp.Pid] = []

    def job() -> None:
        pid = _me()
        runs.append(pid)
        raise RuntimeError("always")

    async with trio.open_nursery() as nursery:
        ds, _ = await _start_transient(nursery, job, max_restarts=1_000_000, max_seconds=5)
        for _ in range(10):
            await trio.lowlevel.cancel_shielded_checkpoint()
        assert len(runs) > 3
        await DynamicSupervisor.stop(ds)
    assert ds.exit_reason == otp.NORMAL
    assert all(not p.alive for p in runs)


async def test_the_spawner_makes_the_handle_pid_new_makes() -> None:
    """_spawn_task builds its Pid inline: every slot as Pid._new(detached=True) sets it."""
    from trio_otp._behaviours._task import _spawn_task
    from trio_otp._core._process import EMPTY, Pid
    from trio_otp._server._child import _Child

    started: list[tuple[Any, ...]] = []

    class Nursery:
        def start_soon(self, *args: Any, **kwargs: Any) -> None:
            started.append(args)

    def job() -> None:
        pass

    async with trio.open_nursery() as nursery:
        ds = await DynamicSupervisor.start(nursery)
        spec = Supervisor.child_spec((Task, job), restart="transient")
        child = _Child(ds._impl, spec, spec.args)  # type: ignore[arg-type]
        made = _spawn_task(Nursery(), child)  # type: ignore[arg-type]
        like = Pid._new("Task", None, EMPTY, job, ds, detached=True)
        like._switch = child
        for slot in Pid.__slots__:
            if slot not in ("__weakref__", "_id"):
                assert getattr(made, slot) == getattr(like, slot), slot
        assert made._id == like._id - 1
        assert child.handle is made
        assert len(started) == 1
        ds._impl._children.clear()  # type: ignore[attr-defined]
        await DynamicSupervisor.stop(ds)
