"""A connection pool that monitors its clients and reclaims what they leave behind.

Run it::

    python examples/connection_pool.py [--fast]

What it teaches:

* ``from_.pid`` says who called (OTP's ``{pid, tag}``), so the pool can
  ``otp.monitor`` each client that checks a connection out, without asking for its
  pid. A client that crashes, or simply exits without checking in, gives an
  ``otp.Down(ref, pid, reason)`` message, and the pool takes the connection back
  (resetting it first). Nothing leaks, whatever the clients do.
* Checking in demonitors with ``flush=True``: a ``Down`` that might already be
  queued is dropped, so a connection is never reclaimed twice.
* When the pool is empty, ``checkout`` keeps the caller's ``from_`` (``NoReply``) and
  answers later. A waiting caller may give up (its call timed out); ``reply`` does not
  say whether anyone was still waiting, so the pool checks ``from_.caller is None``
  first and skips callers that are gone instead of handing them a connection that
  would then be lost.
"""

from __future__ import annotations

import argparse
import collections
import logging
import os
import sys
from typing import Any

import attrs
import trio
import trio.testing

import trio_otp as otp
from trio_otp import DynamicSupervisor, Task


@attrs.define(eq=False)
class Connection:
    """A pretend database connection."""

    id: int
    resets: int = 0

    def reset(self) -> None:
        self.resets += 1


@attrs.define
class PoolState:
    free: collections.deque[Connection]
    out: dict[otp.Ref, tuple[Connection, otp.Pid]] = attrs.field(factory=dict)
    waiting: collections.deque[otp.From] = attrs.field(factory=collections.deque)
    reclaimed: list[tuple[int, str]] = attrs.field(factory=list)
    skipped: int = 0


class Pool(otp.GenServer[PoolState]):
    async def init(self, size: int) -> otp.Ok[PoolState]:
        return otp.Ok(PoolState(collections.deque(Connection(i) for i in range(1, size + 1))))

    async def handle_call(self, request: Any, from_: otp.From, pool: PoolState) -> Any:
        match request:
            case "checkout":
                if from_.pid is None:
                    raise ValueError("check out from a process (a Task, a GenServer, a mailbox)")
                if pool.free:
                    return otp.Reply(self.lend(pool.free.popleft(), from_, pool), pool)
                pool.waiting.append(from_)
                return otp.NoReply(pool)  # answered by release() later
            case "stats":
                stats = {
                    "free": sorted(c.id for c in pool.free),
                    "out": len(pool.out),
                    "reclaimed": list(pool.reclaimed),
                    "skipped": pool.skipped,
                }
                return otp.Reply(stats, pool)
        raise ValueError(f"unknown request {request!r}")

    async def handle_cast(self, request: Any, pool: PoolState) -> otp.NoReply[PoolState]:
        match request:
            case ("checkin", Connection() as conn):
                for ref, (lent, _) in pool.out.items():
                    if lent is conn:
                        del pool.out[ref]
                        otp.demonitor(ref, flush=True)  # its Down will never come
                        self.release(conn, pool)
                        break
        return otp.NoReply(pool)

    async def handle_info(self, message: Any, pool: PoolState) -> otp.NoReply[PoolState]:
        match message:
            case otp.Down(ref=ref, pid=pid, reason=reason) if ref in pool.out:
                conn, _ = pool.out.pop(ref)
                conn.reset()
                why = "left without checking in" if otp.is_normal_exit(reason) else repr(reason)
                print(f"  [{at()}] reclaimed connection {conn.id} from {pid}: {why}")
                pool.reclaimed.append((conn.id, why))
                self.release(conn, pool)
        return otp.NoReply(pool)

    def lend(self, conn: Connection, from_: otp.From, pool: PoolState) -> Connection:
        assert from_.pid is not None
        pool.out[otp.monitor(from_.pid)] = (conn, from_.pid)
        return conn

    def release(self, conn: Connection, pool: PoolState) -> None:
        while pool.waiting:
            from_ = pool.waiting.popleft()
            if from_.caller is None:  # gave up waiting: do not lend to nobody
                pool.skipped += 1
                continue
            otp.reply(from_, self.lend(conn, from_, pool))
            return
        pool.free.append(conn)


START = 0.0


def at() -> str:
    return f"t={trio.current_time() - START:4.2f}"


async def main() -> dict[str, Any]:
    """Five clients, two connections; return the pool's statistics for the tests."""
    global START
    START = trio.current_time()
    timeline: list[str] = []

    def note(line: str) -> None:
        timeline.append(f"[{at()}] {line}")
        print(f"  [{at()}] {line}")

    async def polite(name: str, hold: float) -> None:
        conn = await otp.call("pool", "checkout")
        note(f"{name} got connection {conn.id}")
        await trio.sleep(hold)
        otp.cast("pool", ("checkin", conn))
        note(f"{name} checked connection {conn.id} in")

    async def crashing(name: str, after: float) -> None:
        conn = await otp.call("pool", "checkout")
        note(f"{name} got connection {conn.id}")
        await trio.sleep(after)
        raise RuntimeError(f"{name} lost its mind")

    async def forgetful(name: str, hold: float) -> None:
        conn = await otp.call("pool", "checkout")
        note(f"{name} got connection {conn.id}, and will forget to check it in")
        await trio.sleep(hold)

    async def impatient(name: str, patience: float) -> None:
        try:
            await otp.call("pool", "checkout", timeout=patience)
        except otp.CallTimeout:
            note(f"{name} gave up waiting after {patience:g} s")

    async with trio.open_nursery() as nursery:
        await Pool.start(nursery, 2, name="pool")
        clients = await DynamicSupervisor.start(nursery, name="clients")

        async def client(delay: float, fn: Any, *args: Any) -> None:
            await trio.sleep(delay)
            await DynamicSupervisor.start_child(clients, Task.child_spec(fn, *args))

        print("a pool of 2 connections; 5 clients:")
        async with trio.open_nursery() as arrivals:
            arrivals.start_soon(client, 0.0, polite, "ann", 1.0)
            arrivals.start_soon(client, 0.05, crashing, "bo", 0.5)
            arrivals.start_soon(client, 0.1, impatient, "cy", 0.2)
            arrivals.start_soon(client, 0.2, forgetful, "di", 1.0)
            arrivals.start_soon(client, 0.25, polite, "ed", 0.5)
            await trio.sleep(3)
        stats = await otp.call("pool", "stats")
        print(f"after 3 s: {stats}")
        await DynamicSupervisor.stop(clients)
        await otp.stop("pool")
    return {"stats": stats, "timeline": timeline}


def cli(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--fast",
        action="store_true",
        default=os.environ.get("TRIO_OTP_DEMO_FAST", "") not in ("", "0"),
        help="run on a virtual clock (trio.testing.MockClock)",
    )
    args = parser.parse_args(argv)
    # bo's crash is reported on trio_otp.task; the pool prints what matters here.
    logging.getLogger("trio_otp.task").setLevel(logging.CRITICAL)
    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0) if args.fast else None)
    return 0


if __name__ == "__main__":
    sys.exit(cli())
