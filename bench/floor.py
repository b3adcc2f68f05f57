"""The raw-Trio floors: each workload's work written directly on trio primitives.

No library: memory channels, events, nurseries, and for the lowlevel W1/W2 floor
``trio.lowlevel.wait_task_rescheduled`` / ``reschedule``. Each function is the body
of one fresh ``trio.run`` and returns its figures.
"""

from __future__ import annotations

import collections
import functools
import math
from collections.abc import Awaitable, Callable
from typing import Any

import outcome
import trio
import trio.testing
from trio.lowlevel import Abort, current_task, reschedule, wait_task_rescheduled

from ._measure import JOB_RESULT, FlakyJobs, MemProbe, latency_stats, mark, now, w3_metrics

Metrics = dict[str, Any]


class Slot:
    """A request's reply slot in the public form: a trio.Event plus a value."""

    __slots__ = ("event", "failed", "value")

    def __init__(self) -> None:
        self.event = trio.Event()
        self.value: Any = None
        self.failed = False


# -- W1 / W2: counter server -------------------------------------------------------------------


async def _counter_public(recv: trio.MemoryReceiveChannel[Slot]) -> None:
    n = 0
    async for slot in recv:
        n += 1
        slot.value = n
        slot.event.set()


async def _call_public(send: trio.MemorySendChannel[Slot]) -> int:
    slot = Slot()
    send.send_nowait(slot)
    await slot.event.wait()
    value: int = slot.value
    return value


async def _counter_lowlevel(recv: trio.MemoryReceiveChannel[trio.lowlevel.Task]) -> None:
    n = 0
    async for task in recv:
        n += 1
        reschedule(task, outcome.Value(n))


def _abort_failed(_raise_cancel: object) -> Abort:
    return Abort.FAILED  # the server always answers: wait for it


async def _call_lowlevel(send: trio.MemorySendChannel[trio.lowlevel.Task]) -> int:
    send.send_nowait(current_task())
    value: int = await wait_task_rescheduled(_abort_failed)
    return value


_FORMS: dict[str, tuple[Callable[[Any], Awaitable[None]], Callable[[Any], Awaitable[int]]]] = {
    "public": (_counter_public, _call_public),
    "lowlevel": (_counter_lowlevel, _call_lowlevel),
}


async def w1(form: str, n: int, warmup: int = 1000) -> Metrics:
    serve, call = _FORMS[form]
    send, recv = trio.open_memory_channel[Any](math.inf)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(serve, recv)
        for _ in range(warmup):
            await call(send)
        t0 = now()
        for _ in range(n):
            await call(send)
        dt = now() - t0
        last = await call(send)
        assert last == n + warmup + 1, last
        send.close()
    return {"seconds": dt, "calls_per_s": n / dt, "us_per_call": dt * 1e6 / n}


async def w2(form: str, clients: int, calls: int, warmup: int = 1000) -> Metrics:
    serve, call = _FORMS[form]
    send, recv = trio.open_memory_channel[Any](math.inf)
    gate = trio.Event()

    async def client() -> None:
        await gate.wait()
        for _ in range(calls):
            await call(send)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(serve, recv)
        for _ in range(warmup):
            await call(send)
        async with trio.open_nursery() as group:
            for _ in range(clients):
                group.start_soon(client)
            await trio.sleep(0.05)
            t0 = now()
            gate.set()
        dt = now() - t0
        total = clients * calls
        last = await call(send)
        assert last == total + warmup + 1, last
        send.close()
    return {"seconds": dt, "calls_per_s": total / dt}


# -- W3: spawn idle tasks that each own a memory channel ---------------------------------------


async def _idle_nowait(count: list[int], n: int, all_up: trio.Event) -> None:
    send, recv = trio.open_memory_channel[Any](math.inf)
    count[0] += 1
    if count[0] == n:
        all_up.set()
    await recv.receive()
    send.close()


