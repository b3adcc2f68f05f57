"""Supervisor: a nursery that restarts its children by OTP's rules.

A supervisor is itself a process (a GenServer, as in OTP) whose task owns the
nursery its children run in. Each child runs in its own cancel scope inside that
nursery; a child's exit (return, exception, cancellation) is caught by the child's
runner and becomes a message to the supervisor, which then applies the restart type,
the restart intensity and its strategy, one event at a time, in order.

Examples::

    children = [
        (trio_otp.DynamicSupervisor, {"name": "JobSupervisor"}),
        JobQueue,
    ]
    async with trio_otp.Supervisor.open(children, strategy="one_for_one",
                                        name="my_app_supervisor") as sup:
        ...

Child specification: see :class:`~trio_otp.ChildSpec` and ``child_spec()``.

Strategies:
    * ``one_for_one`` (default): only the exited child is restarted.
    * ``one_for_all``: the other children are stopped in reverse start order,
      then all are restarted in start order.
    * ``rest_for_one``: the children started after the exited one are stopped in
      reverse start order, then it and they are restarted in start order.

Exit reasons and restarts: ``permanent`` children are always restarted,
``transient`` ones only after an abnormal exit, ``temporary`` ones never (and their
spec is deleted). More than ``max_restarts`` restarts (default **3**) within
``max_seconds`` (default **5**) make the supervisor stop its other children and exit
with reason ``shutdown``; its parent handles that by its own strategy. With no parent
supervisor, :exc:`~trio_otp.RestartIntensityError` reaches the code that opened it.

The window counts time as OTP does, in whole seconds: each restart is stamped with
``floor(trio.current_time())`` and an old restart still counts while
``now <= then + max_seconds``. So with ``max_restarts=1, max_seconds=1`` two crashes
1.1 s apart may still exceed the limit, and crashes 2.1 s apart never do.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from typing import Any, Literal, final

import trio

from .._core._call import stop
from .._core._exceptions import (
    AlreadyPresentError,
    AlreadyStartedError,
    CalleeExit,
    ChildNotFoundError,
    ChildRunningError,
    ChildSpecError,
    ChildStartError,
)
from .._core._process import Pid, misuse_error
from .._core._reasons import NORMAL, SHUTDOWN
from .._server._child import (
    _Child,
)
from .._server._child_spec import (
    ChildSpec,
    ChildType,
    Restart,
    _trusted,
    check_unique_ids,
    to_child_spec,
)
from .._server._gen_server import Ok
from ._supervisor_server import (
    _COUNT,
    _DELETE,
    _RESTART,
    _START,
    _TERMINATE,
    _WHICH,
    RESTARTING,
    ChildCounts,
    ChildInfo,
    Strategy,
    _check_intensity,
    _manage_call,
    _SupervisorServer,
)

# --------------------------------------------------------------------------------------
# The static Supervisor
# --------------------------------------------------------------------------------------


class _StaticSupervisor(_SupervisorServer):
    kind_label = "Supervisor"

    def __init__(self, strategy: Strategy, max_restarts: int, max_seconds: float) -> None:
        super().__init__(max_restarts, max_seconds)
        self.strategy = strategy
        self._children: list[_Child] = []  # in start order

    async def init(self, arg: Any) -> Ok[None]:
        specs: list[ChildSpec] = arg
        for spec in specs:
            child = _Child(self, spec, spec.args)
            self._children.append(child)
            try:
                handle = await self._start(child)
            except Exception:
                # OTP: stop the ones already started (reverse order), then fail.
                self._children.remove(child)
                self._stopping = True
                await self._shutdown_all()
                raise
            if handle is None and spec.restart is Restart.TEMPORARY:
                # supervisor_SUITE sup_start_ignore_temporary_child: not kept.
                self._children.remove(child)
        return Ok(None)

    def _forget(self, child: _Child) -> None:
        if child.spec.restart is Restart.TEMPORARY:
            self._children.remove(child)
        else:
            child.handle = None

    def _is_current(self, child: _Child) -> bool:
        return child in self._children

    async def _restart_after_exit(self, child: _Child) -> tuple[_Child, ChildStartError] | None:
        children = self._children
        if self.strategy is Strategy.ONE_FOR_ONE:
            affected = [child]
        else:
            # A retry after a failed start is a restart of the child that failed,
            # under the strategy (supervisor_SUITE one_for_all_other_child_fails_restart,
            # rest_for_one_other_child_fails_restart): one_for_all stops the ones it
            # just started and starts all again in order; rest_for_one starts the
            # failed one and those after it, never the ones before it twice.
            index = children.index(child)
            affected = children[:] if self.strategy is Strategy.ONE_FOR_ALL else children[index:]
            for other in reversed(affected):
                if other is not child:
                    await self._terminate(other)
        for other in affected:
            if other.spec.restart is Restart.TEMPORARY and other is not child:
                # OTP: a temporary sibling stopped by the strategy is not restarted.
                children.remove(other)
                continue
            if other.running:
                continue
            other.restarting = False
            try:
                handle = await self._start(other)
            except ChildStartError as exc:
                other.handle = None
                return other, exc
            if handle is None and other.spec.restart is Restart.TEMPORARY:
                children.remove(other)  # OTP keeps no ignored temporary child
        return None

    async def _shutdown_all(self) -> None:
        for child in reversed(self._children):
            await self._terminate(child)
            child.handle = None

    def _find(self, child_id: object) -> _Child:
        for child in self._children:
            if child.spec.id == child_id:
                return child
        hint = ""
        if type(child_id) is Pid:
            hint = (
                "a Supervisor addresses its children by id, not by handle: pass the "
                "child spec's id, as which_children lists it"
            )
        raise ChildNotFoundError(child_id, hint)

    async def _manage(self, op: str, arg: Any) -> Any:
        if op == _WHICH:
            return [
                ChildInfo(c.spec.id, _shown_pid(c), c.spec.type, c.spec.modules)
                for c in reversed(self._children)
            ]
        if op == _COUNT:
            return _count(self._children)
        if op == _START:
            spec: ChildSpec = arg
            for child in self._children:
                if child.spec.id == spec.id:
                    if child.running:
                        raise AlreadyStartedError(spec.id, child.handle)
                    raise AlreadyPresentError(spec.id)
            child = _Child(self, spec, spec.args)
            self._children.append(child)
            try:
                handle = await _start_unwrapping_name_clash(self, child)
            except Exception:
                self._children.remove(child)
                raise
            if handle is None and spec.restart is Restart.TEMPORARY:
                # supervisor_SUITE sup_start_ignore_temporary_start_child: not kept.
                self._children.remove(child)
            return handle
        child = self._find(arg)
        if op == _TERMINATE:
            child.restarting = False  # stops the retries of a failing restart
            await self._terminate(child)
            child.handle = None
            if child.spec.restart is Restart.TEMPORARY:
                self._children.remove(child)
            return None
        if op == _RESTART:
            if child.running or child.restarting:
                raise ChildRunningError(arg)
            return await self._start(child)
        if op == _DELETE:
            if child.running or child.restarting:
                raise ChildRunningError(arg)
            self._children.remove(child)
            return None
        raise AssertionError(op)  # pragma: no cover


async def _start_unwrapping_name_clash(sup: _SupervisorServer, child: _Child) -> Any:
    # start_child with a taken name raises AlreadyStartedError itself: the holder is
    # what the caller needs (OTP's {:already_started, pid}).
    try:
        return await sup._start(child)
    except ChildStartError as exc:
        if isinstance(exc.reason, AlreadyStartedError):
            raise exc.reason from None
        raise


class _OnStarted:
    """A ``task_status`` that calls ``on_started()`` just before passing the handle on."""

    def __init__(self, status: trio.TaskStatus[Pid], on_started: Callable[[], None]) -> None:
        self._status = status
        self._on_started = on_started

    def started(self, value: Pid) -> None:
        self._on_started()
        self._status.started(value)


async def _serve_shielded(
    scope: trio.CancelScope,
    serve: Callable[..., Any],
    errors: list[Exception] | None = None,
    task_status: trio.TaskStatus[Pid] = trio.TASK_STATUS_IGNORED,
) -> None:
    # Not shielded while the children start: cancelling the owner then cancels the
    # start, as any nursery.start. With ``errors``, the tree's own error after it
    # started (it gave up or crashed) is kept there for the owner to raise.
    def shield() -> None:
        scope.shield = True

    with scope:
        try:
            await serve(task_status=_OnStarted(task_status, shield))
        except Exception as exc:
            if errors is None or not scope.shield:
                raise  # under open, or a start error (nursery.start raises it)
            errors.append(exc)


async def _own_tree(
    serve: Callable[..., Any],
    task_status: trio.TaskStatus[Pid] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run a tree started with ``start(nursery, ...)``, as its owner (issue 8).

    The tree runs in its own nursery, shielded once started; this task waits for it
    unshielded, so the user's nursery being cancelled (a ``move_on_after``, a
    sibling's crash, Control-C) reaches this task only. It then stops the tree in
    order under a shield, bounded by the tree's own shutdown budgets, and re-raises
    the cancellation as itself. A tree that exits by itself ends this task with the
    tree's own result, as if it ran in the user's nursery directly. Only trees
    started by ``start`` have this task: a child supervisor (``serve``) is stopped,
    and killed, by its parent's protocol.
    """
    tree_scope = trio.CancelScope()
    errors: list[Exception] = []
    error: BaseException | None = None  # raised as itself, outside the nursery
    async with trio.open_nursery() as nursery:
        try:
            pid: Pid = await nursery.start(_serve_shielded, tree_scope, serve, errors)
        except BaseException as exc:  # a start error, or the owner cancelled mid-start
            error = exc
        else:
            task_status.started(pid)
            try:
                await pid.wait_exited()
            except BaseException as exc:  # the owner is cancelled: stop the tree in order
                error = exc
                try:
                    with trio.CancelScope(shield=True):
                        await _stop_tree(pid)
                except BaseException as during:
                    tree_scope.cancel()  # kill what is left, never leave it running
                    error = during
    if errors:
        raise errors[0]
    if error is not None:
        raise error


