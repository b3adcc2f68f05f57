"""Chaos soak: a supervision tree under call load while a chaos task breaks it (issue 13).

The tree: a DynamicSupervisor of job tasks, and six registered GenServers under a
one_for_one and a rest_for_one supervisor. Clients call the servers by name; a chaos
task crashes servers in handle_call / handle_cast / terminate, stops them with odd
reasons, kills job tasks and terminates and restarts children; a watcher checks that
``whereis`` never returns a dead pid. It asserts, and prints:

* every call ends in exactly one reply or one clear exception (``lost`` is 0);
* no reply reaches the wrong caller (each request carries a unique token);
* no task outlives the tree (a ``trio.abc.Instrument`` counts spawned vs exited);
* ``whereis`` never returns a dead pid (``stale`` is 0);
* memory reaches a steady state: traced memory at the end of the soak is within a
  small margin of its value after the first third (sampled between rounds, when all
  clients are done and every deadline has passed).

Runs on trio's virtual clock (``MockClock(autojump_threshold=0)``) with a seeded
random, so it is deterministic. Profiles (``TRIO_OTP_SOAK_PROFILE``): ``quick``
(default, the normal suite), ``ci`` (``.ci/run``) and ``long`` (``nox -s soak``,
bounded to 2 minutes of wall time).
"""

from __future__ import annotations

import gc
import logging
import os
import random
import time
import tracemalloc
from typing import Any

import attrs
import trio
import trio.testing

import trio_otp as otp

PROFILES = {
    # rounds, clients, calls per client per round, wall-clock bound (s)
    "quick": (4, 6, 15, 60.0),
    "ci": (30, 16, 40, 60.0),
    "long": (400, 24, 60, 100.0),
}
PROFILE = os.environ.get("TRIO_OTP_SOAK_PROFILE", "quick")
NAMES = [f"s{i}" for i in range(6)]
ODD_REASONS: list[object] = [
    otp.Shutdown("odd"),
    ("weird", 1),
    "boom",
    None,
    otp.NORMAL,
    otp.SHUTDOWN,
    ValueError("stop with an exception as reason"),
]


class Srv(otp.GenServer[dict[str, Any]]):
    """Echoes tokens; breaks in the ways the chaos task asks for."""

    async def init(self, name: str) -> otp.Ok[dict[str, Any]]:
        return otp.Ok({"name": name, "crash_in_terminate": False})

    async def handle_call(self, request: Any, from_: otp.From, state: dict[str, Any]) -> Any:
        match request:
            case ("echo", token, delay):
                if delay:
                    await trio.sleep(delay)
                return otp.Reply(token, state)
            case ("later", token):
                # Answer from another task, as OTP's from allows.
                otp.cast(self.pid, ("reply", from_, token))
                return otp.NoReply(state)
            case ("crash",):
                raise RuntimeError("chaos: crash in handle_call")
            case ("stop", reason):
                return otp.Stop(reason, state, reply="stopping")
        raise AssertionError(request)  # pragma: no cover

    async def handle_cast(self, request: Any, state: dict[str, Any]) -> Any:
        match request:
            case ("reply", from_, token):
                otp.reply(from_, token)
                return otp.NoReply(state)
            case "crash":
                raise RuntimeError("chaos: crash in handle_cast")
            case "crash_in_terminate":
                state["crash_in_terminate"] = True
                return otp.Stop("going", state)
        raise AssertionError(request)  # pragma: no cover

    async def terminate(self, reason: object, state: dict[str, Any]) -> None:
        if state["crash_in_terminate"]:
            raise RuntimeError("chaos: crash in terminate")


@attrs.define
class Counts:
    steps: int = 0
    calls: int = 0
    replies: int = 0
    errors: int = 0
    wrong: int = 0
    lost: int = 0
    leaked: int = 0
    stale: int = 0
    whereis_checks: int = 0
    jobs: int = 0
    chaos: int = 0
    memory: list[int] = attrs.Factory(list)


class TaskCounter(trio.abc.Instrument):
    """Counts tasks spawned and exited while it is installed."""

    def __init__(self) -> None:
        self.live: set[trio.lowlevel.Task] = set()
        self.spawned = 0
        self.exited = 0

    def task_spawned(self, task: trio.lowlevel.Task) -> None:
        self.spawned += 1
        self.live.add(task)

    def task_exited(self, task: trio.lowlevel.Task) -> None:
        if task in self.live:
            self.exited += 1
            self.live.discard(task)


def _server_spec(name: str) -> otp.ChildSpec:
    return Srv.child_spec(name, name=name, id=name)


async def _soak(counts: Counts, rounds: int, clients: int, per_client: int, wall: float) -> None:
    rng = random.Random(13)
    began = time.monotonic()
    counter = TaskCounter()
    trio.lowlevel.add_instrument(counter)
    children = [
        (otp.DynamicSupervisor, {"name": "jobs", "max_children": 50}),
        otp.Supervisor.child_spec(
            {
                "children": [_server_spec(n) for n in NAMES[:3]],
                "strategy": "one_for_one",
                "name": "ofo",
                "max_restarts": 10**9,
            }
        ),
        otp.Supervisor.child_spec(
            {
                "children": [_server_spec(n) for n in NAMES[3:]],
                "strategy": "rest_for_one",
                "name": "rfo",
                "max_restarts": 10**9,
            }
        ),
    ]
    async with otp.Supervisor.open(children, max_restarts=10**9) as root:
        for _ in range(rounds):
            if time.monotonic() - began > wall:
                break
            done = trio.Event()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_chaos, counts, random.Random(rng.random()), done)
                nursery.start_soon(_watch, counts, done)
                nursery.start_soon(_jobs, counts, random.Random(rng.random()), done)
                async with trio.open_nursery() as callers:
                    for c in range(clients):
                        callers.start_soon(
                            _client, counts, random.Random(rng.random()), c, per_client
                        )
                done.set()
            # Quiescent: every client is done; let every deadline and job pass.
            await trio.sleep(10)
            gc.collect()
            counts.memory.append(tracemalloc.get_traced_memory()[0])
            counts.steps += 1
        assert root.alive
    trio.lowlevel.remove_instrument(counter)
    me = trio.lowlevel.current_task()
    counts.leaked = len(
        [t for t in counter.live if t is not me and t.name != "trio_otp call deadlines"]
    )


