"""Issue 21, "Clear errors": each row of the bad-input audit says what was wrong and
what to do (the rows of issue 13's audit are in test_bad_input.py)."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest
import trio

import trio_otp as otp
from trio_otp import JobQueue, ProcessExecutor, RayExecutor, RetryPolicy, TaskSupervisor

ROOT = Path(__file__).resolve().parent.parent


class Echo(otp.GenServer[None]):
    async def handle_call(self, request: Any, from_: otp.From, state: None) -> Any:
        return otp.Reply(request, state)


def _pid_of_an_ended_run() -> otp.Pid:
    """A GenServer's pid from a trio.run that ran (and ended) in another thread."""
    pids: list[otp.Pid] = []

    async def short_run() -> None:
        async with trio.open_nursery() as nursery:
            pids.append(await Echo.start(nursery))
            nursery.cancel_scope.cancel()

    thread = threading.Thread(target=trio.run, args=(short_run,))
    thread.start()
    thread.join()
    return pids[0]


async def test_call_and_stop_of_a_pid_from_an_ended_run_are_no_process_errors():
    pid = await trio.to_thread.run_sync(_pid_of_an_ended_run)
    assert not pid.alive
    with pytest.raises(otp.NoProcessError):
        await otp.call(pid, "hello")
    with pytest.raises(otp.NoProcessError):
        await otp.stop(pid)
    otp.cast(pid, "dropped")  # as before: a dead process takes nothing
    otp.send(pid, "dropped")


def test_registered_outside_trio_run_says_use_trio_run():
    with pytest.raises(RuntimeError, match=r"registered\(\) was called outside trio.run"):
        otp.registered()


def plain_start(task_status: Any = trio.TASK_STATUS_IGNORED) -> int:
    return 1


async def test_a_plain_def_start_function_says_write_async_def():
    async with trio.open_nursery() as nursery:
        with pytest.raises(otp.ChildStartError) as info:
            await otp.Supervisor.start(nursery, [otp.ChildSpec(id="x", start=plain_start)])
        text = str(info.value.__cause__ or info.value.reason)
        assert "start function plain_start returned 1, not an awaitable" in text
        assert "async def plain_start(..., task_status)" in text


def test_job_queue_given_an_executor_class_says_call_it():
    with pytest.raises(TypeError, match=r"got the class ProcessExecutor: call it, e.g. Process"):
        JobQueue(ProcessExecutor)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("on", "kind", "says"),
    [
        ("ValueError", TypeError, "got 'ValueError': pass the class itself"),
        (5, TypeError, "got 5: pass the class itself"),
        ((), ValueError, "is empty, so nothing would be retried"),
        ((ValueError, "OSError"), ValueError, "got 'OSError' in it"),
    ],
)
def test_retry_policy_on_takes_exception_classes(on: Any, kind: type, says: str):
    with pytest.raises(kind, match=says):
        RetryPolicy(on=on)


def test_retry_policy_wait_exp_base_is_a_factor_of_at_least_one():
    with pytest.raises(ValueError, match=r"growth factor .* a number >= 1"):
        RetryPolicy(wait_exp_base=0.5)


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({"connect_timeout": -1}, "connect_timeout must be a number of seconds > 0"),
        ({"connect_timeout": math.nan}, "connect_timeout must be a number of seconds > 0"),
        ({"connect_timeout": math.inf}, "connect_timeout must be a number of seconds > 0"),
        ({"num_cpus": 0}, "num_cpus must be an int >= 1"),
        ({"address": 5}, "address must be a cluster's address as a str"),
        ({"address": ""}, "address must be a cluster's address as a str"),
        ({"init_options": [1]}, "init_options must be a dict"),
    ],
)
def test_ray_executor_refuses_bad_options_when_made(options: dict[str, Any], says: str):
    with pytest.raises((TypeError, ValueError), match=says):
        RayExecutor(**options)


async def test_task_supervisor_start_child_of_a_gen_server_says_use_a_dynamic_supervisor():
    async with trio.open_nursery() as nursery:
        sup = await TaskSupervisor.start(nursery)
        for child in (Echo, Echo.child_spec(None)):
            with pytest.raises(otp.ChildSpecError) as info:
                await TaskSupervisor.start_child(sup, child)  # type: ignore[arg-type]
            assert "Echo is a process of its own" in str(info.value)
            assert "DynamicSupervisor.start_child(sup, Echo)" in str(info.value)
        with pytest.raises(otp.ChildSpecError, match="async_nolink runs a function as a Task"):
            await TaskSupervisor.async_nolink(sup, Echo)
        await otp.stop(sup)


def test_a_job_defined_in_main_of_python_c_is_refused_when_scheduled():
    """A real ``python -c`` program: the job is refused by schedule(), before any worker
    runs it (it used to fail in the worker with a raw AttributeError)."""
    program = textwrap.dedent(
        """
        import trio
        from trio_otp import JobQueue, ProcessExecutor

        def square(x):
            return x * x

        async def main():
            async with JobQueue(ProcessExecutor(1)).open() as queue:
                try:
                    await queue.schedule(square, 3)
                except TypeError as exc:
                    print("refused:", exc)

        trio.run(main)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", program], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "refused: job square#" in done.stdout
    assert "uses __main__.square, defined in __main__ of a program that has no file" in done.stdout
    assert "worker_type='fork'" in done.stdout


# -- the audit of constructor arguments and options -----------------------------------


@pytest.mark.parametrize(
    ("make", "kind", "says"),
    [
        (lambda: otp.async_stream([1], abs, timeout=math.nan), ValueError, "timeout must be"),
        (lambda: otp.async_stream([1], abs, ordered="yes"), TypeError, "ordered must be True"),
        (lambda: otp.async_stream([1], abs, process=1), TypeError, "process must be True"),
        (lambda: otp.cancel_timer(5), TypeError, r"cancel_timer\(\) takes what send_after"),
        (lambda: JobQueue(seed=[1]), TypeError, "seed must be an int"),
        (lambda: JobQueue(heartbeat_interval=1), TypeError, "heartbeat_interval= is for a dur"),
        (
            lambda: JobQueue(prune_after=1, rescue_after=9),
            TypeError,
            "rescue_after=, prune_after= are",
        ),
        (lambda: JobQueue(clock=5), TypeError, "clock must be a function returning POSIX"),
    ],
)
async def test_constructor_arguments_are_checked_when_given(make: Any, kind: type, says: str):
    with pytest.raises(kind, match=says):
        make()
