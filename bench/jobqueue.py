"""W4/W6 through the JobQueue component, and W7: CPU-bound jobs in-process, on all
cores (trio-parallel) and on Ray, against raw trio-parallel and raw Ray floors.

W7 measures, in the same process and run: the jobs' wall time (jobs/s), the trio
loop's lag while they run (a 5 ms heartbeat: how late each wake-up is, p99), and,
before the jobs, how many cores the run really got (a 2-process CPU check: the work
two processes do at once over the work one process does alone).
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

import trio

import trio_otp as otp

from ._measure import JOB_RESULT, FlakyError, FlakyJobs, now
from .floor import w4_clients

Metrics = dict[str, Any]

# -- W4 / W6 through trio_otp.JobQueue ---------------------------------------------------------


def _job() -> str:
    return JOB_RESULT


async def w4(clients: int, jobs_each: int, warmup: int = 500) -> Metrics:
    async with otp.JobQueue(max_running=10_000).open() as queue:
        return await w4_clients(queue.schedule, clients, jobs_each, warmup)


async def w6(clients: int, jobs_each: int) -> Metrics:
    total = clients * jobs_each
    flaky = FlakyJobs(total)
    gate = trio.Event()
    results: list[Any] = []
    # Retries by the queue's policy (no backoff, as W6's restarts have none): the
    # job supervisor's restart intensity is never touched.
    policy = otp.RetryPolicy(attempts=1000, on=FlakyError, wait_initial=0, wait_jitter=0)
    async with otp.JobQueue(max_running=10_000, retry=policy).open() as queue:

        async def client(c: int) -> None:
            await gate.wait()
            for k in range(jobs_each):
                results.append(await queue.schedule(flaky.job(c * jobs_each + k)))

        for _ in range(100):
            await queue.schedule(_job)
        async with trio.open_nursery() as group:
            for c in range(clients):
                group.start_soon(client, c)
            await trio.sleep(0.05)
            t0 = now()
            gate.set()
        dt = now() - t0
        retries = queue.statistics().retries
    assert len(results) == total
    assert all(r == JOB_RESULT for r in results)
    return {
        "seconds": dt,
        "jobs_per_s": total / dt,
        "restarts": retries,
        "attempts": flaky.attempts,
        "all_results_ok": True,
    }


# -- W7: CPU-bound jobs ------------------------------------------------------------------------


def burn(ms: float) -> int:
    """About ``ms`` milliseconds of pure-Python CPU work (a fixed number of steps)."""
    n = 0
    for i in range(int(ms * _STEPS_PER_MS)):
        n += i % 7
    return n


#: Loop steps per "millisecond" of ``burn``: a fixed amount of work (the same for every
#: engine), about 1 ms on one core of this kind of machine when it is not loaded.
_STEPS_PER_MS = 12_000


def _spin(seconds: float) -> int:
    """Count loop steps for ``seconds`` of wall time (the CPU check's probe)."""
    end = time.perf_counter() + seconds
    steps = 0
    while time.perf_counter() < end:
        for _ in range(1000):
            pass
        steps += 1
    return steps


def _spin_rounds(rounds: int, seconds: float, go: Any, out: Any) -> None:
    go.wait()  # started: from here on the probe is idle unless it spins
    for _ in range(rounds):
        go.wait()  # the probes spin together, never while the parent spins alone
        out.put(_spin(seconds))


def cores_check(rounds: int = 4, seconds: float = 0.25) -> float:
    """How many cores this run really gets: the work 2 processes do at once ÷ 1 alone.

    A round measures one process spinning alone, then two spinning at once over the
    same window. The two wait at a barrier with the parent, so their slow spawn (0.1-0.3
    s of CPU each) neither staggers them nor slows the lone one. The rounds alternate,
    so that a change in what the machine's other tenants take (on a shared host one
    core's rate moves by up to ±25 % from second to second) weighs on both sides alike.
    Two busy cores may also run slower than one (shared caches, clock boost), which
    this counts as it should: it is what parallel jobs get.
    """
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    go = ctx.Barrier(3)
    procs = [ctx.Process(target=_spin_rounds, args=(rounds, seconds, go, out)) for _ in range(2)]
    for p in procs:
        p.start()
    go.wait()  # both probes have started (a spawn is 0.1-0.3 s of CPU)
    one = two = 0
    for _ in range(rounds):
        one += _spin(seconds)
        go.wait()
        two += out.get() + out.get()
    for p in procs:
        p.join()
    return round(two / one, 2) if one else 0.0


async def _lag_monitor(samples: list[float], stop: trio.Event) -> None:
    while not stop.is_set():
        t = trio.current_time()
        await trio.sleep(0.005)
        samples.append(trio.current_time() - t - 0.005)


def _lag_stats(samples: list[float]) -> Metrics:
    if not samples:
        return {"lag_p99_ms": float("nan"), "lag_max_ms": float("nan")}
    s = sorted(samples)
    return {
        "lag_p99_ms": s[min(len(s) - 1, int(len(s) * 0.99))] * 1000,
        "lag_max_ms": s[-1] * 1000,
    }


async def _timed(n: int, run_all: Callable[[], Awaitable[None]]) -> Metrics:
    samples: list[float] = []
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_lag_monitor, samples, stop)
        t0 = now()
        await run_all()
        dt = now() - t0
        stop.set()
    return {"seconds": dt, "jobs_per_s": n / dt, **_lag_stats(samples)}


