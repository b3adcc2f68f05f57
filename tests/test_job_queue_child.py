"""trio_otp.JobQueue as a child of another supervisor: JobQueue.child_spec, names that
survive restarts (JobQueue.lookup), the parent's stop draining the queue."""

from __future__ import annotations

import math
import os
from typing import Any

import _jobs
import pytest
import trio
import trio.testing

import trio_otp as otp
from trio_otp import ChildType, JobQueue, JobStatus, Supervisor
from trio_otp.testing import capture_reports


async def sleepy(seconds: float, value: object = "ok") -> object:
    await trio.sleep(seconds)
    return value


async def outcome_of(queue: JobQueue, *args: Any, **options: Any) -> object:
    """schedule's result, or the exception it raised."""
    try:
        return await queue.schedule(*args, **options)
    except Exception as exc:
        return exc


async def server_of(queue: JobQueue) -> otp.Pid:
    """The queue server: the worker child of the queue's own supervisor."""
    assert queue.pid is not None
    (pid,) = [
        info.pid
        for info in await Supervisor.which_children(queue.pid)
        if info.type is ChildType.WORKER
    ]
    assert isinstance(pid, otp.Pid)
    return pid


# -- child_spec ------------------------------------------------------------------------------


def test_child_spec_fields_and_overrides() -> None:
    """The spec is a supervisor's (shutdown infinity), id the name or JobQueue; keywords
    override id, restart and shutdown, and options keep their queue meaning."""
    spec = JobQueue.child_spec()
    assert (spec.id, spec.type, spec.restart, spec.shutdown, spec.modules) == (
        JobQueue,
        ChildType.SUPERVISOR,
        otp.Restart.PERMANENT,
        math.inf,
        (JobQueue,),
    )
    named = otp.Supervisor.child_spec((JobQueue, {"name": "jobs", "shutdown": 30}))
    assert named.id == "jobs"
    assert "name='jobs'" in named.start_call()
    assert "shutdown=30" in named.start_call()
    custom = JobQueue.child_spec(
        {"restart": "transient"}, name="jobs", id="q", restart="transient", shutdown=60
    )
    assert (custom.id, custom.restart, custom.shutdown) == ("q", otp.Restart.TRANSIENT, 60.0)
    assert "restart='transient'" in custom.start_call()  # the jobs' restart type too
    assert JobQueue.child_spec({"name": "a"}, name="a").id == "a"


def test_options_are_the_constructors() -> None:
    """child_spec knows exactly the constructor's options."""
    import inspect

    params = dict(inspect.signature(JobQueue.__init__).parameters)
    del params["self"]
    spec = JobQueue.child_spec({name: param.default for name, param in params.items()})
    assert spec.id is JobQueue


@pytest.mark.parametrize(
    ("options", "overrides", "error", "match"),
    [
        ({"max_running": 0}, {}, ValueError, "max_running must be an int >= 1"),
        ({"on_full": "drop"}, {}, ValueError, "on_full must be 'wait' or 'fail'"),
        ({"shutdown": -1}, {}, ValueError, "shutdown must be >= 0 seconds"),
        ({"restart": "permanent"}, {}, ValueError, "temporary' or 'transient"),
        ({"max_seconds": 0}, {}, ValueError, "max_seconds must be"),
        ({"executor": "ray"}, {}, TypeError, "executor must implement"),
        ({"on_event": 3}, {}, TypeError, "on_event must be a function"),
        ({"name": ["jobs"]}, {}, TypeError, "must be hashable"),
        ({"max_runing": 3}, {}, otp.ChildSpecError, r"option\(s\) \['max_runing'\]"),
        ({}, {"max_running": 3}, otp.ChildSpecError, "are queue options: put them in the options"),
        ({}, {"type": "worker"}, otp.ChildSpecError, "unknown keyword"),
        ({"name": "a"}, {"name": "b"}, otp.ChildSpecError, "two names for one JobQueue"),
        ({}, {"shutdown": -2}, otp.ChildSpecError, "shutdown must be a number of seconds"),
    ],
)
def test_bad_options_fail_when_the_spec_is_built(
    options: dict[str, Any], overrides: dict[str, Any], error: type[Exception], match: str
) -> None:
    """A bad option fails at child_spec time, with the constructor's clear error."""
    with pytest.raises(error, match=match):
        JobQueue.child_spec(options, **overrides)


