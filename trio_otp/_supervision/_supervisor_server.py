"""The supervisor process that every kind of supervisor is: children, restarts, stops.

:class:`_SupervisorServer` is the GenServer behind :class:`~trio_otp.Supervisor`,
:class:`~trio_otp.DynamicSupervisor` and :class:`~trio_otp.PartitionSupervisor`: it
starts children through ``nursery.start`` (a child joins only after its ``init``),
counts restarts against the intensity (``max_restarts`` in ``max_seconds``), retries
failed restarts through its mailbox (OTP's ``try_again_restart``), stops children in
reverse start order within their ``shutdown`` budgets, and gives up with
:class:`~trio_otp.RestartIntensityError`. Also the records it reports:
:class:`~trio_otp.Strategy`, :class:`~trio_otp.ChildInfo`,
:class:`~trio_otp.ChildCounts`. The kinds differ only in how they keep and restart
their children (:mod:`._supervisor`, :mod:`._dynamic_supervisor`).
"""

from __future__ import annotations

import collections
import enum
import logging
import math
from collections.abc import Callable
from typing import Any, ClassVar, Final, Literal

import attrs
import trio

from .._core import _reports, _telemetry
from .._core._call import INFO, From, _reply_error, _resolve, call
from .._core._call import SHUTDOWN as SHUTDOWN_MSG
from .._core._exceptions import (
    ChildStartError,
    RestartIntensityError,
    StartError,
)
from .._core._messages import Exit
from .._core._process import UNSET, Pid
from .._core._reasons import NORMAL, SHUTDOWN, is_normal_exit
from .._core._reports import SUPERVISOR_VIEW
from .._core._runlocal import RUN
from .._server._child import (
    DIRECT_START_NAME,
    RUN_CHILD_NAME,
    _Child,
    _direct_start,
    _is_direct,
    _run_child,
    _spawner_of,
    spawned_checkpoint,
)
from .._server._child_spec import (
    BRUTAL_KILL,
    INFINITY,
    ChildType,
    Restart,
)
from .._server._gen_server import GenServer, NoReply, Reply, Stop, _serve


class Strategy(enum.StrEnum):
    """How a supervisor restarts its children (OTP's ``strategy``)."""

    ONE_FOR_ONE = "one_for_one"
    ONE_FOR_ALL = "one_for_all"
    REST_FOR_ONE = "rest_for_one"

    def __repr__(self) -> str:
        return f"Strategy.{self.name}"


@attrs.frozen
class ChildInfo:
    """One entry of :meth:`Supervisor.which_children`.

    Attributes:
        id: the child id (``None`` under a DynamicSupervisor: OTP's ``:undefined``).
        pid: the running child's handle, ``None`` when it is not running, or
            :data:`RESTARTING` while a failed restart waits to be tried again.
        type: worker or supervisor.
        modules: from the child spec.
    """

    id: object
    pid: Pid | Literal["restarting"] | None  # RESTARTING
    type: ChildType
    modules: tuple[Any, ...]


@attrs.frozen
class ChildCounts:
    """The result of :meth:`Supervisor.count_children` (OTP's map of counts).

    Attributes:
        specs: children known (running or not).
        active: children running.
        supervisors: children of type supervisor.
        workers: children of type worker.
    """

    specs: int
    active: int
    supervisors: int
    workers: int


#: What :meth:`Supervisor.which_children` shows as the ``pid`` of a child whose
#: restart failed and is to be tried again (OTP's ``:restarting``).
RESTARTING: Final = "restarting"


# --------------------------------------------------------------------------------------
# The supervisor process
# --------------------------------------------------------------------------------------


@attrs.frozen
class _ChildExit:
    child: _Child
    gen: int
    reason: object
    #: the exit already crossed the restart intensity (see _child_exited)
    exceeded: bool = False


@attrs.frozen
class _TryAgain:
    """Try a failed restart again (OTP's ``{try_again_restart, Id}`` message)."""

    child: _Child
    gen: int
    #: why its last start failed
    reason: object
    #: the child whose exit began this restart, and its exit reason
    origin: _Child
    origin_reason: object


_ERROR: Final = logging.ERROR
_WARNING: Final = logging.WARNING
_INFO: Final = logging.INFO


