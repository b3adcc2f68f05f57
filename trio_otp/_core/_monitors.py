"""Monitors, links and exit signals between processes.

OTP's three ways for processes to learn about each other's exits, built on the one
seam every process offers: an exit callback that runs synchronously in
the exiting process's task. No task per monitor or link, only dict entries:

* a **monitor** is one-way: the watcher gets exactly one :class:`~trio_otp.Down`
  message. It costs an entry in the target's watchers (to send the message) and one
  in the watcher's (to remove the first if the watcher exits first);
* a **link** is two-way: when either process exits, the other receives an exit
  signal with its reason;
* an **exit signal** (from a link or :func:`exit`) either becomes an
  :class:`~trio_otp.Exit` message, if the receiver traps exits, or kills it (with
  the signal's reason), unless the reason is ``"normal"``. ``"kill"`` cannot be
  trapped.

Killing a process means cancelling its kill switch (its own cancel scope, or its
supervisor's child record; a GenServer whose callbacks cannot suspend has no
scope, and is woken from its message loop with an exception only its loop
sees), after recording the reason it will exit with. That is
the only way to stop another trio task, and it keeps trio's rules: ``finally``
blocks run, and nothing outlives its nursery. Cancellation itself is never turned
into a message: a process cancelled by an enclosing scope exits with ``"killed"``,
and *that* is what its monitors and links hear about.
"""

from __future__ import annotations

import functools
from collections import deque
from typing import final

from trio.lowlevel import reschedule

from ._call import FLUSHABLE, INFO
from ._exceptions import NoProcessError
from ._messages import NO_VALUE, Down, Exit, TaskReply, new_record
from ._names import whereis
from ._process import EMPTY, UNSET, Pid, _by_task, current_process
from ._reasons import KILL, KILLED, NOPROC, NORMAL
from ._refs import Ref
from ._refs import _ids as _ref_ids
from ._runlocal import RUN

__all__ = ["Ref", "demonitor", "exit", "link", "monitor", "trap_exit", "unlink"]


@final
class _MonitorRef(Ref):
    """The references :func:`monitor` makes: each is also its monitor's exit callback.

    The exit callback a monitor registers with both of its processes is the
    reference itself, so that a monitor allocates nothing else (fewer objects for the
    cyclic GC to chase when a process monitors thousands). A subclass, so that
    :class:`~trio_otp.Ref` itself (what messages carry) sits below monitors.
    """

    __slots__ = ()

    def __call__(self, pid: Pid, reason: object) -> None:
        if pid is not self._target:
            _drop(self, pid, reason)
            return
        # In the target's task, as it exits: tell the watcher (OTP's :DOWN). Inline
        # (no helper calls): one of these runs per monitor that fires (M1).
        watcher = self._watcher
        self._target = None
        if watcher is None:  # pragma: no cover - defensive: dropped concurrently
            return
        # ``_watcher`` stays: it names the monitor's owner, the one process whose
        # demonitor may flush the message (a cycle through the mailbox only while the
        # message is queued). The watcher forgets the monitor (its ``_unwatch``).
        watchers = watcher._watchers
        if watchers is not None:
            watchers.pop(self, None)
        mailbox = watcher._mailbox
        if mailbox is None:
            return
        box = self._box
        if box is not None and reason == NORMAL and box._value is not NO_VALUE:
            message: object = new_record(TaskReply, (self, box._value))
        else:
            message = new_record(Down, (self, pid, reason))  # Down(ref, target, reason)
        # watcher._post((FLUSHABLE, message, None)), inline
        if mailbox is EMPTY:
            mailbox = watcher._mailbox = deque()
        mailbox.append((FLUSHABLE, message, None))
        if watcher._parked:
            watcher._parked = False
            reschedule(watcher._task)  # type: ignore[arg-type]


def _self(what: str) -> Pid:
    pid = current_process()
    if pid is None:
        raise RuntimeError(
            f"{what}() must be called from a process: a GenServer callback, a Task, or "
            "a block `async with otp.mailbox() as inbox:` (which makes any trio task a "
            "process for its duration)"
        )
    return pid


def _receiver(what: str) -> Pid:
    pid = _self(what)
    if pid._mailbox is None:
        # Only a process that has exited (its code still running, as in a
        # ``finally``) has no mailbox: every live process can receive.
        raise TypeError(
            f"{what}(): {pid!r} has exited and receives no more messages. Call it "
            "while the process runs, or wait with `await pid.wait_exited()`"
        )
    return pid


# -- monitors ---------------------------------------------------------------------------


def _drop(ref: Ref, watcher: Pid, reason: object) -> None:
    # In the watcher's task, as it exits: the target need not tell anybody.
    target = ref._target
    ref._target = ref._watcher = None
    if target is not None:
        target._unwatch(ref)


