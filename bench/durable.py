"""W8, durable jobs: N no-op jobs enqueued and completed through SQLiteStore.

``python -m bench.durable [--jobs 100000] [--small 10000] [--reps 1]`` runs, each in a
fresh process and on a fresh file, for enqueue batches of 1 and of 100:

* ``store``: ``JobQueue(store=SQLiteStore(path))`` at its default durability
  (WAL, ``synchronous=NORMAL``), one named queue of 100 running jobs, a registered
  no-op job function. N jobs are enqueued with the queue paused (``enqueue`` one at a
  time, or ``enqueue_many`` of 100), then it resumes and runs them all.
* ``memory``: the in-memory JobQueue, ``submit`` of the same no-op N times, then
  waiting for all (there is no batch insert in memory: both rows are the same run).
* ``floor``: plain ``sqlite3`` in one thread, no trio: the same schema, the same
  pragmas and the very statements the store runs (``SQL_INSERT``; ``SQL_STAGE`` +
  ``SQL_CLAIM``; ``SQL_ACK_COMPLETED``), enqueue batches as above, claims of 100 and
  acks of up to 100 per transaction: batched no more than the store batches them.

Figures: enqueue jobs/s, processing jobs/s, total jobs/s (N / both phases), the loop
lag p99 of a 5 ms heartbeat task (trio runs only), peak RSS, the largest ``-wal``
file seen. Prints a Markdown table (the one in docs/durable_jobs.rst). Targets
(issue 18): store ≥ 0.7 x the floor's total jobs/s, lag p99 ≤ 10 ms, RSS at N ≤ RSS
at the small size + 20 MB, the ``-wal`` file bounded.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RESULT = "RESULT "
RUNNING = 100  # jobs one store instance runs at once; the floor's claim size
WORKER = "bench.durable:noop"  # the job's registered name


def noop() -> None:
    """The job: nothing (W8 measures the queue, not the work)."""


def _rss_peak_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _wal_mb(db: Path) -> float:
    try:
        return os.path.getsize(f"{db}-wal") / 2**20
    except OSError:
        return 0.0


# -- the trio runs -------------------------------------------------------------------------


async def _trio_run(impl: str, jobs: int, batch: int, db: Path) -> dict[str, Any]:
    import trio

    from trio_otp import JobQueue
    from trio_otp.jobs import SQLiteStore

    lags: list[float] = []
    wal = [0.0]

    async def heartbeat() -> None:
        while True:
            t = time.perf_counter()
            await trio.sleep(0.005)
            lags.append(time.perf_counter() - t - 0.005)
            wal[0] = max(wal[0], _wal_mb(db))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(heartbeat)
        if impl == "memory":
            queue = JobQueue(max_running=RUNNING, max_queued=jobs)
            async with queue.open():
                t0 = time.perf_counter()
                handles = [await queue.submit(noop) for _ in range(jobs)]
                t1 = time.perf_counter()
                for handle in handles:
                    await handle.wait()
                t2 = time.perf_counter()
        else:
            queue = JobQueue(store=SQLiteStore(db), queues={"default": RUNNING})
            queue.register(noop, name=WORKER)  # this module runs as __main__
            async with queue.open():
                queue.pause()
                t0 = time.perf_counter()
                if batch == 1:
                    for _ in range(jobs):
                        await queue.enqueue(noop)
                else:
                    for _ in range(jobs // batch):
                        await queue.enqueue_many([(noop, ())] * batch)
                t1 = time.perf_counter()
                queue.resume()
                # The engine's own count of acked jobs: store_statistics() counts
                # rows with a scan of the table, which at 100k rows would be what
                # this loop measures.
                engine = queue._engine
                assert engine is not None
                while True:
                    if engine.completed >= jobs:
                        break
                    await trio.sleep(0.01)
                t2 = time.perf_counter()
        nursery.cancel_scope.cancel()
    lags.sort()
    return {
        "enqueue_s": t1 - t0,
        "process_s": t2 - t1,
        "lag_p99_ms": 1000 * lags[int(0.99 * (len(lags) - 1))] if lags else 0.0,
        "rss_mb": _rss_peak_mb(),
        "wal_mb": wal[0],
    }


# -- the floor: plain sqlite3, one thread ----------------------------------------------------


def _floor(jobs: int, batch: int, db: Path) -> dict[str, Any]:
    from trio_otp.jobs import _sqlite_sql as sql

    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.executescript(sql.MIGRATIONS[0])
    worker, args, meta = WORKER, json.dumps([]), json.dumps({})
    wal = 0.0
    t0 = time.perf_counter()
    for _ in range(jobs // batch):
        now = time.time()
        conn.execute("BEGIN IMMEDIATE")
        for _ in range(batch):
            conn.execute(
                sql.SQL_INSERT, (worker, args, "default", "available", 0, 20, now, now, None, meta)
            ).fetchone()
        conn.execute("COMMIT")
    t1 = time.perf_counter()
    done = 0
    while done < jobs:
        now = time.time()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(sql.SQL_STAGE, (now,))
        rows = conn.execute(sql.SQL_CLAIM, (now, "floor", "host", "default", RUNNING)).fetchall()
        conn.execute("COMMIT")
        for _ in rows:
            noop()
        now = time.time()
        conn.execute("BEGIN IMMEDIATE")
        for row in rows:
            conn.execute(sql.SQL_ACK_COMPLETED, (now, now, None, row[0], row[6], "floor"))
        conn.execute("COMMIT")
        done += len(rows)
        wal = max(wal, _wal_mb(db))
    t2 = time.perf_counter()
    conn.close()
    return {
        "enqueue_s": t1 - t0,
        "process_s": t2 - t1,
        "lag_p99_ms": float("nan"),
        "rss_mb": _rss_peak_mb(),
        "wal_mb": wal,
    }


def worker(impl: str, jobs: int, batch: int, db: Path) -> dict[str, Any]:
    if impl == "floor":
        return _floor(jobs, batch, db)
    import trio

    return trio.run(_trio_run, impl, jobs, batch, db)


# -- the runner -------------------------------------------------------------------------------


def measure(impl: str, jobs: int, batch: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="trio_otp_w8_") as folder:
        db = Path(folder) / "jobs.db"
        command = [sys.executable, "-m", "bench.durable", "--worker", impl, str(jobs), str(batch)]
        done = subprocess.run(
            [*command, str(db)], capture_output=True, text=True, timeout=3600, check=False
        )
    if done.returncode != 0:
        raise RuntimeError(f"{impl} failed:\n{done.stderr}")
    line = next(x for x in done.stdout.splitlines() if x.startswith(RESULT))
    result: dict[str, Any] = json.loads(line.removeprefix(RESULT))
    result["jobs_per_s"] = jobs / (result["enqueue_s"] + result["process_s"])
    result["enqueue_per_s"] = jobs / result["enqueue_s"]
    result["process_per_s"] = jobs / result["process_s"]
    return result


def table(jobs: int, small: int, reps: int) -> str:
    rows = []
    for batch in (1, 100):
        runs: dict[str, list[dict[str, Any]]] = {"store": [], "memory": [], "floor": []}
        for _ in range(reps):
            for impl in runs:
                runs[impl].append(measure(impl, jobs, batch))
        small_rss = statistics.median(measure("store", small, batch)["rss_mb"] for _ in range(reps))
        floor = statistics.median(r["jobs_per_s"] for r in runs["floor"])
        for impl, results in runs.items():

            def med(key: str, results: list[dict[str, Any]] = results) -> float:
                return statistics.median(r[key] for r in results)

            ratio = med("jobs_per_s") / floor
            rss = f"{med('rss_mb'):.0f}"
            if impl == "store":
                rss += f" ({small // 1000}k: {small_rss:.0f})"
            lag = med("lag_p99_ms")
            rows.append(
                f"| {batch} | {impl} | {med('enqueue_per_s'):,.0f} | {med('process_per_s'):,.0f} "
                f"| {med('jobs_per_s'):,.0f} | {ratio:.2f} | "
                f"{'-' if lag != lag else f'{lag:.1f}'} | {rss} | {med('wal_mb'):.1f} |"
            )
    head = (
        f"W8, {jobs:,} no-op jobs, median of {reps} run(s)\n\n"
        "| enqueue batch | implementation | enqueue jobs/s | processing jobs/s "
        "| total jobs/s | ÷ floor | loop lag p99 (ms) | peak RSS (MB) | largest -wal (MB) |\n"
        "|---|---|---|---|---|---|---|---|---|"
    )
    return head + "\n" + "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=10_000, help="the size RSS is compared with")
    parser.add_argument("--reps", type=int, default=1)
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        impl, jobs, batch, db = args.worker
        result = worker(impl, int(jobs), int(batch), Path(db))
        print(RESULT + json.dumps(result), flush=True)
        return 0
    print(table(args.jobs, args.small, args.reps))
    return 0


if __name__ == "__main__":
    sys.exit(main())
