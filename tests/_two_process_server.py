"""A TCP server written as a new user would before serve_tcp (issue 21): per
connection a Supervisor of a reader Task and a writer GenServer that owns the
stream and closes it in ``terminate``. Stopped in order (the writer first), the
reader is woken by the closed stream with ``trio.ClosedResourceError``: the exit
of a child during its supervisor's shutdown. Run by tests/test_tcp.py under SIGTERM.
"""

from __future__ import annotations

import functools
import logging
import sys
from typing import Any

import trio

import trio_otp as otp


class Writer(otp.GenServer[trio.SocketStream]):
    async def init(self, stream: trio.SocketStream) -> Any:
        await stream.send_all(b"welcome\n")
        return otp.Ok(stream)

    async def terminate(self, reason: object, stream: trio.SocketStream) -> None:
        with trio.move_on_after(1):
            await stream.send_all(b"bye\n")
        await stream.aclose()


async def reader(stream: trio.SocketStream) -> None:
    while await stream.receive_some(1000):  # ClosedResourceError once Writer closed it
        pass


async def acceptor(listener: trio.SocketListener) -> None:
    while True:
        stream = await listener.accept()
        # Started in this order, stopped in the reverse: the writer first.
        children = [otp.Task.child_spec(reader, stream), Writer.child_spec(stream)]
        spec = otp.Supervisor.child_spec(
            (otp.Supervisor, {"children": children}), restart="temporary"
        )
        await otp.DynamicSupervisor.start_child("connections", spec)


async def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    (listener,) = await trio.open_tcp_listeners(0, host="127.0.0.1")
    print(f"listening on 127.0.0.1:{listener.socket.getsockname()[1]}", flush=True)
    return await otp.run_application(
        [
            (otp.DynamicSupervisor, {"name": "connections"}),
            otp.Task.child_spec(functools.partial(acceptor, listener)).replace(
                id="acceptor", restart="permanent"
            ),
        ]
    )


if __name__ == "__main__":
    sys.exit(trio.run(main))
