"""Executors with a real engine: trio-parallel worker processes (real time, real kills).

Skipped only if trio-parallel is not installed; the nox ``tests`` session installs it.
"""

# Worker processes write the files these tests watch: polling them with
# trio.sleep and reading them with pathlib is the point.
# ruff: noqa: ASYNC110, ASYNC240

from __future__ import annotations

import os
import pathlib
import signal
import threading

import pytest
import trio

import trio_otp as otp
from trio_otp import JobQueue, JobStatus, ProcessExecutor

pytest.importorskip("trio_parallel")

import _jobs


@pytest.fixture(autouse=True)
def _no_leftover_workers() -> object:
    """After each test no worker process is left: checked in the process table."""
    before = set(_jobs.children_of(os.getpid()))
    yield
    leftover = set(_jobs.children_of(os.getpid())) - before
    assert not leftover, f"worker processes outlived the queue: {sorted(leftover)}"


async def test_job_runs_in_another_process_and_errors_keep_their_type() -> None:
    """A job runs in a worker process; an application exception comes back as its own type."""
    async with JobQueue(ProcessExecutor(2)).open() as queue:
        assert await queue.schedule(_jobs.square, 12) == 144
        assert await queue.schedule(os.getpid) != os.getpid()
        with pytest.raises(KeyError, match="missing"):
            await queue.schedule(_jobs.raise_key_error, "missing")
        assert queue.statistics().failed == 1


async def test_worker_os_exit_is_a_crash_reason(tmp_path: pathlib.Path) -> None:
    """A worker killed by os._exit fails a temporary job with WorkerLostError, and a
    transient job is restarted by the job supervisor in a fresh worker."""
    async with JobQueue(ProcessExecutor(1)).open() as queue:
        with pytest.raises(otp.WorkerLostError) as info:
            await queue.schedule(_jobs.exit_once, str(tmp_path / "a"))
        assert "worker process died" in str(info.value)
        job = await queue.submit(_jobs.exit_once, str(tmp_path / "b"), restart="transient")
        assert (await job.wait()).startswith("ran in")
        assert (job.status, job.attempts, queue.statistics().restarts) == (JobStatus.DONE, 2, 1)


async def test_worker_sigkilled_from_outside_restarts_transient(tmp_path: pathlib.Path) -> None:
    """A worker SIGKILLed from outside mid-job is a crash; the transient job runs again."""
    pidfile, marker = tmp_path / "pid", tmp_path / "marker"
    async with JobQueue(ProcessExecutor(1), restart="transient").open() as queue:
        job = await queue.submit(_jobs.wait_to_be_killed, str(pidfile), str(marker))
        with trio.fail_after(30):
            while not pidfile.exists():
                await trio.sleep(0.02)
        marker.write_text("now succeed")
        os.kill(int(pidfile.read_text()), signal.SIGKILL)
        with trio.fail_after(30):
            assert await job.wait() == "second run"
        assert job.attempts == 2


async def test_timeout_kills_the_worker(tmp_path: pathlib.Path) -> None:
    """A job past its timeout gets JobTimeoutError and its worker is killed: the
    liveness file stops changing and the worker process is gone."""
    beat = tmp_path / "beat"
    async with JobQueue(ProcessExecutor(1)).open() as queue:
        with trio.fail_after(30):
            while True:  # warm the worker up so that the timeout covers only the job
                if await queue.schedule(_jobs.square, 2) == 4:
                    break
        with pytest.raises(otp.JobTimeoutError):
            await queue.schedule(_jobs.heartbeat, str(beat), 60, timeout=1.0)
        worker = int(pathlib.Path(str(beat) + ".pid").read_text())
        count = beat.read_text()
        await trio.sleep(0.5)
        assert beat.read_text() == count, "the job kept running after its timeout"
        assert not pathlib.Path(f"/proc/{worker}").exists() or worker not in _jobs.children_of(
            os.getpid()
        )


