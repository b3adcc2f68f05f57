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


_short = reprlib.Repr()
_short.maxstring = _short.maxother = 80
_short.maxlist = _short.maxtuple = _short.maxdict = _short.maxset = 8


def short_repr(value: object) -> str:
    """A repr bounded in length, for report lines (OTP truncates terms too)."""
    try:
        return _short.repr(value)
    except Exception:
        return f"<{type(value).__qualname__} object (repr() failed)>"


#: Items shown per container (list, dict, ...) of a state or message in a report.
MAX_ITEMS: Final = 20
#: Nesting levels shown of a state or message in a report.
MAX_DEPTH: Final = 4
#: Characters at most of a state or message in a report (the rest is cut).
MAX_CHARS: Final = 2000

_term = reprlib.Repr()
_term.maxlevel = MAX_DEPTH
_term.maxstring = _term.maxother = 200
_term.maxlist = _term.maxtuple = _term.maxdict = _term.maxset = MAX_ITEMS
_term.maxfrozenset = _term.maxdeque = _term.maxarray = MAX_ITEMS


def term_repr(value: object) -> str:
    """A state or message as reports print it: bounded, and never raising."""
    try:
        text = _term.repr(value)
    except Exception:
        return f"<{type(value).__qualname__} object (repr() failed)>"
    if len(text) > MAX_CHARS:
        return f"{text[:MAX_CHARS]}... ({len(text) - MAX_CHARS} more characters)"
    return text


def _function_name(fn: object) -> str:
    # Stable across runs: no memory address.
    name = getattr(fn, "__qualname__", None)
    module = getattr(fn, "__module__", None)
    if name is None:
        return short_repr(fn)
    return f"{module}.{name}" if module else name


def _reason_line(reason: object) -> str:
    if isinstance(reason, BaseException):
        text = safe_str(reason)
        if len(text) > MAX_CHARS:
            text = f"{text[:MAX_CHARS]}... ({len(text) - MAX_CHARS} more characters)"
        return f"** ({type(reason).__name__}) {text}"
    return f"** (stop) {term_repr(reason)}"


def _exc_info(reason: object) -> BaseException | None:
    return reason if isinstance(reason, BaseException) else None


def gen_server_crash(
    pid: Pid, reason: object, last_message: object, state: object, client: str | None
) -> None:
    """OTP's ``GenServer X terminating`` report."""
    if client is None:
        last = "Last message: %s"
        args: tuple[Any, ...] = (term_repr(last_message),)
    else:
        last = "Last message (from %s): %s"
        args = (client, term_repr(last_message))
    gen_server_logger.error(
        "%s %s terminating\n%s\n" + last + "\nState: %s",
        pid._kind,
        label(pid),
        _reason_line(reason),
        *args,
        term_repr(state),
        exc_info=_exc_info(reason),
        extra={
            "otp_event": EVENT_GEN_SERVER_CRASH,
            "otp_pid": pid,
            "otp_reason": reason,
            "otp_state": state,
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
        extra={"otp_event": EVENT_TASK_CRASH, "otp_pid": pid, "otp_reason": reason},
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
            "otp_reason": reason,
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
        extra={"otp_event": EVENT_TASK_CRASH, "otp_pid": None, "otp_reason": reason},
    )
