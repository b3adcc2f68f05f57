"""Model-based tests: Supervisor and DynamicSupervisor against a reference model of OTP.

Hypothesis drives a ``RuleBasedStateMachine`` whose rules act on a real supervisor
running in one ``trio.run`` on a ``MockClock`` (virtual time moves only when a rule
says so). After every step the supervisor's ``which_children`` / ``count_children``
are checked against the model, which follows OTP's documented semantics
(otp-behaviour.md B and C, supervisor.erl): restart types by exit reasons, the three
strategies, the whole-second intensity window, and the management functions.

The machine runs in a worker thread and hands each action to the trio run with
``trio.from_thread.run``: hypothesis' rules are synchronous, the system is not.

Profiles (``TRIO_OTP_MODEL_PROFILE``): ``quick`` (default, the normal suite) and
``long`` (>= 10,000 steps, ``nox -s model``).
"""

from __future__ import annotations

import functools
import logging
import math
import os
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

import attrs
import pytest
import trio
import trio.testing

import trio_otp as otp

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.stateful import (  # noqa: E402
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

PROFILES = {
    "quick": {"max_examples": 12, "stateful_step_count": 25},
    "ci": {"max_examples": 60, "stateful_step_count": 40},
    "long": {"max_examples": 300, "stateful_step_count": 50},
}
PROFILE = os.environ.get("TRIO_OTP_MODEL_PROFILE", "quick")
STEPS: dict[str, int] = {}

REASONS = ("normal", "shutdown", "exception")
RESTARTS = ("permanent", "transient", "temporary")
MAX_RESTARTS = 2
MAX_SECONDS = 5


def _settings() -> settings:
    return settings(
        deadline=None,
        derandomize=PROFILE == "quick",
        suppress_health_check=list(HealthCheck),
        **PROFILES[PROFILE],
    )


# -- the system under test's children ---------------------------------------------------


class Worker(otp.GenServer[Any]):
    """Records its pid under its tag at each start; exits as told by a cast."""

    current: ClassVar[dict[object, otp.Pid]] = {}

    async def init(self, tag: Any) -> otp.Ok[Any]:
        Worker.current[tag] = self.pid
        return otp.Ok(tag)

    async def handle_cast(self, reason: str, tag: Any) -> Any:
        if reason == "exception":
            raise RuntimeError(f"model crash of {tag!r}")
        return otp.Stop(otp.NORMAL if reason == "normal" else otp.SHUTDOWN, tag)


# -- the harness: one trio.run per test, rules handed over from a worker thread ------------


class Harness:
    def __init__(self, nursery: trio.Nursery, clock: trio.testing.MockClock) -> None:
        self.nursery = nursery
        self.clock = clock

    def run(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        async def settled() -> Any:
            try:
                return await fn(*args)
            finally:
                await trio.testing.wait_all_tasks_blocked()

        return trio.from_thread.run(settled)

    def align(self) -> float:
        """Move the clock to a whole second: each example sees the same window stamps.

        Time only moves in multiples of 0.5 s (exact in binary), so this is exact.
        """

        async def go() -> float:
            self.clock.jump(math.floor(trio.current_time()) + 1 - trio.current_time())
            await trio.lowlevel.checkpoint()
            return trio.current_time()

        now: float = self.run(go)
        return now

    def supervise(self, serve: Callable[..., Awaitable[None]], errors: list[Any]) -> otp.Pid:
        """Start a supervisor whose give-up error is recorded in ``errors``, not raised."""

        async def host(task_status: trio.TaskStatus[otp.Pid]) -> None:
            try:
                await serve(
                    max_restarts=MAX_RESTARTS, max_seconds=MAX_SECONDS, task_status=task_status
                )
            except otp.RestartIntensityError as exc:
                errors.append(exc)

        pid: otp.Pid = self.run(self.nursery.start, host)
        return pid

    def jump(self, seconds: float) -> None:
        async def go() -> None:
            self.clock.jump(seconds)
            await trio.lowlevel.checkpoint()

        self.run(go)


def _drive(machine: type[RuleBasedStateMachine]) -> None:
    logger = logging.getLogger("trio_otp")
    level = logger.level
    logger.setLevel(logging.CRITICAL)  # crash reports on purpose: don't format them
    clock = trio.testing.MockClock()

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            machine.harness = Harness(nursery, clock)  # type: ignore[attr-defined]
            await trio.to_thread.run_sync(
                lambda: run_state_machine_as_test(machine, settings=_settings())
            )
            nursery.cancel_scope.cancel()

    try:
        trio.run(main, clock=clock)
    finally:
        logger.setLevel(level)
        Worker.current.clear()


# -- Supervisor -----------------------------------------------------------------------


@attrs.define
class MChild:
    id: str
    restart: str
    running: bool = True


@attrs.define
class MSupervisor:
    """OTP's static supervisor, as a pure model."""

    strategy: str
    children: list[MChild]
    restarts: list[int] = attrs.Factory(list)
    gave_up: bool = False

    def find(self, child_id: str) -> MChild | None:
        return next((c for c in self.children if c.id == child_id), None)

    def add_restart(self, now: float) -> bool:
        stamp = math.floor(now)
        self.restarts = [t for t in self.restarts if stamp <= t + MAX_SECONDS] + [stamp]
        return len(self.restarts) > MAX_RESTARTS

    def exit(self, child: MChild, reason: str, now: float) -> None:
        normal = reason in ("normal", "shutdown")
        child.running = False
        if child.restart == "temporary" or (child.restart == "transient" and normal):
            if child.restart == "temporary":
                self.children.remove(child)
            return
        if self.add_restart(now):
            self.gave_up = True
            for other in self.children:
                other.running = False
            return
        index = self.children.index(child)
        if self.strategy == "one_for_one":
            affected = [child]
        elif self.strategy == "one_for_all":
            affected = list(self.children)
        else:
            affected = self.children[index:]
        for other in affected:
            if other.restart == "temporary" and other is not child:
                self.children.remove(other)  # stopped by the strategy, not restarted
            else:
                other.running = True  # stopped ones included (OTP starts them all)


class SupervisorMachine(RuleBasedStateMachine):
    harness: ClassVar[Harness]

    def __init__(self) -> None:
        super().__init__()
        self.model: MSupervisor | None = None
        self.sup: otp.Pid | None = None
        self.error: list[BaseException] = []
        self.serial = 0
        self.now = 0.0

    def _spec(self, child_id: str, restart: str) -> otp.ChildSpec:
        return otp.Supervisor.child_spec((Worker, child_id), id=child_id, restart=restart)

    def _tick(self) -> None:
        STEPS["supervisor"] = STEPS.get("supervisor", 0) + 1

    @precondition(lambda self: self.model is None or self.model.gave_up)
    @rule(
        strategy=st.sampled_from(["one_for_one", "one_for_all", "rest_for_one"]),
        restarts=st.lists(st.sampled_from(RESTARTS), min_size=1, max_size=4),
    )
    def open_supervisor(self, strategy: str, restarts: list[str]) -> None:
        self.now = self.harness.align()
        self.error = []
        children = [MChild(f"c{i}", r) for i, r in enumerate(restarts)]
        self.serial = len(children)
        self.model = MSupervisor(strategy, children)
        specs = [self._spec(c.id, c.restart) for c in children]

        serve = functools.partial(otp.Supervisor.serve, specs, strategy=strategy)
        self.sup = self.harness.supervise(serve, self.error)
        self._tick()

    def _live(self) -> bool:
        return self.model is not None and not self.model.gave_up

    @precondition(lambda self: self._live())
    @rule(index=st.integers(0, 5), reason=st.sampled_from(REASONS))
    def child_exits(self, index: int, reason: str) -> None:
        assert self.model is not None
        running = [c for c in self.model.children if c.running]
        if not running:
            return
        child = running[index % len(running)]
        pid = Worker.current[child.id]
        self.harness.run(_cast, pid, reason)
        self.model.exit(child, reason, self.now)
        self._tick()

    @precondition(lambda self: self._live())
    @rule(seconds=st.sampled_from([0.5, 1.0, 2.5, 5.0, 6.0]))
    def time_passes(self, seconds: float) -> None:
        self.harness.jump(seconds)
        self.now += seconds
        self._tick()

    @precondition(lambda self: self._live())
    @rule(index=st.integers(0, 6))
    def terminate_child(self, index: int) -> None:
        assert self.model is not None
        child_id = self._pick(index)
        child = self.model.find(child_id)
        got = self._manage(otp.Supervisor.terminate_child, child_id)
        if child is None:
            assert isinstance(got, otp.ChildNotFoundError), got
        else:
            assert got is None, got
            child.running = False
            if child.restart == "temporary":
                self.model.children.remove(child)
        self._tick()

    @precondition(lambda self: self._live())
    @rule(index=st.integers(0, 6))
    def restart_child(self, index: int) -> None:
        child, got = self._on_stopped(otp.Supervisor.restart_child, index)
        if child is not None:
            assert isinstance(got, otp.Pid), got
            child.running = True
        self._tick()

    @precondition(lambda self: self._live())
    @rule(index=st.integers(0, 6))
    def delete_child(self, index: int) -> None:
        child, got = self._on_stopped(otp.Supervisor.delete_child, index)
        if child is not None:
            assert got is None, got
            assert self.model is not None
            self.model.children.remove(child)
        self._tick()

    def _on_stopped(
        self, fn: Callable[..., Awaitable[Any]], index: int
    ) -> tuple[MChild | None, Any]:
        """Run an operation OTP allows on a stopped child only; the child if it was allowed."""
        assert self.model is not None
        child_id = self._pick(index)
        child = self.model.find(child_id)
        got = self._manage(fn, child_id)
        if child is None:
            assert isinstance(got, otp.ChildNotFoundError), got
        elif child.running:
            assert isinstance(got, otp.ChildRunningError), got
        else:
            return child, got
        return None, got

    @precondition(lambda self: self._live())
    @rule(index=st.integers(0, 6), restart=st.sampled_from(RESTARTS), fresh=st.booleans())
    def start_child(self, index: int, restart: str, fresh: bool) -> None:
        assert self.model is not None
        if fresh:
            child_id = f"c{self.serial}"
            self.serial += 1
        else:
            child_id = self._pick(index)
        child = self.model.find(child_id)
        got = self._manage(otp.Supervisor.start_child, self._spec(child_id, restart))
        if child is None:
            assert isinstance(got, otp.Pid), got
            self.model.children.append(MChild(child_id, restart))
        elif child.running:
            assert isinstance(got, otp.AlreadyStartedError), got
        else:
            assert isinstance(got, otp.AlreadyPresentError), got
        self._tick()

    def _pick(self, index: int) -> str:
        return f"c{index % max(self.serial, 1)}"

    def _manage(self, fn: Callable[..., Awaitable[Any]], arg: Any) -> Any:
        async def attempt() -> Any:
            try:
                return await fn(self.sup, arg)
            except otp.OTPError as exc:
                return exc

        return self.harness.run(attempt)

    @invariant()
    def matches_the_model(self) -> None:
        if self.model is None:
            return
        assert self.sup is not None
        if self.model.gave_up:
            assert not self.sup.alive
            (error,) = self.error
            assert isinstance(error, otp.RestartIntensityError)
            return
        assert self.sup.alive
        infos = self.harness.run(otp.Supervisor.which_children, self.sup)
        expected = [(c.id, c.running) for c in reversed(self.model.children)]
        assert [(i.id, i.pid is not None) for i in infos] == expected
        for info in infos:
            if info.pid is not None:
                assert info.pid.alive
                assert info.pid is Worker.current[info.id]
        counts = self.harness.run(otp.Supervisor.count_children, self.sup)
        assert counts.specs == len(self.model.children)
        assert counts.active == sum(c.running for c in self.model.children)

    def teardown(self) -> None:
        if self.sup is not None and self.sup.alive:
            self.harness.run(otp.stop, self.sup)
        Worker.current.clear()


async def _cast(pid: otp.Pid, reason: str) -> None:
    otp.cast(pid, reason)


def test_supervisor_matches_the_otp_model() -> None:
    """Random strategies, restart types, exits and management calls agree with the model."""
    _drive(SupervisorMachine)
    print(f"model[{PROFILE}]: Supervisor steps={STEPS['supervisor']}")
    assert STEPS["supervisor"] > 0


# -- DynamicSupervisor ----------------------------------------------------------------


MAX_CHILDREN = 4


class DynamicMachine(RuleBasedStateMachine):
    harness: ClassVar[Harness]

    def __init__(self) -> None:
        super().__init__()
        self.sup: otp.Pid | None = None
        self.children: dict[int, str] = {}  # tag -> restart type
        self.restarts: list[int] = []
        self.gave_up = False
        self.error: list[BaseException] = []
        self.serial = 0
        self.now = 0.0

    def _tick(self) -> None:
        STEPS["dynamic"] = STEPS.get("dynamic", 0) + 1

    def _ensure(self) -> otp.Pid:
        if self.sup is None:
            self.now = self.harness.align()
            serve = functools.partial(otp.DynamicSupervisor.serve, max_children=MAX_CHILDREN)
            self.sup = self.harness.supervise(serve, self.error)
        return self.sup

    @precondition(lambda self: not self.gave_up)
    @rule(restart=st.sampled_from(RESTARTS))
    def start_child(self, restart: str) -> None:
        sup = self._ensure()
        tag = self.serial
        self.serial += 1
        spec = otp.Supervisor.child_spec((Worker, tag), restart=restart)

        async def attempt() -> Any:
            try:
                return await otp.DynamicSupervisor.start_child(sup, spec)
            except otp.OTPError as exc:
                return exc

        got = self.harness.run(attempt)
        if len(self.children) >= MAX_CHILDREN:
            assert isinstance(got, otp.MaxChildrenError), got
        else:
            assert got is Worker.current[tag]
            self.children[tag] = restart
        self._tick()

    @precondition(lambda self: not self.gave_up and bool(self.children))
    @rule(index=st.integers(0, 10), reason=st.sampled_from(REASONS))
    def child_exits(self, index: int, reason: str) -> None:
        tag = sorted(self.children)[index % len(self.children)]
        self.harness.run(_cast, Worker.current[tag], reason)
        restart = self.children[tag]
        if restart == "temporary" or (restart == "transient" and reason != "exception"):
            del self.children[tag]
        else:
            stamp = math.floor(self.now)
            self.restarts = [t for t in self.restarts if stamp <= t + MAX_SECONDS] + [stamp]
            if len(self.restarts) > MAX_RESTARTS:
                self.gave_up = True
        self._tick()

    @precondition(lambda self: not self.gave_up and self.sup is not None)
    @rule(index=st.integers(0, 10), stale=st.booleans())
    def terminate_child(self, index: int, stale: bool) -> None:
        tags = sorted(self.children)
        gone = [t for t in Worker.current if t not in self.children]
        pick = (gone if stale else tags) or tags or gone
        if not pick:
            return
        tag = pick[index % len(pick)]
        pid = Worker.current[tag]

        async def attempt() -> Any:
            try:
                return await otp.DynamicSupervisor.terminate_child(self.sup, pid)
            except otp.OTPError as exc:
                return exc

        got = self.harness.run(attempt)
        if tag in self.children:
            assert got is None, got
            del self.children[tag]
        else:
            assert isinstance(got, otp.ChildNotFoundError), got
        self._tick()

    @precondition(lambda self: not self.gave_up)
    @rule(seconds=st.sampled_from([0.5, 1.0, 2.5, 5.0, 6.0]))
    def time_passes(self, seconds: float) -> None:
        self.harness.jump(seconds)
        self.now += seconds
        self._tick()

    @precondition(lambda self: self.gave_up)
    @rule()
    def open_a_new_supervisor(self) -> None:
        self.sup = None
        self.children = {}
        self.restarts = []
        self.gave_up = False
        self.error = []
        self._ensure()
        self._tick()

    @invariant()
    def matches_the_model(self) -> None:
        if self.sup is None:
            return
        if self.gave_up:
            assert not self.sup.alive
            (error,) = self.error
            assert isinstance(error, otp.RestartIntensityError)
            return
        infos = self.harness.run(otp.DynamicSupervisor.which_children, self.sup)
        assert {i.pid for i in infos} == {Worker.current[t] for t in self.children}
        assert all(i.pid.alive and i.id is None for i in infos)
        counts = self.harness.run(otp.DynamicSupervisor.count_children, self.sup)
        assert counts.active == counts.specs == len(self.children)

    def teardown(self) -> None:
        if self.sup is not None and self.sup.alive:
            self.harness.run(otp.stop, self.sup)
        Worker.current.clear()


def test_dynamic_supervisor_matches_the_otp_model() -> None:
    """Random starts, exits, terminations and time agree with the DynamicSupervisor model."""
    _drive(DynamicMachine)
    print(f"model[{PROFILE}]: DynamicSupervisor steps={STEPS['dynamic']}")
    assert STEPS["dynamic"] > 0
