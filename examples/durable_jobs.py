"""Durable jobs: a worker killed with ``kill -9`` mid-run loses no job.

Run it::

    python examples/durable_jobs.py               # 300 jobs, the worker SIGKILLs itself halfway
    python examples/durable_jobs.py --fast        # 120 shorter jobs, shorter heartbeats
    python examples/durable_jobs.py --db jobs.db  # keep the SQLite file to look at afterwards

What happens:

1. A worker process opens a :class:`~trio_otp.JobQueue` on a SQLite file
   (``JobQueue(store=SQLiteStore(path), ...)``), enqueues a few hundred jobs in one
   transaction and runs them, eight at a time, drawing a progress bar from the store's
   counts. Each job "renders a thumbnail" (sleeps a little, reporting its progress) and
   then appends its number to a log file *outside* the database: the side effect we
   count.
2. Halfway, the worker sends itself ``SIGKILL``, as ``kill -9``, the OOM killer or a
   power cut of the process would: no ``finally`` runs, nothing is flushed.
3. This program (the parent) looks at the file: some jobs are still ``executing``,
   claimed by a worker that no longer exists. It starts a new worker on the same file.
4. The new worker sees the dead worker's heartbeat grow old, *rescues* its jobs (they
   go back to ``available``) and finishes every job.
5. The parent counts the side effects: every job ran at least once (lost: 0); the few
   that ran twice were executing when the worker was killed. That is the guarantee,
   **at least once**: make jobs idempotent.

The worker is this same file run with ``--worker``. Its job function is defined here,
in ``__main__``, so it is registered under an explicit name (``"demo.thumbnail"``):
a durable job is stored by the name of a registered function, never pickled.
"""

from __future__ import annotations

import argparse
import collections
import logging
import os
import shutil
import signal
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import trio

from trio_otp import JobQueue
from trio_otp.jobs import JobState, SQLiteStore, report_progress

WORKERS = 8  # jobs one worker runs at once


@dataclass
class Story:
    """What the demo found, for its test."""

    jobs: int = 0
    runs: list[int] = field(default_factory=list)  # each worker's exit status
    executing_at_kill: set[int] = field(default_factory=set)
    completed: int = 0
    lost: int = 0
    twice: set[int] = field(default_factory=set)


# ----------------------------------------------------------------------------------------
# The worker: a durable queue on the file
# ----------------------------------------------------------------------------------------


async def thumbnail(n: int, log: str, pause: float) -> int:
    """The job: three steps of work, then the side effect (a line in ``log``)."""
    for step in range(3):
        report_progress((step + 1) / 3, f"thumbnail {n}: step {step + 1}/3")
        await trio.sleep(pause / 3)
    await trio.to_thread.run_sync(append_line, log, n)  # blocking I/O: off the loop
    return n


def append_line(log: str, n: int) -> None:
    with open(log, "a") as f:
        f.write(f"{n}\n")
        f.flush()
        os.fsync(f.fileno())


def bar(done: int, total: int, executing: int, width: int = 30) -> str:
    filled = width * done // total if total else width
    return f"[{'#' * filled}{'.' * (width - filled)}] {done:>4}/{total} done, {executing} executing"


async def worker(
    db: str, log: str, *, enqueue: int, pause: float, kill_at: int, fast: bool
) -> None:
    """One worker process: enqueue (first run), work, draw the bar, maybe kill itself."""
    queue = JobQueue(
        store=SQLiteStore(db, poll_interval=0.05),
        queues={"default": WORKERS},
        # Short beats, so the demo's rescue takes seconds (defaults: 5 s and 30 s).
        heartbeat_interval=0.2 if fast else 0.5,
        rescue_after=1.0 if fast else 2.0,
    )
    queue.register(thumbnail, name="demo.thumbnail")
    me = f"worker {os.getpid()}"
    tty = sys.stdout.isatty()
    async with queue.open():
        if enqueue:
            await queue.enqueue_many([(thumbnail, (n, log, pause)) for n in range(enqueue)])
            print(f"{me}: enqueued {enqueue} jobs (one transaction) in {db}")
        else:
            print(
                f"{me}: opened {db}; it runs the jobs still available, and rescues the "
                "dead worker's ones once its heartbeat is old"
            )
        shown = -1
        while True:
            stats = await queue.store_statistics()
            states = stats.queues["default"].states
            total = sum(states.values())
            done = states[JobState.COMPLETED]
            line = bar(done, total, states[JobState.EXECUTING])
            if tty:
                print("\r" + line, end="", flush=True)
            elif done * 10 // max(total, 1) != shown:  # a line per tenth when piped
                shown = done * 10 // max(total, 1)
                print(line)
            if kill_at and done >= kill_at:
                print(f"\n{me}: sending myself SIGKILL now, mid-run (as kill -9 would)")
                sys.stdout.flush()
                os.kill(os.getpid(), signal.SIGKILL)
            if done == total:
                break
            await trio.sleep(0.05)
        if tty:
            print()
        print(f"{me}: every job is completed; this worker rescued {stats.rescued} of them")


