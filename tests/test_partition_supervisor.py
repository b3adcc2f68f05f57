"""PartitionSupervisor: N DynamicSupervisors behind one name (_partition_supervisor.py)."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing

import trio_otp as otp
from trio_otp import PartitionSupervisor


class Worker(otp.GenServer[Any]):
    """Replies with its supervisor's handle."""

    async def handle_call(self, request: Any, from_: otp.From, state: Any) -> Any:
        return otp.Reply(self.pid.parent, state)


async def test_start_child_routes_by_key():
    """via(name, key) routes an int key k to partition abs(k) % N, other keys by
    key_partition (a stable hash)."""
    async with trio.open_nursery() as nursery:
        sup = await PartitionSupervisor.start(nursery, partitions=4, name="parts")
        assert PartitionSupervisor.partitions("parts") == 4
        infos = await PartitionSupervisor.which_children(sup)
        by_id = {info.id: info.pid for info in infos}
        assert sorted(by_id) == [0, 1, 2, 3]
        for key in range(8):
            pid = await otp.DynamicSupervisor.start_child(
                PartitionSupervisor.via("parts", key), Worker
            )
            assert pid is not None
            assert await otp.call(pid, "parent") is by_id[key % 4]
        room = PartitionSupervisor.key_partition("room-7", 4)
        assert otp.whereis(PartitionSupervisor.via("parts", "room-7")) is by_id[room]
        assert otp.whereis(PartitionSupervisor.via("parts", -3)) is by_id[3]
        for partition in by_id.values():
            counts = await otp.DynamicSupervisor.count_children(partition)
            assert counts.active == 2
        assert (await PartitionSupervisor.count_children(sup)).supervisors == 4
        await PartitionSupervisor.stop(sup)
        assert all(not p.alive for p in by_id.values())


async def test_default_is_one_dynamic_supervisor():
    """By default there is one partition, a DynamicSupervisor, and every key routes to it."""
    async with trio.open_nursery() as nursery:
        sup = await otp.Supervisor.start(nursery, [(PartitionSupervisor, {"name": "p"})])
        [part] = await PartitionSupervisor.which_children("p")
        assert otp.whereis(PartitionSupervisor.via("p", "anything")) is part.pid
        child = await otp.DynamicSupervisor.start_child(PartitionSupervisor.via("p", "x"), Worker)
        assert child is not None
        assert child.parent is part.pid
        await otp.stop(sup)


async def test_partitions_have_their_own_options_and_restarts():
    """child_spec options reach every partition; a crashed partition is restarted alone."""
    async with trio.open_nursery() as nursery:
        sup = await PartitionSupervisor.start(
            nursery, (otp.DynamicSupervisor, {"max_children": 1}), partitions=2
        )
        await otp.DynamicSupervisor.start_child(PartitionSupervisor.via(sup, 0), Worker)
        with pytest.raises(otp.MaxChildrenError):
            await otp.DynamicSupervisor.start_child(PartitionSupervisor.via(sup, 2), Worker)
        await otp.DynamicSupervisor.start_child(PartitionSupervisor.via(sup, 1), Worker)
        first = otp.whereis(PartitionSupervisor.via(sup, 0))
        other = otp.whereis(PartitionSupervisor.via(sup, 1))
        assert first is not None
        await otp.stop(first, "crash")
        await trio.testing.wait_all_tasks_blocked()
        assert otp.whereis(PartitionSupervisor.via(sup, 0)) not in (None, first)
        assert otp.whereis(PartitionSupervisor.via(sup, 1)) is other
        await otp.stop(sup)


async def test_errors():
    """Bad partitions, unknown supervisors and naming a process by a partition are refused."""
    async with trio.open_nursery() as nursery:
        with pytest.raises(ValueError, match="partitions must be an int >= 1"):
            await PartitionSupervisor.start(nursery, partitions=0)
        with pytest.raises(ValueError, match="unknown PartitionSupervisor option"):
            PartitionSupervisor.child_spec({"size": 2})
        with pytest.raises(otp.NoProcessError):
            PartitionSupervisor.partitions("nope")
        assert otp.whereis(PartitionSupervisor.via("nope", 1)) is None
        sup = await PartitionSupervisor.start(nursery, partitions=2)
        ds = await otp.DynamicSupervisor.start(nursery)
        with pytest.raises(TypeError, match="not a PartitionSupervisor"):
            PartitionSupervisor.partitions(ds)
        with pytest.raises(TypeError, match="cannot name a new process"):
            await Worker.start(nursery, name=PartitionSupervisor.via(sup, 1))
        with pytest.raises(TypeError, match=r"key must be an int, a str, bytes, or a tuple"):
            PartitionSupervisor.via(sup, [1])
        # A via through something that is not a PartitionSupervisor says so, instead
        # of pretending that nobody is there (NoProcessError).
        with pytest.raises(TypeError, match=r"not a PartitionSupervisor.*name or handle of a"):
            await otp.DynamicSupervisor.start_child(
                PartitionSupervisor.via(ds, 1), Worker.child_spec(None)
            )
        nursery.cancel_scope.cancel()


class Closing(otp.GenServer[list[tuple[str, float]]]):
    """Its terminate records ``("terminate", time)`` and takes one second."""

    async def terminate(self, reason: object, state: list[tuple[str, float]]) -> None:
        state.append(("terminate", trio.current_time()))
        await trio.sleep(1)


async def test_start_owner_cancelled_stops_the_partitions_in_order(autojump_clock):
    """A PartitionSupervisor.start whose nursery is cancelled stops its partitions in
    order (every child's terminate runs) before the cancellation goes on (issue 8)."""
    events: list[tuple[str, float]] = []
    with trio.move_on_after(1) as scope:
        async with trio.open_nursery() as nursery:
            sup = await PartitionSupervisor.start(nursery, partitions=2, name="parts")
            for key in (0, 1):
                await otp.DynamicSupervisor.start_child(
                    PartitionSupervisor.via("parts", key), (Closing, events)
                )
            await trio.sleep_forever()
    assert scope.cancelled_caught
    # Partition 1 stops first (reverse start order), then partition 0.
    assert events == [("terminate", 1.0), ("terminate", 2.0)]
    assert trio.current_time() == 3.0
    assert sup.exit_reason == otp.SHUTDOWN
    assert otp.registered() == {}
