"""Crash safety of durable jobs (issue 18): a real process running a queue on a real
SQLite file is SIGKILLed from outside, several times, and a new process on the same
file finishes the work.

Kill points are side-effect counts drawn from a seed that the test prints (replay a
failure with ``TRIO_OTP_KILL_SEED=<seed>``). Each job appends its number to a file,
fsynced, outside the database: those lines are the side effects counted. Right after
each kill the test reads which jobs the store still has ``executing`` (claimed, not
acked): those alone may run twice. It asserts, and prints:

* every enqueued job completed at least once (``lost`` is 0) and the store holds every
  job ``completed``;
* a job ran more than once only if it was executing at a kill (``duplicates`` are a
  subset of ``in flight``);
* the rescued count the store kept.

Profiles (``TRIO_OTP_SOAK_PROFILE``, as the chaos soak): ``quick`` (the normal suite:
120 jobs, 3 kills), ``ci`` (.ci/run's soak: 400 jobs, 5 kills), ``long`` (``nox -s
soak``: 1,000 jobs, 8 kills). Real clock and real processes: that is the point.
"""

from __future__ import annotations

import collections
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

PROGRAM = str(Path(__file__).resolve().parent / "durable_kill_program.py")
PROFILES = {"quick": (120, 3), "ci": (400, 5), "long": (1000, 8)}
PROFILE = os.environ.get("TRIO_OTP_SOAK_PROFILE", "quick")
PAUSE = 0.02  # seconds each job works before its side effect


def _start(db: Path, effects: Path, *extra: str) -> subprocess.Popen[str]:
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return subprocess.Popen(
        [sys.executable, "-u", PROGRAM, str(db), str(effects), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _effects(effects: Path) -> list[int]:
    try:
        text = effects.read_text()
    except FileNotFoundError:
        return []
    # A line being written at the kill may be cut short: only whole lines count.
    return [int(line) for line in text.split("\n")[:-1]]


def _executing(db: Path) -> set[int]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT args FROM trio_otp_jobs WHERE state = 'executing'").fetchall()
    finally:
        conn.close()
    # args are [effects path, job number, pause]
    return {json.loads(args)[1] for (args,) in rows}


def test_kill_9_loses_no_job_and_duplicates_only_jobs_in_flight(tmp_path: Path) -> None:
    """SIGKILLed at seeded points, restarted on the same file: every job completes,
    and only jobs executing at a kill ran twice."""
    jobs, kills = PROFILES[PROFILE]
    seed = int(os.environ.get("TRIO_OTP_KILL_SEED", random.randrange(2**32)))
    rng = random.Random(seed)
    points = sorted(rng.sample(range(jobs // 10, jobs - jobs // 10), kills))
    print(f"\ndurable kill -9: seed={seed} jobs={jobs} kill points={points}")
    db, effects = tmp_path / "jobs.db", tmp_path / "effects.txt"
    in_flight: set[int] = set()
    deadline = time.monotonic() + 60 + jobs * 0.05
    for run, point in enumerate(points):
        extra = ("--enqueue", str(jobs), str(PAUSE)) if run == 0 else ()
        proc = _start(db, effects, *extra)
        try:
            while len(_effects(effects)) < point:
                assert proc.poll() is None, f"run {run} ended before its kill: {proc.communicate()}"
                assert time.monotonic() < deadline, f"run {run} made no progress to {point}"
                time.sleep(0.002)
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.kill()
            proc.communicate()
        assert proc.returncode == -signal.SIGKILL
        caught = _executing(db)
        print(
            f"  run {run}: killed at {len(_effects(effects))} side effects, executing {len(caught)}"
        )
        in_flight |= caught
    proc = _start(db, effects)
    try:
        out, err = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert out.strip().splitlines()[-1].startswith(f"done completed={jobs} "), out

    counts = collections.Counter(_effects(effects))
    lost = [job for job in range(jobs) if counts[job] == 0]
    duplicates = {job for job, n in counts.items() if n > 1}
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        states = dict(conn.execute("SELECT state, count(*) FROM trio_otp_jobs GROUP BY state"))
        (rescued,) = conn.execute("SELECT coalesce(sum(rescued), 0) FROM trio_otp_jobs").fetchone()
    finally:
        conn.close()
    print(
        f"  completed={states.get('completed', 0)} lost={len(lost)} "
        f"duplicates={len(duplicates)} in flight at kills={len(in_flight)} rescued={rescued}"
    )
    assert not lost
    assert states == {"completed": jobs}
    assert set(counts) == set(range(jobs))
    assert duplicates <= in_flight, sorted(duplicates - in_flight)
