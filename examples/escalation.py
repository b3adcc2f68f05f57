"""Restart intensity and escalation: how a supervision tree gives up, level by level.

Run it::

    python examples/escalation.py [--fast]

The tree::

    outer (one_for_one, max_restarts=2, max_seconds=5)
    ├── inner (one_for_one, max_restarts=3, max_seconds=5)
    │   └── Flaky     crashes 0.1 s after every start
    └── Steady        a well-behaved sibling

What it teaches:

* A supervisor restarts a crashed child, but only so often: more than
  ``max_restarts`` restarts within ``max_seconds`` and it gives up. It stops its other
  children and exits with reason ``"shutdown"``. Restarting forever would only hide a
  fault that restarting does not fix.
* Giving up *escalates*: to its parent, the inner supervisor is just a child that
  exited, so the outer supervisor restarts it (a new inner, a fresh Flaky) and counts
  that restart against its own limit. Steady, under one_for_one, is left alone.
* At the top, nobody is left to restart anything. ``Supervisor.open`` raises
  ``otp.RestartIntensityError`` to the code that opened the tree, inside an exception
  group (trio's nurseries group errors), so catch it with ``except*``.

Flaky crashes 4 times per inner supervisor (the first start plus 3 restarts); the
outer supervisor restarts inner twice, and gives up when inner fails a third time.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys

import trio
import trio.testing

import trio_otp as otp
from trio_otp import Supervisor


@dataclasses.dataclass
class Log:
    """What happened, shared by the workers and the story (with times)."""

    start: float = 0.0
    crashes: int = 0
    inner_pids: list[otp.Pid] = dataclasses.field(default_factory=list)
    lines: list[str] = dataclasses.field(default_factory=list)

    def say(self, text: str) -> None:
        line = f"[t={trio.current_time() - self.start:4.2f}] {text}"
        self.lines.append(line)
        print(line)


class Flaky(otp.GenServer[Log]):
    """Starts fine, then crashes 0.1 s later."""

    async def init(self, log: Log) -> otp.Ok[Log]:
        inner = self.pid.parent
        assert inner is not None
        if not log.inner_pids or log.inner_pids[-1] != inner:
            if log.inner_pids:
                old = log.inner_pids[-1]
                log.say(f"outer restarted inner: {old} exited ({old.exit_reason!r}), now {inner}")
            log.inner_pids.append(inner)
        log.say(f"  Flaky {self.pid} started under inner {inner}")
        # Continue: let init return (the supervisor goes on), then do the work.
        return otp.Ok(log, otp.Continue("work"))

    async def handle_continue(self, arg: object, log: Log) -> otp.NoReply[Log]:
        await trio.sleep(0.1)
        log.crashes += 1
        log.say(f"  Flaky {self.pid} crashes (crash #{log.crashes})")
        raise RuntimeError(f"crash #{log.crashes}")


class Steady(otp.GenServer[Log]):
    async def init(self, log: Log) -> otp.Ok[Log]:
        log.say(f"Steady {self.pid} started")
        return otp.Ok(log)

    async def terminate(self, reason: object, log: Log) -> None:
        log.say(f"Steady {self.pid} terminate({reason!r})")


async def main() -> Log:
    """Run the tree until it gives up; return the log (for the tests)."""
    log = Log(start=trio.current_time())
    inner = Supervisor.child_spec(
        (
            Supervisor,
            {
                "children": [Flaky.child_spec(log)],
                "max_restarts": 3,
                "max_seconds": 5,
                "name": "inner",
            },
        )
    )
    children = [inner, Steady.child_spec(log)]
    print("Opening the tree: outer over [inner over [Flaky], Steady].")
    print("Flaky crashes 0.1 s after each start; watch the limits run out, level by level.")
    try:
        async with Supervisor.open(children, max_restarts=2, max_seconds=5, name="outer") as top:
            print(await otp.render_tree(top))
            await trio.sleep_forever()  # the tree runs until it gives up
    except* otp.RestartIntensityError as group:
        for error in group.exceptions:
            log.say(f"caught RestartIntensityError: {error}")
            assert isinstance(error, otp.RestartIntensityError)
            log.say(f"  (outer's last straw: child {error.child_id!r}, reason {error.reason!r})")
    log.say(f"in all: {log.crashes} crashes, {len(log.inner_pids)} inner supervisors")
    print("Each supervisor stopped what it supervised before exiting: nothing is left running.")
    return log


class OneLineFormatter(logging.Formatter):
    """A report on one line: who and why (no traceback), with OTP's severity."""

    def format(self, record: logging.LogRecord) -> str:
        lines = record.getMessage().splitlines()
        # Progress is logged at INFO, failures at WARNING+; otp_severity is OTP's word.
        severity = str(getattr(record, "otp_severity", record.levelname)).upper()
        return f"  [{severity} {record.name}] {' '.join(lines[:2])}"


class GiveUps(logging.Filter):
    """Of the supervisor reports, keep only "caused shutdown" (a supervisor gave up)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.name != "trio_otp.supervisor" or "caused shutdown" in record.getMessage()


def cli(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--fast",
        action="store_true",
        default=os.environ.get("TRIO_OTP_DEMO_FAST", "") not in ("", "0"),
        help="run on a virtual clock (trio.testing.MockClock)",
    )
    parser.add_argument(
        "--crash-reports", action="store_true", help="also print every crash report"
    )
    args = parser.parse_args(argv)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(OneLineFormatter())
    handler.addFilter(GiveUps())
    logging.basicConfig(handlers=[handler])
    # Supervisor reports are INFO (off by default, like OTP's SASL reports).
    logging.getLogger("trio_otp.supervisor").setLevel(logging.INFO)
    if not args.crash_reports:
        logging.getLogger("trio_otp.gen_server").setLevel(logging.CRITICAL)
    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0) if args.fast else None)
    return 0


if __name__ == "__main__":
    sys.exit(cli())
