"""A TCP chat server: one supervised process per connection, with a mailbox.

Run it::

    python examples/chat_server.py [--fast]          # a server and five scripted clients
    python examples/chat_server.py --serve [--port 4040]   # a real server: try `nc localhost 4040`

What it teaches:

* ``otp.serve_tcp(Handler, port)`` is a child spec: the listener is a small
  supervision tree (an acceptor, and a DynamicSupervisor with one process per
  connection), put in a children list like any other child.
* A connection is a ``TCPHandler``, a GenServer that owns its stream: the bytes
  arrive in ``handle_data``, the end of the stream in ``handle_close``, and it writes
  with ``await self.send(...)``. It has a mailbox like any server, so the others
  reach it with ``otp.send``: here through a duplicate ``Registry`` that every
  connection joins (``Registry.dispatch`` is the chat's broadcast). One process per
  connection: no reader task and writer server to glue together.
* A peer that goes away is routine (``handle_close``: the process stops normally and
  leaves the registry by exiting); a handler that crashes is reported once and only
  its own connection closes.
* An orderly stop (SIGTERM or Control-C in serve mode) stops accepting first, then
  each connection's ``terminate`` says goodbye within its ``shutdown`` budget.
"""

from __future__ import annotations

import argparse
import functools
import logging
import sys
from typing import Any

import attrs
import trio

import trio_otp as otp

ROOM = "lobby"


@attrs.define
class Chatter:
    nick: str
    buffer: bytes = b""
    lines: int = 0


class ChatHandler(otp.TCPHandler[Chatter]):
    """One chat connection: a line protocol (``/nick NAME``, anything else is said)."""

    async def init(self, registry: str) -> otp.Ok[Chatter]:
        self.registry = registry
        otp.Registry.register(registry, ROOM)
        await self.send(b"welcome: /nick NAME to be named, /quit to leave\n")
        return otp.Ok(Chatter(nick=f"guest{self.pid._id}"))

    async def handle_data(self, data: bytes, me: Chatter) -> Any:
        me.buffer += data
        *lines, me.buffer = me.buffer.split(b"\n")
        for raw in lines:
            line = raw.decode(errors="replace").strip()
            if line.startswith("/nick "):
                old, me.nick = me.nick, line[6:].strip() or me.nick
                self.broadcast(("renamed", old, me.nick))
            elif line == "/quit":
                await self.send(b"bye\n")
                return otp.Stop(otp.NORMAL, me)
            elif line == "/crash":  # for the demo: a handler bug, reported once
                raise RuntimeError(f"{me.nick} found a bug")
            elif line:
                me.lines += 1
                self.broadcast(("said", me.nick, line))
        return otp.NoReply(me)

    async def handle_info(self, message: Any, me: Chatter) -> Any:
        match message:
            case ("said", nick, text):
                await self.send(f"{nick}: {text}\n".encode())
            case ("renamed", old, new):
                await self.send(f"* {old} is now {new}\n".encode())
        return otp.NoReply(me)

    async def terminate(self, reason: object, me: Chatter) -> None:
        if reason == otp.SHUTDOWN:  # the server is stopping: say so while we can
            with trio.move_on_after(1):
                await self.send(b"* server shutting down\n")

    def broadcast(self, event: object) -> None:
        me = self.pid

        def to_the_others(entries: list[tuple[otp.Pid, Any]]) -> None:
            for pid, _ in entries:
                if pid != me:
                    otp.send(pid, event)

        otp.Registry.dispatch(self.registry, ROOM, to_the_others)


def children(port: int, registry: str = "chat", **options: Any) -> list[Any]:
    """The server's tree: the registry first (connections join it), then the listener."""
    return [
        (otp.Registry, {"keys": "duplicate", "name": registry}),
        otp.serve_tcp(
            ChatHandler, port, registry, host="127.0.0.1", name="chat_listener", **options
        ),
    ]


# -- the scripted demo --------------------------------------------------------------------


class Client:
    """A test client: a socket and the lines it received."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.buffer = b""

    async def line(self) -> str | None:
        """The next line, or None at the end of the stream."""
        while b"\n" not in self.buffer:
            data = await self.stream.receive_some(4096)
            if not data:
                return None
            self.buffer += data
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line.decode()

    async def say(self, text: str) -> None:
        await self.stream.send_all(text.encode() + b"\n")


async def client(port: int) -> Client:
    return Client(await trio.open_tcp_stream("127.0.0.1", port))


async def main(clients: int = 5) -> dict[str, Any]:
    """Five clients join, rename themselves, talk; one crashes its handler; the server stops."""
    facts: dict[str, Any] = {}
    async with otp.Supervisor.open(children(0)) as sup:
        port = otp.listener_addresses("chat_listener")[0][1]
        print(f"chat server on 127.0.0.1:{port}")
        users = [await client(port) for _ in range(clients)]
        for user in users:
            assert (await user.line() or "").startswith("welcome")
        for i, user in enumerate(users):
            await user.say(f"/nick user{i}")
        # Everyone hears every rename but their own.
        for user in users:
            for _ in range(clients - 1):
                await user.line()
        await users[0].say("hello, everyone")
        heard = [await user.line() for user in users[1:]]
        print(f"user0 said hello; the {len(heard)} others heard: {heard[0]!r}")
        facts["heard"] = heard
        # A handler bug takes down that connection only.
        await users[1].say("/crash")
        assert await users[1].line() is None
        print("user1's handler crashed: its connection closed, the others go on")
        await users[2].say("still here?")
        facts["after_crash"] = [await users[i].line() for i in (0, 3, 4)]
        print(f"user2 is still heard: {facts['after_crash'][0]!r}")
        await users[3].say("/quit")
        assert await users[3].line() == "bye"
        facts["tree"] = await otp.render_tree(sup)
        print(facts["tree"])
    # The tree stopped in order: every remaining client was told, then closed.
    for i in (0, 2, 4):
        last = [await users[i].line(), await users[i].line()]
        assert last == ["* server shutting down", None], last
    print("server stopped: the remaining clients were told and closed")
    facts["told"] = 3
    for user in users:
        await user.stream.aclose()
    return facts


# -- serve mode ---------------------------------------------------------------------------


async def _announce() -> None:
    port = otp.listener_addresses("chat_listener")[0][1]
    print(f"listening on 127.0.0.1:{port}", flush=True)


def serve(port: int, shutdown: float) -> int:
    tree = [*children(port, shutdown=shutdown), (otp.Task, _announce)]
    status: int = trio.run(functools.partial(otp.run_application, tree))
    print(f"exit status {status}", flush=True)
    return status


class OneLineFormatter(logging.Formatter):
    """A report on one line: its level, its logger and its first two lines (no traceback)."""

    def format(self, record: logging.LogRecord) -> str:
        lines = record.getMessage().splitlines()
        return f"  [{record.levelname} {record.name}] {' '.join(lines[:2])}"


def cli(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="(accepted; the demo is quick)")
    parser.add_argument("--serve", action="store_true", help="run a real server until SIGTERM")
    parser.add_argument("--port", type=int, default=4040, help="serve mode's port (0: any)")
    parser.add_argument(
        "--shutdown", type=float, default=5.0, help="each connection's shutdown budget (s)"
    )
    args = parser.parse_args(argv)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(OneLineFormatter())
    logging.basicConfig(handlers=[handler])
    if args.serve:
        return serve(args.port, args.shutdown)
    trio.run(main)
    return 0


if __name__ == "__main__":
    sys.exit(cli())
