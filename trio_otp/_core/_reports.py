"""Crash and supervisor reports on stdlib :mod:`logging`, shaped like OTP's.

* ``trio_otp.gen_server`` and ``trio_otp.task``: crash reports, level ERROR, for
  abnormal exits only (normal and shutdown exits are silent, as in OTP). They are
  printed by default, through logging's last-resort handler if you configure none.
* ``trio_otp.supervisor``: supervisor reports. What an operator must see is logged
  at ERROR (a supervisor that gave up: ``caused shutdown``; a child that failed to
  start during a restart: ``start error``) or WARNING (a child killed because its
  ``shutdown`` budget ran out: ``shut down abnormally``). Routine progress (a child
  ``started``, a child ``terminated`` that is then restarted) is logged at INFO,
  which Python's default configuration (WARNING) keeps quiet, as OTP keeps its SASL
  progress reports off. Switch them on with standard logging configuration, e.g.
  ``logging.getLogger("trio_otp.supervisor").setLevel(logging.INFO)`` plus a
  handler. The OTP severity is in the record's ``otp_severity`` attribute.

Reports never dump unbounded terms: a GenServer's state (as its ``format_status``
returns it) and its last message are printed with at most :data:`MAX_ITEMS` items
per container, :data:`MAX_DEPTH` levels deep, and :data:`MAX_CHARS` characters in
all (OTP's ``error_logger_format_depth`` and ``max_size``). Formatting never raises:
a term whose ``repr`` (or an exception whose ``str``) fails is printed as a fixed
description instead.

Every record carries ``extra`` attributes prefixed ``otp_`` for structured handlers
(structlog, JSON formatters, filters): always ``otp_event`` (what happened, one of the
``EVENT_*`` names below), ``otp_pid`` and ``otp_reason`` (``None`` where they do not
apply), and for supervisor reports ``otp_supervisor``, ``otp_child_id`` and
``otp_severity``. The library never configures handlers.
"""

from __future__ import annotations

import functools
import inspect
import logging
import reprlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from ._reasons import safe_str

if TYPE_CHECKING:
    from ._process import Pid

gen_server_logger = logging.getLogger("trio_otp.gen_server")
task_logger = logging.getLogger("trio_otp.task")
supervisor_logger = logging.getLogger("trio_otp.supervisor")


def _inline_view(logger: logging.Logger) -> Any:
    return logger if type(logger).isEnabledFor is logging.Logger.isEnabledFor else None


#: The task and supervisor loggers for the restart path's level test in one step: a
#: restarted job (W6) pays no call to learn that its reports are off. In CPython's
#: logging, ``logger.isEnabledFor(level)`` is ``not logger.disabled and
#: logger._cache[level]`` once that level has been asked for; the hot paths read
#: that, and take ``isEnabledFor`` on any miss (a level not cached yet, a logging
#: without ``_cache``, a logger class with its own ``isEnabledFor``: the view is
#: then ``None``)::
#:
#:     try:
#:         loud = not TASK_VIEW.disabled and TASK_VIEW._cache[logging.ERROR]
#:     except (AttributeError, KeyError):
#:         loud = task_logger.isEnabledFor(logging.ERROR)
TASK_VIEW: Final[Any] = _inline_view(task_logger)
SUPERVISOR_VIEW: Final[Any] = _inline_view(supervisor_logger)

# The ``otp_event`` of each kind of record (a table in docs/logging_testing.rst). The
# supervisor ones are OTP's ``errorContext`` names where OTP has one.
EVENT_GEN_SERVER_CRASH: Final = "gen_server_terminating"
EVENT_UNEXPECTED_MESSAGE: Final = "unexpected_message"
EVENT_TASK_CRASH: Final = "task_terminating"
EVENT_CHILD_STARTED: Final = "child_started"
EVENT_CHILD_TERMINATED: Final = "child_terminated"
EVENT_START_ERROR: Final = "start_error"
EVENT_SHUTDOWN_ERROR: Final = "shutdown_error"
EVENT_GAVE_UP: Final = "reached_max_restart_intensity"
EVENT_APP_START_FAILED: Final = "application_start_failed"
EVENT_APP_STOPPING: Final = "application_stopping"
EVENT_APP_FORCED: Final = "application_forced_stop"
EVENT_APP_CRASHED: Final = "application_crashed"
EVENT_APP_STOPPED: Final = "application_stopped"
EVENT_JOB_HOOK_FAILED: Final = "job_event_hook_failed"
EVENT_EXIT_DURING_SHUTDOWN: Final = "exit_during_shutdown"

