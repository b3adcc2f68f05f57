"""An application with the observer in its tree: see your system in a browser.

Run it::

    python examples/observer_app.py --port 8001            # then open http://127.0.0.1:8001/
    python examples/observer_app.py --port 8001 --actions  # with kill / cancel / retry buttons
    python examples/observer_app.py --host 0.0.0.0 --token "$(openssl rand -hex 16)"

The tree: a counter server, a "cache" server that holds some state (with a secret that
its ``format_status`` hides), a pool of three workers under their own supervisor,
a job queue with a retry policy that receives a job every few seconds (one in five
fails, twice, so that it fails for good), and the observer itself.

It prints ``observer: <url>`` once the observer listens. With ``--commands`` it reads
commands from standard input, one a line (the browser tests drive it so):
``crash NAME`` (make that server crash), ``fail`` (a job that fails for good),
``job`` (a job that works), ``quit``. SIGINT / Ctrl-C stops it in order.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from typing import Any

import trio

import trio_otp as otp
from trio_otp.observer import Observer


class Counter(otp.GenServer[int]):
    """Counts; ``crash`` makes it raise (its supervisor restarts it)."""

    async def init(self, start: int) -> otp.Ok[int]:
        return otp.Ok(start)

    async def handle_call(self, request: Any, from_: otp.From, count: int) -> otp.Reply[int]:
        if request == "crash":
            raise RuntimeError("asked to crash")
        return otp.Reply(count + 1, count + 1)

    async def handle_cast(self, request: Any, count: int) -> otp.NoReply[int]:
        if request == "crash":
            raise RuntimeError("asked to crash")
        return otp.NoReply(count + 1)


class Cache(otp.GenServer[dict[str, Any]]):
    """Counts hits in a state with a secret that its format_status keeps out of view."""

    async def init(self, start: int) -> otp.Ok[dict[str, Any]]:
        return otp.Ok({"hits": start, "password": "hunter2", "keys": list(range(40))})

    async def handle_cast(self, request: Any, state: dict[str, Any]) -> otp.NoReply[dict[str, Any]]:
        if request == "crash":
            raise RuntimeError("asked to crash")
        return otp.NoReply({**state, "hits": state["hits"] + 1})

    def format_status(self, state: dict[str, Any]) -> object:
        return {**state, "password": "***"}


async def good_job(n: int) -> int:
    await trio.sleep(0.2)
    return n * 2


async def bad_job(n: int) -> int:
    await trio.sleep(0.1)
    raise ValueError(f"job {n} cannot be done")


def children(args: argparse.Namespace) -> list[Any]:
    workers = [Counter.child_spec(0, id=f"worker{i}", name=f"worker{i}") for i in range(1, 4)]
    observer = Observer.child_spec(
        host=args.host, port=args.port, token=args.token, actions=args.actions, interval=0.5
    )
    return [
        Counter.child_spec(0, id="counter", name="counter"),
        Cache.child_spec(0, id="cache", name="cache"),
        (otp.Supervisor, {"children": workers, "name": "workers", "strategy": "one_for_all"}),
        (otp.JobQueue, {"name": "jobs", "retry": otp.RetryPolicy(attempts=2, wait_initial=0.1)}),
        observer,
    ]


async def feed_jobs() -> None:
    """A job every 2 seconds; every fifth fails."""
    n = 0
    while True:
        await trio.sleep(2)
        n += 1
        queue = otp.JobQueue.lookup("jobs")
        await queue.submit(bad_job if n % 5 == 0 else good_job, n)
        otp.cast("counter", "tick")
        otp.cast("cache", "hit")


async def commands(done: trio.Event) -> None:
    """Read ``crash NAME`` / ``fail`` / ``job`` / ``quit`` lines from standard input."""
    stream = trio.lowlevel.FdStream(os.dup(sys.stdin.fileno()))
    buffer = b""
    n = 1000
    async with stream:
        while not done.is_set():
            data = await stream.receive_some()
            if not data:
                break
            buffer += data
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                words = line.decode().split()
                n += 1
                if words[:1] == ["crash"] and len(words) == 2:
                    otp.cast(words[1], "crash")
                elif words == ["fail"]:
                    await otp.JobQueue.lookup("jobs").submit(bad_job, n)
                elif words == ["job"]:
                    await otp.JobQueue.lookup("jobs").submit(good_job, n)
                elif words == ["quit"]:
                    done.set()
                print(f"ok: {line.decode()}", flush=True)


async def main(args: argparse.Namespace) -> None:
    done = trio.Event()
    async with trio.open_nursery() as nursery, otp.Supervisor.open(children(args), name="app"):
        [observer] = Observer.running()
        print(f"observer: {observer.url}", flush=True)
        nursery.start_soon(feed_jobs)
        if args.commands:
            nursery.start_soon(commands, done)
        await done.wait()
        nursery.cancel_scope.cancel()


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--token", default=None)
    parser.add_argument("--actions", action="store_true", help="allow kill/cancel/retry")
    parser.add_argument("--commands", action="store_true", help="read commands on stdin")
    return parser.parse_args(argv)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        trio.run(main, parse())
