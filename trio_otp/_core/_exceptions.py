"""The exceptions trio_otp raises.

Where OTP returns ``{:error, reason}`` or makes the caller *exit*, trio_otp raises
one of these. Every class says who raises it, when, and what to do about it. They
all derive from :class:`OTPError`, an :class:`Exception`: none of them is ever a
:class:`BaseException`, so ``trio.Cancelled`` and ``KeyboardInterrupt`` keep their
meaning.
"""

from __future__ import annotations

from typing import Any

from trio import TooSlowError

from ._reasons import format_reason


def _name(target: object) -> str:
    # Classes are common names (the Elixir chapter registers its JobQueue under its own class).
    if isinstance(target, type):
        return target.__qualname__
    return repr(target)


class OTPError(Exception):
    """Base class of every error trio_otp raises on purpose."""


# --------------------------------------------------------------------------------------
# Calls
# --------------------------------------------------------------------------------------


class CallError(OTPError):
    """Base class for the ways a :func:`trio_otp.call` can fail.

    Mirrors OTP's ``{reason, {GenServer, :call, [server, request, timeout]}}`` exit:
    the attributes say which server, which request and which timeout.

    Attributes:
        server: the handle or name the caller addressed.
        request: the request that was sent (or would have been).
        timeout: the call's deadline in seconds (``None`` for no deadline).
        operation: what was attempted: ``"call"`` (the default), ``"stop"`` or
            ``"send"``.
    """

    def _what(self) -> str:
        return "failed"

    def __init__(
        self, server: object, request: object, timeout: float | None, operation: str = "call"
    ) -> None:
        super().__init__(server, request, timeout)
        self.server = server
        self.request = request
        self.timeout = timeout
        self.operation = operation

    def _call_repr(self) -> str:
        if self.operation in ("send", "exit"):
            return f"{self.operation}({_name(self.server)}, {self.request!r})"
        if self.operation in ("link", "JobQueue.lookup"):
            return f"{self.operation}({_name(self.server)})"
        timeout = "infinity" if self.timeout is None else f"{self.timeout:g}"
        return f"{self.operation}({_name(self.server)}, {self.request!r}, {timeout})"

    def __str__(self) -> str:
        return f"{self._call_repr()}: {self._what()}"


class CallTimeout(CallError):
    """Raised by :func:`~trio_otp.call` when no reply arrived before the deadline.

    OTP's ``{:timeout, {GenServer, :call, ...}}``. The server is unaffected and may
    still be working on the request; its reply, should it come later, is dropped
    silently. Either give the call a longer ``timeout`` or make the server (or the
    task that holds the ``from``) reply sooner.
    """

    def _what(self) -> str:
        return f"timed out after {self.timeout:g} s (no reply)"


class NoProcessError(CallError):
    """Raised at once when the target process does not exist.

    OTP's ``noproc``: the name is not registered, or the handle belongs to a process
    that has already exited. Raised by :func:`~trio_otp.call`,
    :func:`~trio_otp.stop`, :func:`~trio_otp.send` and :func:`~trio_otp.exit` (for
    names), :func:`~trio_otp.link` (a caller that does not trap exits) and
    :meth:`JobQueue.lookup <trio_otp.JobQueue.lookup>`. Look the process up again (it
    may have been restarted under the same name) or start it first.
    """

    def _what(self) -> str:
        return (
            "no process (the name is not registered or the process has exited): start "
            "it first, or look it up again if its supervisor restarted it"
        )


class CalleeExit(CallError):
    """Raised in a caller when the server exits before replying.

    OTP monitors the callee during a call: if it stops or crashes while the call is
    pending, the caller fails at once with the server's exit reason instead of
    waiting for the deadline. When the reason is an exception it is also the
    ``__cause__``.

    Attributes:
        reason: the server's exit reason.
    """

    def __init__(
        self,
        server: object,
        request: object,
        timeout: float | None,
        reason: object,
        operation: str = "call",
    ) -> None:
        super().__init__(server, request, timeout, operation)
        self.reason = reason

    def _what(self) -> str:
        return f"the server exited with reason {format_reason(self.reason)}"


class CallingSelfError(CallError):
    """Raised when a process calls itself, which could never be answered.

    OTP's ``calling_self``. Do the work directly, or :func:`~trio_otp.cast` to
    yourself instead. Also raised by :func:`~trio_otp.stop` when a process stops
    itself (return :class:`~trio_otp.Stop` from the callback instead) or one of the
    supervisors above it, which would first have to stop the waiting process.
    """

    def _what(self) -> str:
        if self.operation != "stop":
            return (
                "a process cannot call itself (it would wait for its own reply): do the "
                "work directly, or cast to yourself"
            )
        return self._stop_what()

    def _stop_what(self) -> str:
        return (
            "a process cannot stop itself and wait for its own exit: return "
            "Stop(reason, state) from the callback instead"
        )


