"""W9 on oban-py (PyPI ``oban``; asyncio, Python >= 3.12), in bench/.venvs/oban.

* enqueue: ``Oban.enqueue`` (one job per call, its own transaction) and
  ``Oban.enqueue_many`` (the bulk call: one transaction, one INSERT per job, each
  sending its ``pg_notify``), from a client-mode instance (no queues).
* work: ``Oban(pool=…, queues={QUEUE: concurrency})``: the default notifier
  (``postgres``: LISTEN on a dedicated connection outside the pool), the stager's 1 s
  poll as the fallback, the producer's 5 ms debounce; a pool of up to ``POOL`` connections.
* schema: ``oban.schema.install``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from oban import Oban, worker  # type: ignore[import-not-found]
from oban.schema import install  # type: ignore[import-not-found]

from .w9_common import POOL, QUEUE, batches, emit, rate, ready, record, runs_result
from .w9_common import wait_for_stdin_close as _wait


@worker(queue=QUEUE)
class Noop:
    async def process(self, job: Any) -> None:
        record(job.args["sent"])


async def _run(role: str, dsn: str, params: dict[str, Any]) -> None:
    pool = await Oban.create_pool(dsn, min_size=1, max_size=POOL)
    try:
        if role == "setup":
            await install(pool)
            emit({})
            return
        if role == "work":
            async with Oban(pool=pool, queues={QUEUE: params["concurrency"]}):
                ready()
                await asyncio.get_running_loop().run_in_executor(None, _wait)
            emit(runs_result())
            return
        async with Oban(pool=pool) as oban:
            if role in ("enqueue", "fill"):
                jobs = params["jobs"]
                began = time.perf_counter()
                for size in batches(jobs, params.get("batch", jobs)):
                    if size == 1:
                        await oban.enqueue(Noop.new({"sent": time.time()}))
                    else:
                        await oban.enqueue_many(
                            [Noop.new({"sent": time.time()}) for _ in range(size)]
                        )
                emit(rate(jobs, began))
            elif role == "latency":
                for _ in range(params["count"]):
                    await oban.enqueue(Noop.new({"sent": time.time()}))
                    await asyncio.sleep(params["gap"])
                emit({})
            else:
                raise ValueError(f"unknown role {role!r}")
    finally:
        await pool.close()


def main(role: str, dsn: str, params: dict[str, Any]) -> None:
    asyncio.run(_run(role, dsn, params))
