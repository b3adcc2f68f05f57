"""The command line, as a user runs it: ``python -m trio_otp worker|migrate`` in real
subprocesses, against a real PostgreSQL (the session's server) and a real SQLite
file; the worker stopped with a real SIGTERM. Real clock (real processes); every
wait is bounded."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psycopg
import pytest
import trio

from trio_otp.jobs import NewJob, PostgresStore

ROOT = Path(__file__).resolve().parent.parent
SECRET = "cli-secret-word"

JOBS_MODULE = """
from trio_otp import JobQueue


def double(n):
    return 2 * n


def queues(store):
    return [(JobQueue, {"store": store, "jobs": [double], "queues": {"cli": 4},
                        "heartbeat_interval": 0.3, "rescue_after": 2.0})]
"""


def cli(
    *argv: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "trio_otp", *argv],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def app(tmp_path: Path) -> Path:
    (tmp_path / "cli_jobs.py").write_text(textwrap.dedent(JOBS_MODULE))
    return tmp_path


def test_help_explains_each_option(app: Path) -> None:
    worker = cli("worker", "--help", cwd=app)
    migrate = cli("migrate", "--help", cwd=app)
    assert worker.returncode == migrate.returncode == 0
    for option in ("--database-url", "--check", "--shutdown", "--no-migrate", "--log-level"):
        assert option in worker.stdout
    assert "TRIO_OTP_DATABASE_URL" in worker.stdout
    assert "--check" in migrate.stdout


def test_check_and_migrate_on_postgres(app: Path, postgres_dsn: str) -> None:
    """--check says 4 before the migration and 0 after; an unreachable server is 3;
    the password shows nowhere."""
    with_password = psycopg.conninfo.make_conninfo(postgres_dsn, password=SECRET)
    env = {"TRIO_OTP_DATABASE_URL": with_password}
    before = cli("worker", "cli_jobs:queues", "--check", cwd=app, env=env)
    assert before.returncode == 4, before.stderr
    assert "trio-otp migrate" in before.stderr
    migrated = cli("migrate", cwd=app, env=env)
    assert migrated.returncode == 0, migrated.stderr
    assert "schema version 1, migrated" in migrated.stdout
    after = cli("worker", "cli_jobs:queues", "--check", cwd=app, env=env)
    assert after.returncode == 0, after.stderr
    assert cli("migrate", "--check", cwd=app, env=env).returncode == 0
    nowhere = f"postgresql://app:{SECRET}@127.0.0.1:1/nowhere?connect_timeout=1"
    down = cli("migrate", "--check", "--database-url", nowhere, cwd=app)
    assert down.returncode == 3, down.stderr
    outputs = [before, migrated, after, down]
    assert not [o for o in outputs if SECRET in o.stdout + o.stderr]


def test_a_usage_error_is_status_2(app: Path) -> None:
    bad = cli("worker", "no_such_module:queues", "--database-url", "sqlite:///x.db", cwd=app)
    assert bad.returncode == 2
    assert "cannot import 'no_such_module'" in bad.stderr


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_the_worker_runs_jobs_and_drains_on_sigterm(
    app: Path, kind: str, request: pytest.FixtureRequest
) -> None:
    """A worker started by the command line runs jobs inserted by another process
    (another store object), and exits 0 on SIGTERM."""
    if kind == "postgres":
        url = request.getfixturevalue("postgres_dsn")
    else:
        url = f"sqlite:///{app / 'jobs.db'}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "trio_otp", "worker", "cli_jobs:queues", "--shutdown", "5"],
        cwd=app,
        env={**os.environ, "PYTHONPATH": str(ROOT), "TRIO_OTP_DATABASE_URL": url},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        job_id = trio.run(insert_and_wait, url, app)
        assert job_id > 0
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    assert "Traceback" not in stderr


async def insert_and_wait(url: str, app: Path) -> int:
    if url.startswith("sqlite:///"):
        from trio_otp.jobs import SQLiteStore

        store = SQLiteStore(url.removeprefix("sqlite:///"), poll_interval=0.05)
    else:
        store = PostgresStore(url)
    # This store migrates too (under the store's lock): no race with the worker's start.
    async with store.open() as opened:
        (result,) = await opened.insert([NewJob("cli_jobs:double", [21], queue="cli")], time.time())
        with trio.fail_after(60):
            while True:
                record = await opened.get(result.job.id)
                if record is not None and record.result == 42:
                    return record.id
                await trio.sleep(0.05)