def test_child_spec_wants_a_mapping() -> None:
    """A non-mapping argument says how to pass the options."""
    with pytest.raises(otp.ChildSpecError, match="mapping of the queue's options"):
        JobQueue.child_spec(4)  # type: ignore[arg-type]


# -- in a supervision tree -------------------------------------------------------------------


async def test_queue_is_a_supervisor_child_found_by_name(autojump_clock: trio.abc.Clock) -> None:
    """In a children list the queue runs under its name, shows as a supervisor child,
    and JobQueue.lookup finds it by name or by the handle which_children shows."""
    children = [
        (otp.DynamicSupervisor, {"name": "JobSupervisor"}),
        (JobQueue, {"name": "jobs", "max_running": 2}),
    ]
    async with Supervisor.open(children) as app:
        queue = JobQueue.lookup("jobs")
        assert await queue.schedule(sleepy, 1, 42) == 42
        infos = {info.id: info for info in await Supervisor.which_children(app)}
        assert infos["jobs"].type is ChildType.SUPERVISOR
        assert infos["jobs"].pid is queue.pid is otp.whereis("jobs")
        assert JobQueue.lookup(infos["jobs"].pid) is queue
        assert await Supervisor.count_children(app) == otp.ChildCounts(2, 2, 2, 0)
        assert "jobs" in repr(queue)
        assert "running" in repr(queue)
        # The queue's own tree hangs below it.
        tree = await otp.render_tree(app)
        assert "jobs <Pid" in tree
        assert "└── server <Pid" in tree  # its id, not the private class
    assert otp.registered() == {}  # every name freed, the queue's own included
    assert "(stopped)" in repr(queue)


async def test_lookup_errors(autojump_clock: trio.abc.Clock) -> None:
    """An unknown or dead name is NoProcessError; a name that is not a queue, TypeError."""
    with pytest.raises(otp.NoProcessError, match=r"JobQueue.lookup\('nope'\): no process"):
        JobQueue.lookup("nope")
    async with trio.open_nursery() as nursery:
        agent = await otp.Agent.start(nursery, lambda: 0, name="agent")
        with pytest.raises(TypeError, match="'agent' is not a JobQueue"):
            JobQueue.lookup("agent")
        queue = JobQueue(name="q")
        async with queue.open():
            assert JobQueue.lookup("q") is queue
            pid = queue.pid
        with pytest.raises(otp.NoProcessError):
            JobQueue.lookup("q")
        with pytest.raises(otp.NoProcessError):
            JobQueue.lookup(pid)
        await otp.Agent.stop(agent)


async def test_via_name(autojump_clock: trio.abc.Clock) -> None:
    """A Registry via name works as the queue's name, across the tree."""
    name = otp.Registry.via("names", "jobs")
    children = [(otp.Registry, {"keys": "unique", "name": "names"}), (JobQueue, {"name": name})]
    async with Supervisor.open(children, strategy="rest_for_one"):
        assert await JobQueue.lookup(name).schedule(lambda: "via") == "via"
        assert otp.Registry.lookup("names", "jobs")[0][0] is JobQueue.lookup(name).pid


async def test_name_taken_is_the_usual_conflict_error(autojump_clock: trio.abc.Clock) -> None:
    """A name already taken fails the start with AlreadyStartedError, as for any process."""
    async with Supervisor.open([]) as sup:
        async with trio.open_nursery() as nursery:
            holder = await otp.Agent.start(nursery, lambda: 0, name="jobs")
            with pytest.raises(otp.AlreadyStartedError) as info:
                await Supervisor.start_child(sup, (JobQueue, {"name": "jobs"}))
            assert info.value.holder is holder
            with pytest.raises(otp.AlreadyStartedError):
                await JobQueue(name="jobs").open().__aenter__()
            await otp.Agent.stop(holder)
        assert await Supervisor.which_children(sup) == []
        await Supervisor.start_child(sup, (JobQueue, {"name": "jobs"}))
        assert JobQueue.lookup("jobs").statistics().done == 0


async def test_dynamic_supervisor_child(autojump_clock: trio.abc.Clock) -> None:
    """A DynamicSupervisor starts queues on the fly; terminate_child drains one."""
    async with trio.open_nursery() as nursery:
        ds = await otp.DynamicSupervisor.start(nursery)
        pid = await otp.DynamicSupervisor.start_child(ds, (JobQueue, {"shutdown": 3}))
        assert isinstance(pid, otp.Pid)
        queue = JobQueue.lookup(pid)
        job = await queue.submit(sleepy, 2, "finished")
        await otp.DynamicSupervisor.terminate_child(ds, pid)
        assert (trio.current_time(), await job.wait()) == (2, "finished")
        await otp.DynamicSupervisor.stop(ds)


