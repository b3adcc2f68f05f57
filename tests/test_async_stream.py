"""async_stream: bounded, lazy, cancel-on-exit concurrent map (_behaviours/_async_stream.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import trio
import trio.testing

import trio_otp as otp


def sleeper(record: list[Any] | None = None) -> Any:
    """A job that sleeps ``n`` seconds and returns ``n * 10`` (records start/end)."""

    async def job(n: float) -> float:
        if record is not None:
            record.append(("start", n, trio.current_time()))
        await trio.sleep(n)
        if record is not None:
            record.append(("end", n, trio.current_time()))
        return n * 10

    return job


async def collect(stream: otp.AsyncStream) -> list[Any]:
    return [result async for result in stream]


async def test_ordered_results_in_input_order(autojump_clock: Any):
    """ordered=True yields ("ok", value) in input order, whatever order the jobs finish in."""
    async with otp.async_stream([3, 1, 2], sleeper(), max_concurrency=3) as results:
        assert await collect(results) == [("ok", 30), ("ok", 10), ("ok", 20)]
    assert trio.current_time() == 3


async def test_unordered_results_as_they_finish(autojump_clock: Any):
    """ordered=False yields each result as soon as its job finishes."""
    async with otp.async_stream([3, 1, 2], sleeper(), max_concurrency=3, ordered=False) as res:
        assert await collect(res) == [("ok", 10), ("ok", 20), ("ok", 30)]


async def test_max_concurrency_bounds_running_jobs(autojump_clock: Any):
    """No more than max_concurrency jobs run at once: 6 one-second jobs by 2 take 3 s."""
    record: list[Any] = []
    async with otp.async_stream([1] * 6, sleeper(record), max_concurrency=2) as results:
        assert len(await collect(results)) == 6
    starts = [t for what, _, t in record if what == "start"]
    assert starts == [0, 0, 1, 1, 2, 2]
    assert trio.current_time() == 3


async def test_input_is_read_lazily_with_back_pressure(autojump_clock: Any):
    """The input is read only as slots free up: a slow consumer holds the producer back."""
    read: list[int] = []

    def items() -> Iterator[int]:
        for i in range(100):
            read.append(i)
            yield i

    async def job(n: int) -> int:
        return n

    async with otp.async_stream(items(), job, max_concurrency=3) as results:
        await trio.testing.wait_all_tasks_blocked()
        assert read == [0, 1, 2]  # three slots, three items read, nothing more
        assert await results.__anext__() == ("ok", 0)
        await trio.testing.wait_all_tasks_blocked()
        assert read == [0, 1, 2, 3]
        async for _ in results:
            await trio.sleep(1)
    assert len(read) == 100


async def test_async_iterable_input(autojump_clock: Any):
    """An async iterable is consumed the same way, and closed when the stream ends."""
    closed: list[bool] = []

    async def items() -> AsyncIterator[int]:
        try:
            for i in range(5):
                yield i
        finally:
            closed.append(True)

    async with otp.async_stream(items(), sleeper(), max_concurrency=2) as results:
        assert [v async for _, v in results] == [0, 10, 20, 30, 40]
    assert closed == [True]


async def test_consumer_breaking_early_cancels_running_jobs(autojump_clock: Any):
    """Leaving the block with break cancels the running jobs at once; none outlives it."""
    record: list[Any] = []
    async with otp.async_stream([1, 5, 5, 5], sleeper(record), max_concurrency=3) as results:
        async for status, value in results:
            assert (status, value) == ("ok", 10)
            break
    assert trio.current_time() == 1
    assert [n for what, n, _ in record if what == "end"] == [1]
    await trio.sleep(10)
    assert [n for what, n, _ in record if what == "end"] == [1]


async def test_consumer_raising_cancels_jobs_and_gets_its_own_exception(autojump_clock: Any):
    """An exception in the block cancels the jobs and comes out unwrapped."""
    record: list[Any] = []
    with pytest.raises(KeyError, match="mine"):  # noqa: PT012 - raised inside the loop
        async with otp.async_stream([1, 9], sleeper(record), max_concurrency=2) as results:
            async for _ in results:
                raise KeyError("mine")
    assert trio.current_time() == 1
    assert [n for what, n, _ in record if what == "end"] == [1]


async def test_consumer_cancelled_from_outside(autojump_clock: Any):
    """An outer cancel scope cancels the consumer and every job."""
    record: list[Any] = []
    with trio.move_on_after(2) as scope:
        async with otp.async_stream([9, 9], sleeper(record), max_concurrency=2) as results:
            await collect(results)
    assert scope.cancelled_caught
    assert trio.current_time() == 2
    assert [what for what, _, _ in record] == ["start", "start"]


async def test_a_job_that_raises_fails_the_stream(autojump_clock: Any, caplog: Any):
    """Linked: a raising job cancels the others and its exception leaves the async with."""
    record: list[Any] = []

    async def job(n: int) -> int:
        if n == 2:
            await trio.sleep(1)
            raise ValueError("bad item")
        return await sleeper(record)(n)

    with pytest.raises(ValueError, match="bad item"):
        async with otp.async_stream([5, 2], job, max_concurrency=2) as results:
            await collect(results)
    assert trio.current_time() == 1
    assert [what for what, _, _ in record] == ["start"]
    assert "bad item" in caplog.text  # reported like any crashed Task


async def test_timeout_exit_fails_the_stream(autojump_clock: Any):
    """on_timeout="exit": a job past its timeout makes the stream raise TaskTimeout."""
    with pytest.raises(otp.TaskTimeout, match="did not finish within 2 s"):
        async with otp.async_stream([1, 10], sleeper(), timeout=2, max_concurrency=2) as results:
            await collect(results)
    assert trio.current_time() == 2


async def test_timeout_kill_task_yields_an_exit(autojump_clock: Any):
    """on_timeout="kill_task": the late job is cancelled and yields ("exit", "timeout")."""
    async with otp.async_stream(
        [1, 10, 1], sleeper(), timeout=2, on_timeout="kill_task", max_concurrency=3
    ) as results:
        assert await collect(results) == [("ok", 10), ("exit", "timeout"), ("ok", 10)]
    assert trio.current_time() == 2


async def test_zip_input_on_exit(autojump_clock: Any):
    """zip_input_on_exit=True pairs an exit reason with the item that caused it."""
    async with otp.async_stream(
        [10], sleeper(), timeout=1, on_timeout="kill_task", zip_input_on_exit=True
    ) as results:
        assert await collect(results) == [("exit", (10, "timeout"))]


async def test_plain_functions_and_current_process():
    """Plain functions work too; a job is no process unless asked (``process=True``)."""
    async with otp.async_stream(range(3), lambda n: otp.current_process(), max_concurrency=2) as r:
        assert [pid async for _, pid in r] == [None, None, None]  # the opener's: none
    async with (
        otp.mailbox() as inbox,
        otp.async_stream(range(2), lambda n: otp.current_process()) as r,
    ):
        assert [pid async for _, pid in r] == [inbox.pid, inbox.pid]
    async with otp.async_stream(
        range(3), lambda n: otp.current_process(), max_concurrency=2, process=True
    ) as r:
        pids = [pid async for _, pid in r]
    assert len(set(pids)) == 3
    assert all(pid.kind == "Task" and not pid.alive for pid in pids)


@pytest.mark.parametrize("process", [False, True])
async def test_both_kinds_of_job_keep_order_bound_timeouts_and_exits(
    autojump_clock: Any, process: bool
):
    """A job that is a process and one that is not: the same order, bound, kill on
    timeout, zipped exit reasons."""
    running = [0]
    peak = [0]

    async def job(n: int) -> int:
        running[0] += 1
        peak[0] = max(peak[0], running[0])
        try:
            await trio.sleep(n)
        finally:
            running[0] -= 1
        return n

    async with otp.async_stream(
        [3, 1, 9, 2, 1],
        job,
        max_concurrency=2,
        timeout=5,
        on_timeout="kill_task",
        zip_input_on_exit=True,
        process=process,
    ) as results:
        got = await collect(results)
    assert got == [("ok", 3), ("ok", 1), ("exit", (9, "timeout")), ("ok", 2), ("ok", 1)]
    assert peak[0] == 2
    assert running[0] == 0


async def test_the_input_raising_fails_the_stream():
    """An input that raises fails the stream with that exception."""

    def items() -> Iterator[int]:
        yield 1
        raise OSError("disk")

    with pytest.raises(OSError, match="disk"):
        async with otp.async_stream(items(), lambda n: n) as results:
            await collect(results)


async def test_empty_input_and_use_outside_the_block():
    """An empty input yields nothing; iterating after the block is a RuntimeError."""
    async with otp.async_stream([], lambda n: n) as results:
        assert await collect(results) == []
    with pytest.raises(RuntimeError, match="inside its `async with` block"):
        await results.__anext__()


async def test_bad_arguments_are_refused_up_front():
    """Bad options raise at once, before anything runs."""
    with pytest.raises(TypeError, match="needs a function"):
        otp.async_stream([1], 42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="iterable"):
        otp.async_stream(42, str)  # type: ignore[arg-type]
    for kwargs in [
        {"max_concurrency": 0},
        {"max_concurrency": True},
        {"timeout": -1},
        {"on_timeout": "ignore"},
    ]:
        with pytest.raises(ValueError):  # noqa: PT011 - each message is checked below
            otp.async_stream([1], str, **kwargs)
    with pytest.raises(ValueError, match='"exit" or "kill_task"'):
        otp.async_stream([1], str, on_timeout="x")  # type: ignore[arg-type]
