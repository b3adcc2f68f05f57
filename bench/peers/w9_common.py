"""What every W9 driver shares (stdlib only: it runs in each peer's own venv).

A driver is ``python -m bench.peers.w9_driver SYSTEM ROLE PARAMS_JSON``; the roles:

* ``setup``: create the system's schema in the database.
* ``enqueue``: ``jobs`` no-op jobs, ``batch`` at a time (1: one per call, each its own
  transaction; more: the system's bulk call); the result is jobs/s.
* ``fill``: ``jobs`` jobs in one bulk call (the processing runs' backlog).
* ``work``: one worker process, ``concurrency`` jobs at once, the system's
  LISTEN/NOTIFY on. It prints ``READY`` once started, runs until its standard input
  closes, then reports every job it ran as a ``(sent, started)`` pair.
* ``latency``: ``count`` jobs enqueued one at a time, ``gap`` seconds apart, each
  carrying the time taken just before its enqueue call (``sent``).

The job is the same no-op everywhere: it appends ``(sent, time.time())`` to
:data:`RUNS`, the start time taken inside the job, first thing.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

RESULT_PREFIX = "RESULT "
READY = "READY"
QUEUE = "w9"
#: Connections each worker process may use for its queries (its LISTEN one aside): as
#: many as the jobs it runs at once, so that no system waits for a connection. Each
#: system's own default is smaller (trio_otp 4, procrastinate's psycopg pool 4, oban's
#: create_pool 10), and each ran slower with it (measured: a third slower for
#: procrastinate, a fifth for oban-py and trio_otp).
POOL = 20

RUNS: list[tuple[float, float]] = []


def record(sent: float) -> None:
    """The job's body: note when it started (the job's own first statement)."""
    RUNS.append((sent, time.time()))


def ready() -> None:
    sys.stdout.write(READY + "\n")
    sys.stdout.flush()


def wait_for_stdin_close() -> None:
    """Block until the parent closes our standard input (its stop signal)."""
    sys.stdin.read()


def emit(result: dict[str, Any]) -> None:
    sys.stdout.write(RESULT_PREFIX + json.dumps(result) + "\n")
    sys.stdout.flush()


def rate(jobs: int, began: float) -> dict[str, Any]:
    return {"rate": jobs / (time.perf_counter() - began)}


def runs_result() -> dict[str, Any]:
    return {"runs": RUNS}


def batches(jobs: int, batch: int) -> list[int]:
    """Sizes of the successive calls that enqueue ``jobs`` jobs ``batch`` at a time."""
    full, rest = divmod(jobs, batch)
    return [batch] * full + ([rest] if rest else [])
