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

import logging
import reprlib
import traceback
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from ._reasons import safe_str

if TYPE_CHECKING:
    from ._process import Pid

gen_server_logger = logging.getLogger("trio_otp.gen_server")
task_logger = logging.getLogger("trio_otp.task")
supervisor_logger = logging.getLogger("trio_otp.supervisor")

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

_SUPERVISOR_EVENTS: Final = {
    "started": EVENT_CHILD_STARTED,
    "terminated": EVENT_CHILD_TERMINATED,
    "start error": EVENT_START_ERROR,
    "shut down abnormally": EVENT_SHUTDOWN_ERROR,
    "caused shutdown": EVENT_GAVE_UP,
}


def user_class(pid: Pid) -> str | None:
    """The name of the user's class a process runs (a GenServer subclass), if any.

    ``None`` for trio_otp's own processes (supervisors, registries, the job queue's
    servers) and for those without a class (a Task runs a function): reports then
    name them by their kind.
    """
    cls = type(pid._impl)
    module = getattr(cls, "__module__", "")
    if module == "trio_otp" or module.startswith("trio_otp.") or not hasattr(cls, "process_kind"):
        return None
    return str(cls.__qualname__)


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
#: Characters at most of a report's traceback (its start and its end are kept).
MAX_TRACEBACK_CHARS: Final = 8000

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
    # A group of one: the traceback of the exception it holds (the frames that raised it).
    inner = _alone(reason)[0]
    return inner if isinstance(inner, BaseException) else None


def _reason_field(reason: object) -> object:
    # otp_reason: an exception as it is (bounded when formatted: see BoundedTraceback),
    # any other reason as its bounded text.
    if reason is None or (
        isinstance(reason, (BaseException, str))
        and not (isinstance(reason, str) and len(reason) > MAX_CHARS)
    ):
        return reason
    return term_repr(reason)


def bounded_traceback(exc: BaseException) -> str:
    """``exc``'s traceback as reports print it: each piece (a frame, the exception's
    own line) cut at :data:`MAX_CHARS`, the whole at :data:`MAX_TRACEBACK_CHARS`
    (its start and its end kept). Never raises."""
    try:
        pieces = traceback.TracebackException.from_exception(exc).format()
        text = "".join(cut(piece) for piece in pieces).rstrip("\n")
    except Exception:
        return f"<the traceback of {type(exc).__qualname__} could not be formatted>"
    if len(text) > MAX_TRACEBACK_CHARS:
        head = MAX_TRACEBACK_CHARS // 4
        tail = MAX_TRACEBACK_CHARS - head
        left = len(text) - head - tail
        text = f"{text[:head]}\n... ({left} characters cut) ...\n{text[-tail:]}"
    return text


class _BoundTracebacks(logging.Filter):
    """On trio_otp's loggers: a report's traceback is formatted bounded.

    A handler's :class:`logging.Formatter` formats ``exc_info`` only when
    ``exc_text`` is unset; this sets it first, so the exception's text is cut as
    the report's own reason line is (``exc_info`` stays, for handlers that read it).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        info = record.exc_info
        if info and info[1] is not None and not record.exc_text:
            record.exc_text = bounded_traceback(info[1])
        return True


_bounding = _BoundTracebacks()


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
    reason_part = "" if what == "started" else _reason_line(reason) + "\n"
    supervisor_logger.log(
        level,
        "Child %s of Supervisor %s %s\n%sPid: %r\nStart Call: %s\nRestart: %s\n"
        "Shutdown: %s\nType: %s",
        cid,
        label(supervisor),
        what,
        reason_part,
        child,
        start_call,
        restart,
        shutdown,
        child_type,
        exc_info=_exc_info(reason) if what != "started" else None,
        extra={
            "otp_event": _SUPERVISOR_EVENTS[what],
            "otp_pid": child,
            "otp_severity": severity,
            "otp_supervisor": supervisor,
            "otp_child_id": child_id,
            "otp_reason": _reason_field(reason),
        },
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


def bounded_logger(name: str) -> logging.Logger:
    """``logging.getLogger(name)`` with the filter that bounds its reports' tracebacks."""
    logger = logging.getLogger(name)
    if _bounding not in logger.filters:
        logger.addFilter(_bounding)
    return logger


for _logger in (gen_server_logger, task_logger, supervisor_logger):
    _logger.addFilter(_bounding)
