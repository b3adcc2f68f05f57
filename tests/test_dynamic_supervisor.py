"""DynamicSupervisor: children on demand, restarts, intensity, limits and shutdown.

Rows of otp-behaviour.md sections C, D, F and G for trio_otp/_supervision/_dynamic_supervisor.py.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
import trio
import trio.lowlevel
import trio.testing

import trio_otp as otp
from trio_otp import DynamicSupervisor

Events = list[tuple[Any, ...]]


class Worker(otp.GenServer[tuple[str, Events]]):
    """Records ``("start", name)`` and ``("terminate", name, reason)`` in a shared list.

    The argument is ``(name, events)`` or ``(name, events, how)``; ``how`` picks what
    ``init`` does. Casts make it exit: ``("stop", reason)`` or ``("raise", exc)``.
    """

    async def init(self, arg: Any) -> Any:
        name, events, *rest = arg
        how = rest[0] if rest else "ok"
        events.append(("start", name))
        match how:
            case "ok":
                return otp.Ok((name, events))
            case "ignore":
                return otp.Ignore()
            case ("stop", reason):
                return otp.Stop(reason)
        raise AssertionError(how)  # pragma: no cover

    async def handle_cast(self, request: Any, state: tuple[str, Events]) -> Any:
        match request:
            case ("stop", reason):
                return otp.Stop(reason, state)
            case ("raise", exc):
                raise exc
        raise AssertionError(request)  # pragma: no cover

    async def terminate(self, reason: object, state: tuple[str, Events]) -> None:
        name, events = state
        events.append(("terminate", name, reason))


class Stubborn(otp.GenServer[tuple[str, Events, float]]):
    """Its terminate records the time and then takes ``delay`` seconds (inf: never returns)."""

    async def terminate(self, reason: object, state: tuple[str, Events, float]) -> None:
        name, events, delay = state
        events.append(("terminate", name, reason, trio.current_time()))
        await trio.sleep(delay)
        events.append(("terminated", name, trio.current_time()))  # pragma: no cover


class Killable:
    """A start function whose process the test can kill (OTP's ``Process.exit(pid, :kill)``).

    Cancelling a cancel scope that wraps the process ends it at once: ``terminate``
    does not run and the exit reason is ``killed``.
    """

    def __init__(self) -> None:
        self.scopes: list[trio.CancelScope] = []

    async def serve(
        self, arg: Any, *, task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED
    ) -> None:
        with trio.CancelScope() as scope:
            self.scopes.append(scope)
            await Worker.serve(arg, task_status=task_status)


def worker(wid: str, events: Events, how: object = "ok", **overrides: Any) -> otp.ChildSpec:
    return Worker.child_spec((wid, events, how), id=wid, **overrides)


async def settle() -> None:
    """Let every task run until all are blocked: the supervisor has handled the exit."""
    await trio.testing.wait_all_tasks_blocked()


async def crash(pid: otp.Pid | None, how: object = ("stop", "crash")) -> None:
    assert pid is not None
    otp.cast(pid, how)
    await pid.wait_exited()
    await settle()


EMPTY = otp.ChildCounts(specs=0, active=0, supervisors=0, workers=0)


# --------------------------------------------------------------------------------------
# Children and counts
# --------------------------------------------------------------------------------------


async def test_count_and_which_children():
    """Empty: all counts 0; with two workers: 2 specs, 2 active, 2 workers, listed with id None."""
    events: Events = []
    async with trio.open_nursery() as nursery:
        ds = await DynamicSupervisor.start(nursery)
        assert await DynamicSupervisor.count_children(ds) == EMPTY
        assert await DynamicSupervisor.which_children(ds) == []
        d1 = await DynamicSupervisor.start_child(ds, worker("d1", events))
        d2 = await DynamicSupervisor.start_child(ds, worker("d2", events))
        assert await DynamicSupervisor.count_children(ds) == otp.ChildCounts(
            specs=2, active=2, supervisors=0, workers=2
        )
        infos = await DynamicSupervisor.which_children(ds)
        assert sorted(infos, key=lambda i: i.pid) == [
            otp.ChildInfo(None, d1, otp.ChildType.WORKER, (Worker,)),
            otp.ChildInfo(None, d2, otp.ChildType.WORKER, (Worker,)),
        ]
        assert d1 is not None
        assert d1.parent is ds
        # Supervisor's generic queries work on a DynamicSupervisor too.
        assert await otp.Supervisor.count_children(ds) == await DynamicSupervisor.count_children(ds)
        await DynamicSupervisor.stop(ds)
    assert ds.exit_reason == otp.NORMAL
    assert events[:2] == [("start", "d1"), ("start", "d2")]
    # Children stop concurrently: no order between the two.
    assert sorted(events[2:]) == [
        ("terminate", "d1", otp.SHUTDOWN),
        ("terminate", "d2", otp.SHUTDOWN),
    ]


async def test_start_child_accepts_every_child_form():
    """start_child takes a ChildSpec, a (class, arg) pair, a class, or a mapping."""
    events: Events = []

    class Plain(otp.GenServer[None]):
        pass

    async with trio.open_nursery() as nursery:
        ds = await DynamicSupervisor.start(nursery)
        started = [
            await DynamicSupervisor.start_child(ds, worker("spec", events)),
            await DynamicSupervisor.start_child(ds, (Worker, ("pair", events))),
            await DynamicSupervisor.start_child(ds, Plain),
            await DynamicSupervisor.start_child(
                ds, {"id": "map", "start": Worker.serve, "args": (("map", events),)}
            ),
        ]
        assert all(isinstance(p, otp.Pid) and p.alive for p in started)
        assert (await DynamicSupervisor.count_children(ds)).active == 4
        await DynamicSupervisor.stop(ds)


async def test_extra_arguments_are_prepended():
    """extra_arguments come before each child's own args in its start call."""
    seen: list[tuple[Any, ...]] = []

    async def start(*args: Any, task_status: trio.TaskStatus[Any]) -> None:
        seen.append(args)
        await otp.Task.serve(trio.sleep_forever, task_status=task_status)

    async with trio.open_nursery() as nursery:
        ds = await DynamicSupervisor.start(nursery, extra_arguments=["x", "y"])
        await DynamicSupervisor.start_child(ds, otp.ChildSpec(id="c", start=start, args=(1,)))
        assert seen == [("x", "y", 1)]
        await DynamicSupervisor.stop(ds)


async def test_terminate_child_then_not_found():
    """terminate_child stops the child (shutdown) and forgets it; again it is ChildNotFoundError."""
    events: Events = []
    async with trio.open_nursery() as nursery:
        ds = await DynamicSupervisor.start(nursery)
        pid = await DynamicSupervisor.start_child(ds, worker("d1", events))
        assert await DynamicSupervisor.terminate_child(ds, pid) is None
        assert pid is not None
        assert pid.exit_reason == otp.SHUTDOWN
        assert events == [("start", "d1"), ("terminate", "d1", otp.SHUTDOWN)]
        assert await DynamicSupervisor.which_children(ds) == []
        with pytest.raises(otp.ChildNotFoundError) as info:
            await DynamicSupervisor.terminate_child(ds, pid)
        assert info.value.child_id is pid
        await DynamicSupervisor.stop(ds)


async def test_registered_name_addresses_the_supervisor():
    """A named DynamicSupervisor is addressed by name; its child's parent is it."""
    async with trio.open_nursery() as nursery:
        ds = await DynamicSupervisor.start(nursery, name="JobSupervisor")
        assert otp.whereis("JobSupervisor") is ds
        pid = await DynamicSupervisor.start_child("JobSupervisor", (otp.Task, trio.sleep_forever))
        assert pid is not None
        assert pid.parent is ds
        assert [i.pid for i in await DynamicSupervisor.which_children("JobSupervisor")] == [pid]
        await DynamicSupervisor.stop("JobSupervisor")
    assert otp.whereis("JobSupervisor") is None


async def test_dynamic_calls_need_a_dynamic_supervisor():
    """DynamicSupervisor.start_child on a static Supervisor is a TypeError."""
    async with otp.Supervisor.open([]) as sup:
        with pytest.raises(TypeError, match="DynamicSupervisor"):
            await DynamicSupervisor.start_child(sup, (otp.Task, trio.sleep_forever))


# --------------------------------------------------------------------------------------
# C. Restart types x exit reasons
# --------------------------------------------------------------------------------------


EXITS: dict[str, Any] = {
    "normal": ("stop", otp.NORMAL),
    "shutdown": ("stop", otp.SHUTDOWN),
    "shutdown_payload": ("stop", otp.Shutdown("bye")),
    "stop_crash": ("stop", "crash"),
    "raise": ("raise", RuntimeError("boom")),
    "killed": None,
}
RESTARTED_BY = {
    "permanent": set(EXITS),
    "transient": {"stop_crash", "raise", "killed"},
    "temporary": set(),
}


@pytest.mark.parametrize("restart", list(RESTARTED_BY))
@pytest.mark.parametrize("how", list(EXITS))
async def test_restart_type_and_exit_reason_decide_restart(restart: str, how: str):
    """A restarted child gets a new pid; any child that is not restarted is deleted."""
    events: Events = []
    killer = Killable()
    spec = otp.ChildSpec(
        id="w", start=killer.serve, args=(("w", events),), restart=restart, modules=(Worker,)
    )
    async with trio.open_nursery() as nursery:
        ds = await DynamicSupervisor.start(nursery)
        old = await DynamicSupervisor.start_child(ds, spec)
        assert old is not None
        if how == "killed":
            killer.scopes[-1].cancel()
        else:
            otp.cast(old, EXITS[how])
        await old.wait_exited()
        await settle()
        infos = await DynamicSupervisor.which_children(ds)
        counts = await DynamicSupervisor.count_children(ds)
        if how in RESTARTED_BY[restart]:
            (info,) = infos
            assert info.id is None
            assert info.pid is not old
            assert info.pid.alive
            assert counts == otp.ChildCounts(specs=1, active=1, supervisors=0, workers=1)
            assert events.count(("start", "w")) == 2
        else:
            assert infos == []
            assert counts == EMPTY
            assert events.count(("start", "w")) == 1
        await DynamicSupervisor.stop(ds)


# --------------------------------------------------------------------------------------
# D. Restart intensity
# --------------------------------------------------------------------------------------


async def test_fourth_crash_shuts_down_and_terminates_the_other_children(autojump_clock):
    """d1 restarts 3 times; its 4th crash ends the supervisor (shutdown) and terminates d2."""
    events: Events = []
    with pytest.RaisesGroup(
        pytest.RaisesExc(otp.RestartIntensityError, check=lambda e: e.reason == "crash")
    ):
        async with trio.open_nursery() as nursery:
            ds = await DynamicSupervisor.start(nursery)
            await DynamicSupervisor.start_child(ds, worker("d1", events, name="d1"))
            d2 = await DynamicSupervisor.start_child(ds, worker("d2", events, name="d2"))
            for _ in range(3):
                d1 = otp.whereis("d1")
                await crash(d1)
                assert otp.whereis("d1") not in (None, d1)
            otp.cast("d1", ("stop", "crash"))
            await ds.wait_exited()
    assert ds.exit_reason == otp.SHUTDOWN
    assert d2 is not None
    assert d2.exit_reason == otp.SHUTDOWN
    assert events == [
        ("start", "d1"),
        ("start", "d2"),
        *[("terminate", "d1", "crash"), ("start", "d1")] * 3,
        ("terminate", "d1", "crash"),
        ("terminate", "d2", otp.SHUTDOWN),
    ]
    assert trio.current_time() == 0


async def test_intensity_error_names_the_child_id_none(autojump_clock):
    """The child that crossed the limit is named None, as everywhere under a DynamicSupervisor."""
    events: Events = []
    with pytest.RaisesGroup(otp.RestartIntensityError) as group:
        async with trio.open_nursery() as nursery:
            ds = await DynamicSupervisor.start(nursery, max_restarts=0)
            await crash(await DynamicSupervisor.start_child(ds, worker("d1", events)))
    (error,) = group.value.exceptions
    assert isinstance(error, otp.RestartIntensityError)
    # OTP: "Child :undefined of Supervisor ... caused shutdown"; which_children ids are None.
    assert error.child_id is None


@pytest.mark.parametrize(("gap", "survives"), [(1.1, False), (2.1, True)])
async def test_window_counts_whole_seconds(autojump_clock, gap: float, survives: bool):
    """max_restarts=1, max_seconds=1: crashes 1.1 s apart end the supervisor, 2.1 s apart never."""
    events: Events = []
    crashes = 0

    async def body(ds: otp.Pid) -> None:
        nonlocal crashes
        await DynamicSupervisor.start_child(ds, worker("d1", events, name="d1"))
        for i in range(3):
            if i:
                await trio.sleep(gap)
            crashes += 1
            await crash(otp.whereis("d1"))

    if survives:
        async with trio.open_nursery() as nursery:
            ds = await DynamicSupervisor.start(nursery, max_restarts=1, max_seconds=1)
            await body(ds)
            assert ds.alive
            assert crashes == 3
            assert events.count(("start", "d1")) == 4
            await DynamicSupervisor.stop(ds)
    else:
        with pytest.RaisesGroup(otp.RestartIntensityError):
            async with trio.open_nursery() as nursery:
                ds = await DynamicSupervisor.start(nursery, max_restarts=1, max_seconds=1)
                await body(ds)
        assert ds.exit_reason == otp.SHUTDOWN
        assert crashes == 2
        assert trio.current_time() == gap


async def test_max_restarts_zero_first_crash_ends_it(autojump_clock):
    """With max_restarts=0 the first crash shuts the DynamicSupervisor down."""
    events: Events = []
    with pytest.RaisesGroup(otp.RestartIntensityError):
        async with trio.open_nursery() as nursery:
            ds = await DynamicSupervisor.start(nursery, max_restarts=0)
            pid = await DynamicSupervisor.start_child(ds, worker("d1", events))
            await crash(pid)
    assert ds.exit_reason == otp.SHUTDOWN
    assert events == [("start", "d1"), ("terminate", "d1", "crash")]


async def test_temporary_crashes_do_not_count(autojump_clock):
    """Crashes of temporary children are not restarts: ten of them leave the supervisor running."""
    events: Events = []
    async with trio.open_nursery() as nursery:
        ds = await DynamicSupervisor.start(nursery)
        for i in range(10):
            pid = await DynamicSupervisor.start_child(
                ds, worker(f"t{i}", events, restart="temporary")
            )
            await crash(pid)
        assert ds.alive
        assert await DynamicSupervisor.count_children(ds) == EMPTY
        await DynamicSupervisor.stop(ds)


# --------------------------------------------------------------------------------------
# F. Limits, ignore, names, start failures
# --------------------------------------------------------------------------------------


async def test_max_children_limits_running_children():
    """max_children=2: a 3rd start raises MaxChildrenError; after a terminate_child it works."""
    events: Events = []
    async with trio.open_nursery() as nursery:
        ds = await DynamicSupervisor.start(nursery, max_children=2)
        first = await DynamicSupervisor.start_child(ds, worker("d1", events))
        await DynamicSupervisor.start_child(ds, worker("d2", events))
        with pytest.raises(otp.MaxChildrenError) as info:
            await DynamicSupervisor.start_child(ds, worker("d3", events))
        assert info.value.max_children == 2
        assert "max_children=2" in str(info.value)
        assert (await DynamicSupervisor.count_children(ds)).active == 2
        assert events == [("start", "d1"), ("start", "d2")]  # d3's init never ran
        await DynamicSupervisor.terminate_child(ds, first)
        assert await DynamicSupervisor.start_child(ds, worker("d3", events)) is not None
        assert (await DynamicSupervisor.count_children(ds)).active == 2
        await DynamicSupervisor.stop(ds)


async def test_max_children_is_checked_before_an_ignoring_init():
    """A full supervisor raises MaxChildrenError even for a child whose init would ignore."""
    events: Events = []
    async with trio.open_nursery() as nursery:
        ds = await DynamicSupervisor.start(nursery, max_children=1)
        await DynamicSupervisor.start_child(ds, worker("d1", events))
        with pytest.raises(otp.MaxChildrenError):
            await DynamicSupervisor.start_child(ds, worker("i", events, "ignore"))
        assert events == [("start", "d1")]
        await DynamicSupervisor.stop(ds)


async def test_max_children_zero_refuses_every_child():
    """max_children=0 refuses the first child."""
    async with trio.open_nursery() as nursery:
        ds = await DynamicSupervisor.start(nursery, max_children=0)
        with pytest.raises(otp.MaxChildrenError):
            await DynamicSupervisor.start_child(ds, (otp.Task, trio.sleep_forever))
        await DynamicSupervisor.stop(ds)


class SlowInit(otp.GenServer[None]):
    """Its init takes ``arg`` seconds."""

    async def init(self, arg: Any) -> Any:
        await trio.sleep(arg)
        return otp.Ok(None)


async def test_max_children_counts_children_still_starting(autojump_clock):
    """With max_children=1, a start made while another child's init runs raises MaxChildrenError."""
    results: dict[str, object] = {}

    async def start(key: str, ds: otp.Pid) -> None:
        try:
            results[key] = await DynamicSupervisor.start_child(ds, (SlowInit, 1))
        except otp.MaxChildrenError as exc:
            results[key] = exc

    async with trio.open_nursery() as nursery:
        ds = await DynamicSupervisor.start(nursery, max_children=1)
        async with trio.open_nursery() as starters:
            starters.start_soon(start, "first", ds)
            await trio.testing.wait_all_tasks_blocked()
            starters.start_soon(start, "second", ds)
        assert isinstance(results["first"], otp.Pid)
        assert isinstance(results["second"], otp.MaxChildrenError)
        assert trio.current_time() == 1
        await DynamicSupervisor.stop(ds)


async def test_start_child_on_a_stopped_supervisor_is_no_process_error():
    """start_child to a DynamicSupervisor that has exited raises NoProcessError."""
    async with trio.open_nursery() as nursery:
        ds = await DynamicSupervisor.start(nursery)
        await DynamicSupervisor.stop(ds)
        with pytest.raises(otp.NoProcessError):
            await DynamicSupervisor.start_child(ds, (otp.Task, trio.sleep_forever))


async def test_ignoring_child_returns_none_and_is_not_recorded():
    """An init returning Ignore makes start_child return None and records nothing."""
    events: Events = []
    async with trio.open_nursery() as nursery:
        ds = await DynamicSupervisor.start(nursery, max_children=1)
        assert await DynamicSupervisor.start_child(ds, worker("i", events, "ignore")) is None
        assert await DynamicSupervisor.count_children(ds) == EMPTY
        assert await DynamicSupervisor.which_children(ds) == []
        # It took no slot: the one allowed child still starts.
        assert await DynamicSupervisor.start_child(ds, worker("d1", events)) is not None
        await DynamicSupervisor.stop(ds)


async def test_start_child_with_a_taken_name_fails_with_the_holder():
    """start_child of a child whose name is taken raises AlreadyStartedError with the holder."""
    events: Events = []
    async with trio.open_nursery() as nursery:
        ds = await DynamicSupervisor.start(nursery)
        holder = await DynamicSupervisor.start_child(ds, worker("p", events, name="dup"))
        with pytest.raises(otp.AlreadyStartedError) as info:
            await DynamicSupervisor.start_child(ds, worker("q", events, name="dup"))
        assert (info.value.name, info.value.holder) == ("dup", holder)
        assert (await DynamicSupervisor.count_children(ds)).specs == 1
        await DynamicSupervisor.stop(ds)


async def test_start_child_init_stop_raises_child_start_error():
    """An init returning Stop("bad_init") makes start_child raise ChildStartError("bad_init")."""
    events: Events = []
    async with trio.open_nursery() as nursery:
        ds = await DynamicSupervisor.start(nursery)
        with pytest.raises(otp.ChildStartError) as info:
            await DynamicSupervisor.start_child(ds, worker("d", events, ("stop", "bad_init")))
        assert info.value.reason == "bad_init"
        assert await DynamicSupervisor.count_children(ds) == EMPTY
        assert ds.alive
        await DynamicSupervisor.stop(ds)


def test_child_spec_of_a_dynamic_supervisor():
    """(DynamicSupervisor, opts) is a supervisor child: id its name, shutdown infinity."""
    spec = otp.Supervisor.child_spec((DynamicSupervisor, {"name": "JobSupervisor"}))
    assert (spec.id, spec.type, spec.shutdown, spec.restart, spec.modules) == (
        "JobSupervisor",
        otp.ChildType.SUPERVISOR,
        otp.INFINITY,
        otp.Restart.PERMANENT,
        (DynamicSupervisor,),
    )
    assert DynamicSupervisor.child_spec().id is DynamicSupervisor
    with pytest.raises(otp.ChildSpecError, match="max_childs"):
        DynamicSupervisor.child_spec({"max_childs": 3})


async def test_invalid_max_children_is_rejected():
    """max_children must be an int >= 0 or None."""
    async with trio.open_nursery() as nursery:
        with pytest.raises(ValueError, match="max_children"):
            await DynamicSupervisor.start(nursery, max_children=-1)


# --------------------------------------------------------------------------------------
# G. Shutdown
# --------------------------------------------------------------------------------------


def stubborn(name: str, events: Events, delay: float, **overrides: Any) -> otp.ChildSpec:
    return Stubborn.child_spec((name, events, delay), id=name, **overrides)


async def test_children_stop_concurrently(autojump_clock):
    """Two stubborn children with shutdown=1 stop in 1 s in total: both terminates start at 0."""
    events: Events = []
    async with trio.open_nursery() as nursery:
        ds = await DynamicSupervisor.start(nursery)
        a = await DynamicSupervisor.start_child(ds, stubborn("a", events, math.inf, shutdown=1))
        b = await DynamicSupervisor.start_child(ds, stubborn("b", events, math.inf, shutdown=1))
        await DynamicSupervisor.stop(ds)
        assert trio.current_time() == 1.0
    assert sorted(events) == [
        ("terminate", "a", otp.SHUTDOWN, 0.0),
        ("terminate", "b", otp.SHUTDOWN, 0.0),
    ]
    assert a is not None
    assert b is not None
    assert not a.alive
    assert not b.alive


async def test_each_child_is_killed_when_its_own_budget_runs_out(autojump_clock):
    """Each child is waited for up to its own budget: budgets 1, 3 and 2 (done at 0.5) take 3 s."""
    events: Events = []
    async with trio.open_nursery() as nursery:
        ds = await DynamicSupervisor.start(nursery)
        for name, delay, budget in [("a", math.inf, 1), ("b", math.inf, 3), ("c", 0.5, 2)]:
            await DynamicSupervisor.start_child(ds, stubborn(name, events, delay, shutdown=budget))
        await DynamicSupervisor.stop(ds)
        assert trio.current_time() == 3.0
    assert [e for e in events if e[0] == "terminated"] == [("terminated", "c", 0.5)]


async def test_brutal_kill_children_stop_at_once(autojump_clock):
    """BRUTAL_KILL children stop at once, without terminate."""
    events: Events = []
    async with trio.open_nursery() as nursery:
        ds = await DynamicSupervisor.start(nursery)
        pid = await DynamicSupervisor.start_child(
            ds, stubborn("a", events, math.inf, shutdown=otp.BRUTAL_KILL)
        )
        await DynamicSupervisor.stop(ds)
        assert trio.current_time() == 0
    assert events == []
    assert pid is not None
    assert pid.exit_reason == otp.KILLED


async def test_terminate_child_waits_for_the_budget(autojump_clock):
    """terminate_child of a stubborn child with shutdown=2 returns after exactly 2 s; it is gone."""
    events: Events = []
    async with trio.open_nursery() as nursery:
        ds = await DynamicSupervisor.start(nursery)
        pid = await DynamicSupervisor.start_child(ds, stubborn("s", events, math.inf, shutdown=2))
        await DynamicSupervisor.terminate_child(ds, pid)
        assert trio.current_time() == 2.0
        assert pid is not None
        assert not pid.alive
        assert await DynamicSupervisor.which_children(ds) == []
        await DynamicSupervisor.stop(ds)


# ----------------------------------------------------------------------------------------
# Issue 8: failing restarts, atomic starts and stops, a cancelled start_child
# ----------------------------------------------------------------------------------------


class Flaky(otp.GenServer[tuple[str, Events]]):
    """``init`` records ``("init", name, time)``, takes ``plan["slow"]`` seconds, and
    fails once ``plan["started"]`` is set (the first start succeeds)."""

    async def init(self, arg: Any) -> Any:
        name, events, plan = arg
        events.append(("init", name, trio.current_time()))
        await trio.sleep(plan["slow"])
        if plan.get("fail"):
            raise RuntimeError(f"{name} cannot start")
        return otp.Ok((name, events))

    async def handle_cast(self, request: Any, state: tuple[str, Events]) -> Any:
        return otp.Stop(request, state)

    async def terminate(self, reason: object, state: tuple[str, Events]) -> None:
        name, events = state
        events.append(("terminate", name, reason, trio.current_time()))


async def test_restarting_child_is_listed_counted_and_limited_by_max_children(autojump_clock):
    """A child whose restart keeps failing stays under its old pid as restarting: listed,
    counted (spec and worker, not active), counted against max_children, and
    terminate_child with that pid stops the retries (Elixir's dynamic_supervisor_test)."""
    events: Events = []
    plan: dict[str, Any] = {"slow": 1}
    async with trio.open_nursery() as nursery:
        sup = await DynamicSupervisor.start(
            nursery, max_children=1, max_restarts=100, max_seconds=100
        )
        pid = await DynamicSupervisor.start_child(sup, Flaky.child_spec(("f", events, plan)))
        assert trio.current_time() == 1.0
        plan["fail"] = True
        otp.cast(pid, "crash")
        await trio.sleep(0.5)
        children = await DynamicSupervisor.which_children(sup)
        assert trio.current_time() == 2.0  # answered between two attempts
        assert [c.pid for c in children] == [otp.RESTARTING]
        assert await DynamicSupervisor.count_children(sup) == otp.ChildCounts(1, 0, 0, 1)
        with pytest.raises(otp.MaxChildrenError):
            await DynamicSupervisor.start_child(sup, Worker.child_spec(("w", events)))
        await DynamicSupervisor.terminate_child(sup, pid)
        stopped_at = trio.current_time()
        await trio.sleep(10)
        assert await DynamicSupervisor.which_children(sup) == []
        inits = [e[2] for e in events if e[0] == "init"]
        # Each call waited only for the attempt under way; none began after terminate_child.
        assert inits == [0.0, 1.0, 2.0, 3.0]
        assert stopped_at == 4.0
        await DynamicSupervisor.stop(sup)


async def test_stop_waits_for_a_starting_child_and_runs_its_terminate(autojump_clock):
    """stop during a child's init returns only after that child started and was stopped
    with terminate; its start_child returned it alive (no start raced into a kill)."""
    events: Events = []
    plan: dict[str, Any] = {"slow": 2}
    got: list[otp.Pid | None] = []
    async with trio.open_nursery() as nursery:
        sup = await DynamicSupervisor.start(nursery)

        async def starter() -> None:
            pid = await DynamicSupervisor.start_child(sup, Flaky.child_spec(("s", events, plan)))
            assert pid is not None
            assert pid.alive
            got.append(pid)

        nursery.start_soon(starter)
        await trio.sleep(1)
        await DynamicSupervisor.stop(sup)
        assert trio.current_time() == 2.0
        assert events == [("init", "s", 0.0), ("terminate", "s", otp.SHUTDOWN, 2.0)]
        assert got[0].exit_reason == otp.SHUTDOWN


async def test_start_child_cancelled_during_init_starts_nothing(autojump_clock):
    """A caller cancelled mid-init undoes the start (trio's meaning): nothing is listed,
    nothing counts against max_children, the half-started process is gone."""
    events: Events = []
    plan: dict[str, Any] = {"slow": 2}
    async with trio.open_nursery() as nursery:
        sup = await DynamicSupervisor.start(nursery, max_children=1)
        with trio.move_on_after(1) as scope:
            await DynamicSupervisor.start_child(sup, Flaky.child_spec(("c", events, plan)))
        assert scope.cancelled_caught
        assert await DynamicSupervisor.which_children(sup) == []
        assert await DynamicSupervisor.count_children(sup) == otp.ChildCounts(0, 0, 0, 0)
        pid = await DynamicSupervisor.start_child(sup, Worker.child_spec(("w", events)))
        assert pid is not None
        await DynamicSupervisor.stop(sup)
    assert events == [("init", "c", 0.0), ("start", "w"), ("terminate", "w", otp.SHUTDOWN)]


class CancelsItsStarter(otp.GenServer[None]):
    """Cancels the given scope as soon as its init has returned (from handle_continue)."""

    async def init(self, scope: trio.CancelScope) -> otp.Ok[None]:
        return otp.Ok(None, otp.Continue(scope))

    async def handle_continue(self, scope: trio.CancelScope, state: None) -> otp.NoReply[None]:
        scope.cancel()
        return otp.NoReply(None)


async def test_start_child_cancelled_after_init_returns_the_supervised_child():
    """A caller cancelled once init has returned still gets the handle (the start stands,
    supervised); the cancellation arrives at the caller's next checkpoint."""
    got: list[otp.Pid | None] = []
    async with trio.open_nursery() as nursery:
        sup = await DynamicSupervisor.start(nursery)
        with trio.CancelScope() as scope:
            got.append(await DynamicSupervisor.start_child(sup, (CancelsItsStarter, scope)))
            await trio.lowlevel.checkpoint()
        assert scope.cancelled_caught
        (pid,) = got
        assert pid is not None
        assert pid.alive
        assert [c.pid for c in await DynamicSupervisor.which_children(sup)] == [pid]
        await DynamicSupervisor.stop(sup)
    assert pid.exit_reason == otp.SHUTDOWN


async def test_start_owner_cancelled_stops_the_children_with_terminate(autojump_clock):
    """A DynamicSupervisor.start whose nursery is cancelled asks all its children at
    once, each terminate runs within its own budget (a stuck one is killed when it runs
    out), then the cancellation goes on and nothing is left running."""
    events: Events = []
    with trio.move_on_after(1) as scope:
        async with trio.open_nursery() as nursery:
            sup = await DynamicSupervisor.start(nursery, name="jobs")
            slow = await DynamicSupervisor.start_child(
                sup, Stubborn.child_spec(("slow", events, 0.5), shutdown=2)
            )
            stuck = await DynamicSupervisor.start_child(
                sup, Stubborn.child_spec(("stuck", events, math.inf), shutdown=3)
            )
            await trio.sleep_forever()
    assert scope.cancelled_caught
    assert sorted(events) == [
        ("terminate", "slow", otp.SHUTDOWN, 1.0),
        ("terminate", "stuck", otp.SHUTDOWN, 1.0),
        ("terminated", "slow", 1.5),
    ]
    assert trio.current_time() == 4.0
    assert slow is not None
    assert slow.exit_reason == otp.SHUTDOWN
    assert stuck is not None
    assert stuck.exit_reason == otp.KILLED
    assert sup.exit_reason == otp.SHUTDOWN
    assert otp.registered() == {}


async def test_stop_cancels_a_start_child_whose_init_outlasts_its_budget(autojump_clock):
    """stop() while a caller's start_child is in a long init cancels that init when the
    child's shutdown budget runs out; the caller gets ChildStartError("shutdown")."""
    got: list[Any] = []
    async with trio.open_nursery() as nursery:
        sup = await DynamicSupervisor.start(nursery)

        async def starter() -> None:
            spec = otp.Supervisor.child_spec((SlowInit, 100), shutdown=2)
            with pytest.raises(otp.ChildStartError) as info:
                await DynamicSupervisor.start_child(sup, spec)
            got.append((trio.current_time(), info.value.reason))

        nursery.start_soon(starter)
        await trio.sleep(1)
        await DynamicSupervisor.stop(sup)
        assert trio.current_time() == 1.0 + 2.0
    assert got == [(3.0, otp.SHUTDOWN)]


async def test_start_child_racing_a_kill_never_returns_a_doomed_child(autojump_clock):
    """A start whose supervisor is killed during init raises CalleeExit instead of a handle."""
    got: list[Any] = []
    async with trio.open_nursery() as outer:
        kill = trio.CancelScope()

        async def run_sup(task_status: trio.TaskStatus[otp.Pid] = trio.TASK_STATUS_IGNORED) -> None:
            with kill:
                await DynamicSupervisor.serve(task_status=task_status)

        sup = await outer.start(run_sup)

        async def starter() -> None:
            with pytest.raises(otp.CalleeExit) as info:
                await DynamicSupervisor.start_child(sup, (SlowInit, 2))
            got.append((trio.current_time(), info.value.reason))

        outer.start_soon(starter)
        await trio.sleep(1)
        kill.cancel()
    assert got == [(2.0, otp.KILLED)]


async def test_a_burst_of_tasks_spawned_without_a_schedule_point():
    """spawn_child_with_args (the durable queue's burst after one claim) spawns Tasks
    now without yielding: they all run after the caller's one checkpoint, in one
    scheduler pass. It refuses as a start does: past max_children, a spec that is not
    a Task's, and a stopped supervisor."""
    from trio_otp._supervision._dynamic_supervisor import spawn_child_with_args

    ran: list[int] = []
    async with trio.open_nursery() as nursery:
        ds = await DynamicSupervisor.start(nursery, max_children=3)
        spec = otp.Task.child_spec(ran.append, 0)
        for n in range(3):
            spawn_child_with_args(ds, spec, (ran.append, n))
        assert ran == []  # nothing ran: no schedule point yet
        with pytest.raises(otp.MaxChildrenError):
            spawn_child_with_args(ds, spec, (ran.append, 3))
        await trio.testing.wait_all_tasks_blocked()
        assert sorted(ran) == [0, 1, 2]
        server = worker("w", [])
        with pytest.raises(TypeError, match="not a Task's spec"):
            spawn_child_with_args(ds, server, server.args)
        await DynamicSupervisor.stop(ds)
        with pytest.raises(otp.NoProcessError):
            spawn_child_with_args(ds, spec, (ran.append, 4))
    assert sorted(ran) == [0, 1, 2]


async def test_start_child_with_args_by_name_and_refusals():
    """start_child_with_args takes its common case (a live DynamicSupervisor's handle)
    inline; a registered name, a stopped supervisor and a process that is not a
    DynamicSupervisor take the general lookup, which finds or refuses as start_child."""
    from trio_otp._supervision._dynamic_supervisor import start_child_with_args

    ran: list[int] = []
    async with trio.open_nursery() as nursery:
        ds = await DynamicSupervisor.start(nursery, name="jobs")
        spec = otp.Task.child_spec(ran.append, 0)
        by_pid = await start_child_with_args(ds, spec, (ran.append, 1))
        by_name = await start_child_with_args("jobs", spec, (ran.append, 2))
        assert type(by_pid) is otp.Pid
        assert type(by_name) is otp.Pid
        await trio.testing.wait_all_tasks_blocked()
        assert sorted(ran) == [1, 2]  # each start's own arguments, not the spec's
        events: Events = []
        other = await Worker.start(nursery, ("w", events))
        with pytest.raises(TypeError, match="needs a DynamicSupervisor"):
            await start_child_with_args(other, spec, (ran.append, 3))
        with pytest.raises(otp.NoProcessError):
            await start_child_with_args("nobody", spec, (ran.append, 4))
        await DynamicSupervisor.stop(ds)
        with pytest.raises(otp.NoProcessError):
            await start_child_with_args(ds, spec, (ran.append, 5))
        await otp.stop(other)
    assert sorted(ran) == [1, 2]