class _StopOwnSupervisor(CallingSelfError):
    # stop() of a supervisor above the caller: it would stop the caller first.
    def _stop_what(self) -> str:
        return (
            "a process cannot stop a supervisor above it and wait: the supervisor stops "
            "its children first, so it would wait for this very process. Return "
            "Stop(reason, state) to stop only this process, or have code outside the "
            "tree (the block that opened the supervisor) stop it or cancel its scope"
        )


# --------------------------------------------------------------------------------------
# Process exits
# --------------------------------------------------------------------------------------


class ProcessExit(OTPError):
    """A process ended with an abnormal reason that is not an exception.

    Raised out of an *unsupervised* process (one you started in your own nursery)
    that stopped with, say, ``Stop("boom", state)``: that is how a link reaches the
    nursery that owns the process. Under a supervisor the reason goes to the
    supervisor instead and nothing is raised.

    Attributes:
        pid: the process that exited.
        reason: its exit reason.
    """

    def __init__(self, pid: object, reason: object) -> None:
        super().__init__(pid, reason)
        self.pid = pid
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.pid!r} exited with reason {format_reason(self.reason)}"


class BadReturnValue(OTPError):
    """A GenServer callback returned something that is not one of its result types.

    The server crashes with this exception as its reason (OTP's
    ``{:bad_return_value, value}``). Return ``Reply``, ``NoReply``, ``Stop`` (or
    ``Ok`` / ``Ignore`` from ``init``) as the callback's documentation says.

    Attributes:
        callback: the callback's name.
        value: what it returned.
    """

    def __init__(self, callback: str, value: object) -> None:
        super().__init__(callback, value)
        self.callback = callback
        self.value = value

    def __str__(self) -> str:
        valid = _VALID_RESULTS.get(self.callback, "one of its documented result types")
        hint = ""
        if isinstance(self.value, tuple):
            hint = " (Elixir-style tuples are not results: use the classes)"
        return f"bad return value from {self.callback}: {self.value!r}; return {valid}{hint}"


_VALID_RESULTS = {
    "init": "Ok(state), Ok(state, continue_=Continue(arg)), Ignore() or Stop(reason)",
    "handle_call": (
        "Reply(reply, state), NoReply(state) (reply later with trio_otp.reply), "
        "Stop(reason, state) or Stop(reason, state, reply=reply); any of them may take "
        "continue_=Continue(arg) except Stop"
    ),
    "handle_cast": "NoReply(state), NoReply(state, continue_=Continue(arg)) or Stop(reason, state)",
    "handle_info": "NoReply(state), NoReply(state, continue_=Continue(arg)) or Stop(reason, state)",
    "handle_continue": (
        "NoReply(state), NoReply(state, continue_=Continue(arg)) or Stop(reason, state)"
    ),
}


# --------------------------------------------------------------------------------------
# Starting
# --------------------------------------------------------------------------------------


class StartError(OTPError):
    """A process failed to start: its ``init`` raised, asked to stop, or timed out.

    Raised by ``nursery.start(...)`` / ``start(...)`` in the starter. Nothing was left
    running. When the reason is an exception it is also the ``__cause__``.

    Attributes:
        reason: why the start failed (``init``'s stop reason or exception).
    """

    def __init__(self, reason: object, *args: Any) -> None:
        super().__init__(reason, *args)
        self.reason = reason

    def __str__(self) -> str:
        return f"failed to start: {format_reason(self.reason)}"


class AlreadyStartedError(StartError):
    """The name (or child id) is already held by a running process.

    OTP's ``{:error, {:already_started, pid}}``. Use the running process
    (:attr:`holder`), pick another name, or stop the holder first.

    Attributes:
        name: the name or child id that was asked for.
        holder: the handle of the process that holds it.
    """

    def __init__(self, name: object, holder: object) -> None:
        super().__init__(("already_started", holder), name, holder)
        self.name = name
        self.holder = holder

    def __str__(self) -> str:
        return f"{_name(self.name)} is already started: held by {self.holder!r}"