async def _idle_waited(task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED) -> None:
    send, recv = trio.open_memory_channel[Any](math.inf)
    task_status.started(send)  # the child's address, like a pid
    await recv.receive()


async def _start_nowait(nursery: trio.Nursery, n: int) -> None:
    count = [0]
    all_up = trio.Event()
    for _ in range(n):
        nursery.start_soon(_idle_nowait, count, n, all_up)
    await all_up.wait()


async def _start_waited(nursery: trio.Nursery, n: int) -> None:
    for _ in range(n):
        await nursery.start(_idle_waited)


async def w3(form: str, n: int, warmup: int = 1000) -> Metrics:
    """``form``: ``nowait`` (start_soon, then wait until all ran) or ``waited``."""
    start = _start_nowait if form == "nowait" else _start_waited
    async with trio.open_nursery() as warm:
        await start(warm, warmup)
        warm.cancel_scope.cancel()
    async with trio.open_nursery() as nursery:
        probe = MemProbe()
        t0 = now()
        await start(nursery, n)
        t_start = now() - t0
        mark("w3-started")
        mem = probe.delta()
        t1 = now()
        nursery.cancel_scope.cancel()
    t_stop = now() - t1
    return w3_metrics(n, t_start, t_stop, mem)


# -- W4 / W6: job queue ------------------------------------------------------------------------

JobRequest = tuple[Callable[[], Any], Slot]


async def _job_nursery(task_status: trio.TaskStatus[trio.Nursery]) -> None:
    async with trio.open_nursery() as jobs:
        task_status.started(jobs)
        await trio.sleep_forever()


async def _run_job(fn: Callable[[], Any], slot: Slot) -> None:
    slot.value = fn()
    slot.event.set()


class _Transient:
    """W6's restart: a failed attempt is restarted in a fresh task (same nursery)."""

    def __init__(self, jobs: trio.Nursery) -> None:
        self.jobs = jobs
        self.restarts = 0

    async def run(self, fn: Callable[[], Any], slot: Slot) -> None:
        try:
            value = fn()
        except Exception:
            self.restarts += 1
            self.jobs.start_soon(self.run, fn, slot)
            return
        slot.value = value
        slot.event.set()


async def _job_server(
    recv: trio.MemoryReceiveChannel[JobRequest],
    jobs: trio.Nursery,
    run: Callable[[Callable[[], Any], Slot], Awaitable[None]],
) -> None:
    async for fn, slot in recv:
        jobs.start_soon(run, fn, slot)


async def _schedule_job(send: trio.MemorySendChannel[JobRequest], fn: Callable[[], Any]) -> Any:
    slot = Slot()
    send.send_nowait((fn, slot))
    await slot.event.wait()
    return slot.value


def _job() -> str:
    return JOB_RESULT


async def w4_clients(
    schedule: Callable[[Callable[[], Any]], Awaitable[Any]],
    clients: int,
    jobs_each: int,
    warmup: int,
) -> Metrics:
    """W4's client side: warm-up, then ``clients`` x ``jobs_each`` jobs at once.

    Every implementation of W4 (the floor, the limit, trio_otp's chapter-shaped
    queue and the JobQueue component) runs this same loop around its ``schedule``.
    """
    gate = trio.Event()
    latencies: list[float] = []

    async def client() -> None:
        await gate.wait()
        for _ in range(jobs_each):
            t = now()
            result = await schedule(_job)
            latencies.append(now() - t)
            assert result == JOB_RESULT

    for _ in range(warmup):
        await schedule(_job)
    async with trio.open_nursery() as group:
        for _ in range(clients):
            group.start_soon(client)
        await trio.sleep(0.05)
        t0 = now()
        gate.set()
    dt = now() - t0
    total = clients * jobs_each
    assert len(latencies) == total
    return {"seconds": dt, "jobs_per_s": total / dt, **latency_stats(latencies)}


