"""The job stores the behavioural suites run against (tests/test_job_store.py and
tests/test_durable_jobs.py).

To add a store (e.g. PostgresStore, issue 19): write a factory below that takes
pytest's ``request`` and ``tmp_path`` and returns a function making a *new store
object on the same database* each time it is called (tests open two or more at once
to play several queue instances or processes), register it in :data:`STORES`; the
``make_store`` fixture is parameterised by every entry, so each test of both suites
runs against it. A factory that needs a server starts it (a session fixture) or
calls ``pytest.skip`` when it cannot.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from trio_otp.jobs import JobStore, SQLiteStore

StoreFactory = Callable[..., JobStore]


def sqlite_store(request: pytest.FixtureRequest, tmp_path: Path) -> StoreFactory:
    """SQLiteStore on one real file in the test's temporary directory; polls every
    20 ms so that tests on the real clock stay short."""
    path = tmp_path / "jobs.db"

    def make(**options: Any) -> JobStore:
        options.setdefault("poll_interval", 0.02)
        return SQLiteStore(path, **options)

    return make


def postgres_store(request: pytest.FixtureRequest, tmp_path: Path) -> StoreFactory:
    """PostgresStore on a fresh database of the session's real server (the
    ``postgres_dsn`` fixture: skips without the server binaries, fails under CI); polls
    every 20 ms as the SQLite one does (notifications are on as well)."""
    dsn: str = request.getfixturevalue("postgres_dsn")
    from trio_otp.jobs._postgres import PostgresStore

    def make(**options: Any) -> JobStore:
        options.setdefault("poll_interval", 0.02)
        return PostgresStore(dsn, **options)

    return make


#: name -> factory.
STORES: dict[str, Callable[[pytest.FixtureRequest, Path], StoreFactory]] = {
    "sqlite": sqlite_store,
    "postgres": postgres_store,
}


@pytest.fixture(params=sorted(STORES))
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> StoreFactory:
    """A function making store objects on one fresh database, for each store kind."""
    return STORES[request.param](request, tmp_path)
