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
    """Task specs are temporary, child_spec overrides restart, which_children is reverse order."""

    def fn() -> None: ...

    spec = Task.child_spec(fn)
    assert (spec.id, spec.restart, spec.args) == (Task, otp.Restart.TEMPORARY, (fn,))
    fixed = Supervisor.child_spec((Task, fn), restart="transient")
    assert (fixed.id, fixed.restart, fixed.start, fixed.args) == (
        Task,
        otp.Restart.TRANSIENT,
        spec.start,
        (fn,),
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
        assert info.value.server is JobQueue
        assert info.value.timeout == 5.0
        assert "timed out after 5 s" in str(info.value)
        counts = await DynamicSupervisor.count_children("JobSupervisor")
        assert counts == otp.ChildCounts(specs=0, active=0, supervisors=0, workers=0)
        assert await DynamicSupervisor.which_children("JobSupervisor") == []
        assert otp.whereis(JobQueue) is queue
        assert otp.whereis("JobSupervisor") is jobs
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
        assert len(attempts) == 3
        assert len(set(attempts)) == 3
        assert trio.current_time() == 0


async def test_a5_always_failing_transient_job_escalates(
    autojump_clock: trio.abc.Clock,
) -> None:
    """The 4th crash ends JobSupervisor, the top restarts it, and the caller times out."""
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
        assert new_jobs is not None
        assert new_jobs is not jobs
        assert new_jobs.alive
        assert otp.whereis(JobQueue) is queue
        assert await JobQueue.schedule_job(lambda: "Job result") == "Job result"


async def test_a4_intensity_is_per_supervisor_across_jobs(autojump_clock: trio.abc.Clock) -> None:
    """After A3, each 4th crash in JobSupervisor's window loses that job to a 5 s timeout."""
    # One outcome per attempt, consumed in order: A3's job (F F S), then the 10 jobs.
    # JobSupervisor #1 crashes at A3 (x2), job 2 (3rd: restarted), job 4 (4th: gives up).
    # JobSupervisor #2 crashes at job 6 (x2), job 7 (3rd: restarted, 4th: gives up).
    pattern = "FFS" + "S" + "FS" + "S" + "F" + "S" + "FFS" + "FF" + "S" + "S" + "S"
    outcomes = iter(pattern)
    attempts: list[otp.Pid | None] = []

    def flaky() -> str:
        attempts.append(otp.current_process())
        if next(outcomes) == "F":
            raise RuntimeError("flaky")
        return "Job result"

    async with Supervisor.open(children(TransientJobQueue), name="my_app_supervisor") as top:
        queue, jobs = otp.whereis(JobQueue), otp.whereis("JobSupervisor")
        assert await JobQueue.schedule_job(flaky) == "Job result"  # A3: 2 crashes
        results: list[object] = []
        supervisors = [jobs]
        for _ in range(10):
            called_at = trio.current_time()
            try:
                results.append(await JobQueue.schedule_job(flaky))
            except otp.CallTimeout:
                results.append(("timeout", called_at, trio.current_time()))
                old, new = supervisors[-1], otp.whereis("JobSupervisor")
                assert old is not None
                assert old.exit_reason == otp.SHUTDOWN
                assert new is not None
                assert new is not old
                assert new.alive
                supervisors.append(new)
            assert otp.whereis(JobQueue) is queue
        assert results == [
            "Job result",
            "Job result",
            "Job result",
            ("timeout", 0.0, 5.0),
            "Job result",
            "Job result",
            ("timeout", 5.0, 10.0),
            "Job result",
            "Job result",
            "Job result",
        ]
        assert len(attempts) == len(pattern)
        assert len(set(attempts)) == len(pattern)  # every attempt is a new process
        assert next(outcomes, None) is None
        assert len(supervisors) == 3
        # The top supervisor restarted JobSupervisor twice (at 0 s and 5 s): within its limit.
        assert top.alive
        assert queue is not None
        assert queue.alive


async def test_a4_temporary_job_crashes_do_not_count(autojump_clock: trio.abc.Clock) -> None:
    """Temporary tasks are never restarted, so failing jobs never end JobSupervisor."""

    def boom() -> str:
        raise RuntimeError("boom")

    async with Supervisor.open(children(), name="my_app_supervisor"):
        jobs = otp.whereis("JobSupervisor")
        for i in range(5):
            with pytest.raises(otp.CallTimeout):
                await JobQueue.schedule_job(boom)
            assert trio.current_time() == 5.0 * (i + 1)
        assert otp.whereis("JobSupervisor") is jobs


def doomed() -> str:
    raise RuntimeError("always")


async def run_a5() -> None:
    """A5: a transient job that always fails, then a good job on the new JobSupervisor."""
    async with Supervisor.open(children(TransientJobQueue), name="my_app_supervisor"):
        with pytest.raises(otp.CallTimeout):
            await JobQueue.schedule_job(doomed)
        assert await JobQueue.schedule_job(lambda: "Job result") == "Job result"


def headers(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The first line of every supervisor report (of a one-line 'started': to 'started')."""
    return [
        r.getMessage().split("\n")[0].split(" started: ")[0] + " started"
        if " started: " in r.getMessage()
        else r.getMessage().split("\n")[0]
        for r in caplog.records
        if r.name == "trio_otp.supervisor"
    ]


async def test_a6_default_logging_prints_crash_reports_and_the_give_up(
    autojump_clock: trio.abc.Clock, caplog: pytest.LogCaptureFixture
) -> None:
    """By default the Task crash reports and the give-up appear (ERROR); progress stays off."""
    assert not logging.getLogger("trio_otp.supervisor").isEnabledFor(logging.INFO)
    await run_a5()
    tasks = [r for r in caplog.records if r.name == "trio_otp.task"]
    assert [r.levelno for r in tasks] == [logging.ERROR] * 4
    assert all(
        "started from JobSupervisor terminating\n** (RuntimeError) always" in r.getMessage()
        for r in tasks
    )
    (gave_up,) = [r for r in caplog.records if r.name == "trio_otp.supervisor"]
    assert gave_up.levelno == logging.ERROR
    assert gave_up.getMessage().startswith(
        "Child None of Supervisor JobSupervisor caused shutdown\n"
        "** (stop) 'reached_max_restart_intensity'\nPid: <Pid "
    )


async def test_a6_supervisor_reports_at_info(
    autojump_clock: trio.abc.Clock, caplog: pytest.LogCaptureFixture
) -> None:
    """At INFO: 4 'terminated', 'caused shutdown', then JobSupervisor 'started' again."""
    caplog.set_level(logging.INFO, logger="trio_otp.supervisor")
    await run_a5()
    records = [r for r in caplog.records if r.name == "trio_otp.supervisor"]
    levels = {r.getMessage().split("\n")[0].split(" Supervisor ")[-1]: r.levelno for r in records}
    assert levels["JobSupervisor caused shutdown"] == logging.ERROR
    assert levels["JobSupervisor terminated"] == logging.INFO
    by_header = {}
    for record in records:
        # A 'started' report is one line: "Child X of Supervisor S started: <pid>".
        header = record.getMessage().split("\n")[0].split(" started: ")[0]
        by_header.setdefault(header, []).append(record)

    terminated = by_header["Child None of Supervisor JobSupervisor terminated"]
    assert len(terminated) == 4
    for record in terminated:
        lines = record.getMessage().split("\n")
        assert lines[1] == "** (RuntimeError) always"
        assert lines[2].startswith("Pid: <Pid ")
        assert lines[3].startswith("Start Call: Task.serve(")
        assert lines[4:] == ["Restart: transient", "Shutdown: 5", "Type: worker"]
        assert record.otp_severity == "error"  # type: ignore[attr-defined]
        assert record.otp_child_id is None  # type: ignore[attr-defined]

    (gave_up,) = by_header["Child None of Supervisor JobSupervisor caused shutdown"]
    message = gave_up.getMessage()
    assert "\n** (stop) 'reached_max_restart_intensity'\n" in message
    assert message.endswith("Restart: transient\nShutdown: 5\nType: worker")

    started = by_header["Child 'JobSupervisor' of Supervisor my_app_supervisor"]
    assert len(started) == 2  # the first start and the restart
    # Routine progress: one short line, naming the started process.
    assert started[1].getMessage() == (
        "Child 'JobSupervisor' of Supervisor my_app_supervisor started: JobSupervisor"
    )
    assert by_header["Child TransientJobQueue of Supervisor my_app_supervisor"]

    # In order: the 4 crashes, the give-up, then the top supervisor's restart.
    order = [
        h
        for h in headers(caplog)
        if h.endswith(("JobSupervisor terminated", "caused shutdown"))
        or h.startswith("Child 'JobSupervisor'")
    ]
    assert order[:1] == ["Child 'JobSupervisor' of Supervisor my_app_supervisor started"]
    assert order[1:5] == ["Child None of Supervisor JobSupervisor terminated"] * 4
    assert order[5] == "Child None of Supervisor JobSupervisor caused shutdown"
    assert order[-1] == "Child 'JobSupervisor' of Supervisor my_app_supervisor started"


async def test_a6_permanent_child_shutdown_exit_is_reported_terminated(
    autojump_clock: trio.abc.Clock, caplog: pytest.LogCaptureFixture
) -> None:
    """The top supervisor reports JobSupervisor's shutdown exit as 'terminated'."""
    # OTP's supervisor reports every exit of a permanent child, normal ones included
    # (supervisor.erl do_restart/4; job_queue_transient_sasl.out).
    caplog.set_level(logging.INFO, logger="trio_otp.supervisor")
    await run_a5()
    reports = [
        r.getMessage()
        for r in caplog.records
        if r.getMessage().startswith("Child 'JobSupervisor' of Supervisor my_app_supervisor ")
    ]
    assert [m.split("\n")[0].split(": ")[0].rsplit(" ", 1)[1] for m in reports] == [
        "started",
        "terminated",
        "started",
    ]
    lines = reports[1].split("\n")
    assert lines[1] == "** (stop) 'shutdown'"
    assert lines[-3:] == ["Restart: permanent", "Shutdown: infinity", "Type: supervisor"]


async def test_a6_dynamic_supervisor_does_not_report_child_starts(
    autojump_clock: trio.abc.Clock, caplog: pytest.LogCaptureFixture
) -> None:
    """DynamicSupervisor logs no 'started' report for its children's starts or restarts."""
    caplog.set_level(logging.INFO, logger="trio_otp.supervisor")
    await run_a5()
    assert [h for h in headers(caplog) if h.endswith("of Supervisor JobSupervisor started")] == []
