"""Shared fixtures for the trio_otp test suite."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import pytest
from _postgres import INSTALL_HINT, PostgresServer, find_binaries, unavailable

#: The library's own plugin (trio_otp.testing): otp_supervisor, otp_reports.
pytest_plugins = ["trio_otp.testing.pytest_plugin"]


@pytest.fixture
def crash_reports(caplog: pytest.LogCaptureFixture) -> Callable[[], list[logging.LogRecord]]:
    """Capture every trio_otp record; return the ``trio_otp.gen_server`` ones on demand.

    For the tests of the log records themselves (their text, their level, their
    ``exc_info``); a test about *which* report was made uses
    :func:`trio_otp.testing.capture_reports`.
    """
    caplog.set_level(logging.DEBUG, logger="trio_otp")

    def records() -> list[logging.LogRecord]:
        return [r for r in caplog.records if r.name == "trio_otp.gen_server"]

    return records


# -- a real PostgreSQL server (tests/_postgres.py) -----------------------------------------


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One real PostgreSQL server for the whole session, started on first use (about
    1-4 s) and stopped at the end. Skips where the server binaries or psycopg are
    absent; fails instead under CI (``CI=true``)."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        unavailable("psycopg is not installed: pip install 'trio_otp[postgres]'")
    bindir = find_binaries()
    if bindir is None:
        unavailable(f"PostgreSQL's server binaries were not found: {INSTALL_HINT}")
        raise AssertionError("unreachable")
    # fsync off: the tests kill processes and restart the server, never the machine.
    server = PostgresServer(bindir, {"fsync": "off", "full_page_writes": "off"})
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_dsn(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh, empty database on the session's server (its DSN), dropped after."""
    dsn = postgres_server.create_database()
    try:
        yield dsn
    finally:
        postgres_server.drop_database(dsn)


# The job-store fixture, parameterised by every store kind (see tests/_stores.py).
from _stores import make_store as make_store  # noqa: E402
