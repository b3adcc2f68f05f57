"""Chat rooms started on demand, watching their members, closing when idle.

Run it::

    python examples/chat_rooms.py [--fast]

What it teaches:

* Processes on demand: a room is a GenServer registered as ``("room", name)`` and
  started under a DynamicSupervisor the first time somebody joins it. Two joins that
  race both end up in the same room: the loser of the start gets
  ``otp.AlreadyStartedError`` and simply uses the winner.
* Any trio task can be a process: each user here is a plain task inside
  ``async with otp.mailbox() as inbox:``. It joins rooms with ``otp.call`` (the room
  learns who called from ``from_.pid``: no pid passed by hand) and reads what the
  room sends it with ``await inbox.receive(...)``, selectively and with a timeout.
* Monitors: a room monitors each member. A member whose block ends (here, one that
  is left by an exception: a dropped connection) is removed when its
  ``otp.Down(ref, pid, reason)`` arrives, and the others are told.
* Idle shutdown is a GenServer timeout: every callback returns ``timeout=IDLE``; if
  no message arrives for that long, ``handle_info`` gets ``otp.TIMEOUT`` and an empty
  room stops (normally: its supervisor does not restart a temporary child). The next
  join starts a fresh room.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from typing import Any

import attrs
import trio
import trio.testing

import trio_otp as otp
from trio_otp import DynamicSupervisor

IDLE = 30.0  # seconds without any message before an empty room closes


@attrs.define
class RoomState:
    name: str
    members: dict[otp.Pid, tuple[str, otp.Ref]] = attrs.field(factory=dict)
    said: int = 0


class Room(otp.GenServer[RoomState]):
    @classmethod
    def child_spec(cls, arg: Any = None, **overrides: Any) -> otp.ChildSpec:
        # Registered by room name; temporary: a room that closed stays closed.
        return super().child_spec(arg, name=("room", arg), restart="temporary", **overrides)

    async def init(self, name: str) -> otp.Ok[RoomState]:
        print(f"  [{at()}] room {name!r} opens")
        return otp.Ok(RoomState(name), timeout=IDLE)

    async def handle_call(self, request: Any, from_: otp.From, room: RoomState) -> Any:
        match request:
            case ("join", nick):
                member = from_.pid
                if member is None:
                    raise ValueError("join from a process: use `async with otp.mailbox()`")
                if member not in room.members:
                    self.broadcast(room, ("joined", room.name, nick))
                    room.members[member] = (nick, otp.monitor(member))
                return otp.Reply(sorted(n for n, _ in room.members.values()), room, timeout=IDLE)
            case "leave":
                assert from_.pid is not None
                nick, ref = room.members.pop(from_.pid)
                otp.demonitor(ref, flush=True)
                self.broadcast(room, ("left", room.name, nick, "bye"))
                return otp.Reply("ok", room, timeout=IDLE)
        raise ValueError(f"unknown request {request!r}")

    async def handle_cast(self, request: Any, room: RoomState) -> otp.NoReply[RoomState]:
        match request:
            case ("say", sender, text):
                room.said += 1
                nick = room.members.get(sender, ("?", None))[0]
                self.broadcast(room, ("said", room.name, nick, text), skip=sender)
        return otp.NoReply(room, timeout=IDLE)

    async def handle_info(self, message: Any, room: RoomState) -> Any:
        match message:
            case otp.Down(pid=otp.Pid() as pid, reason=reason) if pid in room.members:
                nick, _ = room.members.pop(pid)
                why = "disconnected" if isinstance(reason, Exception) else "bye"
                self.broadcast(room, ("left", room.name, nick, why))
            case otp.TIMEOUT if not room.members:
                print(f"  [{at()}] room {room.name!r} idle for {IDLE:g} s: closing")
                return otp.Stop(otp.NORMAL, room)
        return otp.NoReply(room, timeout=IDLE)

    def broadcast(self, room: RoomState, event: object, skip: otp.Pid | None = None) -> None:
        for member in room.members:
            if member is not skip:
                otp.send(member, event)


# -- the client API -----------------------------------------------------------------------


async def join(rooms: otp.Pid, name: str, nick: str) -> list[str]:
    """Join room ``name`` (starting it if need be) as the calling process."""
    room = otp.whereis(("room", name))
    if room is None:
        # Somebody else may start it first: fine, it is the same room.
        with contextlib.suppress(otp.AlreadyStartedError):
            await DynamicSupervisor.start_child(rooms, Room.child_spec(name))
    members: list[str] = await otp.call(("room", name), ("join", nick))
    return members


def say(name: str, text: str) -> None:
    otp.cast(("room", name), ("say", otp.current_process(), text))


async def leave(name: str) -> None:
    await otp.call(("room", name), "leave")


def at() -> str:
    return f"t={trio.current_time() - START:5.1f}"


START = 0.0


async def main() -> dict[str, Any]:
    """Alice, Bob and Carol chat; Bob's connection drops; the room closes when idle."""
    global START
    START = trio.current_time()
    facts: dict[str, Any] = {"heard": {}}
    async with trio.open_nursery() as nursery:
        rooms = await DynamicSupervisor.start(nursery, name="rooms")

        async def user(nick: str, script: Any) -> None:
            heard: list[object] = facts["heard"].setdefault(nick, [])
            async with otp.mailbox() as inbox:
                members = await join(rooms, "lobby", nick)
                print(f"  [{at()}] {nick} joins lobby with {members}")
                await script(inbox, heard)

        async def alice(inbox: otp.Mailbox, heard: list[object]) -> None:
            await trio.sleep(1)
            say("lobby", "hi all")
            # Selective receive: first the news that Bob left, then that Carol did;
            # the events that arrived before them wait in the mailbox, in order.
            heard.append(await inbox.receive(lambda m: m[:3] == ("left", "lobby", "bob")))
            heard.append(await inbox.receive(lambda m: m[:3] == ("left", "lobby", "carol")))
            while True:
                try:
                    heard.append(await inbox.receive(timeout=0))
                except otp.ReceiveTimeout:
                    break
            await leave("lobby")

        async def bob(inbox: otp.Mailbox, heard: list[object]) -> None:
            heard.append(await inbox.receive(timeout=5))
            raise ConnectionResetError("bob's wifi")

        async def carol(inbox: otp.Mailbox, heard: list[object]) -> None:
            for _ in range(3):  # joined, said, left
                heard.append(await inbox.receive(timeout=5))
            await leave("lobby")

        async with trio.open_nursery() as users:
            users.start_soon(user, "alice", alice)
            await trio.testing.wait_all_tasks_blocked()
            users.start_soon(user, "carol", carol)
            await trio.testing.wait_all_tasks_blocked()
            try:
                async with trio.open_nursery() as bobs:
                    bobs.start_soon(user, "bob", bob)
            except* ConnectionResetError:
                print(f"  [{at()}] bob's block ended with ConnectionResetError")
        lobby = otp.whereis(("room", "lobby"))
        assert lobby is not None
        facts["closed_after"] = await lobby.wait_exited(), trio.current_time() - START
        print(f"  [{at()}] lobby exited with {facts['closed_after'][0]!r}")
        async with otp.mailbox():
            facts["rejoin"] = await join(rooms, "lobby", "dave")
            facts["new_room"] = otp.whereis(("room", "lobby")) is not lobby
            print(f"  [{at()}] dave joins a fresh lobby: {facts['rejoin']}")
        await DynamicSupervisor.stop(rooms)
    for nick, heard in sorted(facts["heard"].items()):
        print(f"{nick} heard: {heard}")
    return facts


def cli(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--fast",
        action="store_true",
        default=os.environ.get("TRIO_OTP_DEMO_FAST", "") not in ("", "0"),
        help="run on a virtual clock (trio.testing.MockClock)",
    )
    args = parser.parse_args(argv)
    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0) if args.fast else None)
    return 0


if __name__ == "__main__":
    sys.exit(cli())
