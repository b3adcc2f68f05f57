"""A TCP proxy on 127.0.0.1 in front of the test server that breaks a connection at an
exact point of one statement: how the tests make a call's outcome unknown.

The store connects through it (its DSN names the proxy's port); every byte is passed
on as it is, in threads of the proxy's own, until a pattern armed with :meth:`arm`
(a piece of a statement's SQL text, as it travels in the extended protocol's
``Parse`` message) is seen going to the server. Then, by the mode:

* ``"reply"``: the statement goes to the server; once the server's reply to it is
  complete (its ``ReadyForQuery``: the statement has committed, in autocommit), the
  reply is dropped and both sides of that connection are closed. The client sees a
  broken connection although the work was done.
* ``"late"``: the statement is held back, and the client's side of the connection is
  closed at once (the server's side stays open, idle). When the pattern is seen again
  (the client's second try, on another connection), the held statement is sent first
  on the old connection, its reply awaited (and dropped), and only then the second
  try is passed on: the first try commits between the second try's look and its own
  statement, as a statement still running on a server whose client went away does.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import Literal

_READY = b"Z\x00\x00\x00\x05"  # ReadyForQuery: the reply to a Sync is complete


class _Pair:
    def __init__(self, client: socket.socket, server: socket.socket) -> None:
        self.client = client
        self.server = server
        self.cut_reply = False  # mode "reply", armed on this pair
        self.zombie = False  # mode "late": the client is gone, replies are dropped
        self.reply = bytearray()
        self.replied = threading.Event()

    def close_client(self) -> None:
        with contextlib.suppress(OSError):
            self.client.shutdown(socket.SHUT_RDWR)
        self.client.close()

    def close(self) -> None:
        self.close_client()
        with contextlib.suppress(OSError):
            self.server.shutdown(socket.SHUT_RDWR)
        self.server.close()


def _read(pair: _Pair, sock: socket.socket) -> bytes | None:
    """The next bytes from one side of ``pair``; None once it is closed (then the
    other side is closed too, unless the pair is a held zombie)."""
    try:
        data = sock.recv(65536)
    except OSError:
        return None
    if not data:
        if not pair.zombie:
            pair.close()
        return None
    return data


class CuttingProxy:
    """``with CuttingProxy(server_port) as proxy:``; ``proxy.port`` is where to connect."""

    def __init__(self, server_port: int) -> None:
        self._server_port = server_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._pattern: bytes | None = None
        self._mode: Literal["reply", "late"] = "reply"
        self._held: tuple[_Pair, bytes] | None = None
        self._pairs: list[_Pair] = []
        #: How many connections it broke.
        self.cuts = 0
        self._closed = False
        threading.Thread(target=self._accept, name="pgcut accept", daemon=True).start()

    def arm(self, pattern: str, mode: Literal["reply", "late"] = "reply") -> None:
        """Break the next connection that sends ``pattern`` (once), as ``mode`` says."""
        with self._lock:
            self._pattern = pattern.encode()
            self._mode = mode

    def __enter__(self) -> CuttingProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self._closed = True
        self._listener.close()
        for pair in self._pairs:
            pair.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self._server_port))
            pair = _Pair(client, server)
            self._pairs.append(pair)
            threading.Thread(target=self._up, args=(pair,), daemon=True).start()
            threading.Thread(target=self._down, args=(pair,), daemon=True).start()

    def _up(self, pair: _Pair) -> None:
        """Client → server."""
        while (data := _read(pair, pair.client)) is not None:
            with self._lock:
                pattern = self._pattern
                hit = pattern is not None and pattern in data
                held = self._held
                if hit and held is None and self._mode == "late":
                    # The first try: hold it, and cut the client off.
                    self._held = (pair, data)  # the pattern stays armed for the second
                    pair.zombie = True
                    self.cuts += 1
                elif hit and held is not None:
                    self._pattern = None
                    self._held = None
                elif hit:
                    self._pattern = None
                    pair.cut_reply = True
            if pair.zombie:
                pair.close_client()
                return
            if hit and held is not None:
                # The second try: the first one commits first.
                first, statement = held
                first.server.sendall(statement)
                first.replied.wait(10)
                first.close()
            try:
                pair.server.sendall(data)
            except OSError:
                return

    def _down(self, pair: _Pair) -> None:
        """Server → client."""
        while (data := _read(pair, pair.server)) is not None:
            if pair.cut_reply or pair.zombie:
                pair.reply += data
                if _READY in pair.reply:
                    pair.replied.set()
                    if pair.cut_reply:
                        with self._lock:
                            self.cuts += 1
                        pair.close()
                        return
                continue
            try:
                pair.client.sendall(data)
            except OSError:
                return
