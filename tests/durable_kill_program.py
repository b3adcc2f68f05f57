"""A durable queue on a SQLite file, for the kill -9 test (tests/test_durable_kill.py).

Run as ``python tests/durable_kill_program.py DB EFFECTS [--enqueue N PAUSE]``: with
``--enqueue`` it first inserts N jobs ``slow_effect(EFFECTS, i, PAUSE)`` for i in
0..N-1 (one transaction), prints ``enqueued N``; then (every run) it works until no job
in the store is left unfinished, and prints ``done completed=… rescued=…``. The test
SIGKILLs it from outside at counted side effects and starts it again on the same file.
Real clock, short intervals: a heartbeat every 0.2 s, a dead instance's jobs rescued
after 1 s without one.
"""

from __future__ import annotations

import sys

import _durable_jobs as jobs  # this file's folder is sys.path[0]
import trio

from trio_otp import JobQueue
from trio_otp.jobs import JobState, SQLiteStore


async def main(db: str, effects: str, enqueue: tuple[int, float] | None) -> None:
    queue = JobQueue(
        store=SQLiteStore(db, poll_interval=0.05),
        jobs=[jobs.slow_effect],
        queues={"default": 8},
        heartbeat_interval=0.2,
        rescue_after=1.0,
    )
    async with queue.open():
        if enqueue is not None:
            count, pause = enqueue
            await queue.enqueue_many(
                [(jobs.slow_effect, (effects, i, pause)) for i in range(count)]
            )
            print(f"enqueued {count}", flush=True)
        while True:
            stats = await queue.store_statistics()
            states = stats.queues["default"].states
            unfinished = sum(n for state, n in states.items() if state not in _FINAL)
            if not unfinished:
                break
            await trio.sleep(0.05)
        print(
            f"done completed={states[JobState.COMPLETED]} rescued={stats.rescued}",
            flush=True,
        )


_FINAL = {JobState.COMPLETED, JobState.DISCARDED, JobState.CANCELLED}

if __name__ == "__main__":
    db, effects, *rest = sys.argv[1:]
    enqueue = (int(rest[1]), float(rest[2])) if rest and rest[0] == "--enqueue" else None
    trio.run(main, db, effects, enqueue)
