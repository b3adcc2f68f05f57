"""The test suite's own PostgreSQL server (tests/_postgres.py): it runs, it is fresh.

psycopg is imported inside the tests: where it is missing, the fixture skips (or fails
under CI) with a message, rather than this module failing to import.
"""

from __future__ import annotations

from _postgres import PostgresServer


def test_a_fresh_database_is_empty_and_writable(postgres_dsn: str) -> None:
    """Each test gets its own empty database on the session's real server."""
    import psycopg

    with psycopg.connect(postgres_dsn) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
        ).fetchone()
        assert tables == (0,)
        conn.execute("CREATE TABLE t (x int)")
        conn.execute("INSERT INTO t VALUES (1)")
        assert conn.execute("SELECT sum(x) FROM t").fetchone() == (1,)


def test_the_server_listens_on_loopback_only(postgres_server: PostgresServer) -> None:
    """The session's server listens on 127.0.0.1, on its own port."""
    import psycopg

    with psycopg.connect(postgres_server.dsn(), autocommit=True) as conn:
        assert conn.execute("SHOW listen_addresses").fetchone() == ("127.0.0.1",)
        assert conn.info.port == postgres_server.port