class ChildStartError(StartError):
    """A supervisor's child failed to start.

    Raised when a supervisor starts (OTP's
    ``{:shutdown, {:failed_to_start_child, id, reason}}``): the children started
    before it were shut down again, in reverse order, before this was raised. Also
    raised by :meth:`Supervisor.start_child`, :meth:`Supervisor.restart_child` and
    :meth:`DynamicSupervisor.start_child` when the child's start fails.

    Attributes:
        child_id: the id of the child that failed.
        reason: why it failed.
    """

    def __init__(self, child_id: object, reason: object) -> None:
        super().__init__(reason, child_id)
        self.child_id = child_id

    def __str__(self) -> str:
        return f"failed to start child {_name(self.child_id)}: {format_reason(self.reason)}"


# --------------------------------------------------------------------------------------
# Supervisors
# --------------------------------------------------------------------------------------


class ChildSpecError(OTPError, ValueError):
    """A child specification is invalid; nothing was started.

    Raised before any child starts: unknown restart or type values, a start that is
    not callable, a bad shutdown, duplicate ids. The message says which field is
    wrong and what it accepts.
    """


class SupervisorError(OTPError):
    """Base class for supervisor management errors (OTP's ``{:error, ...}`` values).

    Attributes:
        child_id: the child id (or handle, for a DynamicSupervisor) concerned.
    """

    what = "error"

    def __init__(self, child_id: object) -> None:
        super().__init__(child_id)
        self.child_id = child_id

    def __str__(self) -> str:
        return f"child {_name(self.child_id)}: {self.what}"


class AlreadyPresentError(SupervisorError):
    """:meth:`Supervisor.start_child` with an id whose (stopped) spec is still kept.

    OTP's ``{:error, :already_present}``. Use :meth:`Supervisor.restart_child` to run
    it again, or :meth:`Supervisor.delete_child` first.
    """

    what = "already present (a spec with this id is kept; restart_child or delete_child it)"


class ChildRunningError(SupervisorError):
    """The operation needs the child stopped, but it is running.

    OTP's ``{:error, :running}`` from ``restart_child`` and ``delete_child``. Call
    :meth:`Supervisor.terminate_child` first.
    """

    what = "is running (terminate_child it first)"


class ChildNotFoundError(SupervisorError, LookupError):
    """No child with that id (or handle) is known to the supervisor.

    OTP's ``{:error, :not_found}``. Check the id against
    :meth:`Supervisor.which_children`; a static :class:`Supervisor` addresses
    children by id, a :class:`DynamicSupervisor` by handle.

    Attributes:
        hint: what to do instead, when the mistake is a known one (``""`` otherwise).
    """

    what = "not found"

    def __init__(self, child_id: object, hint: str = "") -> None:
        super().__init__(child_id)
        self.hint = hint

    def __str__(self) -> str:
        return super().__str__() + (f" ({self.hint})" if self.hint else "")


class MaxChildrenError(SupervisorError):
    """:meth:`DynamicSupervisor.start_child` when ``max_children`` are running.

    OTP's ``{:error, :max_children}``. The limit is checked before the child starts.
    Wait for a child to exit, terminate one, or raise ``max_children``.
    """

    def __init__(self, max_children: int) -> None:
        super().__init__(None)
        self.max_children = max_children

    def __str__(self) -> str:
        return f"the supervisor already runs max_children={self.max_children} children"


class RestartIntensityError(OTPError):
    """A supervisor at the top of a tree gave up restarting.

    More than ``max_restarts`` restarts happened within ``max_seconds``: the
    supervisor shut its other children down and exited (OTP's
    ``reached_max_restart_intensity`` followed by exit reason ``shutdown``). Under a
    parent supervisor that is an ordinary ``shutdown`` exit the parent handles by its
    own strategy; only where nobody supervises the supervisor is this raised, to the
    code that opened it. ``__cause__`` is the last child's exception, when it was one.

    Attributes:
        supervisor: the supervisor's handle.
        child_id: the child whose exit, or failed restart, crossed the limit.
        reason: that child's exit reason, or why its restart failed.
        max_restarts: the supervisor's ``max_restarts``.
        max_seconds: the supervisor's ``max_seconds``.
        origin_id: when a restart failed, the child whose exit began that restart
            (under one_for_all / rest_for_one maybe another one), else ``None``.
        origin_reason: that child's exit reason.
    """

    def __init__(
        self,
        supervisor: object,
        child_id: object,
        reason: object,
        max_restarts: int,
        max_seconds: float,
        *,
        origin_id: object = None,
        origin_reason: object = None,
    ) -> None:
        super().__init__(supervisor, child_id, reason)
        self.supervisor = supervisor
        self.child_id = child_id
        self.reason = reason
        self.max_restarts = max_restarts
        self.max_seconds = max_seconds
        self.origin_id = origin_id
        self.origin_reason = origin_reason

    def __str__(self) -> str:
        head = (
            f"{self.supervisor!r} reached max restart intensity "
            f"({self.max_restarts} restarts in {self.max_seconds:g} s): "
        )
        if self.origin_id is None and self.origin_reason is None:
            return head + f"child {_name(self.child_id)} exited with {format_reason(self.reason)}"
        return head + (
            f"child {_name(self.origin_id)} exited with {format_reason(self.origin_reason)}; "
            f"restarting, child {_name(self.child_id)} failed to start with "
            f"{format_reason(self.reason)}; the supervisor shut down all its children"
        )


