"""Job functions for the durable-jobs tests and their subprocess programs (importable
by name, as a durable queue needs: ``_durable_jobs:add`` and so on)."""

from __future__ import annotations

import os
from typing import Any

import trio

from trio_otp.jobs import report_progress

#: Calls made in this process, for the tests that run jobs in-process.
CALLS: list[tuple[str, Any]] = []


def add(a: int, b: int) -> int:
    CALLS.append(("add", (a, b)))
    return a + b


async def slow(seconds: float, tag: str = "") -> str:
    CALLS.append(("slow", tag))
    await trio.sleep(seconds)
    return tag


def fail(message: str) -> None:
    CALLS.append(("fail", message))
    raise ValueError(message)


_FLAKY: dict[str, int] = {}


def flaky(key: str, failures: int) -> str:
    """Fails ``failures`` times per key (in this process), then returns "ok"."""
    count = _FLAKY.get(key, 0)
    _FLAKY[key] = count + 1
    CALLS.append(("flaky", key))
    if count < failures:
        raise RuntimeError(f"flaky {key} failure {count + 1}")
    return "ok"


#: Gates for :func:`gated`, by tag: a test makes them and opens them (in-process only).
GATES: dict[str, trio.Event] = {}


async def gated(tag: str) -> str:
    """Runs until the test opens ``GATES[tag]``: a job whose end the test chooses."""
    CALLS.append(("gated", tag))
    await GATES[tag].wait()
    return tag


def record(tag: str) -> str:
    CALLS.append(("record", tag))
    return tag


async def progress(steps: int, pause: float) -> int:
    for i in range(steps):
        report_progress((i + 1) / steps, f"step {i + 1}/{steps}")
        await trio.sleep(pause)
    return steps


def side_effect(path: str, job: int) -> int:
    """Appends ``job`` to a file: the side effect counted outside the database."""
    with open(path, "a") as f:
        f.write(f"{job}\n")
        f.flush()
        os.fsync(f.fileno())
    return job


async def slow_effect(path: str, job: int, pause: float) -> int:
    """Works for ``pause`` seconds, then appends ``job`` to ``path`` (fsynced): a job
    with a side effect counted outside the database, for the kill -9 test."""
    await trio.sleep(pause)
    return side_effect(path, job)