async def _client(counts: Counts, rng: random.Random, me: int, calls: int) -> None:
    for seq in range(calls):
        token = (me, seq, rng.random())
        name = rng.choice(NAMES)
        if rng.random() < 0.2:
            request: Any = ("later", token)
        else:
            request = ("echo", token, rng.choice([0, 0, 0.01, 0.2]))
        counts.calls += 1
        counts.lost += 1  # until it ends, one way or the other
        try:
            got = await otp.call(name, request, timeout=rng.choice([0.1, 0.5, 1 + rng.random()]))
        except (otp.CallTimeout, otp.CalleeExit, otp.NoProcessError):
            counts.lost -= 1
            counts.errors += 1
        else:
            counts.lost -= 1
            counts.replies += 1
            if got != token:
                counts.wrong += 1
        await trio.sleep(rng.choice([0, 0.01, 0.05]))


async def _chaos(counts: Counts, rng: random.Random, done: trio.Event) -> None:
    while not done.is_set():
        await trio.sleep(rng.choice([0.05, 0.1, 0.3]))
        counts.chaos += 1
        name = rng.choice(NAMES)
        action = rng.randrange(7)
        try:
            if action == 0:
                otp.cast(name, "crash")
            elif action == 1:
                await otp.call(name, ("crash",))
            elif action == 2:
                otp.cast(name, "crash_in_terminate")
            elif action == 3:
                await otp.call(name, ("stop", rng.choice(ODD_REASONS)))
            elif action == 4:
                sup = "ofo" if name in NAMES[:3] else "rfo"
                await otp.Supervisor.terminate_child(sup, name)
                await trio.sleep(rng.choice([0, 0.1]))
                await otp.Supervisor.restart_child(sup, name)
            elif action == 5:
                kids = await otp.DynamicSupervisor.which_children("jobs")
                if kids:
                    await otp.DynamicSupervisor.terminate_child("jobs", rng.choice(kids).pid)
            else:
                pid = otp.whereis(name)
                if pid is not None:
                    otp.send(pid, "unexpected")
        except (otp.CallError, otp.SupervisorError, otp.StartError):
            pass  # the target was already down, or being restarted: chaos goes on


async def _jobs(counts: Counts, rng: random.Random, done: trio.Event) -> None:
    async def job(seconds: float, fail: bool) -> None:
        await trio.sleep(seconds)
        if fail:
            raise RuntimeError("chaos: job failed")

    while not done.is_set():
        await trio.sleep(0.05)
        spec = otp.Task.child_spec(job, rng.choice([0.01, 0.5, 3]), rng.random() < 0.2).replace(
            restart=rng.choice(["temporary", "transient"])
        )
        try:
            await otp.DynamicSupervisor.start_child("jobs", spec)
            counts.jobs += 1
        except otp.MaxChildrenError:
            pass


async def _watch(counts: Counts, done: trio.Event) -> None:
    while not done.is_set():
        await trio.sleep(0.01)
        for name in NAMES:
            pid = otp.whereis(name)
            counts.whereis_checks += 1
            if pid is not None and not pid.alive:
                counts.stale += 1


def run(profile: str = PROFILE) -> Counts:
    """Run the soak with one profile; return the counts."""
    rounds, clients, per_client, wall = PROFILES[profile]
    counts = Counts()
    logger = logging.getLogger("trio_otp")
    level = logger.level
    logger.setLevel(logging.CRITICAL)  # thousands of deliberate crash reports
    tracemalloc.start()
    try:
        trio.run(
            _soak,
            counts,
            rounds,
            clients,
            per_client,
            wall,
            clock=trio.testing.MockClock(autojump_threshold=0),
        )
    finally:
        tracemalloc.stop()
        logger.setLevel(level)
    third = max(1, len(counts.memory) // 3)
    print(
        f"soak[{profile}]: steps={counts.steps} calls={counts.calls} replies={counts.replies} "
        f"errors={counts.errors} lost={counts.lost} wrong={counts.wrong} "
        f"leaked={counts.leaked} stale={counts.stale} whereis_checks={counts.whereis_checks} "
        f"jobs={counts.jobs} chaos={counts.chaos} memory_start={counts.memory[third - 1]} "
        f"memory_end={counts.memory[-1]} (bytes traced, after round {third} and at the end)"
    )
    return counts


def test_chaos_soak_loses_nothing_and_leaks_nothing() -> None:
    """Under load and chaos, every call ends once, to its caller; no task or memory leaks."""
    counts = run()
    assert counts.steps > 0
    assert counts.calls == counts.replies + counts.errors
    assert counts.lost == 0
    assert counts.wrong == 0
    assert counts.leaked == 0
    assert counts.stale == 0
    assert counts.replies > 0
    assert counts.errors > 0  # the chaos did reach the callers
    third = max(1, len(counts.memory) // 3)
    assert counts.memory[-1] - counts.memory[third - 1] < 256 * 1024


if __name__ == "__main__":  # pragma: no cover - nox -s soak
    test_chaos_soak_loses_nothing_and_leaks_nothing()
