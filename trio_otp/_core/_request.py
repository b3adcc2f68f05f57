"""Typed requests: make a call's reply type known to the type checker.

:func:`~trio_otp.call` returns ``Any``, since a GenServer may answer anything (OTP's
``GenServer.call`` returns ``term()``). A request whose class derives from
:class:`Request`\\ ``[R]`` tells the checker that its server replies with an ``R``:
``await otp.call(server, Get("a"))`` is then an ``R`` to mypy and pyright, and the
client function that wraps it needs no ``cast``. Nothing changes at run time: the
request is an ordinary value that ``handle_call`` receives and matches on, and the
server is trusted to reply with an ``R``.
"""

from __future__ import annotations

from typing import Generic, TypeVar

R = TypeVar("R", covariant=True)


class Request(Generic[R]):
    """Base class of a request whose reply has the type ``R``.

    Derive a request class from it (an attrs record or a dataclass suits), match it
    in ``handle_call``, and reply with an ``R``::

        @attrs.frozen
        class Get(otp.Request[int | None]):
            key: str


        class Store(otp.GenServer[dict[str, int]]):
            async def handle_call(self, request, from_, data):
                match request:
                    case Get(key):
                        return otp.Reply(data.get(key), data)
                ...


        async def get(key: str) -> int | None:
            return await otp.call("store", Get(key))  # int | None, no cast

    Calls with any other request still return ``Any``.
    """

    __slots__ = ()
