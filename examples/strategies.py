"""Supervisor strategies side by side: one_for_one, one_for_all, rest_for_one.

Run it::

    python examples/strategies.py [--fast]

Three workers, a, b and c, start in that order under a supervisor. Then b crashes.
What the supervisor does next depends on its strategy:

=============  ===================================================  ===================
strategy       what happens, in order                               new pids
=============  ===================================================  ===================
one_for_one    start b                                              b
one_for_all    terminate c, terminate a, start a, start b, start c  a, b, c
rest_for_one   terminate c, start b, start c                        b, c (a is kept)
=============  ===================================================  ===================

The siblings are stopped in *reverse* start order, with reason "shutdown" (their
``terminate`` runs), and everything is started again in start order. Leaving the
``async with Supervisor.open(...)`` block stops all children, in reverse start order.

Pick one_for_one when children are independent, one_for_all when they only make sense
together, rest_for_one when later children depend on earlier ones (a connection pool
started after the database client it uses, say).

Lesson on ordering: a supervisor handles one message at a time, in order. The notice
of b's exit reaches it before any request we send after b has exited, so once
``await Supervisor.which_children(sup)`` answers, the restarts are done: no sleeping
and hoping.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
from typing import Any

import trio
import trio.testing

import trio_otp as otp
from trio_otp import Supervisor

#: What the workers did, in order ("start a", "terminate c (shutdown)", ...).
Events = list[str]


class Worker(otp.GenServer[tuple[str, Events]]):
    """A worker that says when it starts and stops, and crashes when told to."""

    async def init(self, arg: tuple[str, Events]) -> otp.Ok[tuple[str, Events]]:
        name, events = arg
        events.append(f"start {name}")
        print(f"  start {name} {self.pid}")
        return otp.Ok(arg)

    async def handle_cast(
        self, request: Any, state: tuple[str, Events]
    ) -> otp.NoReply[tuple[str, Events]]:
        name, events = state
        if request == "crash":
            events.append(f"{name} crashes")
            print(f"  {name} crashes")
            raise RuntimeError(f"{name} crashed")
        return otp.NoReply(state)

    async def terminate(self, reason: object, state: tuple[str, Events]) -> None:
        name, events = state
        # terminate runs on a crash too, with the exception as the reason.
        shown = reason if isinstance(reason, str) else type(reason).__name__
        events.append(f"terminate {name} ({shown})")
        print(f"  terminate {name} ({shown})")


def worker(name: str, events: Events) -> otp.ChildSpec:
    """The spec of one worker: its id and its registered name are both ``name``."""
    return Worker.child_spec((name, events), name=name, id=name)


@dataclasses.dataclass
class Outcome:
    """What one strategy did after b crashed."""

    events: Events  # from b's crash until the restarts were done
    restarted: list[str]  # the workers with a new pid
    shutdown: Events  # when the supervisor stopped


async def crash_b(strategy: otp.Strategy) -> Outcome:
    """Run a, b, c under ``strategy`` and crash b."""
    print()
    print(f"=== strategy={strategy} ===")
    events: Events = []
    children = [worker(name, events) for name in "abc"]
    async with Supervisor.open(children, strategy=strategy) as sup:
        events.clear()
        before = {name: otp.whereis(name) for name in "abc"}
        b = before["b"]
        assert b is not None
        print("b crashes; the supervisor reacts:")
        otp.cast("b", "crash")
        await b.wait_exited()
        # Queued behind the news of b's exit: answered once the restarts are done.
        await Supervisor.which_children(sup)
        after = {name: otp.whereis(name) for name in "abc"}
        new = [name for name in "abc" if after[name] != before[name]]
        kept = [name for name in "abc" if after[name] == before[name]]
        print(f"new pids: {', '.join(new) or '-'}; same pids: {', '.join(kept) or '-'}")
        outcome = Outcome(events[:], new, [])
        events.clear()
        print("leaving the block stops the supervisor: children in reverse start order")
    outcome.shutdown = events[:]
    return outcome


async def main() -> dict[str, Outcome]:
    """Crash b under each strategy; return what happened, per strategy."""
    print("Three workers a, b, c start in that order under a supervisor; then b crashes.")
    print("What happens next depends on the supervisor's strategy.")
    return {strategy: await crash_b(strategy) for strategy in otp.Strategy}


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