async def w4(clients: int, jobs_each: int, warmup: int = 500) -> Metrics:
    send, recv = trio.open_memory_channel[JobRequest](math.inf)
    async with trio.open_nursery() as app:
        jobs = await app.start(_job_nursery)
        app.start_soon(_job_server, recv, jobs, _run_job)
        out = await w4_clients(functools.partial(_schedule_job, send), clients, jobs_each, warmup)
        app.cancel_scope.cancel()
    return out


# -- W4 "limit": the cheapest trio program doing W4's work (a reference, not a floor) ---------


class _LimitQueue:
    """Callers append (job, their task) and park; the server drains and spawns."""

    __slots__ = ("pending", "server")

    def __init__(self) -> None:
        self.pending: collections.deque[tuple[Callable[[], Any], trio.lowlevel.Task]] = (
            collections.deque()
        )
        self.server: trio.lowlevel.Task | None = None


def _abort_succeeded(_raise_cancel: object) -> Abort:
    return Abort.SUCCEEDED


async def _limit_server(queue: _LimitQueue, jobs: trio.Nursery) -> None:
    pending = queue.pending
    while True:
        while pending:
            fn, caller = pending.popleft()
            jobs.start_soon(_limit_job, fn, caller)
        queue.server = current_task()
        await wait_task_rescheduled(_abort_succeeded)


async def _limit_job(fn: Callable[[], Any], caller: trio.lowlevel.Task) -> None:
    reschedule(caller, outcome.Value(fn()))


async def _limit_schedule(queue: _LimitQueue, fn: Callable[[], Any]) -> Any:
    queue.pending.append((fn, current_task()))
    server = queue.server
    if server is not None:
        queue.server = None
        reschedule(server)
    return await wait_task_rescheduled(_abort_failed)


async def w4_limit(clients: int, jobs_each: int, warmup: int = 500) -> Metrics:
    """The cheapest W4 on CPython (issue 22): no channel, no Event, no slot object.

    The caller appends (fn, its task) to a deque and parks; a server task drains the
    deque and ``start_soon``s one task per job; the task reschedules its caller with
    the result. The same client loop as :func:`w4`. A reference for the instruction
    counts (``python -m bench --instructions``), not a floor: it cannot fail a
    caller, time out or be cancelled politely.
    """
    queue = _LimitQueue()
    async with trio.open_nursery() as app:
        jobs = await app.start(_job_nursery)
        app.start_soon(_limit_server, queue, jobs)
        out = await w4_clients(
            functools.partial(_limit_schedule, queue), clients, jobs_each, warmup
        )
        app.cancel_scope.cancel()
    return out


async def w6(clients: int, jobs_each: int) -> Metrics:
    total = clients * jobs_each
    flaky = FlakyJobs(total)
    send, recv = trio.open_memory_channel[JobRequest](math.inf)
    gate = trio.Event()
    results: list[Any] = []

    async def client(c: int) -> None:
        await gate.wait()
        for k in range(jobs_each):
            results.append(await _schedule_job(send, flaky.job(c * jobs_each + k)))

    async with trio.open_nursery() as app:
        jobs = await app.start(_job_nursery)
        transient = _Transient(jobs)
        app.start_soon(_job_server, recv, jobs, transient.run)
        # warm-up with jobs that never fail
        for _ in range(100):
            await _schedule_job(send, _job)
        async with trio.open_nursery() as group:
            for c in range(clients):
                group.start_soon(client, c)
            await trio.sleep(0.05)
            t0 = now()
            gate.set()
        dt = now() - t0
        app.cancel_scope.cancel()
    assert len(results) == total
    assert all(r == JOB_RESULT for r in results)
    restarts = flaky.attempts - total
    assert restarts == transient.restarts
    return {
        "seconds": dt,
        "jobs_per_s": total / dt,
        "restarts": restarts,
        "attempts": flaky.attempts,
        "all_results_ok": True,
    }


# -- W5: hand-rolled restart loop --------------------------------------------------------------

_CRASH = object()


class _Crash(Exception):
    pass