_SUPERVISOR_EVENTS: Final = {
    "started": EVENT_CHILD_STARTED,
    "terminated": EVENT_CHILD_TERMINATED,
    "start error": EVENT_START_ERROR,
    "shut down abnormally": EVENT_SHUTDOWN_ERROR,
    "caused shutdown": EVENT_GAVE_UP,
}


def user_class(pid: Pid) -> str | None:
    """The name of the user's class a process runs (a GenServer subclass), if any.

    For a Task, the user's function it runs. ``None`` for trio_otp's own processes
    (supervisors, registries, the job queue's servers and tasks): reports then name
    them by their kind.
    """
    impl = pid._impl
    while isinstance(impl, functools.partial):
        impl = impl.func
    if inspect.isfunction(impl) or inspect.ismethod(impl):
        # A Task runs a function: name it by the user's function.
        owner: Any = impl
    else:
        owner = type(impl)
        if not hasattr(owner, "process_kind"):
            return None
    module = getattr(owner, "__module__", None) or ""
    if module == "trio_otp" or module.startswith("trio_otp."):
        return None
    name = str(getattr(owner, "__qualname__", None) or short_repr(owner))
    return name.rsplit("<locals>.", 1)[-1]  # a nested function by its own name


def label(pid: Pid | None) -> str:
    """How reports name a process: its registered name, else its class and handle."""
    if pid is None:
        return "<no process>"
    name = pid._name
    if name is None:
        cls = user_class(pid)
        return repr(pid) if cls is None else f"{cls} {pid!r}"
    if isinstance(name, type):
        return name.__qualname__
    return str(name) if isinstance(name, str) else repr(name)


#: Mapping keys whose values reports mask by default (as error trackers do): a key
#: is secret when its name, lower-cased with ``-`` read as ``_``, contains one of
#: these. Extend the list with :func:`add_secret_keys`.
DEFAULT_SECRET_KEYS: Final = (
    "password",
    "passwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "authorization",
    "cookie",
    "credential",
    "private_key",
)
#: What a masked value is printed as.
MASK: Final = "[masked]"

_secret_keys: tuple[str, ...] = DEFAULT_SECRET_KEYS
_secret_cache: dict[str, bool] = {}


def add_secret_keys(*names: str) -> None:
    """Mask the values of mapping keys named like ``names`` too, in every report.

    Each name matches a key that contains it, ignoring case (``"pin"`` masks
    ``"user_pin"`` and ``"PIN"``). The defaults are :data:`DEFAULT_SECRET_KEYS`.

    Raises:
        TypeError: a name is not a non-empty ``str``.
    """
    global _secret_keys
    given: tuple[object, ...] = names  # typed str, but called from anywhere
    for name in given:
        if not (isinstance(name, str) and name):
            raise TypeError(f"add_secret_keys takes non-empty str names, got {name!r}")
    _secret_keys = (*_secret_keys, *(n.lower().replace("-", "_") for n in names))
    _secret_cache.clear()


def secret_keys() -> tuple[str, ...]:
    """The key names whose values reports mask (:data:`DEFAULT_SECRET_KEYS` and added)."""
    return _secret_keys


def is_secret_key(key: object) -> bool:
    """Whether reports mask the value of mapping key ``key`` (see :func:`add_secret_keys`)."""
    if isinstance(key, bytes):
        key = key.decode("latin-1")
    if not isinstance(key, str):
        return False
    found = _secret_cache.get(key)
    if found is None:
        if len(_secret_cache) > 4096:  # nothing grows without bound
            _secret_cache.clear()
        folded = key.lower().replace("-", "_")
        found = _secret_cache[key] = any(name in folded for name in _secret_keys)
    return found


