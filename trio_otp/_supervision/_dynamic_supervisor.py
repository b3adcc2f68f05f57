"""DynamicSupervisor: starts with no children; children are added on demand.

OTP's ``DynamicSupervisor``: strategy one_for_one only, children are anonymous
(their id is ``None``, OTP's ``:undefined``) and addressed by handle, ``max_children``
bounds them, ``extra_arguments`` are prepended to every child's start arguments.
On shutdown all children are asked to stop at the same time, each killed when its own
``shutdown`` budget runs out. Adding and removing a child costs the same whatever
the number of children (a dict keyed by handle).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from typing import Any, final

import trio

from .._core._call import stop
from .._core._exceptions import (
    AlreadyStartedError,
    CalleeExit,
    ChildNotFoundError,
    ChildSpecError,
    ChildStartError,
    MaxChildrenError,
    NoProcessError,
)
from .._core._names import whereis
from .._core._process import UNSET, Pid, _names
from .._core._reasons import NORMAL
from .._core._runlocal import RUN
from .._server._child import SPAWN_BURST, SPAWNS, _Child, _spawner_of
from .._server._child_spec import (
    BRUTAL_KILL,
    INFINITY,
    ChildSpec,
    ChildType,
    Restart,
    to_child_spec,
)
from .._server._gen_server import Ok
from ._supervisor import _count, _own_tree
from ._supervisor_server import (
    _COUNT,
    _TERMINATE,
    _WHICH,
    RESTARTING,
    ChildCounts,
    ChildInfo,
    _check_intensity,
    _manage_call,
    _SupervisorServer,
)


class _DynamicSupervisorServer(_SupervisorServer):
    kind_label = "DynamicSupervisor"
    reports_starts = False

    def __init__(
        self,
        max_children: int | None,
        extra_arguments: tuple[Any, ...],
        max_restarts: int,
        max_seconds: float,
    ) -> None:
        super().__init__(max_restarts, max_seconds)
        self.max_children = max_children
        self.extra_arguments = extra_arguments
        self._children: dict[Any, _Child] = {}  # handle -> child
        self._left = 0
        self._starting = 0
        #: set when the last start in progress ends while the supervisor stops
        self._starts_done: trio.Event | None = None
        self._all_stopped: trio.Event | None = None

    async def init(self, arg: Any) -> Ok[None]:
        return Ok(None)

    def _forget(self, child: _Child) -> None:
        self._children.pop(child.handle, None)

    def _child_exited(self, child: _Child, reason: object) -> None:
        # The common end of a job: a temporary or transient child's normal exit,
        # no stop in progress. The general path's result (not running, no report,
        # forgotten) without its calls (is_normal_exit, _forget).
        if (
            reason is NORMAL
            and not child.terminating
            and not self._stopping
            and child.spec.restart is not Restart.PERMANENT
        ):
            child.running = False
            self._children.pop(child.handle, None)
            return
        _SupervisorServer._child_exited(self, child, reason)

    def _child_started(self, child: _Child) -> None:
        # Even while the supervisor stops: _shutdown_all waits for the starts in
        # progress, then stops these children in order, terminate included.
        self._children[child.handle] = child

    def _is_current(self, child: _Child) -> bool:
        return self._children.get(child.handle) is child

    def _report_id(self, child: _Child) -> object:
        return None

    async def _restart_after_exit(self, child: _Child) -> tuple[_Child, ChildStartError] | None:
        old = child.handle
        child.restarting = False
        try:
            await self._start(child)  # started() files it under its new handle
        except ChildStartError as exc:
            # Kept under its old handle (counted, against max_children too) until
            # the retry: OTP's restarting child.
            return child, exc
        self._replaced(child, old)
        return None

    def _replaced(self, child: _Child, old_handle: object) -> None:
        if self._children.get(old_handle) is child:
            del self._children[old_handle]

    def _terminated(self, child: _Child) -> None:
        if self._all_stopped is not None:
            self._left -= 1
            if self._left == 0:
                self._all_stopped.set()

    async def _shutdown_all(self) -> None:
        if self._starting:
            # Starts in progress finish first (OTP handles stop after the start_child
            # requests before it): their children then stop like the others, with
            # terminate, and no start_child returns a child that is already dead.
            self._starts_done = trio.Event()
            await self._starts_done.wait()
        # All at once (OTP G): ask every child, then kill each when its own budget
        # runs out: one timer per distinct budget, not one per child.
        running = [child for child in self._children.values() if child.running]
        if running:
            self._left = len(running)
            self._all_stopped = done = trio.Event()
            by_budget: dict[float, list[_Child]] = {}
            for child in running:
                budget = child.spec.shutdown
                if budget != BRUTAL_KILL and budget != INFINITY:
                    by_budget.setdefault(budget, []).append(child)
                self._ask_to_stop(child)
            began = trio.current_time()
            for budget in sorted(by_budget):
                with trio.move_on_at(began + budget):
                    await done.wait()
                if done.is_set():
                    break
                for child in by_budget[budget]:
                    if child.running:
                        self._kill(child)
            await done.wait()
            self._all_stopped = None
        self._children.clear()

    def _new_child(self, spec: ChildSpec, args: tuple[Any, ...] | None) -> _Child:
        """The record of a child about to start, if this supervisor takes one now."""
        if self._stopping or not self.pid.alive:
            raise NoProcessError(self.pid, ("start_child", spec), None)
        if self.max_children is not None and (
            len(self._children) + self._starting >= self.max_children
        ):
            raise MaxChildrenError(self.max_children)
        if args is None:  # the spec's own, after the supervisor's extra_arguments
            args = self.extra_arguments + spec.args if self.extra_arguments else spec.args
        return _Child(self, spec, args)

    async def _start_child(self, spec: ChildSpec, args: tuple[Any, ...] | None = None) -> Any:
        # Runs in the *caller's* task, not the supervisor's: nursery.start may be
        # called from any task, the child's init then runs under the caller's cancel
        # scopes, and the book-keeping happens synchronously in started(). That saves
        # the two scheduler passes of a round trip through the supervisor's mailbox.
        # _new_child's checks, inlined: a call more costs the chapter's queue ~900
        # instructions per job (W4).
        if self._stopping or self.pid._reason is not UNSET:
            raise NoProcessError(self.pid, ("start_child", spec), None)
        if self.max_children is not None and (
            len(self._children) + self._starting >= self.max_children
        ):
            raise MaxChildrenError(self.max_children)
        if args is None:  # the spec's own, after the supervisor's extra_arguments
            args = self.extra_arguments + spec.args if self.extra_arguments else spec.args
        child = _Child(self, spec, args)
        spawn = getattr(spec.start, "_trio_otp_spawn", None)  # _spawner_of, inline
        if spawn is not None:
            # A Task, the Elixir chapter's job: spawned right here by its spawner
            # (one frame: a DynamicSupervisor reports no starts), see _start. Its
            # two checkpoints are inline, as Python calls are this path's cost:
            # trio's checkpoint_if_cancelled() when not cancelled (its own call
            # otherwise, or on any other trio), then _child.spawned_checkpoint.
            try:
                task = RUN.task
                go_on = not task._cancel_status.effectively_cancelled and not (
                    task is task._runner.main_task and task._runner.ki_pending
                )
            except AttributeError:
                go_on = False
            if go_on:
                task._cancel_points += 1
            else:
                await trio.lowlevel.checkpoint_if_cancelled()
                task = trio.lowlevel.current_task()
            assert self._nursery is not None
            child.gen = 1
            handle = spawn(self._nursery, child)
            caller = self.pid._table.get(task)
            if caller is not None and caller._mailbox is not None and caller._kind != "Task":
                SPAWNS.n += 1
                if SPAWNS.n < SPAWN_BURST:
                    return handle
                SPAWNS.n = 0
            await trio.lowlevel.cancel_shielded_checkpoint()
            return handle
        self._starting += 1
        try:
            # started() files the child under its handle (not at all if it ignored).
            # A caller cancelled during init undoes the start (trio's meaning of
            # nursery.start): init is cancelled and nothing is filed. Once init has
            # returned, the start stands: the handle is returned and the caller's
            # cancellation arrives at its next checkpoint.
            return await self._start_waited(child)
        except ChildStartError as exc:
            # A taken name raises AlreadyStartedError itself: the holder is what
            # the caller needs (OTP's {:already_started, pid}).
            if isinstance(exc.reason, AlreadyStartedError):
                raise exc.reason from None
            raise
        finally:
            self._starting -= 1
            if self._starting == 0 and self._starts_done is not None:
                self._starts_done.set()

    async def _manage(self, op: str, arg: Any) -> Any:
        children = self._children
        if op == _TERMINATE:
            child = children.get(arg)
            if child is None:
                raise ChildNotFoundError(arg)
            child.restarting = False  # stops the retries of a failing restart
            await self._terminate(child)
            children.pop(arg, None)
            return None
        if op == _WHICH:
            return [
                ChildInfo(None, RESTARTING if c.restarting else handle, c.spec.type, c.spec.modules)
                for handle, c in children.items()
            ]
        if op == _COUNT:
            return _count(children.values())
        raise AssertionError(op)  # pragma: no cover


async def start_child_with_args(sup: object, spec: ChildSpec, args: tuple[Any, ...]) -> Any:
    """Start a child of ``spec`` with ``args`` instead of the spec's own arguments.

    For a component that starts many children of one shape (the JobQueue: a Task
    per job): it builds the spec once, and each start passes only what differs. The
    child keeps ``args`` for its restarts; ``extra_arguments`` are not added. Raises
    as :meth:`DynamicSupervisor.start_child`.
    """
    # _supervisor(sup, ...), its common case inline (a Python call per job of the
    # JobQueue component, which passes its job supervisor's handle): any other case
    # takes it, which says why.
    if type(sup) is Pid and type(sup._impl) is _DynamicSupervisorServer and sup._reason is UNSET:
        impl: _DynamicSupervisorServer = sup._impl
    else:
        impl = _supervisor(sup, "start_child", spec)
    result = await impl._start_child(spec, args)
    if impl.pid._reason is not UNSET:
        raise CalleeExit(sup, ("start_child", spec.id), None, impl.pid._reason)
    return result


def spawn_child_with_args(sup: object, spec: ChildSpec, args: tuple[Any, ...]) -> Any:
    """Spawn a Task child of ``spec`` with ``args`` now, without a schedule point.

    For a component that starts a burst of Tasks at once (the durable JobQueue, after
    one claim of many jobs): it passes one checkpoint after the burst, so the burst's
    Tasks run in one scheduler pass and end together, and their ends are stored in one
    transaction instead of a few at a time. ``spec`` must be a spawner's (a
    :class:`~trio_otp.Task`'s). Raises as :func:`start_child_with_args`.
    """
    impl = _supervisor(sup, "start_child", spec)
    spawn = _spawner_of(spec.start)
    if spawn is None:
        raise TypeError(f"{spec!r} is not a Task's spec: start it with start_child_with_args")
    child = impl._new_child(spec, args)
    assert impl._nursery is not None
    child.gen = 1
    return spawn(impl._nursery, child)


_NO_ARG: Any = object()


def _supervisor(sup: object, op: object, arg: object = _NO_ARG) -> _DynamicSupervisorServer:
    """The DynamicSupervisor ``sup`` names, for the request ``op`` (with ``arg``).

    Once per job in the Elixir chapter's queue: the request (``(op, arg)``, or ``op``
    alone) is built only for an error message.
    """
    pid = sup if type(sup) is Pid else whereis(sup)  # _resolve, inlined: once per job
    if pid is None or pid._reason is not UNSET:
        raise NoProcessError(sup, op if arg is _NO_ARG else (op, arg), None)
    impl = pid._impl
    if type(impl) is not _DynamicSupervisorServer and not isinstance(
        impl, _DynamicSupervisorServer
    ):
        request = op if arg is _NO_ARG else (op, arg)
        raise TypeError(f"{request!r} needs a DynamicSupervisor, but {sup!r} is {impl!r}")
    return impl


def _check_max_children(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"max_children must be an int >= 0 or None (no limit), got {value!r}")
    return value


_OPTIONS = frozenset({"name", "max_children", "extra_arguments", "max_restarts", "max_seconds"})


@final
class DynamicSupervisor:
    """OTP's ``DynamicSupervisor``: a one_for_one supervisor of children started on demand.

    All methods are class-level, as in Elixir; ``sup`` is the handle or registered
    name. Options and their defaults:

    * ``max_children``: default **None** (no limit);
    * ``extra_arguments``: default **()**: prepended to each child's ``args``;
    * ``max_restarts``: default **3**; ``max_seconds``: default **5**;
    * ``name``: default **None** (not registered).
    """

    @staticmethod
    async def serve(
        *,
        max_children: int | None = None,
        extra_arguments: Iterable[Any] = (),
        max_restarts: int = 3,
        max_seconds: float = 5,
        name: object = None,
        task_status: trio.TaskStatus[Pid] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Run a DynamicSupervisor until it stops (``nursery.start``'s protocol)."""
        sup = _DynamicSupervisorServer(
            _check_max_children(max_children),
            tuple(extra_arguments),
            *_check_intensity(max_restarts, max_seconds),
        )
        await sup._serve_in_nursery(None, name, task_status)

    @staticmethod
    async def start(
        nursery: trio.Nursery,
        *,
        max_children: int | None = None,
        extra_arguments: Iterable[Any] = (),
        max_restarts: int = 3,
        max_seconds: float = 5,
        name: object = None,
    ) -> Pid:
        """Start a DynamicSupervisor in ``nursery`` and return its handle.

        If ``nursery`` is cancelled, the children are shut down in order first
        (each ``terminate`` within its ``shutdown`` budget), as
        :meth:`Supervisor.start <trio_otp.Supervisor.start>` describes.
        """
        serve = functools.partial(
            DynamicSupervisor.serve,
            max_children=max_children,
            extra_arguments=extra_arguments,
            max_restarts=max_restarts,
            max_seconds=max_seconds,
            name=name,
        )
        pid: Pid = await nursery.start(_own_tree, serve)
        return pid

    @staticmethod
    def child_spec(options: Mapping[str, Any] | None = None) -> ChildSpec:
        """The spec of ``(DynamicSupervisor, {"name": "JobSupervisor", ...})``.

        Id: the ``name`` option if given (as in Elixir), else ``DynamicSupervisor``;
        type supervisor; shutdown infinity.
        """
        opts = dict(options or {})
        unknown = set(opts) - _OPTIONS
        if unknown:
            raise ChildSpecError(
                f"unknown DynamicSupervisor option(s) {sorted(unknown)}; "
                f"the options are {sorted(_OPTIONS)}"
            )
        return ChildSpec(
            id=opts.get("name") or DynamicSupervisor,
            start=functools.partial(DynamicSupervisor.serve, **opts),
            type=ChildType.SUPERVISOR,
            modules=(DynamicSupervisor,),
        )

    @staticmethod
    async def start_child(sup: object, child: object) -> Pid | None:
        """Start a child under ``sup``; return its handle after its ``init`` ran.

        ``None`` if the child's init returned ignore (nothing is recorded).

        The child's ``init`` runs under the caller's cancel scopes: a caller
        cancelled during ``init`` undoes the start (nothing is recorded); once
        ``init`` returned, the start stands and the handle is returned (the
        cancellation arrives at the caller's next checkpoint).

        Raises:
            MaxChildrenError: ``max_children`` children already run (checked first).
            AlreadyStartedError: the child's name is taken.
            ChildStartError: the child failed to start.
            ChildSpecError: the spec is invalid.
        """
        spec = child if type(child) is ChildSpec else to_child_spec(child)
        # _supervisor(sup, ...), its common case inline (two Python calls per job
        # in the Elixir chapter's queue): any other case takes it, which says why.
        pid: Pid | None
        if type(sup) is Pid:
            pid = sup
        else:
            try:
                pid = RUN.runner._locals[_names][sup]
            except (AttributeError, KeyError, TypeError):
                pid = None
        if pid is not None and type(pid._impl) is _DynamicSupervisorServer and pid._reason is UNSET:
            impl: _DynamicSupervisorServer = pid._impl
        else:
            impl = _supervisor(sup, "start_child", spec)
        result: Pid | None = await impl._start_child(spec)
        if impl.pid._reason is not UNSET:
            # The supervisor was killed while the child started (its owner's budget
            # ran out): the child goes down with it, so never hand it out as live.
            raise CalleeExit(sup, ("start_child", spec.id), None, impl.pid._reason)
        return result

    @staticmethod
    async def terminate_child(sup: object, pid: object) -> None:
        """Stop the child with handle ``pid`` (within its ``shutdown`` budget).

        Raises:
            ChildNotFoundError: it is not (or no longer) a child of ``sup``.
        """
        await _manage_call(_DynamicSupervisorServer, sup, _TERMINATE, pid)

    @staticmethod
    async def which_children(sup: object) -> list[ChildInfo]:
        """List the children (id ``None``, as OTP's ``:undefined``)."""
        result: list[ChildInfo] = await _manage_call(_DynamicSupervisorServer, sup, _WHICH, None)
        return result

    @staticmethod
    async def count_children(sup: object) -> ChildCounts:
        """Count the children: specs, active, supervisors, workers."""
        result: ChildCounts = await _manage_call(_DynamicSupervisorServer, sup, _COUNT, None)
        return result

    @staticmethod
    async def stop(sup: object, reason: object = NORMAL) -> None:
        """Stop the supervisor: all children stop concurrently, then it exits.

        Starts in progress finish first; their children then stop like the others.

        ``reason`` defaults to ``NORMAL``. Same as :func:`trio_otp.stop`.
        """
        await stop(sup, reason)