async def test_timeout_and_started_begin_when_a_worker_runs_the_body() -> None:
    """With one worker, a second job waits queued (not running) for the worker, and
    neither the wait nor the worker's spawn counts toward its timeout."""
    events: list[tuple[otp.EventKind, int]] = []

    def record(event: otp.JobEvent) -> None:
        events.append((event.kind, event.job.id))

    async with JobQueue(ProcessExecutor(1), timeout=3, on_event=record).open() as queue:
        assert queue.statistics().max_running == 1
        first = await queue.submit(_jobs.nap, 2)  # its timeout excludes the spawn
        second = await queue.submit(_jobs.nap, 2)  # 2 s waiting + 2 s running > 3 s
        stats = queue.statistics()
        assert (stats.running, stats.queued) == (1, 1)
        assert (first.status, second.status) == (JobStatus.RUNNING, JobStatus.QUEUED)
        assert [await first.wait(), await second.wait()] == [2, 2]
    assert events == [
        (otp.EventKind.QUEUED, 1),
        (otp.EventKind.QUEUED, 2),
        (otp.EventKind.STARTED, 1),
        (otp.EventKind.FINISHED, 1),
        (otp.EventKind.STARTED, 2),
        (otp.EventKind.FINISHED, 2),
    ]


async def test_one_executor_object_serves_one_running_queue_at_a_time() -> None:
    """A second queue opening an executor that a running queue holds fails its start,
    saying what to do; the first queue is untouched, and the executor can be reused
    once the first queue stopped."""
    executor = ProcessExecutor(1)
    async with JobQueue(executor).open() as first:
        with pytest.raises(otp.ExecutorStartError, match="already open for another running"):
            async with JobQueue(executor).open():
                pass  # pragma: no cover - the start fails
        assert await first.schedule(_jobs.square, 3) == 9
    async with JobQueue(executor).open() as again:
        assert await again.schedule(_jobs.square, 4) == 16


def test_bad_process_executor_options_fail_at_construction() -> None:
    """A bad worker_type or idle_timeout fails when the executor is made, saying which."""
    with pytest.raises(ValueError, match="worker_type must be 'spawn', 'forkserver' or 'fork'"):
        ProcessExecutor(worker_type="bogus")
    with pytest.raises(ValueError, match="idle_timeout must be a number of seconds >= 0"):
        ProcessExecutor(idle_timeout=-5)
    with pytest.raises(ValueError, match="max_workers"):
        ProcessExecutor(0)


async def test_shutdown_with_jobs_in_flight(tmp_path: pathlib.Path) -> None:
    """Stopping the queue with jobs running kills their workers after the shutdown
    budget; every caller gets JobCancelledError and no worker is left."""
    queue = JobQueue(ProcessExecutor(2), shutdown=0.5)
    results: list[str] = []

    async def caller(n: int) -> None:
        try:
            await queue.schedule(_jobs.heartbeat, str(tmp_path / f"beat{n}"), 60)
        except otp.JobCancelledError as exc:
            results.append(exc.reason)

    async with trio.open_nursery() as nursery:
        await nursery.start(queue.serve)
        for n in range(2):
            nursery.start_soon(caller, n)
        with trio.fail_after(30):
            while not all((tmp_path / f"beat{n}").exists() for n in range(2)):
                await trio.sleep(0.02)
        with trio.fail_after(30):
            await queue.stop()
    assert results == ["shutdown", "shutdown"]
    counts = [(tmp_path / f"beat{n}").read_text() for n in range(2)]
    await trio.sleep(0.3)
    assert [(tmp_path / f"beat{n}").read_text() for n in range(2)] == counts


async def test_unpicklable_job_is_refused_at_scheduling() -> None:
    """A job that cannot be pickled is refused when scheduled, with an error naming it."""
    async with JobQueue(ProcessExecutor(1)).open() as queue:
        with pytest.raises(otp.JobNotPicklableError, match=r"job square#1 cannot be sent"):
            await queue.submit(_jobs.square, threading.Lock())
        with pytest.raises(otp.JobNotPicklableError, match="<lambda>"):
            await queue.submit(lambda: 1)

        async def coro() -> None: ...

        with pytest.raises(TypeError, match="async function"):
            await queue.submit(coro)
        assert queue.statistics().queued == queue.statistics().running == 0