class _MaskingRepr(reprlib.Repr):
    """:class:`reprlib.Repr` that masks the values of secret keys in every mapping."""

    def repr1(self, x: Any, level: int) -> str:
        if isinstance(x, Mapping) and type(x) is not dict:
            return self._mapping(x, level, f"{type(x).__name__}({{", "})")
        return super().repr1(x, level)

    def repr_dict(self, x: Any, level: int) -> str:
        return self._mapping(x, level, "{", "}")

    def _mapping(self, x: Mapping[Any, Any], level: int, opening: str, closing: str) -> str:
        if not x:
            return opening + closing
        if level <= 0:
            return opening + "..." + closing
        try:
            keys: list[Any] = sorted(x)
        except Exception:
            keys = list(x)
        pieces = []
        for key in keys[: self.maxdict]:
            shown = MASK if is_secret_key(key) else self.repr1(x[key], level - 1)
            pieces.append(f"{self.repr1(key, level - 1)}: {shown}")
        if len(keys) > self.maxdict:
            pieces.append("...")
        return opening + ", ".join(pieces) + closing


_short = _MaskingRepr()
_short.maxstring = _short.maxother = 80
_short.maxlist = _short.maxtuple = _short.maxdict = _short.maxset = 8


def short_repr(value: object) -> str:
    """A repr bounded in length, secrets masked, for report lines (OTP truncates terms too)."""
    try:
        return _short.repr(value)
    except Exception:
        return f"<{type(value).__qualname__} object (repr() failed)>"


#: Items shown per container (list, dict, ...) of a state or message in a report.
MAX_ITEMS: Final = 20
#: Nesting levels shown of a state or message in a report.
MAX_DEPTH: Final = 4
#: Characters at most of a state, a message or an exception's text in a report.
MAX_CHARS: Final = 2000

_term = _MaskingRepr()
_term.maxlevel = MAX_DEPTH
_term.maxstring = _term.maxother = 200
_term.maxlist = _term.maxtuple = _term.maxdict = _term.maxset = MAX_ITEMS
_term.maxfrozenset = _term.maxdeque = _term.maxarray = MAX_ITEMS


def cut(text: str, limit: int = MAX_CHARS) -> str:
    """``text`` cut to ``limit`` characters, saying how many more there were."""
    if len(text) > limit:
        return f"{text[:limit]}... ({len(text) - limit} more characters)"
    return text


def term_repr(value: object) -> str:
    """A state or message as reports print it: bounded, secrets masked, never raising."""
    try:
        text = _term.repr(value)
    except Exception:
        return f"<{type(value).__qualname__} object (repr() failed)>"
    return cut(text)


def _function_name(fn: object) -> str:
    # Stable across runs: no memory address.
    name = getattr(fn, "__qualname__", None)
    module = getattr(fn, "__module__", None)
    if name is None:
        return short_repr(fn)
    return f"{module}.{name}" if module else name


def _alone(reason: object) -> tuple[object, int]:
    """The exception a group of one (of one, ...) holds, and how many groups wrapped it.

    A crash inside a nursery reaches its process wrapped in an exception group of
    one: reports name the real exception and note the group.
    """
    depth = 0
    while isinstance(reason, BaseExceptionGroup) and len(reason.exceptions) == 1:
        reason = reason.exceptions[0]
        depth += 1
    return reason, depth


def _reason_line(reason: object) -> str:
    if isinstance(reason, BaseException):
        inner, depth = _alone(reason)
        if depth:
            assert isinstance(inner, BaseException)
            note = f" (raised in {type(reason).__name__}" + (
                " of one)" if depth == 1 else f" of one, {depth} deep)"
            )
            return f"** ({type(inner).__name__}) {cut(safe_str(inner))}{note}"
        return f"** ({type(reason).__name__}) {cut(safe_str(reason))}"
    return f"** (stop) {term_repr(reason)}"


