"""Telemetry: count what a supervision tree does, and export the counters.

Run it::

    python examples/telemetry_counters.py [--fast]

trio_otp emits telemetry events in the shape of Elixir's ``:telemetry``: a name
(``("trio_otp", "call", "stop")``), measurements (a call's ``duration``) and metadata
(the server, the request). This program attaches **one handler** to all of them with
``otp.attach_many_telemetry`` and keeps counters, then prints them in Prometheus'
text format, as a metrics endpoint would serve them:

* processes started and exited, by kind (GenServer, Supervisor, Task) and by exit
  reason (``normal``, ``shutdown``, or the exception's class);
* child restarts by child id, and supervisors that gave up;
* calls: how many, how long in all and at most (``call`` ``stop`` events), and how
  many failed (``exception`` events: a timeout here).

The tree: ``app`` supervises a ``Counter`` server (which crashes on the cast
``"boom"``) and a DynamicSupervisor ``jobs`` that runs five short tasks.

What it teaches:

* A handler runs synchronously in the task that emits, so it must be quick and must
  not block: here it only adds to a ``collections.Counter``.
* A handler is attached under an id and detached by it (``otp.detach_telemetry``):
  handlers are process-wide, like logging handlers, so detach them when done.
* When no handler listens, trio_otp skips all of this: each place that emits checks
  one boolean.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import logging
import os
import sys
from collections.abc import Mapping
from typing import Any

import trio
import trio.testing

import trio_otp as otp


@dataclasses.dataclass
class Metrics:
    """Counters, keyed by (metric name, labels), plus the slowest call."""

    counters: collections.Counter[tuple[str, tuple[tuple[str, str], ...]]] = dataclasses.field(
        default_factory=collections.Counter
    )
    max_call_seconds: float = 0.0

    def inc(self, name: str, amount: float = 1, **labels: object) -> None:
        key = (name, tuple(sorted((k, str(v)) for k, v in labels.items())))
        self.counters[key] += amount  # type: ignore[assignment]

    def value(self, name: str, **labels: object) -> float:
        return self.counters[(name, tuple(sorted((k, str(v)) for k, v in labels.items())))]

    def export(self) -> str:
        """The counters in Prometheus' text exposition format."""
        lines = []
        for (name, labels), value in sorted(self.counters.items()):
            shown = ",".join(f'{k}="{v}"' for k, v in labels)
            lines.append(f"{name}{{{shown}}} {value:g}" if shown else f"{name} {value:g}")
        lines.append(f"trio_otp_call_duration_seconds_max {self.max_call_seconds:g}")
        return "\n".join(lines)


def _reason_label(reason: object) -> str:
    if isinstance(reason, BaseException):
        return type(reason).__name__
    return reason if isinstance(reason, str) else "other"


def handle_event(
    event: tuple[str, ...], measurements: Mapping[str, float], meta: Mapping[str, Any], m: Metrics
) -> None:
    """The one handler: turn each trio_otp event into counter updates."""
    match event:
        case ("trio_otp", "process", "start"):
            m.inc("trio_otp_process_starts_total", kind=meta["kind"])
        case ("trio_otp", "process", "exit"):
            m.inc(
                "trio_otp_process_exits_total",
                kind=meta["kind"],
                reason=_reason_label(meta["reason"]),
            )
        case ("trio_otp", "supervisor", "restart"):
            child = meta["child_id"]
            m.inc("trio_otp_child_restarts_total", child=getattr(child, "__qualname__", child))
        case ("trio_otp", "supervisor", "gave_up"):
            m.inc("trio_otp_supervisor_gave_up_total")
        case ("trio_otp", "call", "stop"):
            m.inc("trio_otp_call_duration_seconds_count")
            m.inc("trio_otp_call_duration_seconds_sum", measurements["duration"])
            m.max_call_seconds = max(m.max_call_seconds, measurements["duration"])
        case ("trio_otp", "call", "exception"):
            m.inc("trio_otp_call_exceptions_total", error=type(meta["reason"]).__name__)


class Counter(otp.GenServer[int]):
    """Counts; a ``"slow"`` call takes 0.25 s, a ``"silent"`` one is never answered."""

    async def handle_call(self, request: Any, from_: otp.From, count: int) -> Any:
        if request == "slow":
            await trio.sleep(0.25)
        if request == "silent":
            return otp.NoReply(count)
        return otp.Reply(count + 1, count + 1)

    async def handle_cast(self, request: Any, count: int) -> otp.NoReply[int]:
        raise RuntimeError(request)


async def job(n: int) -> int:
    await trio.sleep(0.1 * n)
    return n * n


EVENTS = [
    ("trio_otp", "process", "start"),
    ("trio_otp", "process", "exit"),
    ("trio_otp", "supervisor", "restart"),
    ("trio_otp", "supervisor", "gave_up"),
    ("trio_otp", "call", "stop"),
    ("trio_otp", "call", "exception"),
]


async def main() -> Metrics:
    """Run the workload with the handler attached; print and return the counters."""
    metrics = Metrics()
    otp.attach_many_telemetry("counters", EVENTS, handle_event, metrics)
    try:
        children = [
            Counter.child_spec(0, name="counter"),
            (otp.DynamicSupervisor, {"name": "jobs"}),
        ]
        async with otp.Supervisor.open(children, name="app"):
            for _ in range(10):
                await otp.call("counter", "inc")
            await otp.call("counter", "slow")
            for _ in range(2):  # two crashes, two restarts
                old = otp.whereis("counter")
                assert old is not None
                otp.cast("counter", "boom")
                await old.wait_exited()
                await otp.Supervisor.which_children("app")  # answered once restarted
                await otp.call("counter", "inc")
            try:
                await otp.call("counter", "silent", timeout=0.5)
            except otp.CallTimeout:
                print("a call timed out after 0.5 s (counted as an exception event)")
            tasks = [await otp.Task.async_nolink("jobs", job, n) for n in range(1, 6)]
            print("job results:", [await t.wait() for t in tasks])
    finally:
        otp.detach_telemetry("counters")
    print()
    print("# the counters, as a /metrics endpoint would serve them")
    print(metrics.export())
    return metrics


def cli(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--fast",
        action="store_true",
        default=os.environ.get("TRIO_OTP_DEMO_FAST", "") not in ("", "0"),
        help="run on a virtual clock (trio.testing.MockClock)",
    )
    args = parser.parse_args(argv)
    # The two crashes are on purpose: keep their crash reports out of the output.
    logging.getLogger("trio_otp.gen_server").setLevel(logging.CRITICAL)
    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0) if args.fast else None)
    return 0


if __name__ == "__main__":
    sys.exit(cli())
