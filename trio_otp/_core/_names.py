"""The name registry: one per running program (per ``trio.run``), never a global.

Names are a convenience on top of handles, as in OTP: a process registers at start
(``name=``), :func:`whereis` finds it, and the name is freed the moment the process
exits, so a restarted successor can take it again. Any hashable value can be a name;
the Elixir chapter's habit of naming a process after its class (``name=JobQueue``) works.
"""

from __future__ import annotations

from ._exceptions import AlreadyStartedError
from ._process import Pid, _names, misuse_error, name_table
from ._runlocal import RUN


class _SelfResolvingName:
    """Base of names held elsewhere than this table: a Registry's ``via`` names."""

    __slots__ = ()

    def _whereis(self) -> Pid | None:
        raise NotImplementedError

    def _register(self, pid: Pid) -> None:
        raise NotImplementedError


def whereis(name: object) -> Pid | None:
    """Return the handle registered under ``name``, or ``None``.

    Must be called inside ``trio.run``: each run has its own registry.

    Raises:
        TypeError: ``name`` is not hashable (so it cannot be a name).
        RuntimeError: called outside ``trio.run``.
    """
    try:
        table: dict[object, Pid]
        try:
            table = RUN.runner._locals[_names]  # _names.get() in one step
        except (AttributeError, KeyError):
            table = _names.get()
        pid = table.get(name)
    except LookupError:
        # No name registered yet in this run: still refuse what could never be one.
        check_name(name)
        pid = None
    except TypeError:
        check_name(name)
        raise
    except RuntimeError:
        raise misuse_error("whereis") from None
    if pid is None and isinstance(name, _SelfResolvingName):
        return name._whereis()  # only a miss pays for this check
    return pid


def registered() -> dict[object, Pid]:
    """Return a snapshot of every registered name and its handle.

    Raises:
        RuntimeError: called outside ``trio.run`` (names belong to a run).
    """
    try:
        return dict(_names.get())
    except LookupError:
        return {}
    except RuntimeError:
        raise misuse_error("registered") from None


def check_name(name: object) -> None:
    """Refuse a name that is not hashable, with a message that says what to use."""
    try:
        hash(name)
    except TypeError:
        raise TypeError(
            f"a process name must be hashable (a str, a class, a tuple…), got "
            f"{type(name).__name__} {name!r}: use a str or a tuple instead"
        ) from None


def _register(name: object, pid: Pid) -> None:
    if isinstance(name, _SelfResolvingName):
        name._register(pid)
        return
    check_name(name)
    table = name_table()
    holder = table.get(name)
    if holder is not None:
        raise AlreadyStartedError(name, holder)
    table[name] = pid
