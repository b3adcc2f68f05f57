"""W9 on procrastinate (asyncio, psycopg 3), in its own venv (bench/.venvs/procrastinate).

* enqueue: ``Task.defer_async`` (one job per call, its own transaction) and
  ``Task.batch_defer_async`` (the bulk call: one statement for the batch).
* work: ``App.run_worker_async(queues=[QUEUE], concurrency=…, listen_notify=True,
  fetch_job_polling_interval=1.0)``; the pool holds up to ``POOL + 1`` connections: the
  LISTEN one is taken from it. Stopped by cancelling the worker's
  task once standard input closes (every job has run by then).
* schema: ``App.schema_manager.apply_schema_async()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from procrastinate import App, PsycopgConnector  # type: ignore[import-not-found]

from .w9_common import POOL, QUEUE, batches, emit, rate, ready, record, runs_result
from .w9_common import wait_for_stdin_close as _wait


async def _noop(sent: float) -> None:
    record(sent)


async def _run(role: str, dsn: str, params: dict[str, Any]) -> None:
    app = App(connector=PsycopgConnector(conninfo=dsn, min_size=1, max_size=POOL + 1))
    noop = app.task(queue=QUEUE, name="w9_noop")(_noop)
    async with app.open_async():
        if role == "setup":
            await app.schema_manager.apply_schema_async()
            emit({})
        elif role in ("enqueue", "fill"):
            jobs = params["jobs"]
            batch = params.get("batch", jobs)
            began = time.perf_counter()
            for size in batches(jobs, batch):
                if size == 1:
                    await noop.defer_async(sent=time.time())
                else:
                    await noop.batch_defer_async(*[{"sent": time.time()}] * size)
            emit(rate(jobs, began))
        elif role == "latency":
            for _ in range(params["count"]):
                await noop.defer_async(sent=time.time())
                await asyncio.sleep(params["gap"])
            emit({})
        elif role == "work":
            worker = asyncio.create_task(
                app.run_worker_async(
                    queues=[QUEUE],
                    concurrency=params["concurrency"],
                    listen_notify=True,
                    fetch_job_polling_interval=1.0,
                    install_signal_handlers=False,
                )
            )
            ready()
            await asyncio.get_running_loop().run_in_executor(None, _wait)
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
            emit(runs_result())
        else:
            raise ValueError(f"unknown role {role!r}")


def main(role: str, dsn: str, params: dict[str, Any]) -> None:
    asyncio.run(_run(role, dsn, params))