class _HandRolled:
    """A registry slot, a victim task, and a supervisor loop that restarts it."""

    def __init__(self) -> None:
        self.victim: trio.MemorySendChannel[Any] | None = None
        self.exits_send, self.exits_recv = trio.open_memory_channel[object](math.inf)
        self.restarts = 0

    async def _victim(self, task_status: trio.TaskStatus[None]) -> None:
        send, recv = trio.open_memory_channel[Any](math.inf)
        self.victim = send  # register
        task_status.started()
        try:
            async for msg in recv:
                if msg is _CRASH:
                    raise _Crash
                msg.value = "pong"
                msg.event.set()
        finally:
            self.victim = None  # unregister
            send.close()
            # callers still waiting learn that the server exited (OTP's monitor)
            while True:
                try:
                    pending = recv.receive_nowait()
                except (trio.WouldBlock, trio.EndOfChannel):
                    break
                if pending is not _CRASH:
                    pending.failed = True
                    pending.event.set()

    async def _child(self, task_status: trio.TaskStatus[None]) -> None:
        try:
            await self._victim(task_status)
        except _Crash as exc:
            self.exits_send.send_nowait(exc)  # the exit signal to the supervisor

    async def supervise(self, task_status: trio.TaskStatus[None]) -> None:
        async with trio.open_nursery() as children:
            await children.start(self._child)
            task_status.started()
            async for _reason in self.exits_recv:
                self.restarts += 1
                await children.start(self._child)

    async def ping_until_up(self) -> int:
        tries = 0
        while True:
            send = self.victim
            if send is not None:
                slot = Slot()
                send.send_nowait(slot)
                await slot.event.wait()
                if not slot.failed:
                    assert slot.value == "pong"
                    return tries
            else:
                await trio.lowlevel.checkpoint()
            tries += 1


async def w5(n: int, warmup: int = 50) -> Metrics:
    sup = _HandRolled()
    latencies: list[float] = []
    tries = 0

    async def loop(k: int, record: bool) -> None:
        nonlocal tries
        for _ in range(k):
            old = sup.victim
            assert old is not None
            t = now()
            old.send_nowait(_CRASH)
            tr = await sup.ping_until_up()
            dt = now() - t
            assert sup.victim is not old
            if record:
                latencies.append(dt)
                tries += tr

    async with trio.open_nursery() as app:
        await app.start(sup.supervise)
        await loop(warmup, False)
        t0 = now()
        await loop(n, True)
        total = now() - t0
        app.cancel_scope.cancel()
    assert sup.restarts == n + warmup
    return {
        "seconds": total,
        **latency_stats(latencies),
        "failed_pings_per_restart": tries / n,
    }


# -- M1 / T1: hand-rolled monitors and timers ----------------------------------------------------


class _Target:
    """A task that tells its watchers when it ends: a hand-rolled monitor."""

    __slots__ = ("watchers",)

    def __init__(self) -> None:
        self.watchers: list[tuple[object, trio.MemorySendChannel[Any]]] = []


async def m1(n: int, warmup: int = 1000) -> Metrics:
    """The floor of M1: each target keeps (ref, channel) pairs and sends on exit."""

    async def target(me: _Target, go: trio.Event) -> None:
        try:
            await go.wait()
        finally:
            for ref, channel in me.watchers:
                channel.send_nowait(("DOWN", ref, me, "normal"))

    async def round_trip(count: int, measured: bool) -> float:
        go = trio.Event()
        send, recv = trio.open_memory_channel[Any](math.inf)
        async with trio.open_nursery() as nursery:
            targets = [_Target() for _ in range(count)]
            for t in targets:
                nursery.start_soon(target, t, go)
            await trio.testing.wait_all_tasks_blocked()
            t0 = now()
            if measured:
                mark("m1-begin")
            refs = set()
            for t in targets:
                ref = object()
                t.watchers.append((ref, send))
                refs.add(ref)
            go.set()
            for _ in range(count):
                _, ref, _, _ = await recv.receive()
                refs.remove(ref)
            dt = now() - t0
            if measured:
                mark("m1-end")
        assert not refs
        return dt

    await round_trip(warmup, False)
    dt = await round_trip(n, True)
    return {"seconds": dt, "downs_per_s": n / dt, "us_per_down": dt * 1e6 / n}


