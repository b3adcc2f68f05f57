"""A GenServer's kill switch: a cancel scope only for callbacks that may suspend.

See _KILL_SWITCH_NOTE below; ``_gen_server._serve`` uses these helpers, and
``Pid._pull`` (trio_otp/_core/_process.py) is the other half: the kill of a server
that has no scope.
"""

from __future__ import annotations

import dis
import inspect
import types
from typing import Final

import trio
from trio.lowlevel import cancel_shielded_checkpoint

from .._core._process import PULLED, Killed, Pid
from ._child import _Child

# _KILL_SWITCH_NOTE: a server's kill switch. A cancel scope per server cost ~41k
# instructions over its life (enter 23.9k, exit 17.5k; cachegrind, issue 22) and
# ~1 KB per idle server, yet only a callback that awaits can be interrupted by one:
# the server's own waits are its park, which an exit signal ends by rescheduling it
# with Killed (Pid._pull), and its checkpoint every _BURST messages. So a server
# enters its scope (switch_on) before the first callback that may suspend, and
# keeps it to the end; a server whose callbacks cannot suspend never has one. A
# callback "cannot suspend" when its class's function is an ``async def`` with no
# await, ``async for`` or ``async with`` in its own code (_can_suspend): such a
# coroutine runs to its end in one step, so no kill could stop it midway even in a
# cancelled scope. A kill while such a server runs (it is not parked) marks it
# (PULLED, and PULL_MARK queued behind its messages, so that the loop itself tests
# nothing per message): it dies at its next schedule point, or enters its scope
# already cancelled, as a cancelled scope would have it: the same points, the same
# reasons. The loop's per-message test of the verdict is ``if unscoped and ...``:
# ``unscoped`` is 0 for most servers, and an int's truth is cheaper than its ``&``.
# The verdict is the class's, taken when the class is made (GenServer's
# __init_subclass__), with the functions it judged; a server checks at its start
# that its class still has those and that the instance overrides none of them
# (server_verdict): if one was replaced since, every callback counts as one that may
# suspend. A callback replaced on the class while a server runs is seen by the
# servers started after, not by that one.

#: Bits of ``GenServer._trio_otp_suspends``.
_INIT: Final = 1
_CALL: Final = 2
_CAST: Final = 4
_INFO: Final = 8
_CONTINUE: Final = 16
_TERMINATE: Final = 32
_SUSPENDS_BIT: Final = {
    "init": _INIT,
    "handle_call": _CALL,
    "handle_cast": _CAST,
    "handle_info": _INFO,
    "handle_continue": _CONTINUE,
    "terminate": _TERMINATE,
}

#: Byte code that can hand control back to the event loop from a coroutine's frame.
_SUSPENDING_OPS: Final = frozenset(
    dis.opmap[name]
    for name in (
        "GET_AWAITABLE",
        "SEND",
        "YIELD_VALUE",
        "YIELD_FROM",
        "GET_YIELD_FROM_ITER",
        "GET_AITER",
        "GET_ANEXT",
        "BEFORE_ASYNC_WITH",
        "END_ASYNC_FOR",
        "ASYNC_GEN_WRAP",
        "CLEANUP_THROW",
    )
    if name in dis.opmap
)


def _can_suspend(fn: object) -> bool:
    """Whether calling and awaiting ``fn`` may suspend (anything but a plain
    ``async def`` whose own code never awaits may)."""
    if type(fn) is not types.FunctionType or not fn.__code__.co_flags & inspect.CO_COROUTINE:
        return True
    return any(ins.opcode in _SUSPENDING_OPS for ins in dis.get_instructions(fn.__code__))


#: Every bit: each callback may suspend.
_ALL: Final = sum(_SUSPENDS_BIT.values())


def judge_class(cls: type) -> None:
    """Set ``cls._trio_otp_suspends`` (the bits of its callbacks that may suspend)
    and ``cls._trio_otp_judged`` (the functions judged)."""
    bits = 0
    judged = []
    for callback, bit in _SUSPENDS_BIT.items():
        fn = getattr(cls, callback)
        judged.append((callback, fn))
        if _can_suspend(fn):
            bits |= bit
    cls._trio_otp_suspends = bits  # type: ignore[attr-defined]
    cls._trio_otp_judged = tuple(judged)  # type: ignore[attr-defined]


def server_verdict(server: object) -> int:
    """The callbacks of ``server`` that may suspend (bits): its class's verdict,
    unless a callback was replaced since it was judged, on the class or on the
    instance: then all of them."""
    cls = type(server)
    for callback, fn in cls._trio_otp_judged:  # type: ignore[attr-defined]
        # Through the instance (a bound method of the judged function, unless the
        # class or the instance has another now); not through ``server.__dict__``,
        # which would turn the instance's inline attribute values into a dict.
        if getattr(getattr(server, callback), "__func__", None) is not fn:
            return _ALL
    return cls._trio_otp_suspends  # type: ignore[attr-defined,no-any-return]


def switch_on(pid: Pid, child: _Child | None) -> trio.CancelScope:
    """Enter the server's kill scope (_KILL_SWITCH_NOTE); ``_serve`` exits it."""
    scope = trio.CancelScope()
    scope.__enter__()
    if pid._switch is PULLED or (child is not None and child.doomed):
        scope.cancel()  # killed while it ran: the callback runs cancelled
    pid._switch = scope
    if child is not None:
        child.scope = scope
    return scope


async def die() -> None:
    """Die of a kill that came while the server ran: at a schedule point, as a
    cancelled scope makes its next wait raise."""
    await cancel_shielded_checkpoint()
    raise Killed
