"""The workloads on triotp (PyPI ``triotp``), run in its own virtualenv.

``bench/.venvs/triotp/bin/python -m bench.peers.triotp_worker WORKLOAD PARAMS_JSON``
prints one ``RESULT {json}`` line, like :mod:`bench.worker`. This module imports
nothing from trio_otp (its venv has an old trio and no trio_otp).

How each workload is expressed with triotp's API (module-style callbacks, a mailbox
registry, ``supervisor`` / ``dynamic_supervisor`` built on tenacity retries):

* W1/W2: ``gen_server.start`` under a nursery, ``gen_server.call(name, "inc")``.
* W3: ``dynamic_supervisor.start_child`` only *sends* the child spec to the
  supervisor's mailbox and returns before the child even starts; there is no
  "started after init" reply. The worker therefore sends N specs and then waits until
  all N ``init`` callbacks have run: the same end state, measured the only way the
  API allows. Stop: cancel the supervisor's nursery (triotp has no stop call).
* W4/W6: the seed's JobQueue on ``gen_server`` + ``dynamic_supervisor``; the job task
  replies with ``gen_server.reply(caller, result)``; TEMPORARY (W4) / TRANSIENT (W6).
* W5: a PERMANENT gen_server under ``supervisor.start`` crashes on a cast
  (``Stop(reason=exception)``); the client calls it by name until it answers.
"""

from __future__ import annotations

import functools
import json
import sys
import tracemalloc
from collections.abc import Callable
from typing import Any

import logbook  # type: ignore[import-not-found]
import trio
import trio.lowlevel
from triotp import (  # type: ignore[import-not-found]
    dynamic_supervisor,
    gen_server,
    mailbox,
    supervisor,
)

from .._measure import (
    JOB_RESULT,
    FlakyJobs,
    MemProbe,
    emit,
    latency_stats,
    median_of_runs,
    now,
    w3_metrics,
)

Metrics = dict[str, Any]
LOGGING_NOTE = "triotp's logbook output dropped (NullHandler, as triotp's node.run does)"


class CounterModule:
    """triotp callbacks for W1/W2's counter (triotp looks them up on a module)."""

    @staticmethod
    async def init(arg: Any) -> int:
        return 0

    @staticmethod
    async def handle_call(message: Any, caller: Any, n: int) -> tuple[Any, int]:
        return gen_server.Reply(payload=n + 1), n + 1


async def _wait_registered(name: str) -> None:
    # gen_server.start has no task_status: poll until the name is registered.
    while mailbox._resolve(name) is None:
        await trio.lowlevel.checkpoint()


async def w1(n: int, warmup: int = 1000) -> Metrics:
    mailbox._init()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(gen_server.start, CounterModule, None, "counter")
        await _wait_registered("counter")
        for _ in range(warmup):
            await gen_server.call("counter", "inc")
        t0 = now()
        for _ in range(n):
            await gen_server.call("counter", "inc")
        dt = now() - t0
        last = await gen_server.call("counter", "inc")
        assert last == n + warmup + 1, last
        nursery.cancel_scope.cancel()
    return {"seconds": dt, "calls_per_s": n / dt, "us_per_call": dt * 1e6 / n}


async def w2(clients: int, calls: int, warmup: int = 1000) -> Metrics:
    mailbox._init()
    gate = trio.Event()

    async def client() -> None:
        await gate.wait()
        for _ in range(calls):
            await gen_server.call("counter", "inc")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(gen_server.start, CounterModule, None, "counter")
        await _wait_registered("counter")
        for _ in range(warmup):
            await gen_server.call("counter", "inc")
        async with trio.open_nursery() as group:
            for _ in range(clients):
                group.start_soon(client)
            await trio.sleep(0.05)
            t0 = now()
            gate.set()
        dt = now() - t0
        total = clients * calls
        last = await gen_server.call("counter", "inc")
        assert last == total + warmup + 1, last
        nursery.cancel_scope.cancel()
    return {"seconds": dt, "calls_per_s": total / dt}


# -- W3 ----------------------------------------------------------------------------------------


class _InitCounter:
    def __init__(self) -> None:
        self.count = 0
        self.target = 0
        self.reached = trio.Event()


