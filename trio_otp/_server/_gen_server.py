"""GenServer: a process that owns a state and serves calls, casts and messages.

Subclass :class:`GenServer`, override the callbacks you need, and start it with
``await MyServer.start(nursery, arg)`` (or put ``MyServer`` in a supervisor's
children). Callbacks return typed results (:class:`Reply`, :class:`NoReply`,
:class:`Stop`; :class:`Ok` / :class:`Ignore` from ``init``); anything else crashes
the server with :exc:`~trio_otp.BadReturnValue`, as OTP's ``bad_return_value``.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import logging
from collections.abc import Coroutine
from typing import Any, ClassVar, Final, Generic, TypeVar

import attrs
import trio
from trio.lowlevel import checkpoint, wait_task_rescheduled

from .._core import _reports
from .._core._call import CALL, CAST, DATA, FLUSHABLE, INFO, SHUTDOWN, STOP, From, reply
from .._core._exceptions import BadReturnValue, ChildSpecError, ProcessExit, StartError
from .._core._messages import TIMEOUT, Exit
from .._core._names import _register, check_name
from .._core._process import EMPTY, PULL_MARK, PULLED, UNSET, Killed, Pid
from .._core._reasons import NORMAL, is_normal_exit
from .._core._reasons import SHUTDOWN as SHUTDOWN_REASON
from ._child import _Child, direct_child, during_shutdown, supervising, supervisor_of
from ._child_spec import _FIELDS, ChildSpec, ChildType, Restart, _trusted
from ._kill_switch import (
    _CALL,
    _CAST,
    _CONTINUE,
    _INFO,
    _INIT,
    _TERMINATE,
    die,
    judge_class,
    server_verdict,
    switch_on,
)

S = TypeVar("S")

#: How many queued messages a server handles back to back before it yields to the
#: scheduler (a checkpoint: it may be cancelled there). Batching saves a scheduler
#: pass per message under load; the bound keeps one busy server from starving others.
_BURST: Final = 32


@attrs.frozen
class Continue:
    """Ask for ``handle_continue(arg, state)`` to run next, before any message.

    OTP's ``{:continue, arg}``: pass it as ``continue_`` of :class:`Ok`,
    :class:`Reply` or :class:`NoReply`.
    """

    arg: object


# _RESULTS_NOTE: Ok, Reply and NoReply are built once per start, call or cast, and
# are frozen records with a __dict__ rather than __slots__: attrs then writes the
# fields into the dict instead of calling object.__setattr__ per field (Reply(r, s):
# ~4,350 instructions against ~5,850 slotted; cachegrind, issue 22). They live only
# until the server reads them, so the dict costs no lasting memory.
@attrs.frozen(slots=False)
class Ok(Generic[S]):
    """``init`` succeeded: serve with this ``state`` (OTP ``{:ok, state}``)."""

    state: S
    continue_: Continue | None = None
    timeout: float | None = None


@attrs.frozen
class Ignore:
    """``init`` declines to start, without error (OTP ``:ignore``).

    The starter receives ``None`` instead of a handle; a supervisor keeps the child
    listed with no process.
    """


@attrs.frozen(slots=False)  # see _RESULTS_NOTE
class Reply(Generic[S]):
    """Answer the call with ``reply`` and go on with ``state`` (OTP ``{:reply, …}``).

    ``timeout`` (seconds, default ``None``: none) is OTP's ``{:reply, r, state,
    timeout}``: if no message arrives within it, ``handle_info`` receives
    :data:`~trio_otp.TIMEOUT`; any message that arrives first cancels it. The same
    field on :class:`Ok` and :class:`NoReply` means the same. It must be a number
    of seconds ``>= 0``: anything else (``-1``, ``"5"``, NaN, a bool) crashes the
    server with a ``ValueError`` or ``TypeError`` naming the result, when the
    server would start waiting (OTP's ``timeout_value`` crash).
    """

    reply: object
    state: S
    continue_: Continue | None = None
    timeout: float | None = None


@attrs.frozen(slots=False)  # see _RESULTS_NOTE
class NoReply(Generic[S]):
    """Go on with ``state`` without replying now (OTP ``{:noreply, state}``).

    From ``handle_call`` it means the ``from`` will be answered later with
    :func:`~trio_otp.reply`, possibly by another task; the caller keeps waiting until
    then or its deadline.
    """

    state: S
    continue_: Continue | None = None
    timeout: float | None = None


@attrs.frozen
class Status:
    """What a crash report shows of a server (OTP 25's ``format_status/1`` map).

    Given to, and returned by, :meth:`GenServer.format_report`.
    """

    #: The server's state (default: as :meth:`GenServer.format_status` returns it).
    state: object
    #: The last message (``('$gen_call', request)``, ``('$gen_cast', request)``, ...).
    message: object
    #: The exit reason (an exception, or what :class:`Stop` gave).
    reason: object


class _NoReplyValue:
    def __repr__(self) -> str:
        return "<no reply>"


_NO_REPLY: Final[Any] = _NoReplyValue()


@attrs.frozen
class Stop(Generic[S]):
    """Stop the server with ``reason`` (OTP ``{:stop, reason, state}``).

    ``terminate(reason, state)`` runs, then the server exits. From ``handle_call``,
    give ``reply=`` to answer the caller first (OTP ``{:stop, reason, reply, state}``);
    without it the caller fails with :exc:`~trio_otp.CalleeExit`. From ``init``
    it makes the start fail with :exc:`~trio_otp.StartError` (``state`` is unused).
    A reason that is not a normal exit (see :func:`~trio_otp.is_normal_exit`) is a
    crash: it is logged and, without a supervisor, raised to the owning nursery.
    """

    reason: object
    state: S = None  # type: ignore[assignment]
    reply: object = _NO_REPLY


InitResult = Ok[S] | Ignore | Stop[S]
CallResult = Reply[S] | NoReply[S] | Stop[S]
NoReplyResult = NoReply[S] | Stop[S]


def _describe(msg: tuple[int, object, object]) -> object:
    tag, payload, _ = msg
    if tag == CALL:
        return ("$gen_call", payload)
    if tag == CAST:
        return ("$gen_cast", payload)
    return payload


class GenServer(Generic[S]):
    """Base class of generic servers (OTP's ``GenServer`` behaviour).

    One instance is created per started process; its state is passed to and
    returned from each callback, as in OTP (``S`` is its type). The process handle
    is :attr:`pid`. Callbacks are async: a callback may await, and while it does the
    server handles nothing else (messages are handled one at a time, in order).

    Example::

        class Counter(trio_otp.GenServer[int]):
            async def init(self, start: int) -> trio_otp.Ok[int]:
                return trio_otp.Ok(start)

            async def handle_call(self, request, from_, count):
                if request == "inc":
                    return trio_otp.Reply(count + 1, count + 1)
                return trio_otp.Reply(count, count)

        async with trio.open_nursery() as nursery:
            counter = await Counter.start(nursery, 0)
            assert await trio_otp.call(counter, "inc") == 1
            await trio_otp.stop(counter)
    """

    #: How crash reports and :func:`~trio_otp.render_tree` name this kind of process.
    process_kind: ClassVar[str] = "GenServer"

    #: Whether the server traps exits (OTP's ``trap_exit`` flag), from its start.
    #: Default ``True``: a server receives exit signals from links and
    #: :func:`~trio_otp.exit` as :class:`~trio_otp.Exit` messages in
    #: ``handle_info``, and its supervisor asks it to shut down (``terminate``
    #: runs). A server sets ``trap_exit = False`` to die with a linked process's
    #: abnormal reason instead, and to be cancelled at once, without
    #: ``terminate``, by its supervisor's shutdown; :func:`~trio_otp.trap_exit`
    #: changes it at run time.
    trap_exit: ClassVar[bool] = True

    # Set by a kind of process whose exit must take the processes registered with it
    # along (a Registry: Elixir's register links): the default handle_info stops on
    # its Exit, as a GenServer that did not trap exits would die of the link.
    _members_exit_with_it: ClassVar[bool] = False

    #: The running process's handle (set before ``init`` runs).
    pid: Pid

    # Which callbacks of the class may suspend (bits of _SUSPENDS_BIT): only those
    # run inside the server's kill scope (see _serve), and the functions judged (a
    # server started after one was replaced takes them all to suspend). Set per
    # class by __init_subclass__ (judge_class); GenServer's own never suspend.
    _trio_otp_suspends: ClassVar[int] = 0
    _trio_otp_judged: ClassVar[tuple[tuple[str, object], ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # A callback written as a plain ``def`` would fail at its first message with
        # trio's "can't be used in 'await' expression": say so where it is written.
        for callback in _CALLBACKS:
            fn = cls.__dict__.get(callback)
            if inspect.isfunction(fn) and not inspect.iscoroutinefunction(fn):
                raise TypeError(
                    f"{cls.__qualname__}.{callback} is a plain def, but GenServer callbacks "
                    f"are awaited: write it as 'async def {callback}(...)'"
                )
        judge_class(cls)

    # -- callbacks ---------------------------------------------------------------------

    async def init(self, arg: Any, /) -> InitResult[S]:
        """Set up the state. Default: ``Ok(arg)``: the argument is the state.

        Runs in the new process before the starter gets its handle. Return
        :class:`Ok`, :class:`Ignore` or :class:`Stop`; raising makes the start fail
        with :exc:`~trio_otp.StartError`.
        """
        return Ok(arg)

    async def handle_call(self, request: Any, from_: From, state: S, /) -> CallResult[S]:
        """Handle a :func:`~trio_otp.call`. Default: crash, as OTP does."""
        raise NotImplementedError(
            f"{type(self).__qualname__} received call({request!r}) but does not "
            "implement handle_call"
        )

    async def handle_cast(self, request: Any, state: S, /) -> NoReplyResult[S]:
        """Handle a :func:`~trio_otp.cast`. Default: crash, as OTP does."""
        raise NotImplementedError(
            f"{type(self).__qualname__} received cast({request!r}) but does not "
            "implement handle_cast"
        )

    async def handle_info(self, message: Any, state: S, /) -> NoReplyResult[S]:
        """Handle a raw message. Default: log it and go on.

        Raw messages are what :func:`~trio_otp.send` and timers
        (:func:`~trio_otp.send_after`) deliver, and the runtime's own:
        :class:`~trio_otp.Down`, :class:`~trio_otp.Exit`,
        :class:`~trio_otp.TaskReply` and :data:`~trio_otp.TIMEOUT`.

        One exception: the :class:`~trio_otp.Exit` of a
        :class:`~trio_otp.Registry` this server is registered with (its ``via``
        name, or :meth:`Registry.register <trio_otp.Registry.register>`), with a
        reason other than ``"normal"``, stops the server with that reason, as the
        link Elixir's ``register`` makes kills a process that does not trap exits:
        its supervisor restarts it and it registers again. Override
        ``handle_info`` to take that ``Exit`` and keep running instead.
        """
        if (
            type(message) is Exit
            and message.pid is not None
            and message.reason != NORMAL
            and getattr(message.pid._impl, "_members_exit_with_it", False) is True
        ):
            return Stop(message.reason, state)
        _reports.unexpected_message(self.pid, self.process_kind, message)
        return NoReply(state)

    async def handle_continue(self, arg: Any, state: S, /) -> NoReplyResult[S]:
        """Run the work a :class:`Continue` asked for. Default: crash, as OTP does."""
        raise NotImplementedError(
            f"{type(self).__qualname__} returned Continue({arg!r}) but does not "
            "implement handle_continue"
        )

    async def terminate(self, reason: object, state: S, /) -> None:
        """Clean up before the server exits. Default: nothing.

        Runs when a callback returns :class:`Stop`, when a callback raises (with
        the exception as ``reason``), when :func:`~trio_otp.stop` is called, and when
        the owning supervisor shuts the server down (``reason`` ``"shutdown"``),
        within the child's ``shutdown`` budget. It does not run when the server is
        killed (cancelled), by its supervisor or by an exit signal it does not
        trap (see :func:`~trio_otp.exit`).
        """

    def format_status(self, state: S) -> object:
        """How ``state`` appears in crash reports (OTP's ``format_status/2``).

        Default: the state itself. Override it to hide secrets or shrink a large
        state; whatever it returns is still truncated, and the values of mapping
        keys named like secrets are masked (see :doc:`logging_testing`). To redact
        the last message or the reason too, override :meth:`format_report`.
        """
        return state

    def format_report(self, status: Status) -> Status:
        """What a crash report shows (OTP 25's ``format_status/1``).

        ``status`` holds the state, the last message and the reason as they are;
        return it with any of them replaced (``attrs.evolve(status, message=...)``).
        Default: the state through :meth:`format_status`, the rest as it is.
        Whatever it returns is still bounded and masked (see :doc:`logging_testing`).
        """
        return attrs.evolve(status, state=self.format_status(status.state))  # type: ignore[arg-type]

    @classmethod
    def format_start_args(cls, args: tuple[Any, ...]) -> tuple[Any, ...]:
        """How this class's start arguments appear in supervisor reports.

        ``args`` are the positional arguments of the child's start call (for
        ``child_spec(arg)``: ``(arg,)``). Default: as they are (still bounded, and
        secret-named mapping keys masked). Return a tuple of what to show instead.
        """
        return args

    # -- starting ----------------------------------------------------------------------

    @classmethod
    @direct_child
    def serve(
        cls,
        arg: Any = None,
        *,
        name: object = None,
        task_status: trio.TaskStatus[Pid | None] = trio.TASK_STATUS_IGNORED,
    ) -> Coroutine[Any, Any, None]:
        """Run a new server until it exits, following ``nursery.start``'s protocol.

        An async function (it returns the server's coroutine, so that no wrapper
        frame is kept per server): ``await MyServer.serve(arg)`` runs it in the
        current task.

        ``await nursery.start(functools.partial(MyServer.serve, arg, name=...))``
        returns its handle once ``init`` succeeded (``None`` if ``init`` returned
        :class:`Ignore`). :meth:`start` is the short form.

        Args:
            arg: passed to ``init``. Default ``None``.
            name: register the process under this name for its lifetime. Default
                ``None`` (not registered).
            task_status: given by ``nursery.start``.

        Raises:
            AlreadyStartedError: ``name`` is taken (before ``init`` runs).
            StartError: ``init`` raised or returned :class:`Stop`.
            ProcessExit: the server stopped later with an abnormal reason that is
                not an exception (an exception reason is raised as itself).
        """
        try:
            server = cls()
        except TypeError as exc:
            raise TypeError(
                f"{cls.__qualname__}() could not be created ({exc}): a GenServer is "
                "created with no arguments. Take the start argument in "
                "'async def init(self, arg)' instead of __init__"
            ) from exc
        return _serve(server, arg, name, task_status, supervising(task_status))

    @classmethod
    async def start(
        cls, nursery: trio.Nursery, arg: Any = None, *, name: object = None
    ) -> Pid | None:
        """Start a server in ``nursery`` and return its handle once ``init`` succeeded.

        OTP's ``GenServer.start_link``: the server is linked to the nursery, so an
        abnormal exit raises into it. ``None`` if ``init`` returned :class:`Ignore`.
        ``arg`` (passed to ``init``) and ``name`` default to ``None``; see :meth:`serve`.

        If ``nursery`` is cancelled, the server is cancelled with it (exit reason
        ``"killed"``): ``terminate`` does not run, for a plain nursery gives it no
        ``shutdown`` budget. Start it under a supervisor when ``terminate`` must run
        (see :doc:`design`).
        """
        pid: Pid | None = await nursery.start(functools.partial(cls.serve, arg, name=name))
        return pid

    @classmethod
    def child_spec(cls, arg: Any = None, **overrides: Any) -> ChildSpec:
        """The child spec a supervisor uses for ``(cls, arg)`` (or bare ``cls``).

        Id ``cls``, restart ``permanent``, shutdown 5 s, type worker: OTP's defaults
        for ``use GenServer``. Keyword ``name=`` registers the process; any other
        keyword overrides a field of the spec. Override this classmethod to change a
        server's defaults (the tutorial's JobQueue registers under its class name).
        """
        if not overrides:
            if arg is not None:
                return _trusted(cls, cls.serve, (arg,), _PERMANENT, _WORKER, 5.0, (cls,))
            # The bare class (``DynamicSupervisor.start_child(sup, MyServer)``): one
            # spec per class, made once (a spec is immutable), not one per child.
            spec = cls._trio_otp_spec
            if spec is None or spec.id is not cls:  # none yet, or a base class's
                spec = _trusted(cls, cls.serve, (None,), _PERMANENT, _WORKER, 5.0, (cls,))
                cls._trio_otp_spec = spec
            return spec
        unknown = set(overrides) - _FIELDS - {"name"}
        if unknown:
            raise _unknown_options(f"{cls.__qualname__}.child_spec", unknown)
        name = overrides.pop("name", None)
        start = cls.serve if name is None else functools.partial(cls.serve, name=name)
        spec = _trusted(cls, start, (arg,), _PERMANENT, _WORKER, 5.0, (cls,))
        return spec.replace(**overrides) if overrides else spec

    #: The spec of the bare class, made by the first :meth:`child_spec` call.
    _trio_otp_spec: ClassVar[ChildSpec | None] = None


_PERMANENT: Final = Restart.PERMANENT
_WORKER: Final = ChildType.WORKER

_CALLBACKS: Final = (
    "init",
    "handle_call",
    "handle_cast",
    "handle_info",
    "handle_continue",
    "terminate",
)


def _unknown_options(where: str, unknown: set[str]) -> Exception:

    allowed = sorted({"name", *_FIELDS})
    guesses = [difflib.get_close_matches(u, allowed, n=1) for u in sorted(unknown)]
    hint = "; ".join(f"did you mean {g[0]!r}?" for g in guesses if g)
    return ChildSpecError(
        f"{where}() got unknown option(s) {sorted(unknown)}: it takes name= (to register "
        f"the process) and the ChildSpec fields {sorted(_FIELDS)}" + (f"; {hint}" if hint else "")
    )


async def _serve(
    server: GenServer[Any], arg: Any, name: object, task_status: Any, child: _Child | None
) -> None:
    """The life of one server: init, the message loop, terminate, the exit.

    ``child`` is set when a supervisor started the server directly: then the server
    sets the child's kill scope itself (when it enters one: see _kill_switch.py),
    reports its exit to the supervisor and raises nothing after it started.
    Otherwise an abnormal exit is raised into the owning nursery (OTP's link).

    This coroutine is what an idle server keeps alive, twice over (its frame, and
    the frame object trio's spawn makes of it): each local variable costs 16 bytes
    per server, so rare paths live in helpers and the flags share one variable.
    """
    if name is not None:
        check_name(name)  # before anything is recorded (issue 13)
    pid = Pid._new(server.process_kind, name, EMPTY, server, supervisor_of(task_status))
    server.pid = pid
    if name is not None:
        try:
            _register(name, pid)
        except BaseException:
            # It never ran: drop it from the task table (the name stays with its
            # holder: _exited frees only a name it holds).
            pid._exited(NORMAL)
            raise
    reason: object = UNSET
    state: Any = None
    msg: Any = None
    res: Any = None
    cont: Continue | None = None
    timeout: float | None = None
    stop_reply: tuple[From, object] | None = None
    # _SERVING, then _TERMINATING once terminate is due, then _FINAL once ``reason``
    # is final; if the task is cancelled before that (even inside terminate), the
    # exit reason is the cancel reason (killed). The server has started once
    # ``task_status`` is None.
    phase = _SERVING
    # The kill switch (_KILL_SWITCH_NOTE, _kill_switch.py): no cancel scope until a
    # callback that may suspend runs; then ``scope``, entered by switch_on, to the end.
    scope: trio.CancelScope | None = None
    killed = False
    # The callbacks that may suspend while the server has no scope; 0 once it has one.
    unscoped = server_verdict(server)
    pid._switch = pid  # exit signals wake it from its park (Pid._pull)
    if child is not None:
        child.scope = None
        child.doomed = False
    try:
        try:
            if type(server).init is not _DEFAULT_INIT:
                # (The default init is Ok(arg): nothing to run or to check.)
                if unscoped & _INIT:
                    scope = switch_on(pid, child)
                    unscoped = 0
                try:
                    res = await server.init(arg)
                except Exception as exc:
                    reason = exc
                    phase = _FINAL
                    if isinstance(exc, StartError):  # e.g. a supervisor's child failed
                        raise
                    raise StartError(exc) from exc
                rt = type(res)
                if rt is Ok:
                    state = res.state
                    cont = res.continue_
                    timeout = res.timeout
                elif rt is Ignore:
                    reason = NORMAL
                    phase = _FINAL
                    task_status.started(None)
                    return
                elif rt is Stop:
                    reason = res.reason
                    phase = _FINAL
                    raise StartError(reason)
                else:
                    reason = BadReturnValue("init", res)
                    phase = _FINAL
                    raise StartError(reason) from reason
            else:
                state = arg
            task_status.started(pid)
            # Drop trio's start machinery (its temporary nursery and cancel status):
            # kept alive by this frame it would cost ~1 KB per idle server.
            task_status = None
            if child is not None and child.doomed and pid._switch is pid:
                pid._pull()  # its supervisor killed it before it had a handle

            burst = 0
            while True:
                if cont is not None:  # (one test per message when there is none)
                    while cont is not None:
                        if unscoped and unscoped & _CONTINUE:
                            scope = switch_on(pid, child)
                            unscoped = 0
                        res = await server.handle_continue(cont.arg, state)
                        rt = type(res)
                        if rt is NoReply:
                            state = res.state
                            cont = res.continue_
                            timeout = res.timeout
                        elif rt is Stop:
                            reason = res.reason
                            state = res.state
                            break
                        else:
                            raise BadReturnValue("handle_continue", res)
                    if reason is not UNSET:
                        break

                # Take the next message: without a scheduler pass while the mailbox
                # has some, but with a checkpoint every _BURST messages.
                burst += 1
                if burst >= _BURST:
                    burst = 0
                    await checkpoint()
                    if pid._switch is PULLED:
                        raise Killed  # killed at the schedule point, as a scope would be
                if pid._mailbox:
                    msg = pid._mailbox.popleft()
                else:
                    # Park on our own handle, keeping no queue (see EMPTY); whoever
                    # posts to the mailbox wakes us (Pid._post).
                    burst = 0
                    pid._mailbox = EMPTY
                    if timeout is None:
                        msg = res = None  # nothing of the last message kept while idle
                        # (Killed while it ran? Then PULL_MARK was queued: no test here.)
                        pid._parked = True
                        await wait_task_rescheduled(pid._unpark)
                        msg = pid._mailbox.popleft()  # pyright: ignore[reportOptionalMemberAccess]
                    else:
                        msg = await _receive_within(pid, timeout, res)

                tag = msg[0]
                if tag == CALL:
                    if unscoped and unscoped & _CALL:
                        scope = switch_on(pid, child)
                        unscoped = 0
                    res = await server.handle_call(msg[1], msg[2], state)
                    rt = type(res)
                    if rt is Reply:
                        reply(msg[2], res.reply)
                        state = res.state
                        cont = res.continue_
                        timeout = res.timeout
                        continue
                elif tag == CAST:
                    if unscoped and unscoped & _CAST:
                        scope = switch_on(pid, child)
                        unscoped = 0
                    res = await server.handle_cast(msg[1], state)
                    rt = type(res)
                elif tag == INFO:
                    if unscoped and unscoped & _INFO:
                        scope = switch_on(pid, child)
                        unscoped = 0
                    res = await server.handle_info(msg[1], state)
                    rt = type(res)
                elif tag == FLUSHABLE:
                    if msg[1].ref._flushed:
                        continue  # demonitor(ref, flush=True): as if never sent
                    if unscoped and unscoped & _INFO:
                        scope = switch_on(pid, child)
                        unscoped = 0
                    res = await server.handle_info(msg[1], state)
                    rt = type(res)
                elif tag == DATA:
                    # A connection's bytes, or its end (a TCPHandler:
                    # trio_otp/_behaviours/_tcp.py), called here, with no frame between.
                    if scope is None:
                        scope = switch_on(pid, child)
                        unscoped = 0
                    if type(msg[1]) is bytes:
                        res = await server.handle_data(msg[1], state)  # type: ignore[attr-defined]
                        server._taken()  # type: ignore[attr-defined]
                    else:
                        res = await server._handle_end(msg[1], state)  # type: ignore[attr-defined]
                    rt = type(res)
                elif tag == STOP:
                    reason = msg[1]
                    break
                elif tag == SHUTDOWN:
                    reason = SHUTDOWN_REASON
                    break
                else:
                    assert msg is PULL_MARK  # killed while it ran (Pid._pull)
                    if scope is None:
                        if not pid._mailbox:
                            await die()  # where it would have parked
                        pid._mailbox.append(msg)  # pyright: ignore[reportOptionalMemberAccess]
                    # (With a scope, entered since, the cancelled scope does it.)
                    continue

                if rt is NoReply:
                    state = res.state
                    cont = res.continue_
                    timeout = res.timeout
                elif rt is Stop:
                    reason = res.reason
                    state = res.state
                    if tag == CALL and res.reply is not _NO_REPLY:
                        stop_reply = (msg[2], res.reply)
                    break
                else:
                    raise BadReturnValue(_CALLBACK_OF[tag], res)

            # An orderly stop: terminate, answer a stop-with-reply, then exit.
            phase = _TERMINATING
            if unscoped & _TERMINATE:
                scope = switch_on(pid, child)
                unscoped = 0
            await server.terminate(reason, state)
            phase = _FINAL
            if stop_reply is not None:
                reply(*stop_reply)
            if not is_normal_exit(reason):
                _report_crash(pid, reason, msg, state)
        except Exception as exc:
            if task_status is not None:
                raise  # a start failure: nursery.start raises it in the starter
            reason = exc
            if phase == _SERVING:
                # OTP runs terminate/2 when a callback crashes, too.
                phase = _TERMINATING
                if unscoped & _TERMINATE:
                    scope = switch_on(pid, child)
                    unscoped = 0
                reason = await _terminate_after_crash(server, exc, state)
            phase = _FINAL
            if during_shutdown(child, pid):  # raised while being stopped: not a crash
                _reports.exit_during_shutdown(pid, reason)
            else:
                _report_crash(pid, reason, msg, state)
        finally:
            # Not final: we are being cancelled (killed), maybe inside terminate.
            pid._exited(reason if phase == _FINAL else pid._killed_reason())
    except BaseException as exc:
        # What ``with scope:`` would do, for a scope entered on the way (or none).
        if scope is None:
            if type(exc) is not Killed:
                raise
        else:
            entered, scope = scope, None
            if not entered.__exit__(type(exc), exc, exc.__traceback__):
                raise
        killed = True
    finally:
        if scope is not None:
            scope.__exit__(None, None, None)
    # Here the server ended by itself, crashed, or was killed (its switch pulled).
    if child is not None:
        if task_status is None:  # it had started
            child.sup._child_exited(child, pid._reason)
        return
    reason = pid._reason
    if killed:
        # Killed by an exit signal (only those pull this switch when no supervisor
        # owns it): an abnormal reason reaches the owning nursery, like a crash.
        if task_status is not None:
            raise StartError(reason)
        if not is_normal_exit(reason):
            raise ProcessExit(pid, reason)
    elif not is_normal_exit(reason):
        # It stopped or crashed with an abnormal reason (the crash was reported).
        raise reason if isinstance(reason, BaseException) else ProcessExit(pid, reason)


#: The phases of a server's life in :func:`_serve`.
_SERVING: Final = 0
_TERMINATING: Final = 1
_FINAL: Final = 2

#: The callback a message tag goes to, named when its result is bad.
_CALLBACK_OF: Final = {
    CALL: "handle_call",
    CAST: "handle_cast",
    INFO: "handle_info",
    FLUSHABLE: "handle_info",
    DATA: "handle_data",
}

#: GenServer.init as written here: a server class that keeps it starts with ``arg``
#: as its state without running it (what it would return is known: ``Ok(arg)``).
_DEFAULT_INIT: Final = GenServer.init

judge_class(GenServer)  # 0: none of its own callbacks suspends


async def _terminate_after_crash(server: GenServer[Any], crash: Exception, state: object) -> object:
    """Run ``terminate`` after a callback crashed; return the exit reason.

    OTP runs terminate/2 when a callback crashes, too. An exception from
    ``terminate`` itself becomes the exit reason, with the crash as its context.
    """
    try:
        await server.terminate(crash, state)
    except Exception as during:
        during.__context__ = crash
        return during
    return crash


async def _receive_within(pid: Pid, seconds: float, res: object) -> Any:
    """Wait for the next message, or :data:`TIMEOUT` if none comes within ``seconds``.

    OTP's GenServer timeout; a cancel scope only for servers that asked for one.
    ``res`` is the callback result that asked for it, named if ``seconds`` is bad
    (checked here, not when the result is built: a reply without a timeout pays
    nothing; OTP crashes the server with ``timeout_value`` at the same point).
    """
    kind = type(seconds)
    if (kind is not float and kind is not int) or not seconds >= 0:  # NaN fails >= 0
        raise _bad_timeout(pid, res, seconds)
    with trio.move_on_after(seconds):
        pid._parked = True  # (killed while it ran? PULL_MARK was queued)
        await wait_task_rescheduled(pid._unpark)
        return pid._mailbox.popleft()  # type: ignore[union-attr]
    return (INFO, TIMEOUT, None)


def _bad_timeout(pid: Pid, res: object, seconds: object) -> Exception:
    what = f"{type(pid._impl).__qualname__} returned {type(res).__name__}(..., timeout={seconds!r})"
    fix = "a GenServer timeout is a number of seconds >= 0, or None (the default) for none"
    if isinstance(seconds, (int, float)) and not isinstance(seconds, bool):
        return ValueError(f"{what}: {fix}")
    return TypeError(f"{what}: {fix}")


def _report_crash(pid: Pid, reason: object, msg: Any, state: object) -> None:
    # Build nothing for a logger that is off (benchmarks crash on purpose).
    if not _reports.gen_server_logger.isEnabledFor(logging.ERROR):
        return
    client = None
    if msg is not None and msg[0] == CALL:
        caller = msg[2]._task
        client = f"task {caller.name!r}" if caller is not None else "a caller that has gone"
    status = Status(state, None if msg is None else _describe(msg), reason)
    try:
        status = pid._impl.format_report(status)  # type: ignore[attr-defined]
        if not isinstance(status, Status):
            raise TypeError("format_report must return a Status")
    except Exception as exc:  # a report must not crash the exit path
        status = Status(f"<format_status raised {type(exc).__name__}>", status.message, reason)
    _reports.gen_server_crash(pid, status.reason, status.message, status.state, client)
