"""Agent: state behind a process, read and changed by functions (Elixir's ``Agent``).

An Agent is a :class:`~trio_otp.GenServer` whose requests are functions: ``get``
runs ``fn(state)`` in the agent and replies with the result, ``update`` replaces the
state with ``fn(state)``. Because it *is* a GenServer, every call has the same
default 5 s deadline and the same errors as :func:`~trio_otp.call`; a function that
raises crashes the agent (its supervisor restarts it) and the caller gets
:exc:`~trio_otp.CalleeExit` with the exception as ``__cause__``, as in Elixir where
the agent exits and the caller exits with it.

Functions may be plain or async; they run inside the agent, one at a time, so keep
them short (do slow work in the caller, then ``update`` with the result).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Coroutine
from typing import Any, Final, final

import trio

from .._core._call import DEFAULT_TIMEOUT, From, call, cast, stop
from .._core._process import Pid
from .._core._reasons import NORMAL
from .._server._child import direct_child
from .._server._child_spec import ChildSpec, to_child_spec
from .._server._gen_server import GenServer, NoReply, Ok, Reply

_GET: Final = 0
_UPDATE: Final = 1
_GET_AND_UPDATE: Final = 2


async def _apply(fn: Callable[..., Any], *args: Any) -> Any:
    result = fn(*args)
    if inspect.isawaitable(result):
        result = await result
    return result


class _AgentServer(GenServer[Any]):
    process_kind = "Agent"

    async def init(self, arg: Any) -> Ok[Any]:
        return Ok(await _apply(arg))

    async def handle_call(self, request: Any, from_: From, state: Any) -> Reply[Any]:
        op, fn = request
        result = await _apply(fn, state)
        if op == _GET:
            return Reply(result, state)
        if op == _UPDATE:
            return Reply(None, result)
        if type(result) is not tuple or len(result) != 2:
            raise TypeError(
                f"get_and_update's function must return (reply, new_state), got {result!r}"
            )
        return Reply(result[0], result[1])

    async def handle_cast(self, request: Any, state: Any) -> NoReply[Any]:
        return NoReply(await _apply(request, state))


def _check(fn: object) -> None:
    if not callable(fn):
        raise TypeError(f"an Agent function must be callable (state -> value), got {fn!r}")


@final
class Agent:
    """Elixir's ``Agent``: a process that holds a state, changed by functions.

    All functions are class-level; ``agent`` is the handle or registered name (a
    :meth:`Registry.via <trio_otp.Registry.via>` name too). ``timeout`` defaults to
    **5.0** s as for :func:`~trio_otp.call`.

    Example::

        counter = await otp.Agent.start(nursery, lambda: 0)
        await otp.Agent.update(counter, lambda n: n + 1)
        assert await otp.Agent.get(counter, lambda n: n) == 1
    """

    @staticmethod
    @direct_child
    def serve(
        fn: Callable[[], Any],
        *,
        name: object = None,
        task_status: trio.TaskStatus[Pid | None] = trio.TASK_STATUS_IGNORED,
    ) -> Coroutine[Any, Any, None]:
        """Run an agent whose state starts as ``fn()`` (``nursery.start``'s protocol)."""
        _check(fn)
        return _AgentServer.serve(fn, name=name, task_status=task_status)

    @staticmethod
    async def start(nursery: trio.Nursery, fn: Callable[[], Any], *, name: object = None) -> Pid:
        """Start an agent in ``nursery``; its state is ``fn()``. Returns its handle.

        Raises:
            StartError: ``fn`` raised (the exception is the ``__cause__``).
            AlreadyStartedError: ``name`` is taken.
        """
        pid: Pid = await nursery.start(functools.partial(Agent.serve, fn, name=name))
        return pid

    @staticmethod
    def child_spec(fn: Callable[[], Any], **overrides: Any) -> ChildSpec:
        """The spec of ``(Agent, fn)``: id ``Agent``, restart permanent, shutdown 5 s.

        ``name=`` registers the agent; other keywords override spec fields.
        """
        _check(fn)
        name = overrides.pop("name", None)
        spec = ChildSpec(
            id=Agent,
            start=functools.partial(Agent.serve, name=name),
            args=(fn,),
            modules=(Agent,),
        )
        return to_child_spec(spec, **overrides)

    @staticmethod
    async def get(
        agent: object,
        fn: Callable[[Any], Any],
        timeout: float | None = DEFAULT_TIMEOUT,  # noqa: ASYNC109 - the call deadline
    ) -> Any:
        """Return ``fn(state)``, computed in the agent (the state is unchanged)."""
        _check(fn)
        return await call(agent, (_GET, fn), timeout)

    @staticmethod
    async def update(
        agent: object,
        fn: Callable[[Any], Any],
        timeout: float | None = DEFAULT_TIMEOUT,  # noqa: ASYNC109 - the call deadline
    ) -> None:
        """Replace the state with ``fn(state)`` and wait until it is done."""
        _check(fn)
        await call(agent, (_UPDATE, fn), timeout)

    @staticmethod
    async def get_and_update(
        agent: object,
        fn: Callable[[Any], tuple[Any, Any]],
        timeout: float | None = DEFAULT_TIMEOUT,  # noqa: ASYNC109 - the call deadline
    ) -> Any:
        """``fn(state)`` returns ``(reply, new_state)``: store the state, return the reply."""
        _check(fn)
        return await call(agent, (_GET_AND_UPDATE, fn), timeout)

    @staticmethod
    def cast(agent: object, fn: Callable[[Any], Any]) -> None:
        """Replace the state with ``fn(state)`` without waiting (dropped if nobody runs)."""
        _check(fn)
        cast(agent, fn)

    @staticmethod
    async def stop(
        agent: object,
        reason: object = NORMAL,
        timeout: float | None = None,  # noqa: ASYNC109 - GenServer.stop/3
    ) -> None:
        """Stop the agent (same as :func:`trio_otp.stop`)."""
        await stop(agent, reason, timeout)