# Management requests (the supervisor handles them one at a time, like OTP).
_WHICH: Final = "which_children"
_COUNT: Final = "count_children"
_START: Final = "start_child"
_TERMINATE: Final = "terminate_child"
_RESTART: Final = "restart_child"
_DELETE: Final = "delete_child"
_OPS: Final = frozenset({_WHICH, _COUNT, _START, _TERMINATE, _RESTART, _DELETE})


def _check_intensity(max_restarts: object, max_seconds: object) -> tuple[int, float]:
    if isinstance(max_restarts, bool) or not isinstance(max_restarts, int) or max_restarts < 0:
        raise ValueError(f"max_restarts must be an int >= 0, got {max_restarts!r}")
    if (
        isinstance(max_seconds, bool)
        or not isinstance(max_seconds, (int, float))
        or not max_seconds > 0
    ):
        raise ValueError(f"max_seconds must be a number of seconds > 0, got {max_seconds!r}")
    return max_restarts, float(max_seconds)


class _SupervisorServer(GenServer[None]):
    """The machinery both supervisors share: children, restarts, intensity, shutdown."""

    process_kind = "Supervisor"
    kind_label: ClassVar[str] = "Supervisor or DynamicSupervisor"
    #: OTP's static supervisor reports each child start; DynamicSupervisor does not.
    reports_starts: ClassVar[bool] = True
    strategy: Strategy = Strategy.ONE_FOR_ONE

    def __init__(self, max_restarts: int, max_seconds: float) -> None:
        self.max_restarts = max_restarts
        self.max_seconds = max_seconds
        self._restarts: collections.deque[int] = collections.deque()
        self._nursery: trio.Nursery | None = None
        self._gave_up: RestartIntensityError | None = None
        self._stopping = False
        #: Children whose init is running now (a restart in this task, or a
        #: DynamicSupervisor.start_child in its caller's). A stop cancels them rather
        #: than wait on an init that may never return (issue 8: stop is handled
        #: promptly, and an owner's shutdown stays bounded by the budgets).
        self._in_start: set[_Child] = set()
        self._stop_pending = False

    # -- running -----------------------------------------------------------------------

    async def _serve_in_nursery(self, arg: Any, name: object, task_status: Any) -> None:
        supervised = isinstance(task_status, _Child)
        error: BaseException | None = None
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            try:
                await _serve(self, arg, name, task_status, None)
            except Exception as exc:
                # Re-raised below, outside the nursery, so that the starter (or owner)
                # gets it as itself, not wrapped in an exception group.
                error = exc
                nursery.cancel_scope.cancel()
        if error is not None:
            raise error
        if self._gave_up is not None and not supervised:
            gave_up = self._gave_up
            cause = gave_up.reason
            raise gave_up from (cause if isinstance(cause, BaseException) else None)

    async def terminate(self, reason: object, state: None) -> None:
        self._stopping = True
        self._stop_requested()
        await self._shutdown_all()

    def _stop_requested(self) -> None:
        """A stop is on its way: bound every init in progress by its child's budget.

        Called by :func:`~trio_otp.stop` and by a parent's shutdown as they send the
        stop, and by :meth:`terminate`. An init still running when its child's
        ``shutdown`` budget (counted from now) runs out is cancelled (at once for
        ``brutal_kill``; never for ``infinity``, as OTP waits); that start then fails
        quietly (no start error report, no retry) and the stop is handled next. An
        init that returns in time gives a child that is stopped like the others.
        """
        self._stop_pending = True
        now = trio.current_time()
        for child in list(self._in_start):
            budget = child.spec.shutdown
            scope = child.scope
            if budget == BRUTAL_KILL:
                child.cancel()
            elif scope is None:
                handle = child.handle
                if type(handle) is not Pid or handle._switch is not handle:
                    child.cancel()
                # else a GenServer past its init, parked with no cancel scope (one
                # whose callbacks cannot suspend: _gen_server._serve): no init to
                # bound; it is stopped like the others.
            elif budget != INFINITY:
                scope.deadline = min(scope.deadline, now + budget)

    # -- starting children -------------------------------------------------------------

    async def _start(self, child: _Child) -> Any:
        """Start ``child`` in the nursery; return its handle (None: ignored).

        Raises:
            ChildStartError: the start failed; ``reason`` says why (an
                :exc:`AlreadyStartedError` when the child's name is taken).
        """
        assert self._nursery is not None
        spawn = _spawner_of(child.spec.start)
        if spawn is not None:
            # A Task: nothing to wait for, so no nursery.start round trip (the
            # cost of a job in the Elixir chapter's queue). A cancellation point; a schedule
            # point (every SPAWN_BURST spawns from a process: _child.spawned_checkpoint).
            await trio.lowlevel.checkpoint_if_cancelled()
            handle = self._spawn(child, spawn)
            await spawned_checkpoint(self.pid._table)
            return handle
        return await self._start_waited(child)

    async def _start_waited(self, child: _Child) -> Any:
        """Start ``child`` with ``nursery.start``: its handle once its init ran.

        :meth:`_start` for a child that is not a spawner (the caller checked).
        """
        assert self._nursery is not None
        child.gen += 1
        if self._stop_pending:  # no new init once a stop is on its way
            raise ChildStartError(child.spec.id, SHUTDOWN)
        self._in_start.add(child)
        try:
            # The task's name is given, so that trio does not format it per child.
            if _is_direct(child.spec.start):
                handle = await self._nursery.start(_direct_start, child, name=DIRECT_START_NAME)
            else:
                handle = await self._nursery.start(_run_child, child, name=RUN_CHILD_NAME)
        except StartError as exc:
            # A GenServer's init failure: its reason; a nested supervisor's failure or
            # a taken name: the error itself (OTP nests these too).
            reason = exc.reason if type(exc) is StartError else exc
            raise ChildStartError(child.spec.id, reason) from exc
        except Exception as exc:
            if self._stop_pending:  # cancelled by a stop: its init never finished
                raise ChildStartError(child.spec.id, SHUTDOWN) from None
            raise ChildStartError(child.spec.id, exc) from exc
        finally:
            self._in_start.discard(child)
        if handle is not None and self.reports_starts:
            self._report("started", child, None, "info")
        return handle

    def _spawn(self, child: _Child, spawn: Callable[[trio.Nursery, _Child], Any]) -> Any:
        """Start a child that has nothing to wait for (see ``_child.spawner``)."""
        assert self._nursery is not None
        child.gen += 1
        handle = spawn(self._nursery, child)
        if self.reports_starts:
            self._report("started", child, None, "info")
        return handle

    # -- exits ---------------------------------------------------------------------------

    def _child_exited(self, child: _Child, reason: object) -> None:
        """Called by a child's runner, in the child's task, as it ends."""
        child.running = False
        if child.terminating:
            if child.done is not None:
                child.done.set()
            self._terminated(child)
            return
        if self._stopping:
            return
        restart = child.spec.restart
        # is_normal_exit(reason), inline for a crash (an exception is never normal):
        # a call per restart of a failed job (W6).
        normal = reason is NORMAL or (
            not isinstance(reason, BaseException) and is_normal_exit(reason)
        )
        # OTP reports every exit of a permanent child, and the abnormal exits of
        # the others (supervisor:do_restart/4). The level is tested first, inline (see
        # _reports.SUPERVISOR_VIEW; _report tests it again on a miss).
        if restart is Restart.PERMANENT or not normal:
            try:
                loud = not SUPERVISOR_VIEW.disabled and SUPERVISOR_VIEW._cache[_INFO]
            except (AttributeError, KeyError):
                loud = True
            if loud:
                self._report("terminated", child, reason, "error")
        if restart is Restart.TEMPORARY or (restart is Restart.TRANSIENT and normal):
            self._forget(child)
            return
        if self.pid._mailbox is None:  # the supervisor itself is going down
            return
        spawn = getattr(child.spec.start, "_trio_otp_spawn", None)  # _spawner_of, inline
        if spawn is not None and self.strategy is Strategy.ONE_FOR_ONE:
            # A Task under one_for_one: the whole restart (count it, spawn it) is
            # synchronous, so it happens right here, atomically, instead of as a
            # message the supervisor gets to later. Giving up still goes there.
            if self._add_restart():
                self.pid._post((INFO, _ChildExit(child, child.gen, reason, True), None))
            else:
                old = child.handle
                if _telemetry.listening:
                    self._restart_event(child, reason)
                # self._spawn(child, spawn), inline (a call per restart). When the
                # crashed Task asked for it (child.in_place), the spawner leaves the
                # new handle for that task to run instead of starting a task.
                child.gen += 1
                spawn(self._nursery, child)
                if self.reports_starts:
                    self._report("started", child, None, "info")
                self._replaced(child, old)
            return
        self.pid._post((INFO, _ChildExit(child, child.gen, reason), None))

    def _forget(self, child: _Child) -> None:
        """A child that will not be restarted has exited."""
        raise NotImplementedError

    def _terminated(self, child: _Child) -> None:
        """A child the supervisor asked to stop has exited."""

    def _replaced(self, child: _Child, old_handle: object) -> None:
        """A restarted child now runs under a new handle."""

    def _child_started(self, child: _Child) -> None:
        """A child called ``task_status.started(handle)``."""

    def _add_restart(self) -> bool:
        """Record a restart; True if it exceeds the intensity (OTP's add_restart)."""
        # trio.current_time(), its two Python calls skipped (the run's clock, read
        # as RUN.runner.clock: _runlocal.py); any other trio takes trio's own.
        try:
            now = math.floor(RUN.runner.clock.current_time())
        except AttributeError:
            now = math.floor(trio.current_time())
        restarts = self._restarts
        max_seconds = self.max_seconds
        while restarts and not now <= restarts[0] + max_seconds:
            restarts.popleft()
        restarts.append(now)
        return len(restarts) > self.max_restarts

    def _give_up(
        self, child: _Child, reason: object, origin: _Child | None, origin_reason: object
    ) -> Stop[None]:
        self._report("caused shutdown", child, "reached_max_restart_intensity", "error", _ERROR)
        if _telemetry.listening:
            _telemetry.gave_up(
                self.pid,
                self._report_id(child),
                reason,
                len(self._restarts),
                self.max_restarts,
                self.max_seconds,
            )
        self._gave_up = RestartIntensityError(
            self.pid,
            self._report_id(child),
            reason,
            self.max_restarts,
            self.max_seconds,
            origin_id=None if origin is None else self._report_id(origin),
            origin_reason=origin_reason,
        )
        return Stop(SHUTDOWN, None)

    async def handle_info(self, message: Any, state: None) -> NoReply[None] | Stop[None]:
        kind = type(message)
        if kind is _ChildExit:
            child = message.child
            if message.gen != child.gen or child.running or not self._is_current(child):
                return NoReply(None)  # stale: that child was restarted or removed since
            if message.exceeded:
                return self._give_up(child, message.reason, None, None)
            return await self._restart(child, message.reason, None, None)
        if kind is _TryAgain:
            child = message.child
            if (
                message.gen != child.gen
                or not child.restarting
                or child.running
                or not self._is_current(child)
            ):
                return NoReply(None)  # terminated, restarted or removed meanwhile
            return await self._restart(child, message.reason, message.origin, message.origin_reason)
        if kind is Exit:
            # supervisor.erl's handle_info ignores an EXIT from a process that is not
            # one of its children (children reach it as _ChildExit, never as Exit);
            # gen_server exits with the reason of an EXIT from its parent.
            if message.pid is not None and message.pid is self.pid.parent:
                return Stop(message.reason, None)
            return NoReply(None)
        return await super().handle_info(message, state)

    async def _restart(
        self, child: _Child, reason: object, origin: _Child | None, origin_reason: object
    ) -> NoReply[None] | Stop[None]:
        """One restart attempt, counted against the intensity (OTP's restart/2).

        ``origin`` is the child whose exit began a restart that is being tried again.
        """
        if self._add_restart():
            return self._give_up(child, reason, origin, origin_reason)
        if _telemetry.listening:
            self._restart_event(child, reason)
        failed = await self._restart_after_exit(child)
        if failed is not None and self._stop_pending:
            return NoReply(None)  # the start was cut short by a stop, handled next
        if failed is not None:
            # OTP's try_again_restart (OTP-9549): go back to the mailbox before the
            # next attempt, so that calls, stop and other exits are handled meanwhile.
            # The retry is a restart of the child that failed to start, under the
            # strategy; it counts as another restart.
            failed_child, error = failed
            self._report("start error", failed_child, error.reason, "error", _ERROR)
            failed_child.restarting = True
            if origin is None:
                origin, origin_reason = child, reason
            self.pid._post(
                (
                    INFO,
                    _TryAgain(failed_child, failed_child.gen, error.reason, origin, origin_reason),
                    None,
                )
            )
        return NoReply(None)

    def _restart_event(self, child: _Child, reason: object) -> None:
        _telemetry.child_restarted(
            self.pid, self._report_id(child), child.handle, reason, len(self._restarts)
        )

    def _is_current(self, child: _Child) -> bool:
        raise NotImplementedError

    async def _restart_after_exit(self, child: _Child) -> tuple[_Child, ChildStartError] | None:
        """Restart ``child`` by the strategy; return the child that failed to start."""
        raise NotImplementedError

    # -- stopping children --------------------------------------------------------------

    def _ask_to_stop(self, child: _Child) -> None:
        """Deliver OTP's exit signal ``shutdown`` to a child, without waiting."""
        child.terminating = True
        handle = child.handle
        if child.spec.shutdown == BRUTAL_KILL:
            child.cancel()
        elif type(handle) is Pid and handle._traps():
            # A GenServer (or supervisor) that traps exits (the default) runs terminate.
            handle._post((SHUTDOWN_MSG, None, None))
            if isinstance(handle._impl, _SupervisorServer):
                handle._impl._stop_requested()  # a restart's init must not hold it up
        else:
            # A Task, a plain function or a GenServer with trap_exit off does not
            # trap exits: it stops at once, without terminate (OTP).
            if type(handle) is Pid and handle._cancel_reason is UNSET:
                handle._cancel_reason = SHUTDOWN  # unless another signal took effect
            child.cancel()

    def _kill(self, child: _Child) -> None:
        child.cancel()
        self._report("shut down abnormally", child, "killed", "error", _WARNING)

    async def _terminate(self, child: _Child) -> None:
        """Stop one child: ask, wait up to its ``shutdown`` budget, then cancel."""
        if not child.running:
            return
        child.done = trio.Event()
        self._ask_to_stop(child)
        budget = child.spec.shutdown
        if budget != BRUTAL_KILL and budget != INFINITY:
            with trio.move_on_after(budget):
                await child.done.wait()
            if child.running:
                self._kill(child)
        await child.done.wait()
        child.terminating = False
        child.done = None

    async def _shutdown_all(self) -> None:
        raise NotImplementedError

    # -- reports -------------------------------------------------------------------------

    def _report(
        self, what: str, child: _Child, reason: object, severity: str, level: int = logging.INFO
    ) -> None:
        # Progress reports are off by default: don't format anything for nothing
        # (this runs on every child start and restart).
        if not _reports.supervisor_logger.isEnabledFor(level):
            return
        spec = child.spec
        shutdown = spec.shutdown
        _reports.supervisor_report(
            what,
            self.pid,
            self._report_id(child),
            child.handle,
            reason,
            "" if what == "started" else spec.start_call(),  # a started line has none
            spec.restart.value,
            "brutal_kill"
            if shutdown == BRUTAL_KILL
            else "infinity"
            if shutdown == INFINITY
            else f"{shutdown:g}",
            spec.type.value,
            severity=severity,
            level=level,
        )

    def _report_id(self, child: _Child) -> object:
        return child.spec.id

    # -- management ----------------------------------------------------------------------

    async def handle_call(
        self, request: Any, from_: From, state: None
    ) -> Reply[None] | NoReply[None]:
        if type(request) is not tuple or len(request) != 2 or request[0] not in _OPS:
            _reply_error(
                from_,
                ValueError(
                    f"{self.pid!r} is a {self.kind_label}: it answers only its own "
                    f"management requests, not call(sup, {request!r}). Use "
                    "Supervisor.which_children / count_children / start_child / "
                    "terminate_child / restart_child / delete_child (or DynamicSupervisor's)."
                ),
            )
            return NoReply(None)
        try:
            value = await self._manage(request[0], request[1])
        except Exception as exc:
            # OTP answers {:error, reason}: here the caller raises it.
            _reply_error(from_, exc)
            return NoReply(None)
        return Reply(value, None)

    async def _manage(self, op: str, arg: Any) -> Any:
        raise NotImplementedError


async def _manage_call(kind: type[_SupervisorServer], sup: object, op: str, arg: Any) -> Any:
    """Send a management request to a supervisor (no deadline: OTP's ``:infinity``)."""
    pid = _resolve(sup)
    if pid is not None and not isinstance(pid._impl, kind):
        raise TypeError(f"{op} needs a {kind.kind_label}, but {sup!r} is {pid._impl!r}")
    return await call(sup, (op, arg), timeout=None)