class IdleModule:
    """An idle gen_server; init counts itself so the benchmark knows it ran."""

    counter: _InitCounter

    @staticmethod
    async def init(arg: Any) -> None:
        c = IdleModule.counter
        c.count += 1
        if c.count == c.target:
            c.reached.set()


_SPEC = supervisor.child_spec(
    id="idle",
    task=gen_server.start,
    args=[IdleModule, None, None],
    restart=supervisor.restart_strategy.PERMANENT,
)


async def _spawn(n: int) -> tuple[float, float, dict[str, int]]:
    counter = IdleModule.counter = _InitCounter()
    counter.target = n
    opts = supervisor.options()
    async with trio.open_nursery() as nursery:
        ds = await nursery.start(dynamic_supervisor.start, opts)
        probe = MemProbe()
        t0 = now()
        for _ in range(n):
            await dynamic_supervisor.start_child(ds, _SPEC)
        await counter.reached.wait()
        t_start = now() - t0
        mem = probe.delta()
        t1 = now()
        nursery.cancel_scope.cancel()
    return t_start, now() - t1, mem


async def w3(n: int, warmup: int = 1000) -> Metrics:
    mailbox._init()
    await _spawn(warmup)
    t_start, t_stop, mem = await _spawn(n)
    return w3_metrics(n, t_start, t_stop, mem)


# -- W4 / W6 -----------------------------------------------------------------------------------


async def _run_job(fn: Callable[[], Any], caller: Any) -> None:
    await gen_server.reply(caller, fn())


class JobQueueModule:
    """The seed's JobQueue as triotp callbacks."""

    restart = supervisor.restart_strategy.TEMPORARY

    @staticmethod
    async def init(arg: Any) -> None:
        return None

    @staticmethod
    async def handle_call(message: Any, caller: Any, state: None) -> tuple[Any, None]:
        match message:
            case ("schedule_job", fn):
                spec = supervisor.child_spec(
                    id="job", task=_run_job, args=[fn, caller], restart=JobQueueModule.restart
                )
                await dynamic_supervisor.start_child("JobSupervisor", spec)
                return gen_server.NoReply(), state
        raise ValueError(f"unknown request {message!r}")


async def schedule_job(fn: Callable[[], Any]) -> Any:
    return await gen_server.call("JobQueue", ("schedule_job", fn))


def _job() -> str:
    return JOB_RESULT


async def _start_app(nursery: trio.Nursery, *, transient: bool) -> None:
    JobQueueModule.restart = (
        supervisor.restart_strategy.TRANSIENT
        if transient
        else supervisor.restart_strategy.TEMPORARY
    )
    job_opts = (
        supervisor.options(max_restarts=1_000_000, max_seconds=1)
        if transient
        else (supervisor.options())
    )
    children = [
        supervisor.child_spec(
            id="JobSupervisor", task=dynamic_supervisor.start, args=[job_opts, "JobSupervisor"]
        ),
        supervisor.child_spec(
            id="JobQueue", task=gen_server.start, args=[JobQueueModule, None, "JobQueue"]
        ),
    ]
    await nursery.start(supervisor.start, children, supervisor.options())
    await _wait_registered("JobSupervisor")
    await _wait_registered("JobQueue")


async def w4(clients: int, jobs_each: int, warmup: int = 500) -> Metrics:
    mailbox._init()
    gate = trio.Event()
    latencies: list[float] = []

    async def client() -> None:
        await gate.wait()
        for _ in range(jobs_each):
            t = now()
            result = await schedule_job(_job)
            latencies.append(now() - t)
            assert result == JOB_RESULT

    async with trio.open_nursery() as nursery:
        await _start_app(nursery, transient=False)
        for _ in range(warmup):
            await schedule_job(_job)
        async with trio.open_nursery() as group:
            for _ in range(clients):
                group.start_soon(client)
            await trio.sleep(0.05)
            t0 = now()
            gate.set()
        dt = now() - t0
        nursery.cancel_scope.cancel()
    total = clients * jobs_each
    assert len(latencies) == total
    return {"seconds": dt, "jobs_per_s": total / dt, **latency_stats(latencies)}


