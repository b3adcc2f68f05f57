"""One node of the multi-node PostgreSQL tests (tests/test_postgres_nodes.py): a real OS
process running a durable JobQueue on a shared PostgresStore until SIGTERM.

    python postgres_node_program.py DSN OUT_DIR

Environment: ``NODE_QUEUES`` (JSON ``{"name": max_running}``, default ``{"q": 20}``),
``NODE_HEARTBEAT`` / ``NODE_RESCUE_AFTER`` (seconds, default 0.3 / 1.5),
``NODE_CRON`` (``1``: an every-1 s cron entry ``tick``).

Each job's side effect is one line ``job pid start end`` appended to
``OUT_DIR/runs-<pid>.txt`` after the job's sleep: counted outside the database, so a
job run twice shows twice. The process prints ``ready <instance>`` once its queue
runs, and at its stop its trio loop's lag (``lag p50=… p99=… max=…``, a 10 ms sleep's lateness).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time

import trio

from trio_otp.jobs import JobQueue, PostgresStore, every

OUT = sys.argv[2] if len(sys.argv) > 2 else "."


async def run(job: int, seconds: float) -> int:
    start = time.time()
    await trio.sleep(seconds)
    end = time.time()
    # A small append, on purpose in the job's own thread: it is the counted effect.
    with open(os.path.join(OUT, f"runs-{os.getpid()}.txt"), "a") as f:  # noqa: ASYNC230
        f.write(f"{job} {os.getpid()} {start:.6f} {end:.6f}\n")
    return os.getpid()


def tick() -> int:
    return os.getpid()


async def measure_lag(lags: list[float]) -> None:
    """The trio loop's lag: how late a 10 ms sleep wakes (kept: the last 100,000)."""
    while True:
        before = trio.current_time()
        await trio.sleep(0.01)
        lags.append(trio.current_time() - before - 0.01)
        if len(lags) > 100_000:
            del lags[:50_000]


def lag_line(lags: list[float]) -> str:
    ordered = sorted(lags) or [0.0]

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    return f"lag p50={at(0.5):.2f}ms p99={at(0.99):.2f}ms max={ordered[-1] * 1000:.2f}ms"


async def main(dsn: str) -> None:
    queues = json.loads(os.environ.get("NODE_QUEUES", '{"q": 20}'))
    queue = JobQueue(
        store=PostgresStore(dsn, poll_interval=0.5, max_connections=4),
        jobs=[run, tick],
        queues=queues,
        heartbeat_interval=float(os.environ.get("NODE_HEARTBEAT", "0.3")),
        rescue_after=float(os.environ.get("NODE_RESCUE_AFTER", "1.5")),
        shutdown=5.0,
    )
    if os.environ.get("NODE_CRON") == "1":
        queue.cron(every(1), tick, name="tick", queue=next(iter(queues)))
    with trio.open_signal_receiver(signal.SIGTERM) as signals:
        lags: list[float] = []
        async with trio.open_nursery() as nursery:
            await nursery.start(queue.serve)
            nursery.start_soon(measure_lag, lags)
            print("ready", queue._engine.instance, flush=True)  # type: ignore[union-attr]
            async for _ in signals:
                break
            await queue.stop()
            print(lag_line(lags), flush=True)
            nursery.cancel_scope.cancel()


if __name__ == "__main__":
    # Registered under this module's name (postgres_node_program:run), not __main__.
    import logging

    import postgres_node_program

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    trio.run(postgres_node_program.main, sys.argv[1])