def _monitor(watcher: Pid, target: object, box: object = None) -> _MonitorRef:
    pid = target if type(target) is Pid else whereis(target)
    ref = _MonitorRef._new(watcher, pid, box)
    if pid is not None and pid._watch(ref, ref):
        watcher._watch(ref, ref)
    else:
        # Already dead, or a name nobody holds: OTP sends the DOWN at once.
        ref._target = ref._watcher = None
        if box is not None and getattr(box, "_value", NO_VALUE) is not NO_VALUE:
            watcher._post((FLUSHABLE, TaskReply(ref, box._value), None))  # type: ignore[attr-defined]
        else:
            reason = NOPROC if box is None or pid is None else pid._reason
            watcher._post((FLUSHABLE, Down(ref, pid if pid is not None else target, reason), None))
    return ref


def monitor(target: object) -> Ref:
    """Monitor a process: get one :class:`~trio_otp.Down` message when it exits.

    OTP's ``Process.monitor/1``. The calling process (a GenServer, in
    ``handle_info``; a :func:`~trio_otp.mailbox` block, from ``receive``) gets
    ``Down(ref, pid, reason)`` exactly once, with the reference returned here. If
    the process has already exited, or ``target`` is a name nobody holds, the
    ``Down`` comes at once with reason ``"noproc"`` (:data:`~trio_otp.NOPROC`).
    Monitoring is one-way and stacks: monitor a process twice, get two messages.
    A monitor costs two dict entries, no task; it is removed when either side exits.

    Args:
        target: a :class:`~trio_otp.Pid` or a registered name (looked up now).

    Raises:
        RuntimeError: called outside any process.
        TypeError: the calling process has no mailbox (it has exited).
    """
    # The common case inline, in one Python call (M1): the caller is a process's own
    # task, with its mailbox open, and the target a live Pid. Anything else (a helper
    # task of a process, a name, a dead target, misuse) takes the general path.
    try:
        task = RUN.task  # one read of trio's thread-local run context
        watcher = task._runner._locals[_by_task].get(task)
    except (AttributeError, KeyError):
        watcher = None
    if (
        watcher is None
        or watcher._mailbox is None
        or type(target) is not Pid
        or target._reason is not UNSET
    ):
        return _monitor(_receiver("monitor"), target)
    ref = object.__new__(_MonitorRef)  # _MonitorRef._new(watcher, target), inline
    ref._box = None
    ref._id = next(_ref_ids)
    ref._flushed = False
    ref._watcher = watcher
    ref._target = target
    # target._watch(ref, ref) and watcher._watch(ref, ref), inline: both are alive.
    watchers = target._watchers
    if watchers is None:
        target._watchers = {ref: ref}
    else:
        watchers[ref] = ref
    watchers = watcher._watchers
    if watchers is None:
        watcher._watchers = {ref: ref}
    else:
        watchers[ref] = ref
    return ref


def demonitor(ref: Ref, *, flush: bool = False) -> bool:
    """Remove a monitor (OTP's ``Process.demonitor/2``).

    Args:
        ref: what :func:`monitor` returned.
        flush: also drop its :class:`~trio_otp.Down` (or
            :class:`~trio_otp.TaskReply`) message if it has already been queued, so
            that it is never received (OTP's ``[:flush]``). Default ``False``: a
            ``Down`` already in the mailbox is still delivered.

    Only the process that made the monitor can remove it: called by any other (or
    outside any process), ``demonitor`` does nothing and returns ``False``, as in
    OTP, so the owner still gets its message.

    Returns:
        ``True`` if the monitor was active (the process had not exited), ``False``
        if it had already fired or been removed, or the caller does not own it.
    """
    if type(ref) is not _MonitorRef:
        raise TypeError(f"demonitor() takes a reference returned by monitor(), got {ref!r}")
    watcher = ref._watcher
    if watcher is None or watcher is not current_process():
        return False
    if flush:
        ref._flushed = True
    target = ref._target
    if target is None:
        return False
    ref._target = None
    target._unwatch(ref)
    watcher._unwatch(ref)
    return True


# -- exit signals -----------------------------------------------------------------------


def _kill(pid: Pid, reason: object) -> None:
    """Make ``pid`` exit with ``reason``: cancel its kill switch."""
    switch = pid._switch
    if switch is None:
        return  # a plain function running inline: nothing can interrupt it
    if pid._cancel_reason is not UNSET:
        # An earlier signal already took effect: the process is exiting with its
        # reason, and a later one (even "kill") changes nothing (OTP's exit_twice).
        return
    pid._cancel_reason = reason
    if switch is pid:
        pid._pull()  # a GenServer with no cancel scope (Pid._pull)
    else:
        switch.cancel()


