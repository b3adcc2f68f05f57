"""A small HTTP/1.1 client on trio streams and h11, for the observer's tests."""

from __future__ import annotations

from typing import Any

import h11
import trio


async def request(
    port: int,
    method: str = "GET",
    path: str = "/",
    headers: dict[str, str] | None = None,
    body: bytes = b"",
    host: str = "127.0.0.1",
) -> tuple[int, dict[str, str], bytes]:
    """One request on a fresh connection; returns (status, headers, body)."""
    given = {"host": f"127.0.0.1:{port}", **(headers or {})}
    if body:
        given.setdefault("content-length", str(len(body)))
    stream = await trio.open_tcp_stream(host, port)
    async with stream:
        conn = h11.Connection(h11.CLIENT)
        wire = [(k, v) for k, v in given.items() if v is not None]
        data = conn.send(h11.Request(method=method, target=path, headers=wire))
        if body:
            data += conn.send(h11.Data(data=body))
        data += conn.send(h11.EndOfMessage())
        await stream.send_all(data)
        status = 0
        answer: dict[str, str] = {}
        chunks: list[bytes] = []
        while True:
            event: Any = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await stream.receive_some())
            elif isinstance(event, h11.Response):
                status = event.status_code
                answer = {k.decode(): v.decode() for k, v in event.headers}
            elif isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
            elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                return status, answer, b"".join(chunks)


async def first_events(
    port: int, count: int, headers: dict[str, str] | None = None
) -> tuple[int, list[tuple[str, str]]]:
    """Open /api/events, read ``count`` server-sent events, hang up."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        conn = h11.Connection(h11.CLIENT)
        wire = [("host", f"127.0.0.1:{port}"), *(headers or {}).items()]
        await stream.send_all(
            conn.send(h11.Request(method="GET", target="/api/events", headers=wire))
            + conn.send(h11.EndOfMessage())
        )
        status = 0
        text = ""
        events: list[tuple[str, str]] = []
        while len(events) < count:
            event: Any = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await stream.receive_some())
            elif isinstance(event, h11.Response):
                status = event.status_code
                if status != 200:
                    return status, events
            elif isinstance(event, h11.Data):
                text += bytes(event.data).decode()
                while "\n\n" in text:
                    block, text = text.split("\n\n", 1)
                    fields = dict(line.split(": ", 1) for line in block.splitlines())
                    events.append((fields.get("event", ""), fields.get("data", "")))
            elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                break
        return status, events
