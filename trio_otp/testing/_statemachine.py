"""OTPStateMachine: a Hypothesis ``RuleBasedStateMachine`` base for your own tree.

Hypothesis drives a state machine with plain (synchronous) rule methods, one step at
a time. The tree under test lives in one trio run on a thread of its own, on a
:class:`trio.testing.MockClock` that moves only when a rule says so; each rule runs
its async work in that run (:meth:`OTPStateMachine.run`) and returns once every task
there is blocked again, so a step's effects (restarts, replies, messages) are over
before the next step and before the invariants are checked. Nothing depends on real
time or on thread timing.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, ClassVar, Literal, TypeVar

import trio
import trio.testing
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from .._core._monitors import _kill
from .._core._names import registered
from .._core._process import Pid
from .._supervision._supervisor import Supervisor
from ._reports import Reports, capture_reports

T = TypeVar("T")


class InjectedCrash(RuntimeError):
    """The reason the ``crash_a_child`` rule of :class:`OTPStateMachine` crashes with."""


class OTPStateMachine(RuleBasedStateMachine):
    """Subclass it, set :attr:`children`, add your own rules and invariants.

    Each example starts the children under a fresh supervisor (:attr:`strategy`,
    :attr:`max_restarts` in :attr:`max_seconds`) in a new trio run on a virtual clock,
    and stops it in :meth:`teardown`. Rules it brings:

    * ``crash_a_child``: crash one running child of the supervisor (chosen by
      Hypothesis) with :class:`InjectedCrash`;
    * ``advance_clock``: move the virtual clock by 0-60 s (timers and timeouts fire);

    and one invariant, ``registered_names_point_to_live_processes``. Write your own
    with :meth:`run` (``self.run(otp.call, "counter", "get")``), :attr:`supervisor`
    and ``self.reports`` (every report logged during the example).

    Example::

        class CounterMachine(OTPStateMachine):
            children = [Counter.child_spec(0, name="counter")]

            @rule()
            def increment(self):
                self.run(otp.call, "counter", "increment")

        TestCounter = CounterMachine.TestCase
    """

    #: The children list started under the machine's supervisor.
    children: ClassVar[Sequence[object]] = ()
    #: The supervisor's strategy.
    strategy: ClassVar[Literal["one_for_one", "one_for_all", "rest_for_one"]] = "one_for_one"
    #: The supervisor's restart intensity, generous so that random crashes do not end
    #: the tree (set OTP's 3 in 5 s to test exactly that).
    max_restarts: ClassVar[int] = 1000
    #: The window of ``max_restarts``, in (virtual) seconds.
    max_seconds: ClassVar[float] = 1.0

    def __init__(self) -> None:
        super().__init__()
        self.clock: trio.testing.MockClock = trio.testing.MockClock()
        #: every crash and supervisor report of this example, oldest first
        self.reports: Reports = Reports()
        self._ready = threading.Event()
        self._stop: trio.Event | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._supervisor: Pid | None = None
        self._failure: BaseException | None = None
        self._thread = threading.Thread(
            target=self._main, name=f"{type(self).__name__} trio run", daemon=True
        )
        self._thread.start()
        self._ready.wait()
        self._raise_failure()

    def _raise_failure(self) -> None:
        # Set by the run's thread (mypy cannot see that the wait above orders it).
        failure = self._failure
        if failure is not None:
            self._thread.join()
            raise failure

    # -- the trio run on its thread ------------------------------------------------------

    def _main(self) -> None:
        try:
            trio.run(self._tree, clock=self.clock)
        except BaseException as exc:  # reported to the test's thread, not swallowed
            self._failure = exc
        finally:
            self._ready.set()

    async def _tree(self) -> None:
        self._token = trio.lowlevel.current_trio_token()
        self._stop = trio.Event()
        with capture_reports() as reports:
            self.reports = reports
            async with Supervisor.open(
                list(self.children),
                strategy=self.strategy,
                max_restarts=self.max_restarts,
                max_seconds=self.max_seconds,
            ) as sup:
                self._supervisor = sup
                self._ready.set()
                await self._stop.wait()

    async def _settled(self, fn: Callable[..., Awaitable[T]], args: tuple[Any, ...]) -> T:
        result = await fn(*args)
        await trio.testing.wait_all_tasks_blocked()
        return result

    # -- for rules -----------------------------------------------------------------------

    def run(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run ``await fn(*args)`` in the tree's trio run; return its result once every
        task there is blocked again (the step's effects are over)."""
        try:
            return trio.from_thread.run(self._settled, fn, args, trio_token=self._token)
        except trio.RunFinishedError:
            self._thread.join()
            if self._failure is not None:
                raise self._failure from None  # the tree ended: say why
            raise

    def run_sync(self, fn: Callable[..., T], *args: Any) -> T:
        """Call ``fn(*args)`` in the tree's trio run (for ``otp.whereis``, ``otp.cast``),
        then wait until every task there is blocked again."""

        async def call() -> T:
            return fn(*args)

        return self.run(call)

    @property
    def supervisor(self) -> Pid:
        """The machine's supervisor."""
        assert self._supervisor is not None
        return self._supervisor

    # -- the rules and the invariant it brings ------------------------------------------

    @rule(data=st.data())
    def crash_a_child(self, data: st.DataObject) -> None:
        """Crash one running child of the supervisor (Hypothesis picks which)."""
        if not self.supervisor.alive:
            return
        infos = self.run(Supervisor.which_children, self.supervisor)
        running = [i for i in infos if isinstance(i.pid, Pid) and i.pid.alive]
        if not running:
            return
        info = data.draw(st.sampled_from(running), label="child")
        assert isinstance(info.pid, Pid)
        self.crash(info.pid)

    def crash(self, pid: Pid | None) -> None:
        """Crash ``pid`` with :class:`InjectedCrash` (untrappable); return when the
        supervisor has handled it (restarted it, by its restart type)."""
        if pid is not None:
            self.run_sync(_kill, pid, InjectedCrash(f"crashed by {type(self).__name__}"))

    @rule(seconds=st.floats(min_value=0, max_value=60, allow_nan=False))
    def advance_clock(self, seconds: float) -> None:
        """Move the virtual clock: timers, timeouts and restart windows see the time."""

        async def jump() -> None:
            self.clock.jump(seconds)
            await trio.lowlevel.checkpoint()

        self.run(jump)

    @invariant()
    def registered_names_point_to_live_processes(self) -> None:
        """Every registered name points to a live process (a dead one is unregistered)."""
        dead = {name: pid for name, pid in self.run_sync(registered).items() if not pid.alive}
        assert not dead, f"registered names point to dead processes: {dead!r}"

    def teardown(self) -> None:
        """Stop the tree (its children in reverse start order) and end the trio run."""
        if self._token is not None and self._stop is not None and self._failure is None:
            with contextlib.suppress(trio.RunFinishedError):
                trio.from_thread.run_sync(self._stop.set, trio_token=self._token)
        self._thread.join()
        if self._failure is not None:
            raise self._failure