async def _warm_then_time(
    n: int, ms: float, run: Callable[[Callable[[float], int], float], Awaitable[Any]]
) -> Metrics:
    """One job per core first (spawns the workers: start-up is not work), then ``n``
    jobs at once, timed, with the loop's lag measured meanwhile."""
    async with trio.open_nursery() as warm:
        for _ in range(os.cpu_count() or 1):
            warm.start_soon(run, burn, 1)

    async def run_all() -> None:
        async with trio.open_nursery() as nursery:
            for _ in range(n):
                nursery.start_soon(run, burn, ms)

    return await _timed(n, run_all)


def _ray_init() -> Any:
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    import ray

    ray.init(
        address="local",
        num_cpus=os.cpu_count(),
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
    )
    import bench.jobqueue

    ray.cloudpickle.register_pickle_by_value(bench.jobqueue)
    return ray


async def w7(engine: str, n: int, ms: float, floor: bool = False) -> Metrics:
    """``n`` jobs of ``burn(ms)`` at once; ``engine`` inproc / parallel / ray."""
    cores = await trio.to_thread.run_sync(cores_check)
    ray = _ray_init() if engine == "ray" else None  # start-up is not measured
    try:
        if floor:
            metrics = await _w7_floor(engine, n, ms, ray)
        else:
            metrics = await _w7_queue(engine, n, ms)
    finally:
        if ray is not None:
            ray.shutdown()
    return {**metrics, "cores": cores}


async def _w7_queue(engine: str, n: int, ms: float) -> Metrics:
    executor: otp.Executor | None = None
    if engine == "parallel":
        executor = otp.ProcessExecutor()
    elif engine == "ray":
        executor = otp.RayExecutor()
    async with otp.JobQueue(executor).open() as queue:
        return await _warm_then_time(n, ms, queue.schedule)


async def _w7_floor(engine: str, n: int, ms: float, ray: Any) -> Metrics:
    if engine == "parallel":
        import trio_parallel

        async with trio_parallel.open_worker_context() as ctx:
            return await _warm_then_time(n, ms, ctx.run_sync)
    # Raw Ray: submit every job, then wait for all of them in a thread.
    remote = ray.remote(max_retries=0)(burn)
    ray.get([remote.remote(1) for _ in range(os.cpu_count() or 1)])

    async def run_ray() -> None:
        refs = [remote.remote(ms) for _ in range(n)]
        await trio.to_thread.run_sync(ray.get, refs)

    return await _timed(n, run_ray)