# --------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------


class UnknownRegistryError(OTPError, LookupError):
    """A :class:`~trio_otp.Registry` function was given something that is not a running
    registry.

    Elixir's ``ArgumentError`` "unknown registry". Raised by every ``Registry``
    function (and by starting a process under a ``via`` name) when no registry runs
    under that handle or name, or when it has exited. Start the registry first (under
    the same supervisor, before the processes that use it).

    Attributes:
        registry: the handle or name that was given.
    """

    def __init__(self, registry: object) -> None:
        super().__init__(registry)
        self.registry = registry

    def __str__(self) -> str:
        return f"unknown registry: {_name(self.registry)} (no running Registry by that name)"


class AlreadyRegisteredError(OTPError):
    """:meth:`Registry.register` in a unique registry whose key another process holds.

    Elixir's ``{:error, {:already_registered, pid}}``. Use the holder, pick another
    key, or use a duplicate registry if many processes may share a key.

    Attributes:
        registry: the registry's handle or name.
        key: the key that was asked for.
        holder: the handle of the process registered under it.
    """

    def __init__(self, registry: object, key: object, holder: object) -> None:
        super().__init__(registry, key, holder)
        self.registry = registry
        self.key = key
        self.holder = holder

    def __str__(self) -> str:
        return f"{self.key!r} is already registered in {_name(self.registry)} by {self.holder!r}"


# --------------------------------------------------------------------------------------
# Tasks
# --------------------------------------------------------------------------------------


class TaskExit(OTPError):
    """Raised by :meth:`AsyncTask.wait` when the task did not return a result.

    The task crashed (the exception is the ``__cause__``), was shut down, or was
    killed.

    Attributes:
        reason: the task's exit reason.
    """

    def __init__(self, task: object, reason: object) -> None:
        super().__init__(task, reason)
        self.task = task
        self.reason = reason

    def __str__(self) -> str:
        return f"task {self.task!r} exited with reason {format_reason(self.reason)}"


class TaskTimeout(OTPError):
    """Raised by :meth:`AsyncTask.wait` when the task has not finished in time.

    Elixir's ``Task.await`` timeout (default 5 s). The task keeps running under its
    supervisor; wait again, or terminate it.
    """

    def __init__(self, task: object, timeout: float) -> None:
        super().__init__(task, timeout)
        self.task = task
        self.timeout = timeout

    def __str__(self) -> str:
        return f"task {self.task!r} did not finish within {self.timeout:g} s"


# --------------------------------------------------------------------------------------
# Mailboxes and telemetry
# --------------------------------------------------------------------------------------


class ReceiveTimeout(OTPError, TooSlowError):
    """Raised by :meth:`Mailbox.receive <trio_otp.Mailbox.receive>` when no (matching)
    message arrived within its ``timeout``.

    OTP's ``receive ... after``. Also a :exc:`trio.TooSlowError`, which is what
    ``trio.fail_after`` raises. The messages that did not match stay queued.

    Attributes:
        timeout: the timeout, in seconds.
    """

    def __init__(self, timeout: float | None) -> None:
        super().__init__(timeout)
        self.timeout = timeout

    def __str__(self) -> str:
        return f"no matching message within {self.timeout:g} s"


class TelemetryHandlerExistsError(OTPError, ValueError):
    """Raised by :func:`~trio_otp.attach_telemetry` (and ``attach_many_telemetry``) when
    a handler with the same id is attached already.

    ``:telemetry.attach``'s ``{:error, :already_exists}``. Detach the old handler
    first (:func:`~trio_otp.detach_telemetry`), or pick another id.

    Attributes:
        handler_id: the id that is taken.
    """

    def __init__(self, handler_id: object) -> None:
        super().__init__(handler_id)
        self.handler_id = handler_id

    def __str__(self) -> str:
        return (
            f"a telemetry handler with id {self.handler_id!r} is attached already: "
            "detach it first (detach_telemetry) or use another id"
        )
