"""W10's clients, the same for every implementation: echo round trips over TCP.

``connections`` clients on 127.0.0.1, each sending a 64-byte message and waiting for
all of it to come back, ``round_trips`` times, all clients at once, in the same
``trio.run`` as the server (as every workload here: the ratio compares servers
under the same client load).
"""

from __future__ import annotations

from typing import Any

import trio

from ._measure import now

MESSAGE = b"x" * 63 + b"\n"


async def _client(port: int, round_trips: int, ready: trio.Event, go: trio.Event) -> None:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        stream.socket.setsockopt(6, 1, 1)  # TCP_NODELAY, as trio's server side sets it
        ready.set()
        await go.wait()
        size = len(MESSAGE)
        for _ in range(round_trips):
            await stream.send_all(MESSAGE)
            got = 0
            while got < size:
                data = await stream.receive_some(size - got)
                assert data, "the server closed the connection"
                got += len(data)


async def drive(port: int, connections: int, round_trips: int, warmup: int = 20) -> dict[str, Any]:
    """Warm up, then time ``connections`` x ``round_trips`` echo round trips."""
    async with trio.open_nursery() as nursery:  # warm-up: connections and code paths
        for _ in range(connections):
            ready, go = trio.Event(), trio.Event()
            go.set()
            nursery.start_soon(_client, port, warmup, ready, go)
    go = trio.Event()
    readies = [trio.Event() for _ in range(connections)]
    async with trio.open_nursery() as nursery:
        for ready in readies:
            nursery.start_soon(_client, port, round_trips, ready, go)
        for ready in readies:
            await ready.wait()
        t0 = now()
        go.set()
    dt = now() - t0
    total = connections * round_trips
    return {"seconds": dt, "round_trips_per_s": total / dt}