def _exc_info(reason: object) -> BaseException | None:
    # A group of one: the traceback of the exception it holds (the frames that raised
    # it); a text longer than the cut: cut in the traceback too (bounded_exception).
    inner = _alone(reason)[0]
    return bounded_exception(inner) if isinstance(inner, BaseException) else None


def _reason_field(reason: object) -> object:
    # otp_reason: an exception as it is (bounded when formatted: see BoundedTraceback),
    # any other reason as its bounded text.
    if reason is None or (
        isinstance(reason, (BaseException, str))
        and not (isinstance(reason, str) and len(reason) > MAX_CHARS)
    ):
        return reason
    return term_repr(reason)


_stand_in_classes: dict[type, type] = {}


def bounded_exception(exc: BaseException, depth: int = 0) -> BaseException:
    """``exc``, or a stand-in whose text is cut at :data:`MAX_CHARS`, for ``exc_info``.

    A handler formats a report's traceback itself (its :class:`logging.Formatter`),
    and the traceback's last line is the exception's text: left alone, a 100,000
    character message would be printed in full after the report's own cut reason
    line. When the text (or that of its cause or context) is longer than the cut,
    the report's ``exc_info`` is a stand-in instead: an instance of a subclass of
    the exception's class with the same name and module, the same traceback, cause
    and context, whose ``str`` is the cut text. Any other exception is given as it is.
    """
    text = safe_str(exc)
    cause, context = exc.__cause__, exc.__context__
    if depth < 8:  # the chain, bounded too (not forever: chains can loop)
        cause = None if cause is None else bounded_exception(cause, depth + 1)
        context = None if context is None else bounded_exception(context, depth + 1)
    if len(text) <= MAX_CHARS and cause is exc.__cause__ and context is exc.__context__:
        return exc
    cls = type(exc)
    try:
        stand_in_cls = _stand_in_classes.get(cls)
        if stand_in_cls is None:
            if len(_stand_in_classes) > 256:  # nothing grows without bound
                _stand_in_classes.clear()
            stand_in_cls = _stand_in_classes[cls] = type(
                cls.__name__,
                (cls,),
                {
                    "__module__": cls.__module__,
                    "__qualname__": cls.__qualname__,
                    "__str__": lambda self: self._otp_text,
                    "__repr__": lambda self: f"{cls.__qualname__}({self._otp_text!r})",
                },
            )
        stand_in: Any = BaseException.__new__(stand_in_cls)
        stand_in.args = (cut(text),)
        stand_in._otp_text = cut(text)
        stand_in.__traceback__ = exc.__traceback__
        stand_in.__cause__ = cause
        stand_in.__context__ = context
        stand_in.__suppress_context__ = exc.__suppress_context__
        return stand_in  # type: ignore[no-any-return]
    except Exception:  # a class that cannot be subclassed: as it is
        return exc


def gen_server_crash(
    pid: Pid,
    reason: object,
    last_message: object,
    state: object,
    client: str | None,
) -> None:
    """OTP's ``GenServer X terminating`` report.

    ``reason``, ``last_message`` and ``state`` are as ``format_report`` returned them:
    a reason it replaced by a non-exception prints no traceback.
    """
    message = term_repr(last_message)
    if client is None:
        last = "Last message: %s"
        args: tuple[Any, ...] = (message,)
    else:
        last = "Last message (from %s): %s"
        args = (client, message)
    shown = term_repr(state)
    gen_server_logger.error(
        "%s %s terminating\n%s\n" + last + "\nState: %s",
        pid._kind,
        label(pid),
        _reason_line(reason),
        *args,
        shown,
        exc_info=_exc_info(reason),
        extra={
            "otp_event": EVENT_GEN_SERVER_CRASH,
            "otp_pid": pid,
            "otp_reason": _reason_field(reason),
            "otp_state": shown,
            "otp_message": message,
        },
    )


