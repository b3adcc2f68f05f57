"""Several hosts, one queue: 3 real OS processes (tests/postgres_node_program.py) share
one real PostgreSQL database, with real signals (SIGKILL, SIGSTOP/SIGCONT, SIGTERM), a
real ``pg_ctl restart``, and (one queue in this process) a real ``pg_ctl stop`` longer
than the queue's ``reconnect_timeout``.

Heavy (about a minute or two on 2 cores): run by ``nox -s postgres``, which sets
``TRIO_OTP_POSTGRES_HEAVY=1``; skipped elsewhere with that message. Real clock
throughout (real processes and a real server). Each job's side effect is a line
written by the node outside the database, so runs are counted independently of the
store. Counts and figures are printed (``-s``).
"""

from __future__ import annotations

import collections
import logging
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import trio

from trio_otp.jobs import JobQueue, NewJob, PostgresStore, QueueLimits, StoreConnectionError

pytestmark = pytest.mark.skipif(
    not os.environ.get("TRIO_OTP_POSTGRES_HEAVY"),
    reason="the heavy multi-node PostgreSQL tests run in `nox -s postgres` "
    "(TRIO_OTP_POSTGRES_HEAVY=1)",
)

HERE = Path(__file__).parent
PROGRAM = HERE / "postgres_node_program.py"
WORKER = "postgres_node_program:run"
RESCUE_AFTER = 1.5


