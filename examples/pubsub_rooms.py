"""Chat rooms by id: Registry ``via`` names for the rooms, ``dispatch`` for pub-sub.

Run it::

    python examples/pubsub_rooms.py [--fast]

What it teaches:

* A **unique** :class:`~trio_otp.Registry` is a name service for many processes of one
  kind: ``Registry.via("rooms", room_id)`` names a room, and that name works for
  ``name=`` at start, ``call``, ``cast``, ``whereis`` and ``stop``. A DynamicSupervisor
  starts one room per id; starting a room whose id is taken fails with the holder
  named (``AlreadyStartedError``).
* A **duplicate** registry is a pub-sub topic table: each member registers itself
  under the rooms it joined, and ``Registry.dispatch`` hands a room's post to all of
  them (``send`` never blocks, so a slow member slows nobody).
* Entries disappear the moment their process exits: a member that crashes is gone
  from every room before anyone can post to it, with no unsubscribe call and no stale
  entry. A room that crashes is restarted by its supervisor *under the same id*.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from dataclasses import dataclass, field
from typing import Any

import trio
import trio.testing

import trio_otp as otp
from trio_otp import DynamicSupervisor, Registry, Supervisor


def room(room_id: str) -> otp.Via:
    """The name of the room ``room_id``."""
    return Registry.via("rooms", room_id)


class Room(otp.GenServer[list[str]]):
    """A chat room: keeps its history and publishes each post to its members."""

    async def init(self, room_id: str) -> otp.Ok[list[str]]:
        self.room_id = room_id
        return otp.Ok([])

    async def handle_call(self, request: Any, from_: otp.From, history: list[str]) -> Any:
        match request:
            case ("post", user, text):
                line = f"{user}: {text}"
                post = ("message", self.room_id, line)

                def deliver(entries: list[tuple[otp.Pid, Any]]) -> None:
                    for member, _ in entries:
                        otp.send(member, post)

                Registry.dispatch("members", self.room_id, deliver)
                return otp.Reply(len(Registry.lookup("members", self.room_id)), [*history, line])
            case "history":
                return otp.Reply(history, history)
            case "crash":
                raise RuntimeError(f"room {self.room_id} crashed")
        raise ValueError(request)


class Member(otp.GenServer[list[str]]):
    """A chat user: joins rooms (registers under their ids) and keeps an inbox."""

    async def handle_call(self, request: Any, from_: otp.From, inbox: list[str]) -> Any:
        match request:
            case ("join", room_id):
                Registry.register("members", room_id, self.pid.name)
                return otp.Reply("ok", inbox)
            case ("leave", room_id):
                Registry.unregister("members", room_id)
                return otp.Reply("ok", inbox)
            case "inbox":
                return otp.Reply(inbox, inbox)
        raise ValueError(request)

    async def handle_info(self, message: Any, inbox: list[str]) -> otp.NoReply[list[str]]:
        _, room_id, line = message
        return otp.NoReply([*inbox, f"[{room_id}] {line}"])

    async def handle_cast(self, request: Any, inbox: list[str]) -> otp.NoReply[list[str]]:
        raise RuntimeError(f"{self.pid.name} crashed")


@dataclass
class Story:
    """What happened, for the tests."""

    duplicate_holder_named: bool = False
    delivered: dict[str, int] = field(default_factory=dict)
    inboxes: dict[str, list[str]] = field(default_factory=dict)
    after_crash: list[object] = field(default_factory=list)
    empty_room_dispatched: bool = False
    room_restarted: bool = False


async def main() -> Story:
    """Open two rooms, let three users chat, crash a user and a room."""
    story = Story()
    children = [
        (Registry, {"keys": "unique", "name": "rooms"}),
        (Registry, {"keys": "duplicate", "name": "members"}),
        (DynamicSupervisor, {"name": "room_sup"}),
        (DynamicSupervisor, {"name": "member_sup"}),
    ]
    async with Supervisor.open(children, name="chat") as app:
        print("--- rooms by id: one Room per id under room_sup, named via the rooms registry ---")
        for room_id in ("lobby", "trio"):
            pid = await DynamicSupervisor.start_child(
                "room_sup", Room.child_spec(room_id, name=room(room_id))
            )
            print(f"  room {room_id!r} -> {pid}")
        try:
            await DynamicSupervisor.start_child(
                "room_sup", Room.child_spec("lobby", name=room("lobby"))
            )
        except otp.AlreadyStartedError as exc:
            story.duplicate_holder_named = exc.holder is otp.whereis(room("lobby"))
            print(f"  a second 'lobby': {type(exc).__name__}: {exc}")

        print()
        print("--- members join rooms: each registers itself in the members registry ---")
        for user, rooms in [("alice", ["lobby"]), ("bob", ["lobby", "trio"]), ("carol", ["trio"])]:
            spec = Member.child_spec([], name=user, restart="temporary")
            await DynamicSupervisor.start_child("member_sup", spec)
            for room_id in rooms:
                await otp.call(user, ("join", room_id))
        for room_id in ("lobby", "trio"):
            names = sorted(str(value) for _, value in Registry.lookup("members", room_id))
            print(f"  {room_id}: {names}")

        print()
        print("--- posts are published with Registry.dispatch ---")
        story.delivered["lobby"] = await otp.call(room("lobby"), ("post", "alice", "hi all"))
        story.delivered["trio"] = await otp.call(room("trio"), ("post", "carol", "nurseries!"))
        for user in ("alice", "bob", "carol"):
            story.inboxes[user] = await otp.call(user, "inbox")
            print(f"  {user}'s inbox: {story.inboxes[user]}")

        print()
        print("--- carol crashes: her entries are gone before anyone can post to her ---")
        carol = otp.whereis("carol")
        assert carol is not None
        otp.cast("carol", "boom")
        await carol.wait_exited()
        story.after_crash = [pid.name for pid, _ in Registry.lookup("members", "trio")]
        print(f"  trio's members now: {story.after_crash}")
        print(f"  carol's keys: {Registry.keys('members', carol)}")

        print()
        print("--- dispatch on a room nobody joined calls nothing ---")
        await DynamicSupervisor.start_child(
            "room_sup", Room.child_spec("empty", name=room("empty"))
        )
        called: list[object] = []
        Registry.dispatch("members", "empty", called.append)
        story.empty_room_dispatched = bool(called)
        print(f"  delivered to {await otp.call(room('empty'), ('post', 'bob', 'anyone?'))} members")

        print()
        print("--- the trio room crashes and is restarted under the same id ---")
        before = otp.whereis(room("trio"))
        assert before is not None
        try:
            await otp.call(room("trio"), "crash")
        except otp.CalleeExit as exc:
            print(f"  {type(exc).__name__}: {exc}")
        await trio.testing.wait_all_tasks_blocked()
        after = otp.whereis(room("trio"))
        story.room_restarted = after is not None and after is not before
        history = await otp.call(room("trio"), "history")
        print(f"  {before} -> {after}; its history starts over: {history}")
        print()
        print(await otp.render_tree(app))
    return story


class OneLineFormatter(logging.Formatter):
    """A crash report on one line: who crashed and why (no traceback)."""

    def format(self, record: logging.LogRecord) -> str:
        lines = record.getMessage().splitlines()
        return f"  [{record.levelname} {record.name}] {' '.join(lines[:2])}"


def cli(argv: list[str] | None = None) -> int:
    """Parse the command line and run :func:`main`."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--fast",
        action="store_true",
        default=os.environ.get("TRIO_OTP_DEMO_FAST", "") not in ("", "0"),
        help="run on a virtual clock (trio.testing.MockClock)",
    )
    args = parser.parse_args(argv)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(OneLineFormatter())
    logging.basicConfig(handlers=[handler])
    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0) if args.fast else None)
    return 0


if __name__ == "__main__":
    sys.exit(cli())
