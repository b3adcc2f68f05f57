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


#: name -> factory. Add PostgresStore here.
STORES: dict[str, Callable[[pytest.FixtureRequest, Path], StoreFactory]] = {
    "sqlite": sqlite_store,
}


@pytest.fixture(params=sorted(STORES))
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> StoreFactory:
    """A function making store objects on one fresh database, for each store kind."""
    return STORES[request.param](request, tmp_path)
