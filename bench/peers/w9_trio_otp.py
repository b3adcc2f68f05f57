"""W9 on trio_otp's PostgresStore (this project, run with the bench's own Python).

* enqueue: ``JobQueue.enqueue`` (one job per call, its own transaction) and
  ``JobQueue.enqueue_many`` (the bulk call: one transaction, one INSERT … unnest for
  the batch, one NOTIFY), from an enqueue-only JobQueue (``queues={}``, as
  oban-py's client mode).
* work: ``JobQueue(store=PostgresStore(dsn), jobs=[noop], queues={QUEUE: concurrency})``
  under ``queue.open()``: LISTEN/NOTIFY on (``listen=True``, on one connection outside
  the pool), ``poll_interval=1.0`` the fallback, a pool of up to ``POOL`` connections.
* schema: the store's own migrations, at open.
"""

from __future__ import annotations

import time
from typing import Any

import trio

from trio_otp.jobs import JobQueue, PostgresStore

from .w9_common import POOL, QUEUE, batches, emit, rate, ready, record, runs_result
from .w9_common import wait_for_stdin_close as _wait


async def noop(sent: float) -> None:
    record(sent)


def _queue(dsn: str, queues: dict[str, int]) -> JobQueue:
    store = PostgresStore(dsn, max_connections=POOL, listen=True, poll_interval=1.0)
    return JobQueue(store=store, jobs=[noop], queues=queues)


async def _run(role: str, dsn: str, params: dict[str, Any]) -> None:
    if role == "work":
        async with _queue(dsn, {QUEUE: params["concurrency"]}).open():
            ready()
            await trio.to_thread.run_sync(_wait, abandon_on_cancel=True)
        emit(runs_result())
        return
    async with _queue(dsn, {}).open() as queue:  # enqueue only: it runs no queue
        if role == "setup":
            emit({})
        elif role in ("enqueue", "fill"):
            jobs = params["jobs"]
            began = time.perf_counter()
            for size in batches(jobs, params.get("batch", jobs)):
                if size == 1:
                    await queue.enqueue(noop, time.time(), queue=QUEUE)
                else:
                    await queue.enqueue_many([(noop, (time.time(),))] * size, queue=QUEUE)
            emit(rate(jobs, began))
        elif role == "latency":
            for _ in range(params["count"]):
                await queue.enqueue(noop, time.time(), queue=QUEUE)
                await trio.sleep(params["gap"])
            emit({})
        else:
            raise ValueError(f"unknown role {role!r}")


def main(role: str, dsn: str, params: dict[str, Any]) -> None:
    trio.run(_run, role, dsn, params)
