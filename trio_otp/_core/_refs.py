"""References: OTP's ``make_ref()``, what monitors return and messages carry.

A :class:`Ref` is pure data here; :mod:`._monitors` makes them (its subclass is also
the monitor's exit callback), and :mod:`._messages` records carry them back.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any, Self

if TYPE_CHECKING:
    from ._process import Pid

_ids = itertools.count(1)


class Ref:
    """A unique reference (OTP's ``make_ref()``): what :func:`~trio_otp.monitor` returns.

    Compares equal only to itself and prints as ``<Ref 0.17>``. You never construct
    one: :func:`~trio_otp.monitor` and :meth:`~trio_otp.Task.async_nolink` give it
    to you, and the :class:`Down` or :class:`TaskReply` message carries it back.
    """

    __slots__ = ("_box", "_flushed", "_id", "_target", "_watcher")

    _id: int
    # Set by demonitor(flush=True) (or AsyncTask.wait): a message carrying this
    # reference that is still queued is dropped when its process takes it.
    _flushed: bool
    _target: Pid | None
    _watcher: Pid | None
    # An async_nolink task's result box: its success is reported as a TaskReply.
    _box: Any

    def __init__(self) -> None:
        raise TypeError("Ref has no public constructor: monitor() returns one")

    @classmethod
    def _new(cls, watcher: Pid | None, target: Pid | None, box: Any = None) -> Self:
        self = object.__new__(cls)
        self._box = box
        self._id = next(_ids)
        self._flushed = False
        self._watcher = watcher
        self._target = target
        return self

    def __repr__(self) -> str:
        return f"<Ref 0.{self._id}>"