def _signal(pid: Pid, sender: Pid | None, reason: object, linked: bool) -> None:
    """Deliver an exit signal to ``pid`` by OTP's rules."""
    if pid._reason is not UNSET:
        return
    if not linked and reason == KILL:
        _kill(pid, KILLED)  # untrappable
    elif pid._traps():
        pid._post((INFO, new_record(Exit, (sender, reason)), None))
    elif reason != NORMAL:
        _kill(pid, reason)
    elif sender is pid and not linked:
        _kill(pid, NORMAL)  # exit(self(), :normal) does end the caller


def exit(target: object, reason: object) -> None:
    """Send an exit signal to a process (OTP's ``Process.exit/2``).

    By OTP's rules, for the receiving process:

    * ``"kill"`` (:data:`~trio_otp.KILL`): it exits with ``"killed"``, even if it
      traps exits; ``terminate`` does not run;
    * if it traps exits (see :func:`trap_exit`): it receives
      ``Exit(sender, reason)`` and decides;
    * ``"normal"``: ignored (unless a process sends it to itself);
    * any other reason: it exits with that reason, without running ``terminate``
      (its ``finally`` blocks still run: it is cancelled).

    Never blocks. A signal to a process that has already exited is dropped.

    Raises:
        NoProcessError: ``target`` is a name nobody holds.
    """
    pid = target if type(target) is Pid else whereis(target)
    if pid is None:
        raise NoProcessError(target, reason, None, "exit")
    _signal(pid, current_process(), reason, linked=False)


def trap_exit(flag: bool) -> bool:
    """Set whether the calling process traps exits; return the previous setting.

    OTP's ``Process.flag(:trap_exit, flag)``. A process that traps exits receives
    exit signals (from links and :func:`exit`) as :class:`~trio_otp.Exit` messages
    instead of dying from them. The default is the process kind's:
    :attr:`GenServer.trap_exit <trio_otp.GenServer.trap_exit>` for GenServers
    (``True``), the ``trap_exit`` argument of :func:`~trio_otp.mailbox` for a
    block (``False``); a Task never traps.

    Raises:
        RuntimeError: called outside any process.
        TypeError: ``flag`` is true and the process is a Task.
    """
    pid = _receiver("trap_exit") if flag else _self("trap_exit")
    if flag and pid._kind == "Task":
        raise TypeError(
            f"trap_exit(): {pid!r} is a Task, and a Task does not trap exits (as in "
            "Elixir). Run the work in a GenServer, or in a task of its own inside an "
            "`async with otp.mailbox(trap_exit=True)` block"
        )
    old = pid._traps()
    if pid._mailbox is not None and pid._kind != "Task":
        # A GenServer instance (shadowing its class's default) or a Mailbox; a
        # Task's implementation is the user's function, which keeps no flag.
        setattr(pid._impl, "trap_exit", bool(flag))  # noqa: B010 - impl is typed object
    return old


# -- links ------------------------------------------------------------------------------


def _link_exited(other: Pid, exiting: Pid, reason: object) -> None:
    other._unwatch(("link", exiting))
    _signal(other, exiting, reason, linked=True)


def link(target: object) -> None:
    """Link the calling process and ``target`` (OTP's ``Process.link/1``).

    Two-way: when either exits, the other gets an exit signal with the exit reason,
    which kills it (unless the reason is ``"normal"``) or, if it traps exits,
    arrives as an :class:`~trio_otp.Exit` message. Linking twice is linking once.

    Raises:
        RuntimeError: called outside any process.
        NoProcessError: ``target`` is not alive (or a name nobody holds) and the
            caller does not trap exits; a trapping caller gets
            ``Exit(target, "noproc")`` instead, as in OTP.
    """
    me = _self("link")
    pid = target if type(target) is Pid else whereis(target)
    if pid is me:
        return
    if pid is None or not pid._watch(("link", me), functools.partial(_link_exited, me)):
        if me._traps():
            me._post((INFO, Exit(pid, NOPROC), None))
            return
        raise NoProcessError(target, None, None, "link")
    me._watch(("link", pid), functools.partial(_link_exited, pid))


def unlink(target: object) -> None:
    """Remove the link between the calling process and ``target``, if any.

    OTP's ``Process.unlink/1``. An :class:`~trio_otp.Exit` message already queued
    stays queued.
    """
    me = _self("unlink")
    pid = target if type(target) is Pid else whereis(target)
    if pid is None:
        return
    me._unwatch(("link", pid))
    pid._unwatch(("link", me))
