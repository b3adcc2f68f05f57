"""GenServer: state types, renamed callback parameters, start's return, typed calls."""

# pyright: reportUnnecessaryTypeIgnoreComment=true

from __future__ import annotations

from typing import Any, assert_type

import attrs
import trio

import trio_otp as otp


class Counter(otp.GenServer[int]):
    # Parameters renamed (state -> count, request -> req): the base class's are
    # positional-only, so this overrides it without an error.
    async def init(self, start: int) -> otp.Ok[int]:
        return otp.Ok(start)

    async def handle_call(self, req: object, caller: otp.From, count: int) -> otp.Reply[int]:
        return otp.Reply(count + 1, count + 1)

    async def handle_cast(self, req: object, count: int) -> otp.NoReply[int]:
        return otp.NoReply(count)

    async def handle_info(self, msg: object, count: int) -> otp.NoReply[int] | otp.Stop[int]:
        return otp.Stop("normal", count)

    async def terminate(self, why: object, count: int) -> None:
        pass


class WrongState(otp.GenServer[int]):
    # The state is an int: a str state is an incompatible override.
    async def handle_cast(self, req: object, count: str) -> otp.NoReply[int]:  # type: ignore[override]
        return otp.NoReply(0)


@attrs.frozen
class Get(otp.Request[int | None]):
    """A typed request: its server replies with an int or None."""

    key: str


async def get(key: str) -> int | None:
    # No cast: a Request[int | None] is answered with an int | None.
    return await otp.call("store", Get(key))


async def users(nursery: trio.Nursery) -> None:
    # GenServer.start: None when init returns Ignore.
    pid = await Counter.start(nursery, 0, name="counter")
    assert_type(pid, otp.Pid | None)

    assert_type(await otp.call("counter", "inc"), Any)  # an untyped request: Any
    assert_type(await otp.call("store", Get("a")), int | None)
    assert_type(otp.Reply(1, 2), otp.Reply[int])
    assert_type(otp.NoReply("s"), otp.NoReply[str])
    assert_type(otp.whereis("counter"), otp.Pid | None)
    assert_type(otp.cast("counter", "inc"), None)

    spec = Counter.child_spec(0, name="counter")
    assert_type(spec, otp.ChildSpec)
