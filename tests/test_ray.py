"""RayExecutor against a real local Ray and a simulated multi-node cluster.

Skipped when Ray is not installed; the nox session ``ray`` installs ``trio_otp[ray]``
and runs this file (``.ci/run`` runs that session). Ray starts with
``address="local"`` or a ``ray.cluster_utils.Cluster`` of its own: never a stray
cluster left on the host. These tests take real time (Ray's start-up).
"""

# Worker processes write the files these tests watch: polling them with
# trio.sleep and reading them with pathlib is the point.
# ruff: noqa: ASYNC110

from __future__ import annotations

import os
import pathlib
import threading
from collections.abc import Iterator

import pytest
import trio

import trio_otp as otp
from trio_otp import JobQueue, RayExecutor

os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
ray = pytest.importorskip("ray")

import _jobs  # noqa: E402

# tests/ is not on the Ray workers' path: ship the job module by value.
ray.cloudpickle.register_pickle_by_value(_jobs)


@pytest.fixture
def local_ray() -> Iterator[None]:
    """A local Ray (2 CPUs, no dashboard) for one test, started before trio runs."""
    assert not ray.is_initialized()
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


@pytest.mark.usefixtures("local_ray")
async def test_local_ray_results_errors_crashes_and_timeouts(tmp_path: pathlib.Path) -> None:
    """On a local Ray: results come back, application errors keep their type, a dead
    worker is WorkerLostError (temporary) or a restart (transient), a timeout cancels
    the remote job (its liveness file stops changing), unpicklable jobs are refused, and
    a second queue cannot open the executor a running queue holds."""
    executor = RayExecutor(max_in_flight=4)
    async with JobQueue(executor).open() as queue:
        assert await queue.schedule(_jobs.square, 9) == 81
        with pytest.raises(otp.ExecutorStartError, match="already open for another running"):
            async with JobQueue(executor).open():
                pass  # pragma: no cover - the start fails
        assert await queue.schedule(lambda: "closures travel by value") == (
            "closures travel by value"
        )
        with pytest.raises(KeyError) as info:
            await queue.schedule(_jobs.raise_key_error, "gone")
        assert isinstance(info.value, ray.exceptions.RayTaskError)

        with pytest.raises(otp.WorkerLostError) as lost:
            await queue.schedule(_jobs.exit_once, str(tmp_path / "a"))
        assert isinstance(lost.value.__cause__, ray.exceptions.WorkerCrashedError)
        job = await queue.submit(_jobs.exit_once, str(tmp_path / "b"), restart="transient")
        with trio.fail_after(120):
            assert (await job.wait()).startswith("ran in")
        assert job.attempts == 2

        beat = tmp_path / "beat"
        with pytest.raises(otp.JobTimeoutError):
            await queue.schedule(_jobs.heartbeat, str(beat), 60, timeout=3)
        await trio.sleep(0.5)  # ray.cancel(force=True) kills the worker
        count = beat.read_text()
        await trio.sleep(0.5)
        assert beat.read_text() == count, "the remote job kept running after its timeout"

        with pytest.raises(otp.JobNotPicklableError, match="square"):
            await queue.submit(_jobs.square, threading.Lock())
        stats = queue.statistics()
        assert (stats.done, stats.restarts, stats.running) == (3, 1, 0)


async def test_unreachable_address_fails_the_start() -> None:
    """A queue whose Ray cluster cannot be reached fails to start, naming the address."""
    with pytest.raises(otp.ExecutorStartError, match=r"127\.0\.0\.1:9.*nothing answers"):
        async with JobQueue(RayExecutor("127.0.0.1:9", connect_timeout=5)).open():
            pass  # pragma: no cover


def test_node_death_mid_job(tmp_path: pathlib.Path) -> None:
    """On a 3-node simulated cluster, removing the node that runs a job fails a
    temporary job with the node's death as its reason, and a transient job
    completes on another node."""
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    nodes = [cluster.add_node(num_cpus=1) for _ in range(2)]
    cluster.wait_for_nodes()
    by_id = {node.node_id: node for node in nodes}

    async def main() -> None:
        async with JobQueue(RayExecutor(cluster.address)).open() as queue:
            for restart in ("temporary", "transient"):
                where = tmp_path / restart
                job = await queue.submit(_jobs.node_id_then_sleep, str(where), 30, restart=restart)
                with trio.fail_after(60):
                    while not where.exists() or not where.read_text():
                        await trio.sleep(0.05)
                victim = by_id[where.read_text()]
                cluster.remove_node(victim)
                with trio.fail_after(120):
                    if restart == "temporary":
                        with pytest.raises(otp.WorkerLostError) as info:
                            await job.wait()
                        cause = info.value.__cause__
                        assert isinstance(
                            cause,
                            (ray.exceptions.NodeDiedError, ray.exceptions.WorkerCrashedError),
                        ), repr(cause)
                        # Replace the node for the transient round.
                        new = cluster.add_node(num_cpus=1)
                        by_id[new.node_id] = new
                    else:
                        result = await job.wait()
                        assert result.startswith("done on")
                        assert result != f"done on {victim.node_id}"
                        assert job.attempts == 2

    try:
        trio.run(main)
    finally:
        ray.shutdown()
        cluster.shutdown()