# -- restarts --------------------------------------------------------------------------------


async def test_restart_gives_a_fresh_queue_under_the_same_name(
    autojump_clock: trio.abc.Clock,
) -> None:
    """When the queue's tree is killed, its parent starts a fresh queue under the same
    name; every caller of the old queue got an answer, and the old object refuses jobs."""
    options = {"name": "jobs", "max_running": 1, "max_queued": 1}
    async with Supervisor.open([(JobQueue, options)]) as app, trio.open_nursery() as nursery:
        old = JobQueue.lookup("jobs")
        outcomes: list[object] = []

        async def caller(*args: Any) -> None:
            outcomes.append(await outcome_of(old, *args))

        running = await old.submit(sleepy, 10)
        nursery.start_soon(caller, sleepy, 10)  # queued
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(caller, sleepy, 10)  # waits for room
        await trio.testing.wait_all_tasks_blocked()
        assert old.statistics().waiting == 1
        assert old.pid is not None
        otp.exit(old.pid, otp.KILL)
        with pytest.raises(otp.JobCancelledError, match="shutdown"):
            await running.wait()
        await trio.testing.wait_all_tasks_blocked()
        assert sorted(type(o).__name__ for o in outcomes) == [
            "JobCancelledError",
            "QueueStoppedError",
        ]
        new = JobQueue.lookup("jobs")
        assert new is not old
        assert new.pid is not old.pid
        assert (new.statistics().done, new.statistics().cancelled) == (0, 0)
        assert await new.schedule(sleepy, 1, "fresh") == "fresh"
        with pytest.raises(otp.QueueStoppedError):
            await old.schedule(sleepy, 1)
        (info,) = await Supervisor.which_children(app)
        assert info.pid is new.pid
        assert trio.current_time() == 1


async def test_restart_after_the_queues_tree_gave_up(autojump_clock: trio.abc.Clock) -> None:
    """A queue whose own supervisor gives up (its server keeps dying) crashes to its
    parent, which restarts a working queue under the same name; the old one's callers
    got their answers."""
    with capture_reports() as reports:
        async with Supervisor.open([(JobQueue, {"name": "jobs"})]) as app:
            old = JobQueue.lookup("jobs")
            job = await old.submit(sleepy, 100)
            for _ in range(4):  # the queue supervisor allows 3 restarts in 5 s
                otp.exit(await server_of(old), otp.KILL)
                await trio.testing.wait_all_tasks_blocked()
            with pytest.raises(otp.JobCancelledError, match="shutdown"):
                await job.wait()
            new = JobQueue.lookup("jobs")
            assert new is not old
            assert await new.schedule(sleepy, 1, "again") == "again"
            assert (await Supervisor.which_children(app))[0].pid is new.pid
    crashes = [
        r
        for r in reports.find("child_terminated", reason=otp.RestartIntensityError)
        if r.supervisor is app and r.child_id == "jobs"
    ]
    assert crashes, "the parent reported the queue's crash"


# -- stopping ---------------------------------------------------------------------------------


async def test_parent_stop_drains_the_queue(autojump_clock: trio.abc.Clock) -> None:
    """Stopping the parent drains the queue: queued jobs cancelled, waiting callers turned
    away, running jobs given the queue's shutdown budget, then cancelled; all answered."""
    options = {"name": "jobs", "max_running": 2, "max_queued": 1, "shutdown": 2}
    outcomes: dict[str, object] = {}
    async with trio.open_nursery() as nursery:
        app = await Supervisor.start(nursery, [(JobQueue, options)])
        queue = JobQueue.lookup("jobs")

        async def caller(key: str, seconds: float) -> None:
            outcomes[key] = await outcome_of(queue, sleepy, seconds, key)

        for key, seconds in (("quick", 1), ("slow", 10), ("queued", 1), ("waiting", 1)):
            nursery.start_soon(caller, key, seconds)
            await trio.testing.wait_all_tasks_blocked()
        assert queue.statistics().waiting == 1
        await trio.sleep(0.5)
        await Supervisor.stop(app)
        assert trio.current_time() == 2.5  # 0.5 + the queue's shutdown budget
    assert outcomes["quick"] == "quick"
    assert isinstance(outcomes["slow"], otp.JobCancelledError)
    assert isinstance(outcomes["queued"], otp.JobCancelledError)
    assert isinstance(outcomes["waiting"], otp.QueueStoppedError)
    stats = queue.statistics()
    assert (stats.done, stats.cancelled, stats.running, stats.queued, stats.waiting) == (
        1,
        2,
        0,
        0,
        0,
    )
    assert otp.registered() == {}


