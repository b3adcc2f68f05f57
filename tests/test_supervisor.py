"""Supervisor: strategies, restart types, intensity, management, start failures, shutdown.

Rows of otp-behaviour.md sections B, C, D, F and G for the static Supervisor
(trio_otp/_supervision/_supervisor.py), plus the structured-concurrency rules of STYLE.md.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import pytest
import trio
import trio.testing

import trio_otp as otp
from trio_otp import DynamicSupervisor, Supervisor, Task
from trio_otp.testing import capture_reports

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
            case ("raise", exc):
                raise exc
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
        events.append(("terminated", name, trio.current_time()))


class Killable:
    """A start function whose process the test can kill (OTP's ``Process.exit(pid, :kill)``).

    trio_otp has no kill signal to send from outside; cancelling a cancel scope that
    wraps the process (not the supervisor's own scope for it) is the same thing: the
    process ends at once, ``terminate`` does not run, the exit reason is ``killed``.
    """

    def __init__(self) -> None:
        self.scopes: list[trio.CancelScope] = []

    async def serve(
        self, arg: Any, *, task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED
    ) -> None:
        with trio.CancelScope() as scope:
            self.scopes.append(scope)
            await Worker.serve(arg, task_status=task_status)

    def kill(self) -> None:
        self.scopes[-1].cancel()


def worker(wid: str, events: Events, how: object = "ok", **overrides: Any) -> otp.ChildSpec:
    return Worker.child_spec((wid, events, how), id=wid, **overrides)


def killable(name: str, events: Events, killer: Killable, **overrides: Any) -> otp.ChildSpec:
    return otp.ChildSpec(
        id=name, start=killer.serve, args=((name, events),), modules=(Worker,), **overrides
    )


async def settle() -> None:
    """Let every task run until all are blocked: the supervisor has handled the exit."""
    await trio.testing.wait_all_tasks_blocked()


async def pids(sup: object) -> dict[object, Any]:
    return {info.id: info.pid for info in await Supervisor.which_children(sup)}


async def crash(pid: otp.Pid, how: object = ("stop", "crash")) -> None:
    """Make a Worker exit (a cast picks how) and let its supervisor react."""
    otp.cast(pid, how)
    await pid.wait_exited()
    await settle()


# The exit reasons of section C and how a Worker produces each.
EXITS: dict[str, Any] = {
    "normal": ("stop", otp.NORMAL),
    "shutdown": ("stop", otp.SHUTDOWN),
    "shutdown_payload": ("stop", otp.Shutdown("bye")),
    "stop_crash": ("stop", "crash"),
    "raise": ("raise", RuntimeError("boom")),
    "killed": None,  # Killable.kill
}
RESTARTED_BY = {
    "permanent": set(EXITS),
    "transient": {"stop_crash", "raise", "killed"},
    "temporary": set(),
}


async def exit_with(pid: otp.Pid, how: str, killer: Killable) -> object:
    if how == "killed":
        killer.kill()
    else:
        otp.cast(pid, EXITS[how])
    reason = await pid.wait_exited()
    await settle()
    return reason


def expected_reason(how: str) -> object:
    return otp.KILLED if how == "killed" else EXITS[how][1]


# --------------------------------------------------------------------------------------
# B. Strategies
# --------------------------------------------------------------------------------------


async def test_children_start_in_order_and_are_listed_in_reverse():
    """Children start in list order; which_children lists them in reverse start order."""
    events: Events = []
    async with Supervisor.open([worker(n, events) for n in "abc"]) as sup:
        assert events == [("start", "a"), ("start", "b"), ("start", "c")]
        infos = await Supervisor.which_children(sup)
        assert [(i.id, i.type, i.modules) for i in infos] == [
            (n, otp.ChildType.WORKER, (Worker,)) for n in "cba"
        ]
        assert all(isinstance(i.pid, otp.Pid) and i.pid.alive for i in infos)
        assert all(i.pid.parent is sup for i in infos)
        assert await Supervisor.count_children(sup) == otp.ChildCounts(
            specs=3, active=3, supervisors=0, workers=3
        )


STRATEGY_EVENTS = {
    "one_for_one": [("start", "b")],
    "one_for_all": [
        ("terminate", "c", otp.SHUTDOWN),
        ("terminate", "a", otp.SHUTDOWN),
        ("start", "a"),
        ("start", "b"),
        ("start", "c"),
    ],
    "rest_for_one": [("terminate", "c", otp.SHUTDOWN), ("start", "b"), ("start", "c")],
}
STRATEGY_RESTARTED = {"one_for_one": "b", "one_for_all": "abc", "rest_for_one": "bc"}


@pytest.mark.parametrize("strategy", list(STRATEGY_EVENTS))
async def test_strategy_when_b_is_killed(autojump_clock, strategy: str):
    """Killing b: siblings stop in reverse start order (shutdown), then all restart in order."""
    events: Events = []
    killer = Killable()
    specs = [killable(n, events, killer) for n in "abc"]
    async with Supervisor.open(specs, strategy=strategy) as sup:
        before = await pids(sup)
        events.clear()
        killer.scopes[1].cancel()  # b's
        assert await before["b"].wait_exited() == otp.KILLED
        await settle()
        assert events == STRATEGY_EVENTS[strategy]
        after = await pids(sup)
        changed = "".join(n for n in "abc" if after[n] is not before[n])
        assert changed == STRATEGY_RESTARTED[strategy]
        assert all(after[n].alive for n in "abc")
        assert list(after) == ["c", "b", "a"]
        assert trio.current_time() == 0  # restarts are immediate


@pytest.mark.parametrize("strategy", list(STRATEGY_EVENTS))
async def test_strategy_when_b_crashes(strategy: otp.Strategy):
    """A crashing b runs its own terminate first; then the strategy applies as for a kill."""
    events: Events = []
    async with Supervisor.open(
        [worker(n, events) for n in "abc"], strategy=otp.Strategy(strategy)
    ) as sup:
        before = await pids(sup)
        events.clear()
        await crash(before["b"])
        assert before["b"].exit_reason == "crash"
        assert events == [("terminate", "b", "crash"), *STRATEGY_EVENTS[strategy]]
        after = await pids(sup)
        assert (
            "".join(n for n in "abc" if after[n] is not before[n]) == (STRATEGY_RESTARTED[strategy])
        )


async def test_stop_terminates_children_in_reverse_start_order():
    """Supervisor.stop terminates c, b, a in that order, each with reason shutdown."""
    events: Events = []
    async with trio.open_nursery() as nursery:
        sup = await Supervisor.start(nursery, [worker(n, events) for n in "abc"])
        children = await pids(sup)
        events.clear()
        assert await Supervisor.stop(sup) is None
    assert events == [("terminate", n, otp.SHUTDOWN) for n in "cba"]
    assert sup.exit_reason == otp.NORMAL
    assert all(children[n].exit_reason == otp.SHUTDOWN for n in "abc")


async def test_open_block_exit_stops_the_tree_with_reason_shutdown():
    """Leaving the block stops children in reverse order; the supervisor exits shutdown."""
    events: Events = []
    async with Supervisor.open([worker(n, events) for n in "ab"]) as sup:
        events.clear()
    assert events == [("terminate", "b", otp.SHUTDOWN), ("terminate", "a", otp.SHUTDOWN)]
    assert sup.exit_reason == otp.SHUTDOWN


async def test_unknown_strategy_is_rejected():
    """An unknown strategy is a ValueError naming the accepted ones."""
    async with trio.open_nursery() as nursery:
        with pytest.raises(ValueError, match="one_for_one"):
            await Supervisor.start(nursery, [], strategy="one_for_none")


# --------------------------------------------------------------------------------------
# C. Restart types x exit reasons
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("restart", list(RESTARTED_BY))
@pytest.mark.parametrize("how", list(EXITS))
async def test_restart_type_and_exit_reason_decide_restart(restart: str, how: str):
    """Permanent always restarts, transient only after an abnormal exit, temporary never."""
    events: Events = []
    killer = Killable()
    async with Supervisor.open([killable("w", events, killer, restart=restart)]) as sup:
        old = (await pids(sup))["w"]
        reason = await exit_with(old, how, killer)
        if how == "raise":
            assert isinstance(reason, RuntimeError)
        else:
            assert reason == expected_reason(how)
        infos = await Supervisor.which_children(sup)
        counts = await Supervisor.count_children(sup)
        if how in RESTARTED_BY[restart]:
            (info,) = infos
            assert (info.id, info.type) == ("w", otp.ChildType.WORKER)
            assert info.pid is not old
            assert info.pid.alive
            assert counts == otp.ChildCounts(specs=1, active=1, supervisors=0, workers=1)
            assert events.count(("start", "w")) == 2
        elif restart == "transient":
            # The spec is kept, not running (OTP: {:w, :undefined, :worker, [W]}).
            assert infos == [otp.ChildInfo("w", None, otp.ChildType.WORKER, (Worker,))]
            assert counts == otp.ChildCounts(specs=1, active=0, supervisors=0, workers=1)
            assert events.count(("start", "w")) == 1
        else:
            assert infos == []
            assert counts == otp.ChildCounts(specs=0, active=0, supervisors=0, workers=0)
            assert events.count(("start", "w")) == 1
        # terminate ran for every exit except the kill.
        terminates = [e for e in events if e[0] == "terminate"]
        assert terminates == ([] if how == "killed" else [("terminate", "w", reason)])


async def test_management_api_on_a_stopped_transient_child():
    """The management calls give OTP's answers for a transient child that exited normally."""
    events: Events = []
    spec = worker("w", events, restart="transient")
    async with Supervisor.open([spec]) as sup:
        await crash((await pids(sup))["w"], ("stop", otp.NORMAL))
        assert await pids(sup) == {"w": None}

        pid = await Supervisor.restart_child(sup, "w")
        assert isinstance(pid, otp.Pid)
        assert pid.alive
        assert await pids(sup) == {"w": pid}
        with pytest.raises(otp.ChildRunningError) as running:
            await Supervisor.restart_child(sup, "w")
        assert running.value.child_id == "w"
        with pytest.raises(otp.AlreadyStartedError) as started:
            await Supervisor.start_child(sup, spec)
        assert started.value.holder is pid
        with pytest.raises(otp.ChildRunningError):
            await Supervisor.delete_child(sup, "w")

        assert await Supervisor.terminate_child(sup, "w") is None
        assert pid.exit_reason == otp.SHUTDOWN
        assert await Supervisor.which_children(sup) == [
            otp.ChildInfo("w", None, otp.ChildType.WORKER, (Worker,))
        ]
        with pytest.raises(otp.AlreadyPresentError) as present:
            await Supervisor.start_child(sup, spec)
        assert present.value.child_id == "w"

        assert await Supervisor.delete_child(sup, "w") is None
        assert await Supervisor.which_children(sup) == []
        with pytest.raises(otp.ChildNotFoundError):
            await Supervisor.delete_child(sup, "w")
        with pytest.raises(otp.ChildNotFoundError):
            await Supervisor.terminate_child(sup, "nope")
        with pytest.raises(otp.ChildNotFoundError):
            await Supervisor.restart_child(sup, "nope")

        # After delete_child the id is free for start_child again.
        new = await Supervisor.start_child(sup, spec)
        assert isinstance(new, otp.Pid)
        assert await pids(sup) == {"w": new}


async def test_terminate_child_of_temporary_child_deletes_its_spec():
    """terminate_child of a temporary child stops it and forgets its spec."""
    events: Events = []
    async with Supervisor.open([worker("t", events, restart="temporary")]) as sup:
        pid = (await pids(sup))["t"]
        await Supervisor.terminate_child(sup, "t")
        assert pid.exit_reason == otp.SHUTDOWN
        assert await Supervisor.which_children(sup) == []


async def test_terminated_child_is_not_restarted():
    """A permanent child stopped by terminate_child stays stopped; restart_child runs it again."""
    events: Events = []
    async with Supervisor.open([worker("w", events)]) as sup:
        await Supervisor.terminate_child(sup, "w")
        await settle()
        assert await pids(sup) == {"w": None}
        assert events == [("start", "w"), ("terminate", "w", otp.SHUTDOWN)]
        await Supervisor.restart_child(sup, "w")
        assert events[-1] == ("start", "w")


async def test_start_child_adds_a_child_last():
    """start_child starts the child now and lists it first (it is the last started)."""
    events: Events = []
    async with Supervisor.open([worker("a", events)]) as sup:
        pid = await Supervisor.start_child(sup, worker("b", events))
        assert next(iter((await pids(sup)).items())) == ("b", pid)
        assert events == [("start", "a"), ("start", "b")]
        events.clear()
    assert events == [("terminate", "b", otp.SHUTDOWN), ("terminate", "a", otp.SHUTDOWN)]


async def test_start_child_failure_adds_nothing():
    """A start_child whose init stops raises ChildStartError and records nothing."""
    events: Events = []
    async with Supervisor.open([]) as sup:
        with pytest.raises(otp.ChildStartError) as info:
            await Supervisor.start_child(sup, worker("x", events, ("stop", "bad_init")))
        assert (info.value.child_id, info.value.reason) == ("x", "bad_init")
        assert await Supervisor.which_children(sup) == []


async def test_start_child_ignored_is_kept_with_no_pid():
    """start_child of a child whose init ignores returns None and keeps the spec."""
    events: Events = []
    async with Supervisor.open([]) as sup:
        assert await Supervisor.start_child(sup, worker("x", events, "ignore")) is None
        assert await pids(sup) == {"x": None}


async def test_management_calls_check_the_supervisor_kind():
    """Static-only management calls on a DynamicSupervisor are a TypeError."""
    async with trio.open_nursery() as nursery:
        ds = await otp.DynamicSupervisor.start(nursery)
        with pytest.raises(TypeError, match="Supervisor"):
            await Supervisor.restart_child(ds, "w")
        await otp.DynamicSupervisor.stop(ds)


# --------------------------------------------------------------------------------------
# D. Restart intensity
# --------------------------------------------------------------------------------------


def gave_up(child_id: object, reason: object) -> pytest.RaisesExc[otp.RestartIntensityError]:
    return pytest.RaisesExc(
        otp.RestartIntensityError,
        check=lambda e: e.child_id == child_id and e.reason == reason,
    )


async def test_fourth_crash_in_window_shuts_the_supervisor_down(autojump_clock):
    """Crashes 1-3 are restarted; the 4th ends the supervisor with shutdown and stops c2 too."""
    events: Events = []
    with pytest.RaisesGroup(gave_up("c1", "crash")):
        async with trio.open_nursery() as nursery:
            sup = await Supervisor.start(nursery, [worker("c1", events), worker("c2", events)])
            c2 = (await pids(sup))["c2"]
            for _ in range(3):
                c1 = (await pids(sup))["c1"]
                await crash(c1)
                assert (await pids(sup))["c1"] is not c1
            otp.cast((await pids(sup))["c1"], ("stop", "crash"))
            await sup.wait_exited()
    assert sup.exit_reason == otp.SHUTDOWN
    assert c2.exit_reason == otp.SHUTDOWN
    crash_and_restart = [("terminate", "c1", "crash"), ("start", "c1")]
    assert events == [
        ("start", "c1"),
        ("start", "c2"),
        *crash_and_restart * 3,
        ("terminate", "c1", "crash"),
        ("terminate", "c2", otp.SHUTDOWN),
    ]
    assert trio.current_time() == 0


async def test_intensity_counts_crashes_of_all_children(autojump_clock):
    """The limit is per supervisor: c1, c2, c1, c2 crashing is 4 restarts, and it gives up."""
    events: Events = []
    with pytest.RaisesGroup(gave_up("c2", "crash")):
        async with trio.open_nursery() as nursery:
            sup = await Supervisor.start(nursery, [worker("c1", events), worker("c2", events)])
            for name in ("c1", "c2", "c1"):
                await crash((await pids(sup))[name])
            otp.cast((await pids(sup))["c2"], ("stop", "crash"))
            await sup.wait_exited()
    assert sup.exit_reason == otp.SHUTDOWN


async def test_max_restarts_zero_first_crash_ends_it(autojump_clock):
    """With max_restarts=0 the first crash shuts the supervisor down, nothing restarts."""
    events: Events = []
    with pytest.RaisesGroup(gave_up("c1", "crash")):
        async with trio.open_nursery() as nursery:
            sup = await Supervisor.start(nursery, [worker("c1", events)], max_restarts=0)
            otp.cast((await pids(sup))["c1"], ("stop", "crash"))
            await sup.wait_exited()
    assert sup.exit_reason == otp.SHUTDOWN
    assert events == [("start", "c1"), ("terminate", "c1", "crash")]


async def test_crashes_1_1_s_apart_exceed_one_restart_per_second(autojump_clock):
    """max_restarts=1, max_seconds=1: crashes at t=0 and t=1.1 still end it (whole seconds)."""
    events: Events = []
    with pytest.RaisesGroup(gave_up("c1", "crash")):
        async with trio.open_nursery() as nursery:
            sup = await Supervisor.start(
                nursery, [worker("c1", events)], max_restarts=1, max_seconds=1
            )
            await crash((await pids(sup))["c1"])
            await trio.sleep(1.1)
            otp.cast((await pids(sup))["c1"], ("stop", "crash"))
            await sup.wait_exited()
    assert sup.exit_reason == otp.SHUTDOWN
    assert events.count(("start", "c1")) == 2


async def test_crashes_2_1_s_apart_never_exceed_one_restart_per_second(autojump_clock):
    """max_restarts=1, max_seconds=1: crashes at t=0, 2.1 and 4.2 are all restarted."""
    events: Events = []
    async with Supervisor.open([worker("c1", events)], max_restarts=1, max_seconds=1) as sup:
        for i in range(3):
            if i:
                await trio.sleep(2.1)
            c1 = (await pids(sup))["c1"]
            await crash(c1)
            assert (await pids(sup))["c1"] is not c1
        assert sup.alive
        assert events.count(("start", "c1")) == 4


async def test_restarts_leave_the_window_after_max_seconds(autojump_clock):
    """With the default 3 in 5 s, crashes 6 s apart never add up."""
    events: Events = []
    async with Supervisor.open([worker("c1", events)]) as sup:
        for _ in range(3):
            await crash((await pids(sup))["c1"])
        await trio.sleep(6)
        for _ in range(3):
            await crash((await pids(sup))["c1"])
        assert sup.alive
        assert events.count(("start", "c1")) == 7


async def test_top_level_open_raises_restart_intensity_error(autojump_clock):
    """A top supervisor that gives up raises RestartIntensityError out of open()."""
    events: Events = []
    boom = RuntimeError("boom")
    with pytest.RaisesGroup(
        pytest.RaisesExc(
            otp.RestartIntensityError,
            check=lambda e: (
                e.child_id == "w"
                and e.reason is boom
                and e.__cause__ is boom
                and (e.max_restarts, e.max_seconds) == (3, 5)
            ),
            match="reached max restart intensity",
        )
    ):
        async with Supervisor.open([worker("w", events)]) as sup:
            for _ in range(3):
                await crash((await pids(sup))["w"])
            otp.cast((await pids(sup))["w"], ("raise", boom))
            await trio.sleep_forever()
    assert sup.exit_reason == otp.SHUTDOWN


async def test_nested_supervisor_giving_up_is_a_shutdown_exit_for_its_parent(autojump_clock):
    """A child supervisor giving up exits shutdown; the parent restarts it and counts it."""
    events: Events = []
    inner = Supervisor.child_spec(
        (Supervisor, {"children": [worker("w", events)], "name": "inner", "max_restarts": 0})
    )
    with pytest.RaisesGroup(gave_up("inner", otp.SHUTDOWN)):
        async with trio.open_nursery() as nursery:
            top = await Supervisor.start(
                nursery, [inner, worker("sibling", events)], max_restarts=1
            )
            sibling = (await pids(top))["sibling"]
            first = otp.whereis("inner")
            assert first is not None
            await crash((await pids(first))["w"])
            assert first.exit_reason == otp.SHUTDOWN
            second = otp.whereis("inner")
            assert second is not None
            assert second is not first
            assert second.alive
            assert (await pids(top))["sibling"] is sibling  # one_for_one: sibling untouched
            otp.cast((await pids(second))["w"], ("stop", "crash"))
            await top.wait_exited()
    assert top.exit_reason == otp.SHUTDOWN
    assert second.exit_reason == otp.SHUTDOWN
    assert sibling.exit_reason == otp.SHUTDOWN
    assert events == [
        ("start", "w"),
        ("start", "sibling"),
        ("terminate", "w", "crash"),
        ("start", "w"),
        ("terminate", "w", "crash"),
        ("terminate", "sibling", otp.SHUTDOWN),
    ]


async def test_invalid_intensity_is_rejected():
    """max_restarts must be an int >= 0 and max_seconds a positive number."""
    async with trio.open_nursery() as nursery:
        with pytest.raises(ValueError, match="max_restarts"):
            await Supervisor.start(nursery, [], max_restarts=-1)
        with pytest.raises(ValueError, match="max_seconds"):
            await Supervisor.start(nursery, [], max_seconds=0)


# --------------------------------------------------------------------------------------
# F. Names and start failures
# --------------------------------------------------------------------------------------


async def test_gen_server_start_with_a_taken_name_fails_with_the_holder():
    """GenServer.start with a name in use raises AlreadyStartedError naming the holder."""
    events: Events = []
    async with trio.open_nursery() as nursery:
        holder = await Worker.start(nursery, ("p", events), name="dup")
        with pytest.raises(otp.AlreadyStartedError) as info:
            await Worker.start(nursery, ("q", events), name="dup")
        assert (info.value.name, info.value.holder) == ("dup", holder)
        assert events == [("start", "p")]  # the second init never ran
        await otp.stop(holder)


async def test_start_child_with_a_taken_name_fails_with_the_holder():
    """Supervisor.start_child of a child whose name is taken raises AlreadyStartedError."""
    events: Events = []
    async with Supervisor.open([worker("p", events, name="dup")]) as sup:
        holder = otp.whereis("dup")
        with pytest.raises(otp.AlreadyStartedError) as info:
            await Supervisor.start_child(sup, worker("x", events, name="dup"))
        assert info.value.holder is holder
        assert list(await pids(sup)) == ["p"]


async def test_supervisor_start_with_a_taken_child_name_fails_to_start_child():
    """A taken child name fails the start: ChildStartError(id, AlreadyStartedError)."""
    events: Events = []
    async with trio.open_nursery() as nursery:
        holder = await Worker.start(nursery, ("p", events), name="dup")
        with pytest.raises(otp.ChildStartError) as info:
            await Supervisor.start(nursery, [worker("x", events, name="dup")])
        assert info.value.child_id == "x"
        assert isinstance(info.value.reason, otp.AlreadyStartedError)
        assert info.value.reason.holder is holder
        await otp.stop(holder)


@pytest.mark.parametrize(
    "how", [("stop", "bad_init"), ("raise", RuntimeError("bad init"))], ids=["stop", "raise"]
)
async def test_child_init_failure_at_start_stops_the_started_ones_first(how: Any):
    """c's failing init: ChildStartError("c", reason), raised after b then a were stopped."""
    events: Events = []
    specs = [worker("a", events), worker("b", events), worker("c", events, how)]
    with pytest.raises(otp.ChildStartError) as info:
        async with Supervisor.open(specs):
            pytest.fail("the block must not run")  # pragma: no cover
    assert info.value.child_id == "c"
    assert info.value.reason is how[1]  # the stop reason, or the exception itself
    assert events == [
        ("start", "a"),
        ("start", "b"),
        ("start", "c"),
        ("terminate", "b", otp.SHUTDOWN),
        ("terminate", "a", otp.SHUTDOWN),
    ]


async def test_child_init_failure_reaches_supervisor_start_in_a_nursery():
    """Supervisor.start raises ChildStartError itself, and the nursery is not cancelled."""
    events: Events = []
    async with trio.open_nursery() as nursery:
        with pytest.raises(otp.ChildStartError):
            await Supervisor.start(nursery, [worker("a", events, ("stop", "bad_init"))])
        assert not nursery.cancel_scope.cancel_called


async def test_ignored_child_is_listed_without_pid():
    """A child whose init returns Ignore is kept, with pid None; the supervisor starts."""
    events: Events = []
    async with Supervisor.open([worker("i", events, "ignore"), worker("a", events)]) as sup:
        assert await Supervisor.which_children(sup) == [
            otp.ChildInfo("a", (await pids(sup))["a"], otp.ChildType.WORKER, (Worker,)),
            otp.ChildInfo("i", None, otp.ChildType.WORKER, (Worker,)),
        ]
        assert await Supervisor.count_children(sup) == otp.ChildCounts(
            specs=2, active=1, supervisors=0, workers=2
        )


async def test_duplicate_ids_are_rejected_before_anything_starts():
    """Two children with one id raise ChildSpecError and start nothing."""
    events: Events = []
    with pytest.raises(otp.ChildSpecError, match="duplicate child id"):
        async with Supervisor.open([worker("w", events), worker("w", events)]):
            pytest.fail("the block must not run")  # pragma: no cover
    assert events == []


async def test_same_class_twice_needs_distinct_ids():
    """A class listed twice has a duplicate id (the class) unless an id is given."""
    events: Events = []
    with pytest.raises(otp.ChildSpecError, match="Worker"):
        async with Supervisor.open([(Worker, ("a", events)), (Worker, ("b", events))]):
            pytest.fail("the block must not run")  # pragma: no cover
    assert events == []


async def test_invalid_child_is_rejected_before_anything_starts():
    """A child that is not a spec form raises ChildSpecError and starts nothing."""
    events: Events = []
    with pytest.raises(otp.ChildSpecError, match="cannot make a child spec"):
        async with Supervisor.open([worker("w", events), 42]):
            pytest.fail("the block must not run")  # pragma: no cover
    assert events == []


# --------------------------------------------------------------------------------------
# G. Shutdown
# --------------------------------------------------------------------------------------


def stubborn(name: str, events: Events, delay: float, **overrides: Any) -> otp.ChildSpec:
    return Stubborn.child_spec((name, events, delay), id=name, **overrides)


async def stop_timed(children: list[otp.ChildSpec]) -> tuple[float, dict[object, Any]]:
    """Start a supervisor, stop it, and return how long stop took and the children."""
    async with trio.open_nursery() as nursery:
        sup = await Supervisor.start(nursery, children)
        before = await pids(sup)
        start = trio.current_time()
        await Supervisor.stop(sup)
        took = trio.current_time() - start
    return took, before


async def test_stubborn_child_is_killed_after_its_shutdown_budget(autojump_clock):
    """terminate never returning, shutdown=2: stop takes exactly 2 s; the child exits killed."""
    events: Events = []
    took, children = await stop_timed([stubborn("s", events, math.inf, shutdown=2)])
    assert took == 2.0
    assert events == [("terminate", "s", otp.SHUTDOWN, 0.0)]
    assert children["s"].exit_reason == otp.KILLED


async def test_slow_terminate_within_budget_completes(autojump_clock):
    """terminate taking 0.5 s with shutdown=2: stop takes 0.5 s and the reason is shutdown."""
    events: Events = []
    took, children = await stop_timed([stubborn("s", events, 0.5, shutdown=2)])
    assert took == 0.5
    assert events == [("terminate", "s", otp.SHUTDOWN, 0.0), ("terminated", "s", 0.5)]
    assert children["s"].exit_reason == otp.SHUTDOWN


async def test_brutal_kill_does_not_run_terminate(autojump_clock):
    """shutdown=BRUTAL_KILL: stop takes 0 s, terminate is not called, the reason is killed."""
    events: Events = []
    took, children = await stop_timed([stubborn("s", events, math.inf, shutdown=otp.BRUTAL_KILL)])
    assert took == 0
    assert events == []
    assert children["s"].exit_reason == otp.KILLED


async def test_infinity_waits_for_terminate(autojump_clock):
    """shutdown=INFINITY: stop waits as long as terminate takes (here 100 s)."""
    events: Events = []
    took, children = await stop_timed([stubborn("s", events, 100, shutdown=otp.INFINITY)])
    assert took == 100
    assert children["s"].exit_reason == otp.SHUTDOWN


async def test_task_child_stops_at_once_with_reason_shutdown(autojump_clock):
    """A Task does not trap exits: shutdown=2 or not, it stops at once with reason shutdown."""
    spec = Supervisor.child_spec((Task, trio.sleep_forever), shutdown=2)
    took, children = await stop_timed([spec])
    assert took == 0
    assert children[Task].exit_reason == otp.SHUTDOWN


async def test_static_supervisor_stops_children_one_after_another(autojump_clock):
    """Two stubborn children with shutdown=1 take 2 s: b's terminate starts at 0, a's at 1."""
    events: Events = []
    took, children = await stop_timed(
        [stubborn("a", events, math.inf, shutdown=1), stubborn("b", events, math.inf, shutdown=1)]
    )
    assert took == 2.0
    assert events == [
        ("terminate", "b", otp.SHUTDOWN, 0.0),
        ("terminate", "a", otp.SHUTDOWN, 1.0),
    ]
    assert children["a"].alive is False
    assert children["b"].alive is False


async def test_terminate_child_of_stubborn_child_waits_its_budget(autojump_clock):
    """terminate_child of a stubborn child (shutdown=2) takes exactly 2 s; the entry stays."""
    events: Events = []
    async with Supervisor.open([stubborn("s", events, math.inf, shutdown=2)]) as sup:
        pid = (await pids(sup))["s"]
        await Supervisor.terminate_child(sup, "s")
        assert trio.current_time() == 2.0
        assert await Supervisor.which_children(sup) == [
            otp.ChildInfo("s", None, otp.ChildType.WORKER, (Stubborn,))
        ]
        assert not pid.alive


async def test_shut_down_abnormally_is_reported(autojump_clock, caplog):
    """A child killed after its budget is reported 'shut down abnormally' on trio_otp.supervisor."""
    caplog.set_level(logging.INFO, logger="trio_otp.supervisor")
    events: Events = []
    await stop_timed([stubborn("s", events, math.inf, shutdown=2)])
    messages = [r.getMessage() for r in caplog.records if r.name == "trio_otp.supervisor"]
    (report,) = [m for m in messages if "shut down abnormally" in m]
    assert report.startswith("Child 's' of Supervisor <Pid ")
    assert "** (stop) 'killed'" in report
    assert "Shutdown: 2\n" in report


# --------------------------------------------------------------------------------------
# Strict structured concurrency
# --------------------------------------------------------------------------------------


async def test_no_process_outlives_the_open_block(autojump_clock):
    """After ``async with Supervisor.open`` every process of the tree has exited."""
    events: Events = []
    tree = [
        worker("a", events),
        (otp.DynamicSupervisor, {"name": "jobs"}),
        Supervisor.child_spec(
            (Supervisor, {"children": [worker("inner", events)], "name": "nested"})
        ),
    ]
    async with Supervisor.open(tree) as sup:
        jobs = otp.whereis("jobs")
        task = await otp.DynamicSupervisor.start_child(jobs, (Task, trio.sleep_forever))
        job = await otp.DynamicSupervisor.start_child(jobs, worker("job", events))
        nested = otp.whereis("nested")
        everyone = [sup, task, job, *(await pids(sup)).values(), *(await pids(nested)).values()]
        assert len(everyone) == 7
        assert all(p.alive for p in everyone)
    assert not any(p.alive for p in everyone)
    assert otp.registered() == {}


class Bail(BaseException):
    """Not an Exception (like KeyboardInterrupt): never a crash to restart."""


@pytest.mark.parametrize("error", [Bail, KeyboardInterrupt])
async def test_base_exception_in_child_propagates_and_is_not_restarted(
    error: type[BaseException],
):
    """A child raising a BaseException that is not an Exception is not restarted: it propagates."""
    events: Events = []
    try:
        with pytest.RaisesGroup(error, flatten_subgroups=True):
            async with Supervisor.open([worker("a", events), worker("b", events)]) as sup:
                b = (await pids(sup))["b"]
                otp.cast(b, ("raise", error()))
                await trio.sleep_forever()
    except KeyboardInterrupt:  # pragma: no cover - keep pytest alive if it escapes bare
        pytest.fail("KeyboardInterrupt escaped without its exception group")
    assert [e for e in events if e[0] == "start"] == [("start", "a"), ("start", "b")]
    assert not sup.alive
    assert not b.alive


async def test_cancellation_is_not_a_crash(autojump_clock, caplog):
    """Cancelling the block that runs a tree stops it in order (terminate runs), without
    restarts or crash reports."""
    caplog.set_level(logging.DEBUG, logger="trio_otp")
    events: Events = []
    with trio.move_on_after(1) as scope:
        async with Supervisor.open(
            [worker("a", events), (Task, trio.sleep_forever)], max_restarts=0
        ) as sup:
            children = await pids(sup)
            await trio.sleep_forever()
    assert scope.cancelled_caught
    assert trio.current_time() == 1
    assert events == [("start", "a"), ("terminate", "a", otp.SHUTDOWN)]
    assert not sup.alive
    assert not any(p.alive for p in children.values())
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_cancelled_callback_scope_is_not_a_crash(autojump_clock):
    """A callback whose own cancel scope fires carries on: Cancelled caught by trio is no crash."""

    class Patient(otp.GenServer[None]):
        async def handle_call(self, request: Any, from_: otp.From, state: None) -> Any:
            with trio.move_on_after(1):
                await trio.sleep_forever()
            return otp.Reply("done", state)

    async with Supervisor.open([Patient]) as sup:
        pid = (await pids(sup))[Patient]
        assert await otp.call(pid, "wait") == "done"
        assert (await pids(sup))[Patient] is pid


async def test_crashing_task_under_one_for_all_restarts_its_siblings():
    """A transient Task that crashes under one_for_all still stops and restarts its siblings."""
    events: Events = []
    attempts: list[int] = []
    gate = trio.Event()

    async def flaky() -> None:
        attempts.append(len(attempts) + 1)
        if len(attempts) == 1:
            await gate.wait()
            raise RuntimeError("first attempt fails")
        await trio.sleep_forever()

    children = [
        worker("a", events),
        Supervisor.child_spec((otp.Task, flaky), id="t", restart="transient"),
    ]
    async with Supervisor.open(children, strategy="one_for_all") as sup:
        before = await pids(sup)
        await settle()
        gate.set()
        await settle()
        after = await pids(sup)
        assert attempts == [1, 2]
        assert after["a"] is not before["a"]
        assert after["t"] is not before["t"]
        assert events[:3] == [("start", "a"), ("terminate", "a", otp.SHUTDOWN), ("start", "a")]


async def test_task_restarts_under_one_for_one_count_toward_intensity(autojump_clock):
    """Task restarts made at the crash still count: the 4th crash in 5 s ends the supervisor."""
    crashes = 0

    def doomed() -> None:
        nonlocal crashes
        crashes += 1
        raise RuntimeError("always")

    with pytest.RaisesGroup(otp.RestartIntensityError):
        async with trio.open_nursery() as nursery:
            sup = await DynamicSupervisor.start(nursery)
            await DynamicSupervisor.start_child(
                sup, Supervisor.child_spec((otp.Task, doomed), restart="transient")
            )
            assert await sup.wait_exited() == otp.SHUTDOWN
    assert crashes == 4
    assert trio.current_time() == 0


# ----------------------------------------------------------------------------------------
# Issue 8: restarts that fail, orderly stops; issue 13 defects 5 and 6
# ----------------------------------------------------------------------------------------


class Flaky(otp.GenServer[tuple[str, Events]]):
    """``init`` records ``("init", name, time)``, takes ``plan["slow"]`` seconds, then
    fails while ``name`` is in ``plan["failing"]``. Its terminate is recorded."""

    async def init(self, arg: Any) -> Any:
        name, events, plan = arg
        events.append(("init", name, trio.current_time()))
        await trio.sleep(plan.get("slow", 0))
        if plan["failing"].get(name, 0) > 0:
            plan["failing"][name] -= 1
            raise RuntimeError(f"{name} cannot start")
        return otp.Ok((name, events))

    async def handle_cast(self, request: Any, state: tuple[str, Events]) -> Any:
        return otp.Stop(request, state)

    async def terminate(self, reason: object, state: tuple[str, Events]) -> None:
        name, events = state
        events.append(("terminate", name, reason))


def flaky(name: str, events: Events, plan: dict[str, Any], **overrides: Any) -> otp.ChildSpec:
    return Flaky.child_spec((name, events, plan), id=name, **overrides)


async def test_failing_restart_goes_back_to_the_mailbox_between_attempts(autojump_clock):
    """Between failed restarts (1 s each) the supervisor answers calls; the child shows
    as restarting, is counted (spec and worker, not active), and terminate_child stops it."""
    events: Events = []
    plan: dict[str, Any] = {"failing": {}, "slow": 1}
    children = [flaky("a", events, plan), flaky("b", events, plan)]
    async with Supervisor.open(children, max_restarts=100, max_seconds=100) as sup:
        assert trio.current_time() == 2.0
        a, b = (await pids(sup))["a"], (await pids(sup))["b"]
        plan["failing"]["a"] = math.inf
        otp.cast(a, "crash")
        await trio.sleep(0.5)
        # The call waits only for the attempt under way (it ends at 3.0), not all of them.
        assert await pids(sup) == {"b": b, "a": otp.RESTARTING}
        assert trio.current_time() == 3.0
        assert await Supervisor.count_children(sup) == otp.ChildCounts(2, 1, 0, 2)
        # Asked during the attempt of 3.0, answered when it failed; the next attempt
        # (queued before terminate_child) runs from 4.0 to 5.0, then no more.
        assert trio.current_time() == 4.0
        await Supervisor.terminate_child(sup, "a")
        assert trio.current_time() == 5.0
        await trio.sleep(10)
        assert (await pids(sup))["a"] is None
    inits = [e[2] for e in events if e[:2] == ("init", "a")]
    assert inits == [0.0, 2.0, 3.0, 4.0]  # none after terminate_child


class _SlowToFail(Flaky):
    """A Flaky whose init, once its name is in ``failing``, takes 3 s and then fails."""

    async def init(self, arg: Any) -> Any:
        name, events, failing = arg
        events.append(("init", name, trio.current_time()))
        if name in failing:
            await trio.sleep(3)
            raise RuntimeError(f"{name} cannot start")
        return otp.Ok((name, events))


async def test_restart_failing_every_3_s_under_default_intensity_keeps_the_supervisor_serving(
    autojump_clock,
):
    """Issue 8's case: a restart that fails after 3 s, forever, under the default intensity
    (3 in 5 s): a sibling's crash is handled, which_children answers, leaving is clean."""
    events: Events = []
    failing: set[str] = set()
    children = [
        _SlowToFail.child_spec(("a", events, failing), id="a"),
        _SlowToFail.child_spec(("b", events, failing), id="b"),
    ]
    async with Supervisor.open(children) as sup:
        before = await pids(sup)
        failing.add("a")
        otp.cast(before["a"], "crash")  # attempts at 0, 3, 6, ... each failing 3 s later
        await trio.sleep(1)
        otp.cast(before["b"], "crash")  # handled after the attempt under way: at 3.0
        await trio.sleep(0.5)
        children_now = await pids(sup)
        assert trio.current_time() == 3.0
        assert children_now["a"] == otp.RESTARTING
        assert children_now["b"] not in (before["b"], None)
        assert children_now["b"].alive
        assert await Supervisor.count_children(sup) == otp.ChildCounts(2, 1, 0, 2)
        assert trio.current_time() == 6.0
        await trio.sleep(20)
        assert await pids(sup) == {"a": otp.RESTARTING, "b": children_now["b"]}
        left_at = trio.current_time()
    assert left_at == 27.0
    assert trio.current_time() == 30.0  # the attempt under way ends; no more after it
    assert sup.exit_reason == otp.SHUTDOWN
    assert [e[2] for e in events if e[:2] == ("init", "a")] == [0.0] + [
        float(t) for t in range(0, 28, 3)
    ]
    assert ("init", "b", 3.0) in events
    assert events[-1] == ("terminate", "b", otp.SHUTDOWN)


async def test_stop_during_failing_restarts_is_prompt_and_clean(autojump_clock):
    """Leaving Supervisor.open while a child keeps failing to restart ends after the
    attempt under way, with the siblings' terminate run and no RestartIntensityError."""
    events: Events = []
    plan: dict[str, Any] = {"failing": {}, "slow": 1}
    async with Supervisor.open([flaky("a", events, plan), flaky("b", events, plan)]) as sup:
        plan["failing"]["a"] = math.inf
        otp.cast((await pids(sup))["a"], "crash")
        await trio.sleep(0.5)
        left_at = trio.current_time()
    assert left_at == 2.5
    assert trio.current_time() == 3.0
    assert events[-1] == ("terminate", "b", otp.SHUTDOWN)
    assert sup.exit_reason == otp.SHUTDOWN


async def test_sibling_crash_while_another_child_is_restarting_is_handled(autojump_clock):
    """A sibling that crashes between failed restart attempts is restarted."""
    events: Events = []
    plan: dict[str, Any] = {"failing": {}, "slow": 1}
    children = [flaky("a", events, plan), flaky("b", events, plan)]
    async with Supervisor.open(children, max_restarts=100, max_seconds=100) as sup:
        before = await pids(sup)
        plan["failing"]["a"] = math.inf
        otp.cast(before["a"], "crash")
        await trio.sleep(0.5)
        otp.cast(before["b"], "crash")
        await trio.sleep(3)
        after = await pids(sup)
        assert after["a"] == otp.RESTARTING
        assert after["b"] not in (before["b"], None, otp.RESTARTING)
        assert after["b"].alive
        await Supervisor.terminate_child(sup, "a")


async def test_one_for_all_other_child_fails_restart(autojump_clock):
    """one_for_all: a sibling that fails to start is retried by stopping the children
    just restarted and starting all again in start order (supervisor_SUITE)."""
    events: Events = []
    plan: dict[str, Any] = {"failing": {}}
    children = [flaky(n, events, plan) for n in "abc"]
    async with Supervisor.open(children, strategy="one_for_all") as sup:
        plan["failing"]["b"] = 1
        a = (await pids(sup))["a"]
        events.clear()
        otp.cast(a, "crash")
        await settle()
        assert all(pid.alive for pid in (await pids(sup)).values())
    assert events[:9] == [
        ("terminate", "a", "crash"),
        ("terminate", "c", otp.SHUTDOWN),
        ("terminate", "b", otp.SHUTDOWN),
        ("init", "a", 0.0),
        ("init", "b", 0.0),  # fails: retried as a restart of b under one_for_all
        ("terminate", "a", otp.SHUTDOWN),
        ("init", "a", 0.0),
        ("init", "b", 0.0),
        ("init", "c", 0.0),
    ]


async def test_rest_for_one_other_child_fails_restart(autojump_clock):
    """rest_for_one: a later child that fails to start is retried with those after it;
    the ones between are not restarted twice (supervisor_SUITE)."""
    events: Events = []
    plan: dict[str, Any] = {"failing": {}}
    children = [flaky(n, events, plan) for n in "abcd"]
    async with Supervisor.open(children, strategy="rest_for_one") as sup:
        plan["failing"]["c"] = 1
        b = (await pids(sup))["b"]
        events.clear()
        otp.cast(b, "crash")
        await settle()
        assert all(pid.alive for pid in (await pids(sup)).values())
    assert events[:7] == [
        ("terminate", "b", "crash"),
        ("terminate", "d", otp.SHUTDOWN),
        ("terminate", "c", otp.SHUTDOWN),
        ("init", "b", 0.0),
        ("init", "c", 0.0),  # fails: retried with d, b is left alone
        ("init", "c", 0.0),
        ("init", "d", 0.0),
    ]


async def test_give_up_names_the_child_that_failed_to_start(autojump_clock):
    """Issue 13 defect 5: RestartIntensityError and the report name the child that
    failed to start and the one whose exit began the restart, and say what happened."""
    events: Events = []
    plan: dict[str, Any] = {"failing": {}}
    children = [flaky(n, events, plan) for n in "ab"]
    with capture_reports() as captured, pytest.RaisesGroup(otp.RestartIntensityError) as info:
        async with Supervisor.open(children, strategy="one_for_all", max_restarts=1) as sup:
            plan["failing"]["b"] = math.inf
            otp.cast((await pids(sup))["a"], "crash")
            await trio.sleep_forever()
    error = info.value.exceptions[0]
    assert isinstance(error, otp.RestartIntensityError)
    assert (error.child_id, error.origin_id, error.origin_reason) == ("b", "a", "crash")
    assert isinstance(error.reason, RuntimeError)
    assert str(error).endswith(
        "child 'a' exited with 'crash'; restarting, child 'b' failed to start with "
        "RuntimeError('b cannot start'); the supervisor shut down all its children"
    )
    reports = [r for r in captured if r.supervisor is sup and r.level >= logging.WARNING]
    assert [(r.kind, r.level, r.child_id) for r in reports] == [
        ("start_error", logging.ERROR, "b"),
        ("reached_max_restart_intensity", logging.ERROR, "b"),
    ]
    assert reports[0].message.startswith(f"Child 'b' of Supervisor {sup!r} start error\n")
    assert reports[1].message.startswith(f"Child 'b' of Supervisor {sup!r} caused shutdown\n")
    assert isinstance(reports[0].reason, RuntimeError)
    assert "** (RuntimeError) b cannot start" in reports[0].message
    assert events[-1] == ("terminate", "a", otp.SHUTDOWN)  # a, restarted, was shut down


async def test_temporary_child_ignored_at_start_is_not_kept():
    """Issue 13 defect 6: a temporary child whose init ignores is dropped, at supervisor
    start and by start_child, and its id can be started again (supervisor_SUITE)."""
    events: Events = []
    spec = worker("t", events, "ignore", restart="temporary")
    async with Supervisor.open([spec]) as sup:
        assert await pids(sup) == {}
        assert await Supervisor.start_child(sup, spec) is None
        assert await pids(sup) == {}
        pid = await Supervisor.start_child(sup, worker("t", events, restart="temporary"))
        assert await pids(sup) == {"t": pid}


async def test_type_supervisor_gets_the_shutdown_infinity_default():
    """type="supervisor" set through child_spec overrides fills shutdown infinity, as OTP
    fills the default by type; an explicit shutdown wins."""
    events: Events = []
    assert Worker.child_spec(("w", events), type="supervisor").shutdown == otp.INFINITY
    assert Supervisor.child_spec(worker("w", events), type="supervisor").shutdown == otp.INFINITY
    assert Worker.child_spec(("w", events), type="supervisor", shutdown=3).shutdown == 3.0
    spec = worker("w", events, type="supervisor")
    assert Supervisor.child_spec(spec, type="worker").shutdown == 5.0


async def test_non_trapping_gen_server_is_cancelled_at_once_on_shutdown(autojump_clock):
    """A GenServer with trap_exit = False is cancelled at once on shutdown, without
    terminate, and exits with reason shutdown; a trapping sibling still terminates."""

    class Careless(Stubborn):
        trap_exit = False

    events: Events = []
    children = [
        Stubborn.child_spec(("trapping", events, 1.0), id="trapping"),
        Careless.child_spec(("careless", events, 1.0), id="careless"),
    ]
    async with Supervisor.open(children) as sup:
        careless = (await pids(sup))["careless"]
    assert careless.exit_reason == otp.SHUTDOWN
    assert [e[:2] for e in events] == [("terminate", "trapping"), ("terminated", "trapping")]
    assert trio.current_time() == 1.0
    assert otp.GenServer.trap_exit is True


async def test_owner_cancellation_shuts_the_tree_down_in_order(autojump_clock):
    """A cancelled owner (move_on_after) stops the tree in reverse start order with every
    terminate run within its budget, then the cancellation ends at its own scope."""
    events: Events = []
    children = [
        Stubborn.child_spec((n, events, 0.5), id=n, shutdown=2) for n in ("first", "second")
    ]
    with trio.move_on_after(1) as scope:
        async with Supervisor.open(children):
            await trio.sleep_forever()
    assert scope.cancelled_caught
    assert events == [
        ("terminate", "second", otp.SHUTDOWN, 1.0),
        ("terminated", "second", 1.5),
        ("terminate", "first", otp.SHUTDOWN, 1.5),
        ("terminated", "first", 2.0),
    ]
    assert trio.current_time() == 2.0


async def test_owner_cancellation_shutdown_is_bounded_by_the_budgets(autojump_clock):
    """The shielded shutdown never outlasts the budgets: a stuck terminate is killed
    after its shutdown, a brutal_kill child at once."""
    events: Events = []
    children = [
        Stubborn.child_spec(("stuck", events, math.inf), id="stuck", shutdown=3),
        Stubborn.child_spec(("brutal", events, math.inf), id="brutal", shutdown="brutal_kill"),
    ]
    with trio.move_on_after(1):
        async with Supervisor.open(children) as sup:
            stuck = (await pids(sup))["stuck"]
            await trio.sleep_forever()
    assert events == [("terminate", "stuck", otp.SHUTDOWN, 1.0)]
    assert trio.current_time() == 4.0
    assert stuck.exit_reason == otp.KILLED


async def test_owner_exception_propagates_unchanged_after_orderly_shutdown(autojump_clock):
    """An exception raised in the block comes out as itself, after every terminate ran."""
    events: Events = []
    boom = ValueError("owner failed")

    async def owner() -> None:
        async with Supervisor.open([worker(n, events) for n in "ab"]):
            events.clear()
            raise boom

    with pytest.raises(ValueError, match="owner failed") as info:
        await owner()
    assert info.value is boom
    assert events == [("terminate", "b", otp.SHUTDOWN), ("terminate", "a", otp.SHUTDOWN)]


async def test_restarting_child_cannot_be_restarted_or_deleted_until_terminated(autojump_clock):
    """restart_child and delete_child of a restarting child fail (OTP's
    {:error, :restarting}); after terminate_child both work again."""
    events: Events = []
    plan: dict[str, Any] = {"failing": {}, "slow": 1}
    async with Supervisor.open([flaky("a", events, plan)], max_restarts=100) as sup:
        plan["failing"]["a"] = math.inf
        otp.cast((await pids(sup))["a"], "crash")
        await trio.sleep(0.5)
        with pytest.raises(otp.ChildRunningError):
            await Supervisor.restart_child(sup, "a")
        with pytest.raises(otp.ChildRunningError):
            await Supervisor.delete_child(sup, "a")
        await Supervisor.terminate_child(sup, "a")
        await Supervisor.delete_child(sup, "a")
        assert await pids(sup) == {}


async def test_owner_cancelled_while_the_tree_starts_cancels_the_start(autojump_clock):
    """Before the tree has started, the owner's cancellation cancels the start itself:
    the block never runs and nothing is left running."""
    events: Events = []
    plan: dict[str, Any] = {"failing": {}, "slow": 5}
    entered = False
    with trio.move_on_after(1) as scope:
        async with Supervisor.open([flaky("a", events, plan)]):
            entered = True  # pragma: no cover - the start is cancelled
    assert scope.cancelled_caught
    assert not entered
    assert trio.current_time() == 1.0
    assert events == [("init", "a", 0.0)]
    assert otp.registered() == {}


async def test_static_start_child_cancelled_caller_leaves_the_child_supervised(autojump_clock):
    """Supervisor.start_child is a request to the supervisor (OTP's meaning): a caller
    that gives up mid-init does not undo the start; the child runs, supervised."""
    events: Events = []
    plan: dict[str, Any] = {"failing": {}, "slow": 2}
    async with Supervisor.open([]) as sup:
        with trio.move_on_after(1) as scope:
            await Supervisor.start_child(sup, flaky("late", events, plan))
        assert scope.cancelled_caught
        children = await pids(sup)
        assert trio.current_time() == 2.0
        assert children["late"].alive
    assert events == [("init", "late", 0.0), ("terminate", "late", otp.SHUTDOWN)]


async def test_static_stop_during_start_child_never_returns_a_dead_child(autojump_clock):
    """Supervisor.stop sent while start_child's init runs is handled after the start,
    the child stops with terminate, and start_child returns it alive or raises, never
    returns it dead."""
    events: Events = []
    plan: dict[str, Any] = {"failing": {}, "slow": 2}
    outcomes: list[object] = []
    async with trio.open_nursery() as nursery:
        sup = await Supervisor.start(nursery, [])

        async def starter() -> None:
            # trio may run the caller before or after the supervisor handles the stop:
            # either the child is alive when start_child returns, or start_child raises.
            try:
                pid = await Supervisor.start_child(sup, flaky("s", events, plan))
            except otp.CalleeExit as exc:
                outcomes.append(exc.reason)  # the supervisor is stopping: SHUTDOWN
            else:
                outcomes.append(pid is not None and pid.alive)

        nursery.start_soon(starter)
        await trio.sleep(1)
        await Supervisor.stop(sup)
        assert trio.current_time() == 2.0
    assert outcomes in ([True], [otp.SHUTDOWN])
    assert events == [("init", "s", 0.0), ("terminate", "s", otp.SHUTDOWN)]


# ----------------------------------------------------------------------------------------
# Issue 8: a tree started with start(nursery, ...) is shut down in order when its owner
# nursery is cancelled
# ----------------------------------------------------------------------------------------


class Interrupt(BaseException):
    """Stands in for KeyboardInterrupt: a BaseException that is not a crash."""


def stubborn_pair(events: Events) -> list[otp.ChildSpec]:
    """Two workers whose terminate takes 0.5 s, each with a 2 s budget."""
    return [Stubborn.child_spec((n, events, 0.5), id=n, shutdown=2) for n in ("first", "second")]


IN_ORDER_FROM_1 = [
    ("terminate", "second", otp.SHUTDOWN, 1.0),
    ("terminated", "second", 1.5),
    ("terminate", "first", otp.SHUTDOWN, 1.5),
    ("terminated", "first", 2.0),
]


async def test_start_owner_cancelled_by_move_on_after_shuts_the_tree_down_in_order(
    autojump_clock,
):
    """A Supervisor.start tree whose nursery is cancelled by move_on_after stops in
    reverse start order, every terminate run within its budget, then the cancellation
    ends at its own scope and nothing is left running."""
    events: Events = []
    after: list[str] = []
    with trio.move_on_after(1) as scope:
        async with trio.open_nursery() as nursery:
            sup = await Supervisor.start(nursery, stubborn_pair(events), name="top")
            children = await pids(sup)
            await trio.sleep_forever()
        after.append("nursery exited normally")  # pragma: no cover - it is cancelled
    assert scope.cancelled_caught
    assert after == []
    assert events == IN_ORDER_FROM_1
    assert trio.current_time() == 2.0
    assert sup.exit_reason == otp.SHUTDOWN
    assert [children[n].exit_reason for n in ("first", "second")] == [otp.SHUTDOWN] * 2
    assert otp.registered() == {}


@pytest.mark.parametrize("error", [ValueError("sibling failed"), Interrupt()], ids=repr)
async def test_start_owner_sibling_exception_shuts_the_tree_down_then_propagates(
    autojump_clock, error: BaseException
):
    """A sibling task's crash, or a KeyboardInterrupt-like BaseException from it, in the
    owner nursery stops the tree in order first (no restart); the nursery then raises
    that very exception, and nothing else."""
    events: Events = []

    async def sibling() -> None:
        await trio.sleep(1)
        raise error

    with pytest.RaisesGroup(pytest.RaisesExc(type(error), check=lambda e: e is error)):
        async with trio.open_nursery() as nursery:
            sup = await Supervisor.start(nursery, stubborn_pair(events))
            nursery.start_soon(sibling)
    assert events == IN_ORDER_FROM_1
    assert trio.current_time() == 2.0
    assert sup.exit_reason == otp.SHUTDOWN


async def test_start_owner_cancellation_is_bounded_by_the_budgets(autojump_clock):
    """The shielded shutdown never outlasts the budgets: a brutal_kill child is
    cancelled at once, a worker whose terminate never returns is killed at exactly its
    budget, and the cancellation then goes on."""
    events: Events = []
    children = [
        Stubborn.child_spec(("stuck", events, math.inf), id="stuck", shutdown=3),
        Stubborn.child_spec(("brutal", events, math.inf), id="brutal", shutdown="brutal_kill"),
    ]
    with trio.move_on_after(1) as scope:
        async with trio.open_nursery() as nursery:
            sup = await Supervisor.start(nursery, children)
            started = await pids(sup)
    assert scope.cancelled_caught
    assert events == [("terminate", "stuck", otp.SHUTDOWN, 1.0)]
    assert trio.current_time() == 4.0
    assert started["brutal"].exit_reason == otp.KILLED
    assert started["stuck"].exit_reason == otp.KILLED
    assert sup.exit_reason == otp.SHUTDOWN


async def test_start_owner_nested_supervisor_is_still_killed_by_its_parent(autojump_clock):
    """Under an owner's shutdown, a child supervisor whose own child outlasts the child
    supervisor's budget is killed by its parent when that budget runs out, and its
    stuck child with it: the shield never makes a kill ineffective."""
    events: Events = []
    inner = Supervisor.child_spec(
        {
            "children": [Stubborn.child_spec(("stuck", events, math.inf), id="stuck", shutdown=10)],
            "name": "inner",
        },
        shutdown=2,
    )
    with trio.move_on_after(1) as scope:
        async with trio.open_nursery() as nursery:
            sup = await Supervisor.start(nursery, [worker("w", events), inner])
            inner_pid = otp.whereis("inner")
            assert inner_pid is not None
            stuck = (await pids(inner_pid))["stuck"]
            events.clear()
    assert scope.cancelled_caught
    assert trio.current_time() == 3.0
    assert inner_pid.exit_reason == otp.KILLED
    assert stuck.exit_reason == otp.KILLED
    assert events == [("terminate", "stuck", otp.SHUTDOWN, 1.0), ("terminate", "w", otp.SHUTDOWN)]
    assert sup.exit_reason == otp.SHUTDOWN
    assert otp.registered() == {}


async def test_start_owner_reraises_the_very_cancellation_it_received(autojump_clock):
    """The task that owns a start()ed tree ends with the Cancelled it was given, after
    the orderly stop: the cancellation is never swallowed nor replaced."""
    from trio_otp._supervision._supervisor import _own_tree, _serve_with

    events: Events = []
    seen: list[BaseException] = []

    async def owner(task_status: trio.TaskStatus[otp.Pid] = trio.TASK_STATUS_IGNORED) -> None:
        serve = _serve_with([worker("w", events)], "one_for_one", 3, 5, None)
        try:
            await _own_tree(serve, task_status=task_status)
        except BaseException as exc:
            seen.append(exc)
            raise

    with trio.move_on_after(1) as scope:
        async with trio.open_nursery() as nursery:
            sup = await nursery.start(owner)
    assert scope.cancelled_caught
    assert len(seen) == 1
    assert isinstance(seen[0], trio.Cancelled)
    assert events == [("start", "w"), ("terminate", "w", otp.SHUTDOWN)]
    assert not sup.alive


async def test_start_owner_cancelled_while_the_tree_starts_cancels_the_start(autojump_clock):
    """Before the tree has started, the owner's cancellation cancels the start itself:
    the init is cancelled, start raises nothing but the cancellation, nothing runs."""
    events: Events = []
    plan: dict[str, Any] = {"failing": {}, "slow": 5}
    with trio.move_on_after(1) as scope:
        async with trio.open_nursery() as nursery:
            await Supervisor.start(nursery, [flaky("a", events, plan)], name="top")
    assert scope.cancelled_caught
    assert trio.current_time() == 1.0
    assert events == [("init", "a", 0.0)]
    assert otp.registered() == {}


async def test_start_tree_errors_reach_the_nursery_as_before(autojump_clock):
    """A start()ed tree's own results are unchanged: a start error is raised by start
    as itself, and a tree that gives up raises RestartIntensityError into the nursery."""
    events: Events = []
    async with trio.open_nursery() as nursery:
        with pytest.raises(otp.ChildStartError):
            await Supervisor.start(nursery, [worker("bad", events, ("stop", "no"))])
    with pytest.RaisesGroup(otp.RestartIntensityError):
        async with trio.open_nursery() as nursery:
            sup = await Supervisor.start(nursery, [worker("w", events)], max_restarts=0)
            otp.cast((await pids(sup))["w"], ("stop", "crash"))
    assert not sup.alive
    # A tree stopped by itself ends its owner task quietly.
    async with trio.open_nursery() as nursery:
        sup = await Supervisor.start(nursery, [worker("w", events)])
        await Supervisor.stop(sup)
    assert sup.exit_reason == otp.NORMAL


async def test_start_tree_inside_a_killed_task_still_stops_in_order(autojump_clock):
    """A tree a supervised Task started into its own nursery stops in order when the Task
    is shut down; the Task's kill at its budget cannot cut that stop short, so its
    supervisor waits for it, bounded by the tree's budgets (design.rst)."""
    events: Events = []

    async def owner() -> None:
        async with trio.open_nursery() as nursery:
            children = [Stubborn.child_spec(("inner", events, 3), id="inner", shutdown=5)]
            await Supervisor.start(nursery, children, name="owned")
            await trio.sleep_forever()

    async with Supervisor.open([Supervisor.child_spec((Task, owner), shutdown=1)]) as sup:
        await settle()
        [task_pid] = (await pids(sup)).values()
        owned = otp.whereis("owned")
        assert owned is not None
    assert events == [("terminate", "inner", otp.SHUTDOWN, 0.0), ("terminated", "inner", 3.0)]
    assert trio.current_time() == 3.0
    assert owned.exit_reason == otp.SHUTDOWN
    assert task_pid.exit_reason == otp.SHUTDOWN  # the kill at 1.0 could not end it sooner


class HangsOnRestart(otp.GenServer[Any]):
    """Its first init returns; every later one (a restart) blocks for 100 s."""

    inits = 0

    async def init(self, arg: Any) -> Any:
        HangsOnRestart.inits += 1
        if HangsOnRestart.inits > 1:
            await trio.sleep(100)
        return otp.Ok(arg)

    async def handle_cast(self, request: Any, state: Any) -> Any:
        return otp.Stop("crash", state)


async def test_stop_bounds_a_restart_whose_init_blocks_by_its_budget(autojump_clock):
    """stop() during a restart whose init blocks cancels it after the child's shutdown
    budget (default 5 s), with no start error logged."""
    HangsOnRestart.inits = 0
    with capture_reports() as reports:
        async with trio.open_nursery() as nursery:
            sup = await otp.Supervisor.start(nursery, [HangsOnRestart.child_spec(id="h")])
            [child] = await otp.Supervisor.which_children(sup)
            otp.cast(child.pid, "crash")
            await trio.sleep(1)  # the restart's init is blocked
            await otp.Supervisor.stop(sup)
            assert trio.current_time() == 1.0 + 5.0
    assert sup.exit_reason == otp.NORMAL
    assert HangsOnRestart.inits == 2
    assert reports.of_kind("start_error") == []
    assert [r.child_id for r in reports.of_kind("child_terminated")] == ["h"]  # the crash


async def test_owner_cancelled_during_a_blocked_restart_stops_within_the_budgets(autojump_clock):
    """An owner cancelled while a restart's init blocks leaves within that child's budget."""
    HangsOnRestart.inits = 0
    with trio.move_on_after(1):
        async with otp.Supervisor.open([HangsOnRestart.child_spec(id="h", shutdown=2)]) as sup:
            [child] = await otp.Supervisor.which_children(sup)
            otp.cast(child.pid, "crash")
            await trio.sleep_forever()
    assert trio.current_time() == 1.0 + 2.0
    assert sup.exit_reason == otp.SHUTDOWN


async def test_exit_signal_from_a_non_child_is_ignored_quietly(autojump_clock, caplog):
    """An Exit from a process that is not a child (or from plain code) is ignored, unlogged."""
    caplog.set_level(logging.WARNING, logger="trio_otp")
    events: Events = []
    async with Supervisor.open([worker("a", events)]) as sup:
        otp.exit(sup, "boom")  # from plain trio code

        async def linked_and_gone() -> None:
            async with otp.mailbox():
                otp.link(sup)
                raise ValueError("linked and gone")  # sup receives Exit(that pid, error)

        with pytest.raises(ValueError, match="linked and gone"):
            await linked_and_gone()
        await trio.testing.wait_all_tasks_blocked()
        assert sup.alive
        assert list(await pids(sup)) == ["a"]
    assert sup.exit_reason == otp.SHUTDOWN
    assert [r.getMessage() for r in caplog.records] == []


async def test_exit_signal_from_its_parent_stops_the_supervisor_with_that_reason(autojump_clock):
    """An Exit from the supervisor's parent stops it, children in order, with that reason."""
    events: Events = []
    with pytest.RaisesGroup(pytest.RaisesExc(otp.ProcessExit, match="'boom'")):
        async with (
            otp.mailbox() as parent,
            Supervisor.open([worker("a", events), worker("b", events)]) as sup,
        ):
            assert sup.parent is parent.pid
            otp.exit(sup, "boom")
            with trio.fail_after(1):
                assert await sup.wait_exited() == "boom"
            assert trio.current_time() == 0.0
    assert events[-2:] == [("terminate", "b", "shutdown"), ("terminate", "a", "shutdown")]
