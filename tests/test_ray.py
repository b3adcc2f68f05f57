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
import subprocess
import sys
import textwrap
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
    executor = RayExecutor("127.0.0.1:9", connect_timeout=5, allow_unauthenticated=True)
    with pytest.raises(otp.ExecutorStartError, match=r"127\.0\.0\.1:9.*nothing answers"):
        async with JobQueue(executor).open():
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
        # The test's own simulated cluster on this host, started without a token.
        executor = RayExecutor(cluster.address, allow_unauthenticated=True)
        async with JobQueue(executor).open() as queue:
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


# -- security (issue 21): loopback and token auth for what the executor starts ---------


async def test_connecting_to_an_address_needs_a_token_unless_opted_out(
    monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
) -> None:
    """Without RAY_AUTH_MODE=token and a token the start fails before dialling, saying
    how to configure one; allow_unauthenticated=True (or a token) gets as far as the
    address (nothing answers at 127.0.0.1:9)."""
    for name in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.ray/auth_token
    with pytest.raises(otp.ExecutorStartError, match=r"no Ray token is configured.*RAY_AUTH"):
        async with JobQueue(RayExecutor("127.0.0.1:9", connect_timeout=1)).open():
            pass  # pragma: no cover
    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    with pytest.raises(otp.ExecutorStartError, match="no Ray token is configured"):
        async with JobQueue(RayExecutor("127.0.0.1:9", connect_timeout=1)).open():
            pass  # pragma: no cover
    for executor in (
        RayExecutor("127.0.0.1:9", connect_timeout=1, allow_unauthenticated=True),
        RayExecutor("127.0.0.1:9", connect_timeout=1),  # with the token set below
    ):
        monkeypatch.setenv("RAY_AUTH_TOKEN", "a" * 32)
        with pytest.raises(otp.ExecutorStartError, match="nothing answers"):
            async with JobQueue(executor).open():
                pass  # pragma: no cover


LOOPBACK_PROGRAM = textwrap.dedent(
    """
    import os, trio
    from trio_otp import JobQueue, RayExecutor

    def listening(port):
        found = set()
        for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
            with open(table) as file:
                for line in list(file)[1:]:
                    local, state = line.split()[1], line.split()[3]
                    address, _, hex_port = local.partition(":")
                    if state == "0A" and int(hex_port, 16) == port:
                        found.add(address)
        return found

    async def main():
        async with JobQueue(RayExecutor(num_cpus=1)).open() as queue:
            assert await queue.schedule(abs, -3) == 3
            import ray
            (node,) = ray.nodes()
            gcs_port = int(ray.get_runtime_context().gcs_address.rpartition(":")[2])
            ports = [gcs_port, node["NodeManagerPort"], node["ObjectManagerPort"]]
            print("node", node["NodeManagerAddress"])
            print("mode", os.environ.get("RAY_AUTH_MODE"))
            print("binds", sorted(set().union(*map(listening, ports))))

    trio.run(main)
    """
)

#: 127.0.0.1 as /proc/net/tcp and tcp6 (v4-mapped) write it.
LOOPBACK = {"0100007F", "0000000000000000FFFF00000100007F"}


def test_a_local_cluster_the_executor_starts_listens_on_loopback_with_token_auth(
    tmp_path: pathlib.Path,
) -> None:
    """A real program that has not imported Ray: RayExecutor() starts its cluster with
    token authentication on, on 127.0.0.1, and the GCS and raylet ports listen on the
    loopback address only (read from /proc/net/tcp*)."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "RAY_AUTH_MODE", "RAY_ADDRESS")
    }
    env["PYTHONPATH"] = str(pathlib.Path(__file__).resolve().parent.parent)
    env["HOME"] = str(tmp_path)  # Ray makes its token here, not in the user's home
    done = subprocess.run(
        [sys.executable, "-c", LOOPBACK_PROGRAM],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = dict(line.split(" ", 1) for line in done.stdout.splitlines())
    assert lines["node"] == "127.0.0.1"
    assert lines["mode"] == "token"
    binds = set(eval(lines["binds"]))
    assert binds, done.stdout
    assert binds <= LOOPBACK, binds
    assert (tmp_path / ".ray" / "auth_token").read_text().strip()