async def w6(clients: int, jobs_each: int) -> Metrics:
    mailbox._init()
    total = clients * jobs_each
    flaky = FlakyJobs(total)
    gate = trio.Event()
    results: list[Any] = []

    async def client(c: int) -> None:
        await gate.wait()
        for k in range(jobs_each):
            results.append(await schedule_job(flaky.job(c * jobs_each + k)))

    async with trio.open_nursery() as nursery:
        await _start_app(nursery, transient=True)
        for _ in range(100):
            await schedule_job(_job)
        async with trio.open_nursery() as group:
            for c in range(clients):
                group.start_soon(client, c)
            await trio.sleep(0.05)
            t0 = now()
            gate.set()
        dt = now() - t0
        nursery.cancel_scope.cancel()
    assert len(results) == total
    assert all(r == JOB_RESULT for r in results)
    return {
        "seconds": dt,
        "jobs_per_s": total / dt,
        "restarts": flaky.attempts - total,
        "attempts": flaky.attempts,
        "all_results_ok": True,
    }


# -- W5 ----------------------------------------------------------------------------------------


class VictimModule:
    @staticmethod
    async def init(arg: Any) -> None:
        return None

    @staticmethod
    async def handle_call(message: Any, caller: Any, state: None) -> tuple[Any, None]:
        return gen_server.Reply(payload="pong"), state

    @staticmethod
    async def handle_cast(message: Any, state: None) -> tuple[Any, None]:
        return gen_server.Stop(reason=RuntimeError("crash")), state

    @staticmethod
    async def terminate(reason: Any, state: None) -> None:
        return None  # (without it triotp logs every crash through logbook)


async def _ping_until_up() -> int:
    tries = 0
    while True:
        try:
            reply = await gen_server.call("victim", "ping")
        except (mailbox.MailboxDoesNotExist, trio.BrokenResourceError, trio.ClosedResourceError):
            tries += 1
            await trio.lowlevel.checkpoint()  # triotp's send raises without a checkpoint: yield
            continue
        assert reply == "pong", reply
        return tries


async def w5(n: int, warmup: int = 50) -> Metrics:
    mailbox._init()
    latencies: list[float] = []
    tries = 0

    async def loop(k: int, record: bool) -> None:
        nonlocal tries
        for _ in range(k):
            old = mailbox._resolve("victim")
            assert old is not None
            t = now()
            await gen_server.cast("victim", "crash")
            tr = await _ping_until_up()
            dt = now() - t
            assert mailbox._resolve("victim") != old
            if record:
                latencies.append(dt)
                tries += tr

    children = [
        supervisor.child_spec(
            id="victim",
            task=gen_server.start,
            args=[VictimModule, None, "victim"],
            restart=supervisor.restart_strategy.PERMANENT,
        )
    ]
    opts = supervisor.options(max_restarts=1_000_000, max_seconds=1)
    async with trio.open_nursery() as nursery:
        await nursery.start(supervisor.start, children, opts)
        await _wait_registered("victim")
        await loop(warmup, False)
        t0 = now()
        await loop(n, True)
        total = now() - t0
        nursery.cancel_scope.cancel()
    return {
        "seconds": total,
        **latency_stats(latencies),
        "failed_pings_per_restart": tries / n,
    }


WORKLOADS: dict[str, Callable[..., Any]] = {
    "W1": w1,
    "W2": w2,
    "W3": w3,
    "W4": w4,
    "W5": w5,
    "W6": w6,
}


def main(argv: list[str]) -> int:
    workload, params = argv[0], json.loads(argv[1])
    tracing = bool(params.pop("tracemalloc", False))
    runs = int(params.pop("runs", 1))
    fn = WORKLOADS[workload]
    if tracing:
        tracemalloc.start()
    t0 = now()
    with logbook.NullHandler().applicationbound():
        metrics = median_of_runs(lambda: trio.run(functools.partial(fn, **params)), runs)
    emit(
        {
            "impl": "triotp",
            "workload": workload,
            "params": params,
            "tracemalloc": tracing,
            "metrics": metrics,
            "wall_s": now() - t0,
            "logging": LOGGING_NOTE,
            "versions": {"python": sys.version.split()[0], "trio": trio.__version__},
        }
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