def _serve_with(
    children: Iterable[object],
    strategy: Strategy | Literal["one_for_one", "one_for_all", "rest_for_one"],
    max_restarts: int,
    max_seconds: float,
    name: object,
) -> Callable[..., Any]:
    """``Supervisor.serve`` with these options, waiting only for ``task_status``."""
    return functools.partial(
        Supervisor.serve,
        children,
        strategy=strategy,
        max_restarts=max_restarts,
        max_seconds=max_seconds,
        name=name,
    )


async def _stop_tree(pid: Pid) -> None:
    """Stop a top supervisor with reason shutdown (nothing to do if it exited)."""
    if pid.alive:
        try:
            await stop(pid, SHUTDOWN)
        except Exception:  # it exited meanwhile; its own error is raised
            if pid.alive:
                raise


async def children_in_start_order(sup: Pid) -> list[ChildInfo]:
    """``which_children`` in start order, for either kind of supervisor."""
    infos = await Supervisor.which_children(sup)
    if isinstance(sup._impl, _StaticSupervisor):
        infos.reverse()  # OTP lists a static supervisor's children newest first
    return infos


def _shown_pid(child: _Child) -> Any:
    """A child's pid as ``which_children`` shows it."""
    if child.running:
        return child.handle
    return RESTARTING if child.restarting else None


