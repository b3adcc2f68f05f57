"""Crash and supervisor reports on stdlib :mod:`logging`, shaped like OTP's.

* ``trio_otp.gen_server`` and ``trio_otp.task``: crash reports, level ERROR, for
  abnormal exits only (normal and shutdown exits are silent, as in OTP). They are
  printed by default, through logging's last-resort handler if you configure none.
* ``trio_otp.supervisor``: supervisor reports (child terminated, started, caused
  shutdown, shut down abnormally). OTP keeps these off unless SASL reports are
  switched on; here they are logged at level INFO, which Python's default
  configuration (WARNING) also keeps quiet. Switch them on with standard logging
  configuration, e.g. ``logging.getLogger("trio_otp.supervisor").setLevel(logging.INFO)``
  plus a handler, or ``logging.basicConfig(level=logging.INFO)``. The OTP severity is
  in the record's ``otp_severity`` attribute.

Every record carries ``extra`` attributes prefixed ``otp_`` (``otp_pid``,
``otp_reason`` …) for structured handlers. The library never configures handlers.
"""

from __future__ import annotations

import logging
import reprlib
from typing import TYPE_CHECKING, Any

from ._reasons import format_reason

if TYPE_CHECKING:
    from ._process import Pid

gen_server_logger = logging.getLogger("trio_otp.gen_server")
task_logger = logging.getLogger("trio_otp.task")
supervisor_logger = logging.getLogger("trio_otp.supervisor")


def label(pid: Pid | None) -> str:
    """How reports name a process: its registered name, else its handle."""
    if pid is None:
        return "<no process>"
    name = pid._name
    if name is None:
        return repr(pid)
    if isinstance(name, type):
        return name.__qualname__
    return str(name) if isinstance(name, str) else repr(name)


_short = reprlib.Repr()
_short.maxstring = _short.maxother = 80
_short.maxlist = _short.maxtuple = _short.maxdict = _short.maxset = 8


def short_repr(value: object) -> str:
    """A repr bounded in length, for report lines (OTP truncates terms too)."""
    return _short.repr(value)


def _function_name(fn: object) -> str:
    # Stable across runs: no memory address.
    name = getattr(fn, "__qualname__", None)
    module = getattr(fn, "__module__", None)
    if name is None:
        return short_repr(fn)
    return f"{module}.{name}" if module else name


def _reason_line(reason: object) -> str:
    if isinstance(reason, BaseException):
        return f"** ({type(reason).__name__}) {reason}"
    return f"** (stop) {format_reason(reason)}"


def _exc_info(reason: object) -> BaseException | None:
    return reason if isinstance(reason, BaseException) else None


def gen_server_crash(
    pid: Pid, reason: object, last_message: object, state: object, client: str | None
) -> None:
    """OTP's ``GenServer X terminating`` report."""
    if client is None:
        last = "Last message: %r"
        args: tuple[Any, ...] = (last_message,)
    else:
        last = "Last message (from %s): %r"
        args = (client, last_message)
    gen_server_logger.error(
        "%s %s terminating\n%s\n" + last + "\nState: %r",
        pid._kind,
        label(pid),
        _reason_line(reason),
        *args,
        state,
        exc_info=_exc_info(reason),
        extra={"otp_pid": pid, "otp_reason": reason, "otp_state": state},
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
        extra={"otp_pid": pid, "otp_reason": reason},
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
) -> None:
    """OTP's SASL supervisor report: ``Child X of Supervisor S <what>``.

    ``what`` is ``terminated``, ``started``, ``caused shutdown`` or ``shut down
    abnormally``. Logged at INFO so that it is off by default (see module docs);
    callers check ``supervisor_logger.isEnabledFor(logging.INFO)`` before building
    the arguments.
    """
    cid = child_id.__qualname__ if isinstance(child_id, type) else repr(child_id)
    reason_part = "" if what == "started" else _reason_line(reason) + "\n"
    supervisor_logger.info(
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
            "otp_severity": severity,
            "otp_supervisor": supervisor,
            "otp_child_id": child_id,
            "otp_reason": reason,
        },
    )