# ----------------------------------------------------------------------------------------
# The parent: start a worker, let it die, start another on the same file
# ----------------------------------------------------------------------------------------


async def run_worker(db: Path, log: Path, *options: str) -> int:
    command = [sys.executable, "-u", __file__, "--worker", str(db), str(log), *options]
    done = await trio.run_process(command, check=False)
    return done.returncode


async def main(fast: bool = False, db: str | None = None) -> Story:
    story = Story(jobs=120 if fast else 300)
    pause = 0.01 if fast else 0.05
    folder = Path(tempfile.mkdtemp(prefix="trio_otp_durable_"))
    path = Path(db) if db else folder / "jobs.db"
    if path.exists():
        raise SystemExit(f"{path} exists: the demo starts on a new file; remove it or pick another")
    log = folder / "side_effects.log"
    try:
        print(f"1. A worker runs {story.jobs} durable jobs on {path}; it will die halfway.")
        flags = ["--enqueue", str(story.jobs), "--pause", str(pause)]
        flags += ["--kill-at", str(story.jobs // 2)] + (["--fast"] if fast else [])
        story.runs.append(await run_worker(path, log, *flags))
        print(f"   it exited with status {story.runs[-1]} (-9: killed by SIGKILL)")

        print("2. What the kill left in the file:")
        async with SQLiteStore(path).open() as store:
            counts = (await store.stats())["default"]
            records = await store.get_many(range(1, story.jobs + 1))
        story.executing_at_kill = {
            r.args[0] for r in records.values() if r.state is JobState.EXECUTING
        }
        for state, n in counts.items():
            if n:
                print(f"   {state.value:<10} {n}")
        print(f"   the {len(story.executing_at_kill)} executing jobs are claimed by a dead worker")

        print("3. A new worker on the same file:")
        story.runs.append(await run_worker(path, log, *(["--fast"] if fast else [])))

        print("4. Counting the side effects (the log outside the database):")
        ran = collections.Counter(int(line) for line in log.read_text().split())
        story.completed = sum(1 for n in range(story.jobs) if ran[n])
        story.lost = story.jobs - story.completed
        story.twice = {n for n, times in ran.items() if times > 1}
        print(f"   {story.completed} of {story.jobs} jobs ran; lost: {story.lost}")
        inflight = "all" if story.twice <= story.executing_at_kill else "NOT all"
        print(
            f"   {len(story.twice)} ran twice, {inflight} of them executing at the kill: "
            "at least once, so make jobs idempotent"
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return story


def cli() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="fewer, shorter jobs")
    parser.add_argument("--db", help="the SQLite file (default: a temporary one)")
    parser.add_argument("--worker", nargs=2, metavar=("DB", "LOG"), help=argparse.SUPPRESS)
    parser.add_argument("--enqueue", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--pause", type=float, default=0.05, help=argparse.SUPPRESS)
    parser.add_argument("--kill-at", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        # The rescue is logged as a warning: show it, on stdout, with the bar.
        logging.basicConfig(stream=sys.stdout, format="   log: %(levelname)s %(name)s: %(message)s")
        db, log = args.worker
        trio.run(
            lambda: worker(
                db,
                log,
                enqueue=args.enqueue,
                pause=args.pause,
                kill_at=args.kill_at,
                fast=args.fast,
            )
        )
        return 0
    story = trio.run(main, args.fast, args.db)
    ok = story.lost == 0 and story.twice <= story.executing_at_kill and story.runs[-1] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(cli())
