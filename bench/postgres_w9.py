"""W9: no-op jobs on one PostgreSQL server, side by side in one run: trio_otp's
PostgresStore, procrastinate, oban-py, and the floor (trio_otp's own statements
issued with plain psycopg).

    python bench/postgres_w9.py [--jobs N] [--reps R] [--rst] [--smoke]

Starts its own server (tests/_postgres.py: Debian's binaries, 127.0.0.1, ``fsync`` and
``full_page_writes`` off as in the tests, the same for every system), one database per
system. procrastinate and oban-py run in venvs of their own, made on first use under
bench/.venvs/ (bench/peers/w9_env.py); every system runs as separate OS processes
(bench/peers/w9_driver.py), the same no-op job, 20 jobs at once per worker process,
its LISTEN/NOTIFY on. The metrics, each taken for every system before the next
metric (so that the machine's load drifts over all alike):

* enqueue jobs/s, one job per call (its own transaction; ``min(N, 1000)`` jobs), and
  in batches of 500 through each system's bulk call;
* processing jobs/s with 1 and with 3 worker processes off one queue: the workers are
  started and idle (1 s to settle after each said it was ready), then N jobs arrive
  in one bulk call; the rate is N over the time from the first job's start to the
  last one's, both taken inside the job;
* enqueue-to-start latency p50/p99: 200 jobs enqueued one at a time, 20 ms apart,
  into one idle running worker; from just before the enqueue call to the job's own
  first statement (the same clock: one host).

Each cell is the median of ``--reps`` repetitions (default 3; the systems' order
rotates from one to the next), each ratio the median of the ratios taken within each
repetition: about 5 minutes at 3,000 jobs on 2 shared cores.
``--rst`` prints the table as reStructuredText too (docs/deployment.rst); ``--smoke``
runs every step once on 60 jobs (checks that it all works; its figures mean nothing).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import psycopg

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO))
from _postgres import running_server  # noqa: E402

from bench.peers.w9_common import POOL  # noqa: E402
from bench.peers.w9_env import OBAN, PROCRASTINATE  # noqa: E402

CONCURRENCY = 20
BATCH = 500
SINGLE_MAX = 1_000
LATENCY_JOBS = 200
LATENCY_GAP = 0.02
SETTLE = 1.0
RESULT = "RESULT "
PEERS = ("procrastinate", "oban")


@attrs.frozen
class System:
    name: str
    python: str
    done_sql: str
    clean_sql: str
    settings: str


def systems() -> list[System]:
    """The four systems, the peers' venvs made if missing."""
    here = sys.executable
    trio_sql = (
        "SELECT count(*) FROM trio_otp_jobs WHERE state = 'completed'",
        "TRUNCATE trio_otp_jobs",
    )
    return [
        System(
            "floor",
            here,
            *trio_sql,
            "plain psycopg 3, sync, one connection claiming up to 20 (SKIP LOCKED) and "
            "acking them in one statement, autocommit as the store, one LISTENing; "
            "one-per-call enqueue as one statement; no heartbeat",
        ),
        System(
            "trio_otp",
            here,
            *trio_sql,
            "JobQueue + PostgresStore, queues={'w9': 20}, listen=True, poll_interval=1.0, "
            "max_connections=20 + 1 LISTEN connection outside the pool; enqueue / enqueue_many",
        ),
        System(
            "procrastinate",
            str(PROCRASTINATE.python),
            "SELECT count(*) FROM procrastinate_jobs WHERE status = 'succeeded'",
            "TRUNCATE procrastinate_jobs CASCADE",
            "run_worker_async(concurrency=20, listen_notify=True, "
            "fetch_job_polling_interval=1.0), pool of 21 (LISTEN taken from it); "
            "defer_async / batch_defer_async",
        ),
        System(
            "oban",
            str(OBAN.python),
            "SELECT count(*) FROM oban_jobs WHERE state = 'completed'",
            "TRUNCATE oban_jobs",
            "Oban(queues={'w9': 20}), postgres notifier (LISTEN on its own connection), "
            "stager interval 1.0 s, pool of 20; enqueue / enqueue_many",
        ),
    ]


# -- running a system's steps --------------------------------------------------------------


def _command(system: System, role: str, params: dict[str, Any]) -> list[str]:
    return [system.python, "-m", "bench.peers.w9_driver", system.name, role, json.dumps(params)]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


def _result(stdout: str, what: str) -> dict[str, Any]:
    lines = [line for line in stdout.splitlines() if line.startswith(RESULT)]
    if not lines:
        raise RuntimeError(f"{what} printed no result")
    found: dict[str, Any] = json.loads(lines[-1][len(RESULT) :])
    return found