def task_crash(pid: Pid, reason: object, fn: object, args: tuple[Any, ...]) -> None:
    """OTP's ``Task X started from P terminating`` report."""
    if not task_logger.isEnabledFor(logging.ERROR):  # build nothing for nobody
        return
    task_logger.error(
        "Task %r started from %s terminating\n%s\nFunction: %s\n    Args: %s",
        pid,
        label(pid._parent),
        _reason_line(reason),
        _function_name(fn),
        short_repr(list(args)),
        exc_info=_exc_info(reason),
        extra={"otp_event": EVENT_TASK_CRASH, "otp_pid": pid, "otp_reason": _reason_field(reason)},
    )


def exit_during_shutdown(pid: Pid, reason: object) -> None:
    """One INFO line: a process raised while its supervisor was shutting it down.

    Not a crash report (see :func:`~trio_otp._server._child.during_shutdown`): an
    orderly stop of many connections must not log an ERROR per connection.
    """
    logger = task_logger if pid._kind == "Task" else gen_server_logger
    if not logger.isEnabledFor(logging.INFO):
        return
    inner = _alone(reason)[0]
    logger.info(
        "%s %s exited with %s while its supervisor shut down",
        pid._kind,
        label(pid),
        short_repr(inner),
        extra={
            "otp_event": EVENT_EXIT_DURING_SHUTDOWN,
            "otp_pid": pid,
            "otp_reason": _reason_field(reason),
        },
    )


def unexpected_message(pid: Pid, kind: str, message: object) -> None:
    """The default ``handle_info``'s report of a message nobody expected (bounded)."""
    shown = term_repr(message)
    gen_server_logger.error(
        "%s %s received unexpected message in handle_info: %s",
        kind,
        label(pid),
        shown,
        extra={
            "otp_event": EVENT_UNEXPECTED_MESSAGE,
            "otp_pid": pid,
            "otp_reason": None,
            "otp_message": shown,
        },
    )


def supervisor_report(
    what: str,
    supervisor: Pid,
    child_id: object,
    child: object,
    reason: object,
    start_call: str,
    restart: str,
    shutdown: str,
    child_type: str,
    *,
    severity: str,
    level: int = logging.INFO,
) -> None:
    """OTP's SASL supervisor report: ``Child X of Supervisor S <what>``.

    ``what`` is ``terminated``, ``started``, ``caused shutdown`` or ``shut down
    abnormally`` or ``start error``, logged at ``level`` (see module docs); callers
    check ``supervisor_logger.isEnabledFor(level)`` before building the arguments.
    """
    cid = child_id.__qualname__ if isinstance(child_id, type) else short_repr(child_id)
    extra = {
        "otp_event": _SUPERVISOR_EVENTS[what],
        "otp_pid": child,
        "otp_severity": severity,
        "otp_supervisor": supervisor,
        "otp_child_id": child_id,
        "otp_reason": _reason_field(reason),
    }
    if what == "started":
        # Routine progress: one short line per start (OTP's SASL progress report
        # is one term too); the start call and the rest are for reports that matter.
        supervisor_logger.log(
            level,
            "Child %s of Supervisor %s started: %s",
            cid,
            label(supervisor),
            label(child) if child is not None else "<not running>",  # type: ignore[arg-type]
            extra=extra,
        )
        return
    supervisor_logger.log(
        level,
        "Child %s of Supervisor %s %s\n%s\nPid: %r\nStart Call: %s\nRestart: %s\n"
        "Shutdown: %s\nType: %s",
        cid,
        label(supervisor),
        what,
        _reason_line(reason),
        child,
        start_call,
        restart,
        shutdown,
        child_type,
        exc_info=_exc_info(reason),
        extra=extra,
    )


def stream_job_crash(owner: Pid | None, reason: object, fn: object, item: object) -> None:
    """The report of an :func:`~trio_otp.async_stream` job that raised and is not a
    process (the default): ``async_stream job started from P terminating``."""
    if not task_logger.isEnabledFor(logging.ERROR):
        return
    task_logger.error(
        "async_stream job started from %s terminating\n%s\nFunction: %s\n    Args: %s",
        label(owner),
        _reason_line(reason),
        _function_name(fn),
        short_repr([item]),
        exc_info=_exc_info(reason),
        extra={"otp_event": EVENT_TASK_CRASH, "otp_pid": None, "otp_reason": _reason_field(reason)},
    )
