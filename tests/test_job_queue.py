"""The seed chapter's job queue, scenario by scenario (otp-behaviour.md section A)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
import trio

import trio_otp as otp
from trio_otp import DynamicSupervisor, Supervisor, Task


class JobQueue(otp.GenServer[None]):
    """The seed's JobQueue; ``restart`` is the task spec's restart type."""

    restart = otp.Restart.TEMPORARY

    @classmethod
    def child_spec(cls, arg: Any = None, **overrides: Any) -> otp.ChildSpec:
        return super().child_spec(arg, name=cls, **overrides)

    @classmethod
    async def schedule_job(cls, job: Callable[[], Any]) -> Any:
        return await otp.call(cls, ("schedule_job", job))

    async def handle_call(self, request: Any, from_: otp.From, state: None) -> otp.NoReply[None]:
        _, job = request

        def run_job() -> None:
            otp.reply(from_, job())

        spec = Supervisor.child_spec((Task, run_job), restart=self.restart)
        await DynamicSupervisor.start_child("JobSupervisor", spec)
        return otp.NoReply(state)


class TransientJobQueue(JobQueue):
    restart = otp.Restart.TRANSIENT

    @classmethod
    def child_spec(cls, arg: Any = None, **overrides: Any) -> otp.ChildSpec:
        return otp.GenServer.child_spec.__func__(cls, arg, name=JobQueue, **overrides)  # type: ignore[attr-defined]


def children(queue: type[JobQueue] = JobQueue) -> list[object]:
    return [(DynamicSupervisor, {"name": "JobSupervisor"}), queue]


async def test_a0_child_specs() -> None:
    """Task specs are temporary; Supervisor.child_spec overrides restart; which_children is in reverse start order."""

    def fn() -> None: ...

    spec = Task.child_spec(fn)
    assert (spec.id, spec.restart, spec.args) == (Task, otp.Restart.TEMPORARY, (fn,))
    fixed = Supervisor.child_spec((Task, fn), restart="transient")
    assert (fixed.id, fixed.restart, fixed.start, fixed.args) == (
        Task, otp.Restart.TRANSIENT, spec.start, (fn,)
    )
    async with Supervisor.open(children(), name="my_app_supervisor") as sup:
        infos = await Supervisor.which_children(sup)
        assert [(i.id, i.type, i.modules) for i in infos] == [
            (JobQueue, otp.ChildType.WORKER, (JobQueue,)),
            ("JobSupervisor", otp.ChildType.SUPERVISOR, (DynamicSupervisor,)),
        ]
        assert infos[0].pid is otp.whereis(JobQueue)
        assert infos[1].pid is otp.whereis("JobSupervisor")


async def test_a1_successful_job(autojump_clock: trio.abc.Clock) -> None:
    """A job's result reaches the caller through the task's reply to ``from``."""
    async with Supervisor.open(children(), name="my_app_supervisor"):
        assert await JobQueue.schedule_job(lambda: "Job result") == "Job result"
        assert trio.current_time() == 0


async def test_a2_failing_temporary_job_times_out(
    autojump_clock: trio.abc.Clock, caplog: pytest.LogCaptureFixture
) -> None:
    """A temporary task that crashes is not restarted: its caller times out at exactly 5 s."""

    def boom() -> str:
        raise RuntimeError("boom")

    async with Supervisor.open(children(), name="my_app_supervisor"):
        queue, jobs = otp.whereis(JobQueue), otp.whereis("JobSupervisor")
        with pytest.raises(otp.CallTimeout) as info:
            await JobQueue.schedule_job(boom)
        assert trio.current_time() == 5.0
        assert info.value.server is JobQueue and info.value.timeout == 5.0
        assert "timed out after 5 s" in str(info.value)
        counts = await DynamicSupervisor.count_children("JobSupervisor")
        assert counts == otp.ChildCounts(specs=0, active=0, supervisors=0, workers=0)
        assert await DynamicSupervisor.which_children("JobSupervisor") == []
        assert otp.whereis(JobQueue) is queue and otp.whereis("JobSupervisor") is jobs
        crashes = [r for r in caplog.records if r.name == "trio_otp.task"]
        assert len(crashes) == 1
        assert "started from JobSupervisor terminating" in crashes[0].getMessage()
        assert "** (RuntimeError) boom" in crashes[0].getMessage()
        assert await JobQueue.schedule_job(lambda: "Job result") == "Job result"


async def test_a3_transient_job_is_restarted(autojump_clock: trio.abc.Clock) -> None:
    """A transient task is re-run, each attempt in a new process, and its reply still arrives."""
    attempts: list[otp.Pid | None] = []

    def flaky() -> str:
        attempts.append(otp.current_process())
        if len(attempts) <= 2:
            raise RuntimeError(f"attempt {len(attempts)} failed")
        return "Job result"

    async with Supervisor.open(children(TransientJobQueue), name="my_app_supervisor"):
        assert await JobQueue.schedule_job(flaky) == "Job result"
        assert len(attempts) == 3 and len(set(attempts)) == 3
        assert trio.current_time() == 0


async def test_a5_always_failing_transient_job_escalates(
    autojump_clock: trio.abc.Clock,
) -> None:
    """The 4th crash shuts JobSupervisor down; the top supervisor restarts it; the caller times out."""
    attempts = 0

    def doomed() -> str:
        nonlocal attempts
        attempts += 1
        raise RuntimeError("always")

    async with Supervisor.open(children(TransientJobQueue), name="my_app_supervisor"):
        queue, jobs = otp.whereis(JobQueue), otp.whereis("JobSupervisor")
        assert jobs is not None
        with pytest.raises(otp.CallTimeout):
            await JobQueue.schedule_job(doomed)
        assert trio.current_time() == 5.0
        assert attempts == 4
        assert jobs.exit_reason == otp.SHUTDOWN
        new_jobs = otp.whereis("JobSupervisor")
        assert new_jobs is not None and new_jobs is not jobs and new_jobs.alive
        assert otp.whereis(JobQueue) is queue
        assert await JobQueue.schedule_job(lambda: "Job result") == "Job result"
