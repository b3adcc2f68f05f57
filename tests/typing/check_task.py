"""Task: fn(*args) is checked like trio's start_soon; async_nolink's result type."""

# pyright: reportUnnecessaryTypeIgnoreComment=true

from __future__ import annotations

from typing import assert_type

import trio

import trio_otp as otp


async def fetch(url: str, retries: int) -> bytes:
    return url.encode() * retries


def log(message: str) -> None:
    print(message)


async def users(nursery: trio.Nursery, jobs: otp.Pid) -> None:
    assert_type(await otp.Task.start(nursery, fetch, "https://example.org", 3), otp.Pid)
    await otp.Task.start(nursery, log, "hello")
    await otp.Task.start(nursery, fetch, "https://example.org")  # type: ignore[arg-type]
    await otp.Task.start(nursery, log, 42)  # type: ignore[arg-type]

    assert_type(otp.Task.child_spec(fetch, "https://example.org", 3), otp.ChildSpec)
    otp.Task.child_spec(fetch, 3, "https://example.org")  # type: ignore[arg-type]

    # async_nolink: the task's result type comes back from wait().
    task = await otp.Task.async_nolink(jobs, fetch, "https://example.org", 3)
    assert_type(task, otp.AsyncTask[bytes])
    assert_type(await task.wait(), bytes)
    sync_task = await otp.Task.async_nolink(jobs, len, "abc")
    assert_type(sync_task, otp.AsyncTask[int])
    await otp.Task.async_nolink(jobs, fetch, 3)  # type: ignore[arg-type]
