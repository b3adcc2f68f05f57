"""The messages the runtime sends to processes.

OTP delivers the news about other processes as ordinary messages: ``{:DOWN, ref,
:process, pid, reason}`` from a monitor, ``{:EXIT, pid, reason}`` to a process that
traps exits, ``{ref, result}`` from a task started with ``async_nolink``, and the
atom ``:timeout`` from a GenServer timeout. Here they are immutable records (and one
string): a GenServer gets them in ``handle_info``, a mailbox block from ``receive``.
Match them with ``match``/``case``::

    match message:
        case otp.Down(ref=ref, reason=reason): ...
        case otp.Exit(pid=pid, reason=reason): ...
        case otp.TaskReply(ref=ref, result=result): ...
        case otp.TIMEOUT: ...

The records are :class:`typing.NamedTuple` classes: fields by name (and by position),
a ``Down(ref=..., pid=..., reason=...)`` repr, hashable, and equal only to a record of
the same class with equal fields (never to a plain tuple, nor ``Exit`` to ``Down``).
The runtime sends a message per monitor, exit signal and task reply, and builds each
with ``tuple.__new__``: about 1,300 instructions, against 5,000 for a frozen attrs
class (issue 22).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final, NamedTuple

from ._refs import Ref

if TYPE_CHECKING:
    from ._process import Pid

#: "No result yet" in an :class:`~trio_otp.AsyncTask` (a result may be ``None``).
NO_VALUE: Final[Any] = type("_NoValue", (), {"__repr__": lambda self: "<no value>"})()

#: The message ``handle_info`` receives when a GenServer timeout expires (OTP's
#: ``:timeout`` atom): see the ``timeout`` of :class:`~trio_otp.Reply`.
TIMEOUT: Final = "timeout"


def _same_record(self: tuple[Any, ...], other: object) -> bool:
    """``==`` of the records: the same class, equal fields (not tuple equality)."""
    return type(other) is type(self) and tuple.__eq__(self, other)


def _other_record(self: tuple[Any, ...], other: object) -> bool:
    return not _same_record(self, other)


class Down(NamedTuple):
    """A monitored process exited (OTP's ``{:DOWN, ref, :process, pid, reason}``).

    Sent exactly once per :func:`~trio_otp.monitor`, unless the monitor was removed
    first with :func:`~trio_otp.demonitor`. Also sent when a task started with
    :meth:`~trio_otp.Task.async_nolink` from a process fails.

    Attributes:
        ref: the reference :func:`~trio_otp.monitor` returned.
        pid: the process that exited (the name, when a name nobody held was
            monitored).
        reason: its exit reason; ``"noproc"`` (:data:`~trio_otp.NOPROC`) if it was
            not alive when the monitor was set up.
    """

    ref: Ref
    pid: object
    reason: object


class Exit(NamedTuple):
    """An exit signal turned into a message (OTP's ``{:EXIT, pid, reason}``).

    Only a process that traps exits receives it (see :func:`~trio_otp.trap_exit`):
    a linked process exited, or somebody called :func:`~trio_otp.exit` on it.

    Attributes:
        pid: the process the signal came from (the linked one that exited, or the
            caller of :func:`~trio_otp.exit`; ``None`` from plain trio code).
        reason: the exit reason.
    """

    pid: Pid | None
    reason: object


class TaskReply(NamedTuple):
    """The result of a task started with :meth:`~trio_otp.Task.async_nolink` from a
    process (Elixir's ``{ref, result}`` message).

    Attributes:
        ref: the task's reference (:attr:`AsyncTask.ref <trio_otp.AsyncTask.ref>`).
        result: what the task's function returned.
    """

    ref: Ref
    result: object


# Equality of a record, not of a tuple (set after the class is made: a NamedTuple's
# body takes fields only). Hashing stays the tuple's.
for _record in (Down, Exit, TaskReply):
    setattr(_record, "__eq__", _same_record)  # noqa: B010
    setattr(_record, "__ne__", _other_record)  # noqa: B010

#: Build a record without the NamedTuple ``__new__`` call: ``new_record(Down, (ref, pid,
#: reason))``, the runtime's way (the fields in order, nothing checked).
new_record: Final = tuple.__new__