class Node:
    """One node process; its stderr goes to a file, its stdout is read by lines."""

    def __init__(self, dsn: str, out: Path, number: int, env: dict[str, str]) -> None:
        self.stderr_path = out / f"node{number}.stderr"
        self.stderr = open(self.stderr_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, str(PROGRAM), dsn, str(out)],
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
            env={
                **os.environ,
                "PYTHONPATH": os.pathsep.join([str(HERE.parent), str(HERE)]),
                "NODE_RESCUE_AFTER": str(RESCUE_AFTER),
                **env,
            },
        )
        self.pid = self.proc.pid
        self.instance = self.readline(30).split()[1]
        self.lag = ""

    def readline(self, timeout: float) -> str:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            raise AssertionError(f"node {self.pid} said nothing in {timeout} s: {self.log()}")
        line = self.proc.stdout.readline()
        if not line:
            raise AssertionError(f"node {self.pid} ended: {self.log()}")
        return line

    def log(self) -> str:
        if not self.stderr.closed:
            self.stderr.flush()
        return self.stderr_path.read_text()

    def stop(self) -> int:
        """SIGTERM and wait; returns the exit status (negative: killed by a signal)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            with_lag = self.proc.communicate(timeout=60)[0]
            self.lag = next((ln for ln in with_lag.splitlines() if ln.startswith("lag")), "")
        return self.proc.wait()


@pytest.fixture
def nodes(postgres_dsn: str, tmp_path: Path) -> Iterator[list[Node]]:
    started: list[Node] = []
    yield started
    for node in started:
        if node.proc.poll() is None:
            os.kill(node.pid, signal.SIGCONT)
            node.proc.kill()
        node.proc.wait()
        if node.proc.stdout is not None:
            node.proc.stdout.close()
        node.stderr.close()


def start(nodes: list[Node], dsn: str, out: Path, count: int, **env: str) -> list[Node]:
    for number in range(count):
        nodes.append(Node(dsn, out, len(nodes) + number, env))
    return nodes


def insert(dsn: str, count: int, seconds: float, queue: str = "q") -> None:
    async def main() -> None:
        async with PostgresStore(dsn).open() as store:
            now = time.time()
            for first in range(0, count, 1000):
                await store.insert(
                    [
                        NewJob(WORKER, [n, seconds], queue=queue, max_attempts=5)
                        for n in range(first, min(count, first + 1000))
                    ],
                    now,
                )

    trio.run(main)


def sql(dsn: str, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(query, params).fetchall()


def executing(dsn: str, instance: str) -> int:
    """How many jobs ``instance`` holds (executing) now."""
    rows = sql(
        dsn,
        "SELECT count(*) FROM trio_otp_jobs WHERE state = 'executing' AND claimed_by = %s",
        (instance,),
    )
    return int(rows[0][0])


def completed(dsn: str) -> int:
    rows = sql(
        dsn,
        "SELECT count(*) FROM trio_otp_jobs WHERE worker = %s AND state = 'completed'",
        (WORKER,),
    )
    return int(rows[0][0])


def wait_completed(dsn: str, count: int, timeout: float) -> float:
    """Wait until ``count`` jobs are completed; returns when (time.monotonic())."""
    deadline = time.monotonic() + timeout
    while (done := completed(dsn)) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"only {done} of {count} jobs completed in {timeout} s")
        time.sleep(0.1)
    return time.monotonic()


def runs(out: Path) -> list[tuple[int, int, float, float]]:
    """Every side effect: (job, pid, start, end)."""
    found = []
    for path in out.glob("runs-*.txt"):
        for line in path.read_text().splitlines():
            job, pid, begin, end = line.split()
            found.append((int(job), int(pid), float(begin), float(end)))
    return found


def leader(dsn: str) -> str:
    rows = sql(dsn, "SELECT holder FROM trio_otp_leases WHERE name = 'leader'")
    assert rows, "no instance took the leader lease"
    return str(rows[0][0])


def max_in_window(times: list[float], window: float) -> int:
    ordered = sorted(times)
    best, j = 0, 0
    for i, t in enumerate(ordered):
        while ordered[j] <= t - window:
            j += 1
        best = max(best, i - j + 1)
    return best


def max_overlap(spans: list[tuple[float, float]]) -> int:
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    best = now = 0
    for _, step in events:
        now += step
        best = max(best, now)
    return best


def test_three_nodes_run_10000_jobs_exactly_once(
    postgres_dsn: str, tmp_path: Path, nodes: list[Node]
) -> None:
    """No faults: every job completes once, counted outside the database."""
    start(nodes, postgres_dsn, tmp_path, 3)
    began = time.monotonic()
    insert(postgres_dsn, 10_000, 0.005)
    ended = wait_completed(postgres_dsn, 10_000, 300)
    statuses = [node.stop() for node in nodes]
    counts = collections.Counter(job for job, *_ in runs(tmp_path))
    per_node = collections.Counter(pid for _, pid, *_ in runs(tmp_path))
    print(
        f"\n3 nodes, 10,000 jobs: {10_000 / (ended - began):.0f} jobs/s, per node "
        f"{sorted(per_node.values())}; " + "; ".join(node.lag for node in nodes)
    )
    assert statuses == [0, 0, 0], [node.log() for node in nodes]
    assert len(counts) == 10_000
    assert set(counts.values()) == {1}, "a job ran twice without any fault"
    assert all("Traceback" not in node.log() for node in nodes)


def test_a_killed_and_a_frozen_node_lose_nothing(
    postgres_dsn: str, tmp_path: Path, nodes: list[Node]
) -> None:
    """The leader is SIGKILLed mid-run, then the next leader is frozen (SIGSTOP) past
    the expiry and resumed: no job is lost; duplicates are only among the jobs rescued
    from those two; the frozen node's late outcomes are dropped (fencing); another
    node takes over the cron entry within the lease each time; no tick twice."""
    start(nodes, postgres_dsn, tmp_path, 3, NODE_CRON="1")
    by_instance = {node.instance: node for node in nodes}
    # 40 ms jobs: two nodes then run at most 1,000 jobs/s, so half the jobs are still
    # queued when the second leader is frozen, and it holds some (the test needs it to).
    insert(postgres_dsn, 10_000, 0.04)
    wait_completed(postgres_dsn, 2_000, 300)
    killed = by_instance[leader(postgres_dsn)]
    killed.proc.kill()
    killed_at = time.time()
    wait_completed(postgres_dsn, 5_000, 300)
    time.sleep(RESCUE_AFTER + 1.0)  # a new leader has taken the lease by now
    frozen = by_instance[leader(postgres_dsn)]
    assert frozen is not killed
    assert executing(postgres_dsn, frozen.instance), "the node to freeze holds no job"
    os.kill(frozen.pid, signal.SIGSTOP)
    frozen_at = time.time()
    time.sleep(RESCUE_AFTER * 3)
    os.kill(frozen.pid, signal.SIGCONT)
    wait_completed(postgres_dsn, 10_000, 300)
    for node in nodes:
        if node is not killed:
            assert node.stop() == 0, node.log()

    effects = collections.Counter(job for job, *_ in runs(tmp_path))
    rows = sql(
        postgres_dsn,
        "SELECT (args->>0)::int, rescued, errors::text FROM trio_otp_jobs WHERE worker = %s",
        (WORKER,),
    )
    rescued = {job for job, times, _ in rows if times}
    from_killed = {job for job, _, errors in rows if killed.instance in errors}
    from_frozen = {job for job, _, errors in rows if frozen.instance in errors}
    twice = {job for job, n in effects.items() if n > 1}
    fenced = frozen.log().count("its outcome here was dropped") + frozen.log().count(
        "its outcome will not be recorded"
    )
    ticks = [
        float(row[0])
        for row in sql(
            postgres_dsn,
            "SELECT meta->>'tick' FROM trio_otp_jobs WHERE meta ? 'tick' ORDER BY 1",
        )
    ]
    print(
        f"\nkill + freeze: lost {10_000 - len(effects)}, ran twice {len(twice)}, rescued "
        f"{len(rescued)} (from the killed node {len(from_killed)}, from the frozen one "
        f"{len(from_frozen)}), outcomes dropped by fencing {fenced}, cron ticks "
        f"{len(ticks)} (distinct {len(set(ticks))})"
    )
    assert len(effects) == 10_000, "a job was lost"
    assert completed(postgres_dsn) == 10_000
    assert twice <= rescued, "a job ran twice though no node holding it died"
    assert from_killed
    assert from_frozen
    assert fenced >= 1, frozen.log()
    assert len(ticks) == len(set(ticks)), "a cron tick was inserted twice"
    assert [t for t in ticks if killed_at + RESCUE_AFTER + 1.5 < t < frozen_at]
    assert [t for t in ticks if frozen_at + RESCUE_AFTER + 1.5 < t < frozen_at + 4.5]


def test_a_postgres_restart_mid_run_loses_no_job(
    postgres_dsn: str, postgres_server: Any, tmp_path: Path, nodes: list[Node]
) -> None:
    """``pg_ctl restart`` while 3 nodes work: they reconnect with backoff, each logs
    one warning (and one line when back), every committed job completes, and callers
    waiting for jobs in flight (in this process) get their answers."""
    start(nodes, postgres_dsn, tmp_path, 3)
    insert(postgres_dsn, 3_000, 0.01)
    wait_completed(postgres_dsn, 500, 300)
    restarted, answers = trio.run(restart_while_waiting, postgres_dsn, postgres_server)
    wait_completed(postgres_dsn, 3_005, 300)
    statuses = [node.stop() for node in nodes]
    effects = collections.Counter(job for job, *_ in runs(tmp_path) if job < 3_000)
    warnings = [node.log().count("lost its connection to PostgreSQL") for node in nodes]
    print(
        f"\npg_ctl restart ({restarted:.1f} s): lost {3_000 - len(effects)}, ran twice "
        f"{sum(1 for n in effects.values() if n > 1)}, warnings per node {warnings}, callers "
        f"answered {len(answers)} of 5"
    )
    assert statuses == [0, 0, 0], [node.log() for node in nodes]
    assert len(effects) == 3_000
    assert len(answers) == 5, answers  # each caller got its job's answer (a node's pid)
    # One per outage: the pool's threads and the listener share it (a second only if
    # the listener lost its connection after the pool had recovered).
    assert all(1 <= count <= 2 for count in warnings), warnings
    assert all(node.log().count("WARNING psycopg.pool") <= 1 for node in nodes)
    assert all("reconnected to PostgreSQL" in node.log() for node in nodes)


async def restart_while_waiting(dsn: str, server: Any) -> tuple[float, list[int]]:
    """Enqueue 5 jobs of 1 s from this process and wait for their answers while the
    server restarts under them: each caller gets its answer (or a clear error)."""
    queue = JobQueue(store=PostgresStore(dsn), queues={"elsewhere": 1})
    async with trio.open_nursery() as nursery:
        await nursery.start(queue.serve)
        async with PostgresStore(dsn).open() as store:
            inserted = await store.insert(
                [NewJob(WORKER, [10_000 + n, 1.0], queue="q") for n in range(5)], time.time()
            )
        handles = [await queue.get_job(r.job.id) for r in inserted]
        answers: list[int] = []

        async def wait(handle: Any) -> None:
            with trio.fail_after(120):
                answers.append(await handle.wait())

        async with trio.open_nursery() as waiting:
            for handle in handles:
                waiting.start_soon(wait, handle)
            await trio.sleep(0.3)
            began = time.monotonic()
            await trio.to_thread.run_sync(server.restart)
            restarted = time.monotonic() - began
        await queue.stop()
    return restarted, answers


def test_global_limit_and_rate_limit_hold_over_three_nodes(
    postgres_dsn: str, tmp_path: Path, nodes: list[Node]
) -> None:
    """Each node may run 20 jobs of each queue at once; the global limit (4) and the
    rate limit (20 per 1 s, sliding) hold over all three, measured outside the
    database (the jobs' own start and end times) and by the claims' times."""

    async def set_limits() -> None:
        limits = {
            "limited": QueueLimits(global_max_running=4),
            "rated": QueueLimits(rate_limit=20, rate_period=1.0),
        }
        async with PostgresStore(postgres_dsn, limits=limits).open():
            pass

    trio.run(set_limits)
    start(nodes, postgres_dsn, tmp_path, 3, NODE_QUEUES='{"limited": 20, "rated": 20}')
    insert(postgres_dsn, 200, 0.05, queue="limited")
    insert(postgres_dsn, 100, 0.001, queue="rated")
    wait_completed(postgres_dsn, 300, 300)
    statuses = [node.stop() for node in nodes]
    effects = runs(tmp_path)
    limited = [(s, e) for job, _, s, e in effects if job < 200 and e - s > 0.04]
    rated_starts = [s for _, _, s, e in effects if e - s < 0.04]
    claims = [
        float(row[0])
        for row in sql(
            postgres_dsn,
            "SELECT attempted_at FROM trio_otp_jobs WHERE queue = 'rated'",
        )
    ]
    overlap = max_overlap(limited)
    in_window = max_in_window(claims, 1.0)
    measured = max_in_window(rated_starts, 0.9)
    print(
        f"\nlimits over 3 nodes: largest overlap {overlap} (global_max_running 4); claims "
        f"in any 1 s {in_window}, starts in any 0.9 s {measured} (rate_limit 20/s)"
    )
    assert statuses == [0, 0, 0]
    assert len(limited) == 200
    assert len(rated_starts) == 100
    assert overlap <= 4
    assert in_window <= 20
    # Starts lag their claims by a few ms (threads, scheduling): a window a little
    # shorter than the period still holds the rate.
    assert measured <= 20


def test_an_outage_longer_than_reconnect_timeout_loses_no_job(
    postgres_dsn: str, postgres_server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """The server stopped (``pg_ctl stop``) for 3 s, three times the queue's
    ``reconnect_timeout`` (1 s), then started again. Real clock, one queue in this
    process. What is expected (docs/deployment.rst): the queue keeps running and
    retrying (it does not crash), says one warning for the outage (naming the database,
    never its password); a caller waiting on a job gets its answer or, once the store
    gave up, a clear :exc:`StoreConnectionError`, never a hang; once the server is back
    the store uses it at once and every committed job completes; no store thread is
    left after the stop."""
    import _durable_jobs
    import test_postgres_store as light

    caplog.set_level(logging.INFO, logger="trio_otp")
    secret = "hunter2-outage-secret"  # the server trusts 127.0.0.1: never checked
    dsn = f"{postgres_dsn} password={secret}"
    outcomes, answers = trio.run(_through_an_outage, dsn, postgres_server)
    errors = [o for o in outcomes if isinstance(o, BaseException)]
    texts = [str(e) for e in errors] + [r.getMessage() for r in caplog.records]
    lost = [r for r in caplog.records if "lost its connection to PostgreSQL" in r.getMessage()]
    engine_errors = [r for r in caplog.records if r.name == "trio_otp.jobs.durable"]
    print(
        f"\noutage of 3 s (reconnect_timeout 1 s): {len(outcomes) - len(errors)} callers "
        f"answered, {len(errors)} told StoreConnectionError, {len(answers)} of 20 jobs "
        f"completed after the server was back, {len(lost)} warning(s), "
        f"{len(engine_errors)} engine error line(s)"
    )
    assert all(isinstance(e, StoreConnectionError) for e in errors), errors
    assert all("stayed unreachable for 1 s" in str(e) for e in errors), errors
    assert errors, "no caller was waiting when the store gave up: the outage was too short"
    assert not [t for t in texts if secret in t]
    assert all("dbname=" in str(e) for e in errors)
    # One for the outage (a second only if the listener's last reconnection attempt
    # failed just after the pool's side had recovered, as in the restart test).
    assert 1 <= len(lost) <= 2, [r.getMessage() for r in lost]
    assert any("reconnected to PostgreSQL" in r.getMessage() for r in caplog.records)
    # The engine's loops all fail through the outage: one ERROR says so, not one per
    # loop and retry (the rest are DEBUG until a heartbeat gets through).
    assert len([r for r in engine_errors if r.levelno >= logging.ERROR]) <= 1, [
        r.getMessage() for r in engine_errors
    ]
    assert sorted(answers) == sorted(f"t{i}" for i in range(20))
    assert light.store_threads() == set()
    assert {tag for name, tag in _durable_jobs.CALLS if name == "slow"} >= set(answers)


async def _through_an_outage(dsn: str, server: Any) -> tuple[list[object], list[str]]:
    import _durable_jobs

    store = PostgresStore(dsn, poll_interval=0.1, reconnect_timeout=1.0, connect_timeout=2)
    outcomes: list[object] = []
    async with trio.open_nursery() as nursery:
        queue = await JobQueue.start(
            nursery,
            store=store,
            jobs=[_durable_jobs.slow],
            queues={"q": 4},
            heartbeat_interval=0.2,
        )
        handles = [await queue.enqueue(_durable_jobs.slow, 0.5, f"t{i}") for i in range(20)]

        async def wait(handle: Any) -> None:
            with trio.fail_after(60):  # a hang fails the test
                try:
                    outcomes.append(await handle.wait())
                except StoreConnectionError as exc:
                    outcomes.append(exc)

        try:
            async with trio.open_nursery() as waiting:
                for handle in handles:
                    waiting.start_soon(wait, handle)
                await trio.sleep(0.7)  # 4 running, 16 waiting: then the server stops
                await trio.to_thread.run_sync(server.halt)
                await trio.sleep(3.0)
        finally:
            await trio.to_thread.run_sync(server.resume)
        assert queue._engine is not None
        assert queue._engine._state == "running"  # it kept going through the outage
        with trio.fail_after(30):
            answers = [await handle.wait() for handle in handles]
        await queue.stop()
    return outcomes, answers