def _count(children: Iterable[_Child]) -> ChildCounts:
    specs = active = supervisors = 0
    for child in children:
        specs += 1
        active += child.running
        supervisors += child.spec.type is ChildType.SUPERVISOR
    return ChildCounts(specs, active, supervisors, specs - supervisors)


def _check_strategy(strategy: object) -> Strategy:
    try:
        return Strategy(strategy)  # type: ignore[arg-type]  # str or Strategy; else ValueError
    except ValueError:
        raise ValueError(
            "strategy must be 'one_for_one', 'one_for_all' or 'rest_for_one' "
            f"(or trio_otp.Strategy), got {strategy!r}"
        ) from None


@final
class Supervisor:
    """OTP's ``Supervisor``: starts children in order, restarts them by strategy.

    All methods are class-level, as in Elixir (``Supervisor.which_children(sup)``);
    ``sup`` is the supervisor's handle or registered name. Options and their
    defaults:

    * ``strategy``: default **one_for_one** (see :class:`Strategy`);
    * ``max_restarts``: default **3**; ``max_seconds``: default **5**;
    * ``name``: default **None** (not registered).
    """

    @staticmethod
    async def serve(
        children: Iterable[object],
        *,
        strategy: Strategy | Literal["one_for_one", "one_for_all", "rest_for_one"] = (
            Strategy.ONE_FOR_ONE
        ),
        max_restarts: int = 3,
        max_seconds: float = 5,
        name: object = None,
        task_status: trio.TaskStatus[Pid] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Run a supervisor until it stops, following ``nursery.start``'s protocol.

        Children start in order, each after the previous one's ``init`` succeeded;
        then the handle is passed to ``task_status.started``.

        Raises:
            ChildSpecError: a child spec is invalid or ids repeat (nothing started).
            ChildStartError: a child failed to start (the others were stopped).
            AlreadyStartedError: ``name`` is taken.
            RestartIntensityError: it gave up restarting, and no supervisor
                supervises it.
        """
        if isinstance(children, (str, bytes, Mapping)) or not isinstance(children, Iterable):
            raise ChildSpecError(
                f"children must be a list of child specs, got {children!r}: pass "
                "[] for a supervisor that starts with none, e.g. Supervisor.open([Worker])"
            )
        specs = [to_child_spec(child) for child in children]
        check_unique_ids(specs)
        sup = _StaticSupervisor(
            _check_strategy(strategy), *_check_intensity(max_restarts, max_seconds)
        )
        await sup._serve_in_nursery(specs, name, task_status)

    @staticmethod
    async def start(
        nursery: trio.Nursery,
        children: Iterable[object],
        *,
        strategy: Strategy | Literal["one_for_one", "one_for_all", "rest_for_one"] = (
            Strategy.ONE_FOR_ONE
        ),
        max_restarts: int = 3,
        max_seconds: float = 5,
        name: object = None,
    ) -> Pid:
        """Start a supervisor in ``nursery``; return its handle once all children started.

        OTP's ``Supervisor.start_link``. See :meth:`serve` for the errors, which
        reach ``nursery`` as they would from :meth:`serve` run there. If ``nursery``
        is cancelled (an enclosing ``move_on_after``, a sibling task's crash,
        Control-C), the tree is shut down in order first, as :meth:`open` does:
        children in reverse start order, each ``terminate`` run within its
        ``shutdown`` budget, shielded from that cancellation but bounded by the
        budgets; then the cancellation goes on. (One extra task per tree waits for
        that; a supervisor in a children list has none: its parent stops it.)
        """
        serve = _serve_with(children, strategy, max_restarts, max_seconds, name)
        pid: Pid = await nursery.start(_own_tree, serve)
        return pid

    @staticmethod
    @asynccontextmanager
    async def open(
        children: Iterable[object],
        *,
        strategy: Strategy | Literal["one_for_one", "one_for_all", "rest_for_one"] = (
            Strategy.ONE_FOR_ONE
        ),
        max_restarts: int = 3,
        max_seconds: float = 5,
        name: object = None,
    ) -> AsyncIterator[Pid]:
        """``async with Supervisor.open(children) as sup:`` runs a supervision tree.

        The supervisor lives exactly as long as the block. When the block ends, it
        stops its children in reverse start order (each within its ``shutdown``
        budget) and exits. If the block raises or is cancelled (an enclosing
        ``move_on_after``, a sibling's crash, Control-C), the tree is shut down the
        same orderly way first, shielded from that cancellation but bounded by the
        children's ``shutdown`` budgets, and then the exception or cancellation
        propagates unchanged. Start errors are raised as themselves; a
        :exc:`~trio_otp.RestartIntensityError` while the block runs cancels the
        block and comes out of the ``async with`` in an exception group (use
        ``except*``).
        """
        try:
            trio.lowlevel.current_task()
        except RuntimeError:
            raise misuse_error("Supervisor.open", is_async=True) from None
        error: BaseException | None = None
        owner_error: BaseException | None = None
        # The tree runs in its own scope, shielded once it has started: the owner's
        # cancellation reaches the block, never the tree, which the block's end then
        # stops in order. Only a second interruption during that stop kills it.
        tree_scope = trio.CancelScope()
        serve = _serve_with(children, strategy, max_restarts, max_seconds, name)
        async with trio.open_nursery() as nursery:
            try:
                pid: Pid = await nursery.start(_serve_shielded, tree_scope, serve)
            except Exception as exc:
                error = exc
            else:
                try:
                    yield pid
                except BaseException as exc:
                    owner_error = exc
                try:
                    with trio.CancelScope(shield=True):
                        await _stop_tree(pid)
                except BaseException as exc:
                    tree_scope.cancel()  # e.g. a second Control-C: kill what is left
                    if isinstance(exc, Exception):
                        raise
                    owner_error = exc  # raised as itself, outside the nursery
        if error is not None:
            raise error
        if owner_error is not None:
            raise owner_error

    @staticmethod
    def child_spec(child: object, **overrides: Any) -> ChildSpec:
        """Return ``child`` as a :class:`~trio_otp.ChildSpec`, fields overridden.

        OTP's ``Supervisor.child_spec/2``: ``Supervisor.child_spec((Task, fn),
        restart="transient")`` is the Elixir chapter's fix. ``child`` is any form a children
        list accepts. As the pair ``(Supervisor, {"children": [...], ...options})``
        in a children list, it gives the spec of a child supervisor with those
        options (id: the ``name``, else ``Supervisor``; type supervisor; shutdown
        infinity).
        """
        if type(child) is ChildSpec:
            # The Elixir chapter's transient job, once per job: no ABC check, and a
            # lone valid restart (Restart.TRANSIENT) without replace's two calls.
            if len(overrides) == 1:
                restart = overrides.get("restart")
                if type(restart) is Restart:
                    return _trusted(
                        child.id,
                        child.start,
                        child.args,
                        restart,
                        child.type,
                        child.shutdown,
                        child.modules,
                    )
            return child.replace(**overrides) if overrides else child
        if isinstance(child, Mapping) and "children" in child:
            opts = dict(child)
            children = opts.pop("children")
            unknown = set(opts) - {"strategy", "max_restarts", "max_seconds", "name", "id"}
            if unknown:
                raise ChildSpecError(f"unknown Supervisor option(s) {sorted(unknown)}")
            child_id = opts.pop("id", opts.get("name") or Supervisor)
            spec = ChildSpec(
                id=child_id,
                start=functools.partial(Supervisor.serve, list(children), **opts),
                type=ChildType.SUPERVISOR,
                modules=(Supervisor,),
            )
            return spec.replace(**overrides) if overrides else spec
        return to_child_spec(child, **overrides)

    @staticmethod
    async def start_child(sup: object, child: object) -> Pid | None:
        """Add a child and start it; return its handle (``None`` if it ignored).

        Raises:
            AlreadyStartedError: a running child has that id (or the name is taken).
            AlreadyPresentError: a stopped child with that id is kept.
            ChildStartError: it failed to start (nothing is added).
            CalleeExit: the supervisor was stopped right after the start, and the
                child with it (a start never returns a dead child).
            ChildSpecError: the spec is invalid.
        """
        spec = to_child_spec(child)
        result: Pid | None = await _manage_call(_StaticSupervisor, sup, _START, spec)
        if result is not None and not result.alive:
            # A stop handled right after the start (before we ran again) took the
            # child down with the supervisor: never hand out a dead child.
            owner = result._parent
            if owner is not None and (not owner.alive or getattr(owner._impl, "_stopping", False)):
                reason = owner._reason if not owner.alive else SHUTDOWN
                raise CalleeExit(sup, ("start_child", spec.id), None, reason)
        return result

    @staticmethod
    async def terminate_child(sup: object, child_id: object) -> None:
        """Stop a child (within its ``shutdown`` budget); its spec is kept.

        A temporary child's spec is deleted. Stopping a stopped child is fine.

        Raises:
            ChildNotFoundError: no child has that id.
        """
        await _manage_call(_StaticSupervisor, sup, _TERMINATE, child_id)

    @staticmethod
    async def restart_child(sup: object, child_id: object) -> Pid | None:
        """Start a stopped child again from its kept spec; return its handle.

        Raises:
            ChildRunningError: it is running, or restarting (OTP's
                ``{:error, :restarting}``: terminate_child it first).
            ChildNotFoundError: no child has that id.
            ChildStartError: it failed to start.
        """
        result: Pid | None = await _manage_call(_StaticSupervisor, sup, _RESTART, child_id)
        return result

    @staticmethod
    async def delete_child(sup: object, child_id: object) -> None:
        """Forget a stopped child's spec.

        Raises:
            ChildRunningError: it is running or restarting (terminate it first).
            ChildNotFoundError: no child has that id.
        """
        await _manage_call(_StaticSupervisor, sup, _DELETE, child_id)

    @staticmethod
    async def which_children(sup: object) -> list[ChildInfo]:
        """List the children, in reverse start order, as OTP does."""
        result: list[ChildInfo] = await _manage_call(_SupervisorServer, sup, _WHICH, None)
        return result

    @staticmethod
    async def count_children(sup: object) -> ChildCounts:
        """Count the children: specs, active, supervisors, workers."""
        result: ChildCounts = await _manage_call(_SupervisorServer, sup, _COUNT, None)
        return result

    @staticmethod
    async def stop(sup: object, reason: object = NORMAL) -> None:
        """Stop the supervisor: its children stop in reverse start order, then it exits.

        ``reason`` defaults to ``NORMAL``. Same as :func:`trio_otp.stop`.
        """
        await stop(sup, reason)
