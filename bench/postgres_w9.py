"""W9 (part): no-op jobs on one PostgreSQL server, trio_otp's PostgresStore against the
floor, plain psycopg issuing the same statements, in one run.

    python bench/postgres_w9.py [--jobs N]

Starts its own server (tests/_postgres.py: Debian's binaries, 127.0.0.1, fsync off
as in the tests). Metrics: enqueue jobs/s one per transaction and in batches of 500;
processing jobs/s with one worker process (20 jobs at once, NOTIFY on); enqueue-to-
claim latency p50/p99 of jobs enqueued one by one into an idle running queue (the
claim's time minus the insert's, both this process's clock). The peers (procrastinate,
oban-py) are not measured yet: see the closing note of issue 19.
"""

from __future__ import annotations

import argparse
import operator
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from _postgres import running_server

from trio_otp.jobs import JobQueue, NewJob, PostgresStore
from trio_otp.jobs._postgres_sql import CHANNEL, SQL_ACK, SQL_CLAIM, SQL_INSERT, SQL_NOTIFY

WORKER = f"{operator.index.__module__}:index"  # a no-op function: index(n) returns n
CONCURRENCY = 20


def _insert_params(count: int, now: float) -> tuple[Any, ...]:
    return (
        now,
        [WORKER] * count,
        ["[1]"] * count,
        ["q"] * count,
        ["available"] * count,
        [0] * count,
        [20] * count,
        [now] * count,
        [None] * count,
        ["{}"] * count,
    )


def floor_enqueue(dsn: str, jobs: int, batch: int) -> float:
    with psycopg.connect(dsn) as conn:
        began = time.perf_counter()
        for _ in range(jobs // batch):
            conn.execute(SQL_INSERT, _insert_params(batch, time.time())).fetchall()
            conn.execute(SQL_NOTIFY, (CHANNEL, ["q"]))
            conn.commit()
        return jobs / (time.perf_counter() - began)


def floor_process(dsn: str, jobs: int) -> float:
    """Claim CONCURRENCY, complete them with one fenced ack, until none is left."""
    with psycopg.connect(dsn) as conn:
        began = time.perf_counter()
        done = 0
        while done < jobs:
            now = time.time()
            rows = conn.execute(SQL_CLAIM, (now, "floor", "n", "q", CONCURRENCY)).fetchall()
            conn.commit()
            if not rows:
                continue
            n = len(rows)
            conn.execute(
                SQL_ACK,
                {
                    "now": now,
                    "ids": [r[0] for r in rows],
                    "attempts": [r[6] for r in rows],
                    "holders": ["floor"] * n,
                    "states": ["completed"] * n,
                    "results": ["1"] * n,
                    "errors": [None] * n,
                    "at": [None] * n,
                },
            ).fetchall()
            conn.commit()
            done += n
        return jobs / (time.perf_counter() - began)


async def trio_enqueue(dsn: str, jobs: int, batch: int) -> float:
    async with PostgresStore(dsn).open() as store:
        began = time.perf_counter()
        for _ in range(jobs // batch):
            await store.insert([NewJob(WORKER, [1], queue="q")] * batch, time.time())
        return jobs / (time.perf_counter() - began)


async def trio_process(dsn: str, jobs: int) -> float:
    async with trio.open_nursery() as nursery:
        queue = JobQueue(store=PostgresStore(dsn), jobs=[operator.index], queues={"q": CONCURRENCY})
        began = time.perf_counter()
        await nursery.start(queue.serve)
        engine = queue._engine
        assert engine is not None
        while engine.completed < jobs:  # noqa: ASYNC110 - a counter, polled
            await trio.sleep(0.01)
        elapsed = time.perf_counter() - began
        await queue.stop()
    return jobs / elapsed


async def trio_latency(dsn: str, count: int) -> list[float]:
    async with trio.open_nursery() as nursery:
        queue = JobQueue(store=PostgresStore(dsn), jobs=[operator.index], queues={"q": CONCURRENCY})
        await nursery.start(queue.serve)
        handles = []
        for n in range(count):
            handles.append(await queue.enqueue(operator.index, n, queue="q"))
            await trio.sleep(0.02)
        for handle in handles:
            await handle.wait()
        records = [await handle.refresh() for handle in handles]
        await queue.stop()
    return sorted((r.attempted_at or 0) - r.inserted_at for r in records)


def clean(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DELETE FROM trio_otp_jobs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=5_000)
    jobs = parser.parse_args().jobs
    with running_server({"fsync": "off", "full_page_writes": "off"}) as server:
        dsn = server.create_database("w9")
        trio.run(trio_enqueue, dsn, 500, 500)  # migrates
        clean(dsn)
        rows = []
        for batch in (1, 500):
            n = min(jobs, 2_000) if batch == 1 else jobs
            ours = trio.run(trio_enqueue, dsn, n, batch)
            clean(dsn)
            floor = floor_enqueue(dsn, n, batch)
            clean(dsn)
            rows.append((f"enqueue jobs/s (batch {batch})", ours, floor))
        trio.run(trio_enqueue, dsn, jobs, 500)
        ours = trio.run(trio_process, dsn, jobs)
        clean(dsn)
        floor_enqueue(dsn, jobs, 500)
        floor = floor_process(dsn, jobs)
        clean(dsn)
        rows.append((f"processing jobs/s (1 process, {CONCURRENCY} at once)", ours, floor))
        lat = trio.run(trio_latency, dsn, 200)
        p50 = statistics.median(lat) * 1000
        p99 = lat[int(0.99 * (len(lat) - 1))] * 1000
    print(f"| W9 ({jobs} no-op jobs) | trio_otp | plain psycopg floor | ratio |")
    print("|---|---|---|---|")
    for name, ours, floor in rows:
        print(f"| {name} | {ours:,.0f} | {floor:,.0f} | {ours / floor:.2f} |")
    print(f"| enqueue-to-claim latency p50 / p99 (ms) | {p50:.1f} / {p99:.1f} | - | - |")


if __name__ == "__main__":
    main()