async def t1(n: int, spread: float = 0.01, warmup: int = 1000) -> Metrics:
    """The floor of T1: a task per timer that sleeps, then sends (the hand-rolled way)."""

    async def timer(delay: float, i: int, send: trio.MemorySendChannel[int]) -> None:
        await trio.sleep(delay)
        send.send_nowait(i)

    async def fire(count: int) -> float:
        send, recv = trio.open_memory_channel[int](math.inf)
        async with trio.open_nursery() as nursery:
            t0 = now()
            for i in range(count):
                nursery.start_soon(timer, (i % 1000) * spread / 1000, i, send)
            for _ in range(count):
                await recv.receive()
            return now() - t0

    await fire(warmup)
    dt = await fire(n)
    return {"seconds": dt, "timers_per_s": n / dt, "us_per_timer": dt * 1e6 / n}


# -- R1 / R2: a hand-written registry (a dict) and pub-sub (a list of channels) ----------------


async def r1(keys: int, lookups: int) -> Metrics:
    me = current_task()
    table: dict[int, tuple[Any, None]] = {i: (me, None) for i in range(keys)}
    t0 = now()
    for i in range(lookups):
        assert [table[i % keys]]
    dt = now() - t0
    return {"seconds": dt, "lookups_per_s": lookups / dt}


async def _subscriber(
    recv: trio.MemoryReceiveChannel[str], messages: int, done: trio.Event
) -> None:
    got = 0
    async for _ in recv:
        got += 1
        if got == messages:
            done.set()


async def r2(subscribers: int, messages: int) -> Metrics:
    topics: dict[str, list[trio.MemorySendChannel[str]]] = {"news": []}
    dones = []
    async with trio.open_nursery() as nursery:
        for _ in range(subscribers):
            send, recv = trio.open_memory_channel[str](math.inf)
            topics["news"].append(send)
            done = trio.Event()
            dones.append(done)
            nursery.start_soon(_subscriber, recv, messages, done)
        t0 = now()
        for _ in range(messages):
            for send in topics["news"]:
                send.send_nowait("hello")
            await trio.lowlevel.checkpoint()
        for done in dones:
            await done.wait()
        dt = now() - t0
        nursery.cancel_scope.cancel()
    return {"seconds": dt, "deliveries_per_s": subscribers * messages / dt}


# -- S1: bounded concurrent map: a nursery and a semaphore, results in input order -------------


async def _bounded_job(limit: trio.Semaphore, results: list[int], i: int, x: int) -> None:
    try:
        await trio.lowlevel.checkpoint()
        results[i] = x
    finally:
        limit.release()


async def s1(items: int, max_concurrency: int) -> Metrics:
    limit = trio.Semaphore(max_concurrency)
    results = [0] * items
    t0 = now()
    async with trio.open_nursery() as nursery:
        for i, x in enumerate(range(items)):
            await limit.acquire()
            nursery.start_soon(_bounded_job, limit, results, i, x)
    total = sum(results)
    dt = now() - t0
    assert total == items * (items - 1) // 2
    return {"seconds": dt, "items_per_s": items / dt}


# -- W10: echo over TCP connections, plain trio.serve_tcp (issue 21) -----------------------------


async def _echo(stream: trio.SocketStream) -> None:
    async for data in stream:
        await stream.send_all(data)


async def w10(connections: int, round_trips: int) -> Metrics:
    from ._echo import drive

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(
            functools.partial(trio.serve_tcp, _echo, 0, host="127.0.0.1")
        )
        port = listeners[0].socket.getsockname()[1]
        metrics = await drive(port, connections, round_trips)
        nursery.cancel_scope.cancel()
    return metrics
