"""W9's floor: trio_otp's own statements issued with plain psycopg 3 (sync, no trio).

* enqueue, as the store issues it: one job per call is one autocommit statement
  (``SQL_INSERT_ONE_NOTIFY``, its id from a block reserved with ``SQL_NEXT_IDS``); a
  batch is ``SQL_INSERT`` (one INSERT … unnest, reserved ids too) + ``SQL_NOTIFY`` and
  a commit.
* work: one connection claims up to ``concurrency`` jobs (``SQL_CLAIM``, ``FOR
  UPDATE SKIP LOCKED``), runs them one after another and acks them with one fenced
  ``SQL_ACK``, each an autocommit statement as the store sends them (the store also
  stages due jobs before each claim: the floor has none to stage, and does not); when
  a claim finds nothing it waits on a second connection that
  ``LISTEN``\\ s on the store's channel (``notifies(timeout=1.0)``: the 1 s fallback).
  No heartbeat, no pool, no threads: the least work the same statements need.
* schema: trio_otp's, made by its store (:mod:`bench.peers.w9_trio_otp`'s setup).
"""

from __future__ import annotations

import json
import os
import threading
import time
from typing import Any

import psycopg

from trio_otp.jobs._postgres_sql import (
    CHANNEL,
    SQL_ACK,
    SQL_CLAIM,
    SQL_INSERT,
    SQL_INSERT_ONE_NOTIFY,
    SQL_NEXT_IDS,
    SQL_NOTIFY,
)

from . import w9_trio_otp
from .w9_common import QUEUE, batches, emit, rate, ready, record, runs_result
from .w9_common import wait_for_stdin_close as _wait

WORKER = f"{w9_trio_otp.__name__}:noop"


_ids: list[int] = []


def _insert_one(conn: psycopg.Connection[Any]) -> None:
    if not _ids:
        _ids.extend(row[0] for row in conn.execute(SQL_NEXT_IDS, (64,)))
        _ids.reverse()
    now = time.time()
    conn.execute(
        SQL_INSERT_ONE_NOTIFY,
        (_ids.pop(), WORKER, json.dumps([now]), QUEUE, "available", 0, 20, now, now, "{}", CHANNEL),
    ).fetchall()


def _insert(conn: psycopg.Connection[Any], count: int) -> None:
    if count == 1:
        conn.autocommit = True
        _insert_one(conn)
        return
    conn.autocommit = False
    now = time.time()
    while len(_ids) < count:
        _ids[:0] = [row[0] for row in conn.execute(SQL_NEXT_IDS, (max(64, count),))][::-1]
    conn.execute(
        SQL_INSERT,
        (
            now,
            [_ids.pop() for _ in range(count)],
            [WORKER] * count,
            [json.dumps([time.time()]) for _ in range(count)],
            [QUEUE] * count,
            ["available"] * count,
            [0] * count,
            [20] * count,
            [now] * count,
            [None] * count,
            ["{}"] * count,
        ),
    ).fetchall()
    conn.execute(SQL_NOTIFY, (CHANNEL, [QUEUE]))
    conn.commit()


def _work(dsn: str, concurrency: int) -> None:
    holder = f"floor-{os.getpid()}"
    stop = threading.Event()
    with (
        psycopg.connect(dsn, autocommit=True) as conn,
        psycopg.connect(dsn, autocommit=True) as listen,
    ):
        listen.execute(f"LISTEN {CHANNEL}")
        ready()
        threading.Thread(target=lambda: (_wait(), stop.set()), daemon=True).start()
        while not stop.is_set():
            now = time.time()
            rows = conn.execute(SQL_CLAIM, (now, holder, "floor", QUEUE, concurrency)).fetchall()
            if not rows:
                for _ in listen.notifies(timeout=1.0, stop_after=1):
                    pass
                continue
            for row in rows:
                record(row[2][0])
            n = len(rows)
            conn.execute(
                SQL_ACK,
                {
                    "now": time.time(),
                    "ids": [r[0] for r in rows],
                    "attempts": [r[6] for r in rows],
                    "holders": [holder] * n,
                    "states": ["completed"] * n,
                    "results": ["null"] * n,
                    "errors": [None] * n,
                    "at": [None] * n,
                },
            ).fetchall()
    emit(runs_result())


def main(role: str, dsn: str, params: dict[str, Any]) -> None:
    if role == "setup":
        w9_trio_otp.main("setup", dsn, params)
        return
    if role == "work":
        _work(dsn, params["concurrency"])
        return
    with psycopg.connect(dsn) as conn:
        if role in ("enqueue", "fill"):
            jobs = params["jobs"]
            began = time.perf_counter()
            for size in batches(jobs, params.get("batch", jobs)):
                _insert(conn, size)
            emit(rate(jobs, began))
        elif role == "latency":
            for _ in range(params["count"]):
                _insert(conn, 1)
                time.sleep(params["gap"])
            emit({})
        else:
            raise ValueError(f"unknown role {role!r}")
