"""The six workloads on trio_otp, written as a user would (the public API only).

Each function is the body of one fresh ``trio.run`` and returns its figures.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import trio

import trio_otp as otp

from ._measure import JOB_RESULT, FlakyJobs, MemProbe, latency_stats, mark, now, w3_metrics
from .floor import Metrics, w4_clients

# -- W1 / W2 -----------------------------------------------------------------------------------


class Counter(otp.GenServer[int]):
    async def handle_call(self, request: Any, from_: otp.From, n: int) -> otp.Reply[int]:
        return otp.Reply(n + 1, n + 1)


async def w1(n: int, warmup: int = 1000) -> Metrics:
    async with trio.open_nursery() as nursery:
        await Counter.start(nursery, 0, name=Counter)
        for _ in range(warmup):
            await otp.call(Counter, "inc")
        t0 = now()
        for _ in range(n):
            await otp.call(Counter, "inc")
        dt = now() - t0
        last = await otp.call(Counter, "inc")
        assert last == n + warmup + 1, last
        await otp.stop(Counter)
    return {"seconds": dt, "calls_per_s": n / dt, "us_per_call": dt * 1e6 / n}


async def w2(clients: int, calls: int, warmup: int = 1000) -> Metrics:
    gate = trio.Event()

    async def client() -> None:
        await gate.wait()
        for _ in range(calls):
            await otp.call(Counter, "inc")

    async with trio.open_nursery() as nursery:
        await Counter.start(nursery, 0, name=Counter)
        for _ in range(warmup):
            await otp.call(Counter, "inc")
        async with trio.open_nursery() as group:
            for _ in range(clients):
                group.start_soon(client)
            await trio.sleep(0.05)
            t0 = now()
            gate.set()
        dt = now() - t0
        total = clients * calls
        last = await otp.call(Counter, "inc")
        assert last == total + warmup + 1, last
        await otp.stop(Counter)
    return {"seconds": dt, "calls_per_s": total / dt}


# -- W3 ----------------------------------------------------------------------------------------


class Idle(otp.GenServer[None]):
    """An idle GenServer: default init (``Ok(arg)``), then waits for messages."""


async def _start_children(ds: otp.Pid, n: int) -> None:
    start_child = otp.DynamicSupervisor.start_child
    for _ in range(n):
        await start_child(ds, Idle)


async def w3(n: int, warmup: int = 1000) -> Metrics:
    async with trio.open_nursery() as nursery:
        warm = await otp.DynamicSupervisor.start(nursery)
        await _start_children(warm, warmup)
        await otp.DynamicSupervisor.stop(warm)

        ds = await otp.DynamicSupervisor.start(nursery)
        probe = MemProbe()
        t0 = now()
        await _start_children(ds, n)
        t_start = now() - t0
        mark("w3-started")
        mem = probe.delta()
        counts = await otp.DynamicSupervisor.count_children(ds)
        assert counts.active == n, counts
        t1 = now()
        await otp.DynamicSupervisor.stop(ds)
        t_stop = now() - t1
    return w3_metrics(n, t_start, t_stop, mem)


# -- W4 / W6: the seed's JobQueue --------------------------------------------------------------


def _run_job(fn: Callable[[], Any], from_: otp.From) -> None:
    otp.reply(from_, fn())


class JobQueue(otp.GenServer[bool]):
    """The seed's JobQueue, registered under its class.

    ``schedule_job(fn)`` is a call; the server starts a Task under the
    DynamicSupervisor "JobSupervisor" that runs ``fn`` and replies to the caller
    directly; the server itself returns NoReply. ``arg`` True: the task is
    transient (restarted until it succeeds: W6).
    """

    @classmethod
    def child_spec(cls, arg: Any = None, **overrides: Any) -> otp.ChildSpec:
        overrides.setdefault("name", cls)
        return super().child_spec(arg, **overrides)

    async def init(self, transient: Any) -> otp.Ok[bool]:
        return otp.Ok(bool(transient))

    async def handle_call(
        self, request: Any, from_: otp.From, transient: bool
    ) -> otp.NoReply[bool]:
        match request:
            case ("schedule_job", fn):
                spec = otp.Task.child_spec(_run_job, fn, from_)
                if transient:
                    spec = otp.Supervisor.child_spec(spec, restart=otp.Restart.TRANSIENT)
                await otp.DynamicSupervisor.start_child("JobSupervisor", spec)
                return otp.NoReply(transient)
        raise ValueError(f"unknown request {request!r}")


async def schedule_job(fn: Callable[[], Any]) -> Any:
    return await otp.call(JobQueue, ("schedule_job", fn))


def _job() -> str:
    return JOB_RESULT


async def _start_app(nursery: trio.Nursery, *, transient: bool) -> otp.Pid:
    job_sup: dict[str, Any] = {"name": "JobSupervisor"}
    if transient:
        job_sup |= {"max_restarts": 1_000_000, "max_seconds": 1}
    children = [(otp.DynamicSupervisor, job_sup), (JobQueue, transient)]
    sup = await otp.Supervisor.start(nursery, children, strategy="one_for_one")
    return sup


async def w4(clients: int, jobs_each: int, warmup: int = 500) -> Metrics:
    async with trio.open_nursery() as nursery:
        sup = await _start_app(nursery, transient=False)
        out = await w4_clients(schedule_job, clients, jobs_each, warmup)
        await otp.Supervisor.stop(sup)
    return out


async def w4_observed(
    clients: int,
    jobs_each: int,
    warmup: int = 500,
    page: bool = False,
    parts: str = "telemetry,counting,sampling",
) -> Metrics:
    """W4 with an observer running (issue 20's cost): its telemetry handlers attached,
    its counting wrappers on the servers it has seen, its scheduler instrument sampled
    (1 s in 10); with ``page``, a snapshot every second too, as an open page asks.

    ``parts`` picks what of it runs, to tell the costs apart: ``telemetry`` (its
    handlers), ``counting`` (the wrappers on the servers a snapshot has seen),
    ``sampling`` (the scheduler instrument).

    Needs hypercorn (``trio_otp[observer]``); not in the gated rows (bench/README.md)."""
    from trio_otp._core import _telemetry
    from trio_otp.observer import Observer

    on = set(parts.split(","))
    async with trio.open_nursery() as nursery:
        sup = await _start_app(nursery, transient=False)
        sampling = {} if "sampling" in on else {"sample_every": 1e9, "sample_for": 1.0}
        observer = Observer(**sampling)
        await nursery.start(observer.serve)
        if "counting" in on:
            await observer.snapshot()  # it has seen the servers: their counters are on
        if "telemetry" not in on:
            _telemetry.detach_telemetry(observer._probe._handler_id)
        if page:

            async def viewer() -> None:
                while True:
                    await trio.sleep(observer.interval)
                    await observer.snapshot()

            nursery.start_soon(viewer)
        out = await w4_clients(schedule_job, clients, jobs_each, warmup)
        observer.stop()
        await otp.Supervisor.stop(sup)
        nursery.cancel_scope.cancel()  # the viewer
    return out


async def w6(clients: int, jobs_each: int) -> Metrics:
    total = clients * jobs_each
    flaky = FlakyJobs(total)
    gate = trio.Event()
    results: list[Any] = []

    async def client(c: int) -> None:
        await gate.wait()
        for k in range(jobs_each):
            results.append(await schedule_job(flaky.job(c * jobs_each + k)))

    async with trio.open_nursery() as nursery:
        sup = await _start_app(nursery, transient=True)
        for _ in range(100):
            await schedule_job(_job)
        js = otp.whereis("JobSupervisor")
        async with trio.open_nursery() as group:
            for c in range(clients):
                group.start_soon(client, c)
            await trio.sleep(0.05)
            t0 = now()
            gate.set()
        dt = now() - t0
        assert otp.whereis("JobSupervisor") is js, "JobSupervisor was restarted"
        await otp.Supervisor.stop(sup)
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


class Victim(otp.GenServer[None]):
    """Permanent, registered under its class; crashes (abnormal stop) on a cast."""

    async def handle_call(self, request: Any, from_: otp.From, state: None) -> otp.Reply[None]:
        return otp.Reply("pong", state)

    async def handle_cast(self, request: Any, state: None) -> otp.Stop[None]:
        return otp.Stop("crash", state)


async def _ping_until_up() -> int:
    tries = 0
    while True:
        try:
            reply = await otp.call(Victim, "ping")
        except otp.CallError:
            tries += 1
            continue
        assert reply == "pong"
        return tries


async def w5(n: int, warmup: int = 50) -> Metrics:
    latencies: list[float] = []
    tries = 0

    async def loop(k: int, record: bool) -> None:
        nonlocal tries
        for _ in range(k):
            old = otp.whereis(Victim)
            assert old is not None
            t = now()
            otp.cast(Victim, "crash")
            tr = await _ping_until_up()
            dt = now() - t
            assert otp.whereis(Victim) is not old
            if record:
                latencies.append(dt)
                tries += tr

    async with trio.open_nursery() as nursery:
        sup = await otp.Supervisor.start(
            nursery,
            [Victim.child_spec(name=Victim)],
            strategy="one_for_one",
            max_restarts=1_000_000,
            max_seconds=1,
        )
        await loop(warmup, False)
        t0 = now()
        await loop(n, True)
        total = now() - t0
        await otp.Supervisor.stop(sup)
    return {
        "seconds": total,
        **latency_stats(latencies),
        "failed_pings_per_restart": tries / n,
    }


# -- M1 / T1: process primitives (monitors, timers) ----------------------------------------------


async def m1(n: int, warmup: int = 1000) -> Metrics:
    """Monitor + Down round trip: a watcher monitors ``n`` live processes, they exit, and
    it receives the ``n`` ``Down`` messages. Times the monitors and the Downs together."""
    go = trio.Event()

    async def target(task_status: trio.TaskStatus[otp.Pid] = trio.TASK_STATUS_IGNORED) -> None:
        async with otp.mailbox() as inbox:
            task_status.started(inbox.pid)
            await go.wait()

    async def round_trip(count: int, measured: bool) -> float:
        nonlocal go
        go = trio.Event()
        async with trio.open_nursery() as nursery:
            targets = [await nursery.start(target) for _ in range(count)]
            async with otp.mailbox() as inbox:
                t0 = now()
                if measured:
                    mark("m1-begin")
                refs = {otp.monitor(pid) for pid in targets}
                go.set()
                for _ in range(count):
                    down = await inbox.receive()
                    refs.remove(down.ref)
                dt = now() - t0
                if measured:
                    mark("m1-end")
        assert not refs
        return dt

    await round_trip(warmup, False)
    dt = await round_trip(n, True)
    return {"seconds": dt, "downs_per_s": n / dt, "us_per_down": dt * 1e6 / n}


async def t1(n: int, spread: float = 0.01, warmup: int = 1000) -> Metrics:
    """send_after firing rate: ``n`` timers to one process, due over ``spread`` seconds,
    all received."""

    async def fire(count: int) -> float:
        async with otp.mailbox() as inbox:
            t0 = now()
            for i in range(count):
                otp.send_after(inbox.pid, i, (i % 1000) * spread / 1000)
            got = {await inbox.receive() for _ in range(count)}
            dt = now() - t0
            assert got == set(range(count))
            return dt

    await fire(warmup)
    dt = await fire(n)
    return {"seconds": dt, "timers_per_s": n / dt, "us_per_timer": dt * 1e6 / n}


# -- R1 / R2: Registry lookup and dispatch (issue 10) ------------------------------------------


class _Subscriber(otp.GenServer[list[int]]):
    """Registers under its keys in init; counts the messages it receives."""

    async def init(self, arg: Any) -> otp.Ok[list[int]]:
        registry, keys, box = arg
        for key in keys:
            otp.Registry.register(registry, key, None)
        return otp.Ok(box)

    async def handle_info(self, message: Any, box: list[int]) -> otp.NoReply[list[int]]:
        box[0] += 1
        if box[0] == box[1]:
            box[2].set()
        return otp.NoReply(box)


async def r1(keys: int, lookups: int) -> Metrics:
    async with trio.open_nursery() as nursery:
        await otp.Registry.start(nursery, keys="unique", name="reg")
        box: list[Any] = [0, -1, trio.Event()]
        await _Subscriber.start(nursery, ("reg", list(range(keys)), box))
        # The API a program that looks up in a hot loop uses: a handle resolved once
        # (Registry.handle), its lookup one C call. Registry.lookup("reg", key), which
        # resolves the name and builds a list per call, is docs/performance.rst's
        # "R1 by Registry.lookup" figure.
        lookup = otp.Registry.handle("reg").lookup
        t0 = now()
        for i in range(lookups):
            assert lookup(i % keys)
        dt = now() - t0
        nursery.cancel_scope.cancel()
    return {"seconds": dt, "lookups_per_s": lookups / dt}


async def r2(subscribers: int, messages: int) -> Metrics:
    async with trio.open_nursery() as nursery:
        await otp.Registry.start(nursery, keys="duplicate", name="topics")
        boxes = []
        for _ in range(subscribers):
            box: list[Any] = [0, messages, trio.Event()]
            boxes.append(box)
            await _Subscriber.start(nursery, ("topics", ["news"], box))
        send = otp.send

        def publish(entries: list[tuple[otp.Pid, Any]]) -> None:
            for pid, _ in entries:
                send(pid, "hello")

        t0 = now()
        for _ in range(messages):
            otp.Registry.dispatch("topics", "news", publish)
            await trio.lowlevel.checkpoint()
        for box in boxes:
            await box[2].wait()
        dt = now() - t0
        nursery.cancel_scope.cancel()
    total = subscribers * messages
    return {"seconds": dt, "deliveries_per_s": total / dt}


# -- S1: async_stream ---------------------------------------------------------------------------


async def _stream_job(x: int) -> int:
    await trio.lowlevel.checkpoint()
    return x


async def s1(items: int, max_concurrency: int) -> Metrics:
    total = 0
    t0 = now()
    async with otp.async_stream(
        range(items), _stream_job, max_concurrency=max_concurrency, timeout=None
    ) as results:
        async for _, value in results:
            total += value
    dt = now() - t0
    assert total == items * (items - 1) // 2
    return {"seconds": dt, "items_per_s": items / dt}


# -- P3 / P4: PartitionSupervisor against one DynamicSupervisor ---------------------------------


async def _partitioned(nursery: trio.Nursery, partitions: int) -> Callable[[int], object]:
    if partitions == 0:
        ds = await otp.DynamicSupervisor.start(nursery)
        return lambda key: ds
    await otp.PartitionSupervisor.start(nursery, partitions=partitions, name="parts")
    via = otp.PartitionSupervisor.via
    return lambda key: via("parts", key)


async def p3(n: int, partitions: int) -> Metrics:
    async with trio.open_nursery() as nursery:
        route = await _partitioned(nursery, partitions)
        start_child = otp.DynamicSupervisor.start_child
        t0 = now()
        for i in range(n):
            await start_child(route(i), Idle)
        dt = now() - t0
        nursery.cancel_scope.cancel()
    return {"seconds": dt, "children_per_s": n / dt}


async def p4(clients: int, jobs_each: int, partitions: int) -> Metrics:
    async with trio.open_nursery() as nursery:
        route = await _partitioned(nursery, partitions)
        async_nolink = otp.TaskSupervisor.async_nolink

        async def client(c: int) -> None:
            sup = route(c)
            for _ in range(jobs_each):
                task = await async_nolink(sup, _job)
                assert await task.wait() == JOB_RESULT

        t0 = now()
        async with trio.open_nursery() as group:
            for c in range(clients):
                group.start_soon(client, c)
        dt = now() - t0
        nursery.cancel_scope.cancel()
    total = clients * jobs_each
    return {"seconds": dt, "jobs_per_s": total / dt}


# -- W10: echo over TCP connections (issue 21) ----------------------------------------------------


class _Echo(otp.TCPHandler[None]):
    async def handle_data(self, data: bytes, state: None) -> otp.NoReply[None]:
        await self.send(data)
        return otp.NoReply(state)


async def w10(connections: int, round_trips: int) -> Metrics:
    from ._echo import drive

    spec = otp.serve_tcp(_Echo, 0, host="127.0.0.1", name="w10")
    async with otp.Supervisor.open([spec]):
        port = otp.listener_addresses("w10")[0][1]
        return await drive(port, connections, round_trips)