def step(system: System, dsn: str, role: str, **params: Any) -> dict[str, Any]:
    """One step in a fresh process of the system's Python; its RESULT."""
    done = subprocess.run(
        _command(system, role, {"dsn": dsn, **params}),
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    what = f"{system.name} {role}"
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return _result(done.stdout, what)


@contextlib.contextmanager
def workers(system: System, dsn: str, count: int) -> Iterator[list[list[tuple[float, float]]]]:
    """``count`` idle worker processes, ready and settled; after the block, they are
    stopped and the list yielded holds each one's ``(sent, started)`` runs."""
    runs: list[list[tuple[float, float]]] = []
    procs: list[tuple[subprocess.Popen[str], Any]] = []
    with contextlib.ExitStack() as files, _stopped(system, procs, runs):
        for _ in range(count):
            err = files.enter_context(tempfile.TemporaryFile("w+"))
            proc = subprocess.Popen(
                _command(system, "work", {"dsn": dsn, "concurrency": CONCURRENCY}),
                cwd=REPO,
                env=_env(),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
            )
            procs.append((proc, err))
        for proc, err in procs:
            assert proc.stdout is not None
            if proc.stdout.readline().strip() != "READY":
                proc.wait(timeout=30)
                err.seek(0)
                raise RuntimeError(f"{system.name} worker did not start:\n{err.read()[-3000:]}")
        time.sleep(SETTLE)
        yield runs


@contextlib.contextmanager
def _stopped(
    system: System,
    procs: list[tuple[subprocess.Popen[str], Any]],
    runs: list[list[tuple[float, float]]],
) -> Iterator[None]:
    """After the block, stop the worker processes together and collect their runs."""
    try:
        yield
    finally:
        for proc, _ in procs:
            assert proc.stdin is not None
            with contextlib.suppress(BrokenPipeError):
                proc.stdin.close()  # the workers' stop signal, to all at once
            proc.stdin = None  # so that communicate() only reads
        for proc, err in procs:
            try:
                stdout, _ = proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                stdout, _ = proc.communicate()
            err.seek(0)
            if proc.returncode != 0:
                raise RuntimeError(
                    f"{system.name} worker exit {proc.returncode}:\n{err.read()[-3000:]}"
                )
            runs.append([tuple(r) for r in _result(stdout, f"{system.name} worker")["runs"]])


def wait_done(system: System, dsn: str, jobs: int, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    with psycopg.connect(dsn, autocommit=True) as conn:
        while True:
            row = conn.execute(system.done_sql).fetchone()
            if row and row[0] >= jobs:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{system.name}: {row} of {jobs} jobs done in {timeout} s")
            time.sleep(0.1)


def clean(system: System, dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(system.clean_sql)


# -- the metrics ------------------------------------------------------------------------------


def processing(system: System, dsn: str, jobs: int, processes: int) -> dict[str, Any]:
    with workers(system, dsn, processes) as runs:
        step(system, dsn, "fill", jobs=jobs)
        wait_done(system, dsn, jobs)
    starts = sorted(started for each in runs for _, started in each)
    shares = [len(each) for each in runs]
    return {
        "rate": len(starts) / (starts[-1] - starts[0]),
        "ran": len(starts),
        "shares": shares,
    }


def latency(system: System, dsn: str) -> dict[str, Any]:
    with workers(system, dsn, 1) as runs:
        step(system, dsn, "latency", count=LATENCY_JOBS, gap=LATENCY_GAP)
        wait_done(system, dsn, LATENCY_JOBS)
    lat = sorted(started - sent for sent, started in runs[0])
    return {
        "p50": statistics.median(lat) * 1000,
        "p99": lat[int(0.99 * (len(lat) - 1))] * 1000,
        "ran": len(lat),
    }


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Each figure's median over the repetitions; the jobs run, as every count seen;
    the 3 workers' shares, of the last repetition."""
    out: dict[str, Any] = {}
    for field, value in runs[-1].items():
        if field == "ran":
            out[field] = ",".join(sorted({str(r[field]) for r in runs}))
        elif isinstance(value, float):
            out[field] = statistics.median(r[field] for r in runs)
        else:
            out[field] = value
    return out


def measure(
    jobs: int, reps: int = 1, say: Any = print
) -> tuple[dict[str, dict[str, Any]], list[System]]:
    versions = {"procrastinate": PROCRASTINATE.ensure(say), "oban": OBAN.ensure(say)}
    every = systems()
    results: dict[str, dict[str, Any]] = {s.name: {} for s in every}
    single = min(jobs, SINGLE_MAX)
    with running_server({"fsync": "off", "full_page_writes": "off"}) as server:
        dsns = {s.name: server.create_database(f"w9_{s.name}") for s in every}
        for s in every:
            step(s, dsns[s.name], "setup")
            clean(s, dsns[s.name])
        results["versions"] = versions
        metrics = [
            ("single", lambda s, d: step(s, d, "enqueue", jobs=single, batch=1)),
            ("batched", lambda s, d: step(s, d, "enqueue", jobs=jobs, batch=BATCH)),
            ("process1", lambda s, d: processing(s, d, jobs, 1)),
            ("process3", lambda s, d: processing(s, d, jobs, 3)),
            ("latency", latency),
        ]
        runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for rep in range(reps):
            order = every[rep % len(every) :] + every[: rep % len(every)]
            for key, run in metrics:
                for s in order:
                    say(f"  {rep + 1}/{reps} {key}: {s.name} …")
                    runs.setdefault((s.name, key), []).append(run(s, dsns[s.name]))
                    clean(s, dsns[s.name])
    for (name, key), each in runs.items():
        results[name][key] = _median(each)
    # Ratios are taken within each repetition (the machine's speed drifts between
    # them), then their median: trio_otp over the best peer, and over the floor.
    ratios = {}
    for key, _ in metrics:
        field, best = ("p50", min) if key == "latency" else ("rate", max)
        figures = [{s.name: runs[(s.name, key)][i][field] for s in every} for i in range(reps)]
        ratios[key] = (
            statistics.median(f["trio_otp"] / best(f[p] for p in PEERS) for f in figures),
            statistics.median(f["trio_otp"] / f["floor"] for f in figures),
        )
    results["ratios"] = ratios
    return results, every


# -- the table --------------------------------------------------------------------------------

ROWS = (
    ("single", "enqueue jobs/s, one per call"),
    ("batched", f"enqueue jobs/s, batches of {BATCH}"),
    ("process1", "processing jobs/s, 1 worker process"),
    ("process3", "processing jobs/s, 3 worker processes (2 cores: contention)"),
)


def _num(x: float) -> str:
    return f"{x:,.0f}"


def table(results: dict[str, Any], jobs: int, reps: int) -> list[list[str]]:
    """Rows of cells: the header, one row per metric, then the settings."""
    names = ["floor", "trio_otp", *PEERS]
    title = f"W9, {jobs:,} no-op jobs" + (f", median of {reps}" if reps > 1 else "")
    rows = [[title, *names, "trio_otp ÷ best peer", "trio_otp ÷ floor"]]
    for key, label in ROWS:
        values = {n: results[n][key]["rate"] for n in names}
        vs_peer, vs_floor = results["ratios"][key]
        rows.append(
            [
                label,
                *(_num(values[n]) for n in names),
                f"{vs_peer:.2f} ({'met' if vs_peer >= 1.0 else 'not met'}: >= 1.0)",
                f"{vs_floor:.2f} ({'met' if vs_floor >= 0.7 else 'not met'}: >= 0.7)",
            ]
        )
    lat = {n: results[n]["latency"] for n in names}
    ratio, vs_floor = results["ratios"]["latency"]
    rows.append(
        [
            "enqueue-to-start p50 / p99 (ms)",
            *(f"{lat[n]['p50']:.1f} / {lat[n]['p99']:.1f}" for n in names),
            f"p50 {ratio:.2f} ({'met' if ratio <= 1.0 else 'not met'}: <= 1.0)",
            f"p50 {vs_floor:.2f} (no target)",
        ]
    )
    shares = [
        "3 workers' shares of the jobs",
        *("/".join(str(x) for x in results[n]["process3"]["shares"]) for n in names),
        "",
        "",
    ]
    rows.append(shares)
    return rows


def markdown(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    return "\n".join(lines)


def rst(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    rule = "  ".join("=" * w for w in widths)

    def line(r: list[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()

    return "\n".join([rule, line(rows[0]), rule, *(line(r) for r in rows[1:]), rule])


def settings(results: dict[str, Any], every: list[System]) -> str:
    date = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d")
    out = [
        f"Measured {date}, {os.cpu_count()} cores; "
        f"{results['versions']['procrastinate']}, {results['versions']['oban']}; "
        f"{CONCURRENCY} jobs at once and up to {POOL} connections for queries per worker "
        f"process; processing = first to last job "
        f"start, taken inside the job; latency = before the enqueue call to the job's start.",
    ]
    out += [f"- {s.name}: {s.settings}" for s in every]
    ran = {
        s.name: "/".join(str(results[s.name][k]["ran"]) for k in ("process1", "process3"))
        for s in every
    }
    out.append(f"- jobs run with 1 / 3 workers, each repetition (more than N: duplicates): {ran}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=3_000)
    parser.add_argument("--rst", action="store_true", help="print reStructuredText too")
    parser.add_argument(
        "--reps", type=int, default=3, help="repetitions, interleaved; medians (default 3)"
    )
    parser.add_argument("--smoke", action="store_true", help="60 jobs, once: check that it runs")
    args = parser.parse_args(argv)
    if args.jobs < 2 or args.reps < 1:
        parser.error("--jobs must be at least 2 and --reps at least 1")
    global LATENCY_JOBS, SETTLE
    jobs, reps = args.jobs, args.reps
    if args.smoke:
        jobs, reps, LATENCY_JOBS, SETTLE = 60, 1, 10, 0.3
    began = time.perf_counter()
    results, every = measure(jobs, reps, say=lambda m: print(m, file=sys.stderr, flush=True))
    rows = table(results, jobs, reps)
    print(markdown(rows))
    print()
    print(settings(results, every))
    if args.rst:
        print()
        print(rst(rows))
    print(f"\n(W9 took {time.perf_counter() - began:.0f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
