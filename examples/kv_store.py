"""A key-value store GenServer: calls, casts, raw messages, timeouts, stop and restart.

Run it::

    python examples/kv_store.py [--fast]

What it teaches:

* A GenServer owns its state; everybody else talks to it with messages. ``put`` is a
  *cast* (fire and forget: nothing to wait for), ``get`` and ``delete`` are *calls*
  (the caller waits for the reply). One server handles one message at a time, in order.
* ``handle_info`` receives raw messages: here a "sweep" message that expires old keys,
  sent by a timer. ``otp.send_after(self.pid, "sweep", 1.0)`` (OTP's
  ``Process.send_after``) costs no task; the handler sets the next timer, which is
  the periodic-work idiom. The timer dies with the process: a restarted KV sets its own.
* ``otp.call`` gives up after its timeout (default 5 s) with ``otp.CallTimeout``; the
  server is not interrupted and its late reply is dropped.
* ``terminate`` runs when the server stops: on ``otp.stop``, on a crash, on shutdown.
* Under a supervisor, the store is restarted *under the same name*, so callers that
  use the name keep working, but the state starts over: it lived in the old process.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Any

import trio
import trio.testing

import trio_otp as otp
from trio_otp import Supervisor

#: Seconds between two sweeps of expired keys.
SWEEP_EVERY = 1.0

#: key -> (value, expiry time or None)
Table = dict[str, tuple[object, float | None]]


class KV(otp.GenServer[Table]):
    """The store, registered under its class name: call it as ``KV``."""

    @classmethod
    def child_spec(cls, arg: Any = None, **overrides: Any) -> otp.ChildSpec:
        return super().child_spec(arg, name=cls, **overrides)

    async def init(self, arg: None) -> otp.Ok[Table]:
        print(f"  [KV {self.pid}] init: empty table")
        otp.send_after(self.pid, "sweep", SWEEP_EVERY)  # the first tick
        return otp.Ok({})

    async def handle_cast(self, request: Any, table: Table) -> otp.NoReply[Table]:
        match request:
            case ("put", key, value, ttl):
                expires = None if ttl is None else trio.current_time() + ttl
                table[key] = (value, expires)
        return otp.NoReply(table)

    async def handle_call(
        self, request: Any, from_: otp.From, table: Table
    ) -> otp.Reply[Table] | otp.NoReply[Table]:
        match request:
            case ("get", key):
                value, _ = table.get(key, (None, None))
                return otp.Reply(value, table)
            case ("delete", key):
                value, _ = table.pop(key, (None, None))
                return otp.Reply(value, table)
            case ("slow_get", key, seconds):
                # A slow request: while it runs, the server handles nothing else.
                await trio.sleep(seconds)
                value, _ = table.get(key, (None, None))
                return otp.Reply(value, table)
        raise ValueError(f"KV does not understand {request!r}")

    async def handle_info(self, message: Any, table: Table) -> otp.NoReply[Table] | otp.Stop[Table]:
        if message == "sweep":
            otp.send_after(self.pid, "sweep", SWEEP_EVERY)  # the next tick: periodic work
            now = trio.current_time()
            expired = [k for k, (_, at) in table.items() if at is not None and at <= now]
            for key in expired:
                del table[key]
            if expired:
                print(f"  [KV {self.pid}] sweep: expired {expired}")
            return otp.NoReply(table)
        return await super().handle_info(message, table)  # logs an unexpected message

    async def terminate(self, reason: object, table: Table) -> None:
        print(f"  [KV {self.pid}] terminate({reason!r}) with {len(table)} key(s)")


# The client API, Elixir style: functions that hide the message format.


def put(key: str, value: object, ttl: float | None = None) -> None:
    """Store ``value`` (for ``ttl`` seconds). A cast: returns at once."""
    otp.cast(KV, ("put", key, value, ttl))


async def get(key: str) -> object:
    return await otp.call(KV, ("get", key))


async def delete(key: str) -> object:
    return await otp.call(KV, ("delete", key))


def step(title: str) -> None:
    print()
    print(f"--- {title} ---")


async def main() -> dict[str, Any]:
    """Tell the story; return a few facts for the tests."""
    facts: dict[str, Any] = {}
    start = trio.current_time()

    def at() -> str:
        return f"[t={trio.current_time() - start:4.2f}]"

    children = [KV]
    print("Starting kv_sup, a supervisor of KV (which sweeps itself, on a timer):")
    async with Supervisor.open(children, name="kv_sup") as sup:
        step("casts and calls")
        put("a", 1)
        put("b", 2, ttl=1.5)
        print('put("a", 1); put("b", 2, ttl=1.5)   # casts: nothing to wait for')
        facts["get_a"] = await get("a")
        print(f'get("a") -> {facts["get_a"]!r}   # the casts were handled first: in order')
        print(f'get("b") -> {await get("b")!r}')
        print(f'get("nope") -> {await get("nope")!r}')

        step("handle_info: a send_after timer's messages expire keys")
        await trio.sleep(2.5)
        facts["get_b_expired"] = await get("b")
        print(f'{at()} get("b") -> {facts["get_b_expired"]!r}; get("a") -> {await get("a")!r}')

        step("a call that times out")
        began = trio.current_time()
        try:
            await otp.call(KV, ("slow_get", "a", 2.0), timeout=0.5)
        except otp.CallTimeout as exc:
            facts["timeout_after"] = trio.current_time() - began
            print(f"{at()} otp.CallTimeout after {facts['timeout_after']:.2f} s: {exc}")
        began = trio.current_time()
        value = await get("a")
        facts["queued_get_after"] = trio.current_time() - began
        print(
            f'{at()} get("a") -> {value!r}, answered after {facts["queued_get_after"]:.2f} s: '
            "it waited behind the slow request; the slow reply itself was dropped"
        )

        step("stop: terminate runs, the supervisor restarts KV under the same name")
        old = otp.whereis(KV)
        put("c", 3)
        await otp.stop(KV)
        # The supervisor handles its messages in order: the news of KV's exit came
        # first, so when this call returns KV has been restarted.
        await Supervisor.which_children(sup)
        new = otp.whereis(KV)
        facts["restarted_after_stop"] = new is not None and new != old
        print(f"KV was {old}, is now {new} (a permanent child is restarted even after")
        print("a normal stop: terminate_child is the way to stop it for good)")
        facts["get_c_after_restart"] = await get("c")
        print(f'get("c") -> {facts["get_c_after_restart"]!r}   # it died with the old process')

        step("a crash: the caller learns at once, KV is restarted")
        old = otp.whereis(KV)
        began = trio.current_time()
        try:
            await otp.call(KV, ("frobnicate",))
        except otp.CalleeExit as exc:
            facts["callee_exit_after"] = trio.current_time() - began
            print(f"otp.CalleeExit after {facts['callee_exit_after']:.2f} s: {exc}")
        await Supervisor.which_children(sup)
        print(f"KV was {old}, is now {otp.whereis(KV)}")
        put("d", 4)
        print(f'put("d", 4); get("d") -> {await get("d")!r}')

        step("terminate_child: stopped for good")
        await Supervisor.terminate_child(sup, KV)
        facts["whereis_after_terminate"] = otp.whereis(KV)
        print(f"whereis(KV) -> {facts['whereis_after_terminate']}")
        put("e", 5)
        print('put("e", 5)   # a cast to nobody is dropped silently')
        try:
            await get("e")
        except otp.NoProcessError as exc:
            facts["no_process"] = str(exc)
            print(f"otp.NoProcessError: {exc}")
        await Supervisor.restart_child(sup, KV)
        print(f'restart_child -> {otp.whereis(KV)}; get("a") -> {await get("a")!r}')
        print("leaving the block: the supervisor stops its children in reverse order")
    return facts


class OneLineFormatter(logging.Formatter):
    """A crash report on one line: who crashed and why (no traceback)."""

    def format(self, record: logging.LogRecord) -> str:
        lines = record.getMessage().splitlines()
        return f"  [{record.levelname} {record.name}] {' '.join(lines[:2])}"


def cli(argv: list[str] | None = None) -> int:
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