async def test_stop_by_name_drains(autojump_clock: trio.abc.Clock) -> None:
    """trio_otp.stop on the queue's name stops it in order, draining, like queue.stop()."""
    queue = JobQueue(name="jobs", shutdown=5)
    async with trio.open_nursery() as nursery:
        await nursery.start(queue.serve)
        job = await queue.submit(sleepy, 1, "done")
        await otp.stop("jobs")
        assert (trio.current_time(), job.status, await job.wait()) == (1, JobStatus.DONE, "done")
    assert "(stopped)" in repr(queue)


async def test_parent_budget_cuts_the_drain(autojump_clock: trio.abc.Clock) -> None:
    """A shutdown override shorter than the drain kills the queue at its end; callers
    are still answered."""
    spec = JobQueue.child_spec({"name": "jobs", "shutdown": 10}, shutdown=1)
    async with trio.open_nursery() as nursery:
        app = await Supervisor.start(nursery, [spec])
        job = await JobQueue.lookup("jobs").submit(sleepy, 5)
        await Supervisor.stop(app)
        assert trio.current_time() == 1
    with pytest.raises(otp.JobCancelledError, match="shutdown"):
        await job.wait()


async def test_cancelling_the_owner_propagates(autojump_clock: trio.abc.Clock) -> None:
    """Cancelling the tree's owner is never swallowed by the queue; jobs are answered."""
    with trio.move_on_after(3) as scope:
        async with Supervisor.open([(JobQueue, {"name": "jobs"})]):
            job = await JobQueue.lookup("jobs").submit(sleepy, 100)
            await trio.sleep_forever()
    assert scope.cancelled_caught
    assert trio.current_time() == 3 + 5  # the queue drained for its shutdown budget
    with pytest.raises(otp.JobCancelledError):
        await job.wait()


# -- a real executor -------------------------------------------------------------------------


async def test_process_executor_queue_as_a_child() -> None:
    """A ProcessExecutor queue in a children list runs jobs in worker processes, opens
    its executor again after a restart, and leaves no worker process behind."""
    pytest.importorskip("trio_parallel")
    before = set(_jobs.children_of(os.getpid()))
    options = {"name": "cpu", "executor": otp.ProcessExecutor(1), "shutdown": 10}
    with trio.fail_after(60):
        async with Supervisor.open([(JobQueue, options)]):
            old = JobQueue.lookup("cpu")
            assert await old.schedule(_jobs.square, 12) == 144
            assert old.pid is not None
            otp.exit(old.pid, otp.KILL)
            while True:  # the parent restarts it; the new queue's executor opens again
                try:
                    new = JobQueue.lookup("cpu")
                except otp.NoProcessError:
                    await trio.sleep(0.01)
                else:
                    if new is not old:
                        break
                    await trio.sleep(0.01)
            assert await new.schedule(_jobs.square, 5) == 25
            assert await new.schedule(os.getpid) != os.getpid()
    leftover = set(_jobs.children_of(os.getpid())) - before
    assert not leftover, f"worker processes outlived the queue: {sorted(leftover)}"


async def test_transient_queue_stopped_on_its_own_stays_stopped(
    autojump_clock: trio.abc.Clock,
) -> None:
    """A transient queue stopped with queue.stop() drains and is not restarted; a
    permanent one is restarted under its name, as any OTP child."""
    children = [
        JobQueue.child_spec({"name": "once"}, restart="transient"),
        (JobQueue, {"name": "always"}),
    ]
    async with Supervisor.open(children) as app:
        await JobQueue.lookup("once").stop()
        always = JobQueue.lookup("always")
        await always.stop()
        await trio.testing.wait_all_tasks_blocked()
        with pytest.raises(otp.NoProcessError):
            JobQueue.lookup("once")
        assert JobQueue.lookup("always") is not always
        counts = await Supervisor.count_children(app)
        assert (counts.specs, counts.active) == (2, 1)
