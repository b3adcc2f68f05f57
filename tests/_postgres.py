"""A real PostgreSQL server for the tests (and the W9 benchmark): start, use, stop.

Debian's ``postgresql`` package puts its binaries in ``/usr/lib/postgresql/<N>/bin``
and creates a ``postgres`` system user. ``initdb`` refuses to run as root (CI and the
sessions run as root), so when we are root every server command runs as that user
through ``runuser -u postgres --``; its data and socket directories are made with
:func:`tempfile.mkdtemp` under the system temporary directory (pytest's own ones are
private to root) and given to it. The server listens on 127.0.0.1, on a free port, and
trusts local connections (user ``app``): it lives only as long as the test session.

Where the binaries are absent the tests that need a server skip with a message saying
how to install them; under CI (``CI=true``) they fail instead (see
:func:`unavailable`).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pathlib
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator

__all__ = ["PostgresServer", "find_binaries", "unavailable"]

INSTALL_HINT = "install it with `apt-get install -y postgresql` (Debian/Ubuntu)"


def find_binaries() -> pathlib.Path | None:
    """The directory holding ``initdb``, ``pg_ctl`` and ``postgres``, or ``None``.

    ``TRIO_OTP_PG_BIN`` names it; else the newest ``/usr/lib/postgresql/*/bin``; else
    whatever ``initdb`` is on ``PATH``.
    """
    given = os.environ.get("TRIO_OTP_PG_BIN")
    candidates = [given] if given else []
    candidates += sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: (
            int(pathlib.Path(p).parent.name) if pathlib.Path(p).parent.name.isdigit() else 0
        ),
        reverse=True,
    )
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(str(pathlib.Path(on_path).parent))
    for candidate in candidates:
        path = pathlib.Path(candidate)
        if all((path / name).exists() for name in ("initdb", "pg_ctl", "postgres")):
            return path
    return None


def in_ci() -> bool:
    """True under CI (``CI=true``): a missing server is then a failure, not a skip."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(reason: str) -> None:
    """Skip the test (``pytest.skip``) saying ``reason`` — or fail it under CI, where
    the PostgreSQL tests must run."""
    import pytest

    if in_ci():
        pytest.fail(f"{reason} (CI=true: the PostgreSQL tests must run, not skip)")
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class PostgresServer:
    """One PostgreSQL server in a temporary directory, listening on 127.0.0.1.

    Args:
        bindir: the directory of ``initdb``/``pg_ctl`` (:func:`find_binaries`).
        settings: extra ``-c name=value`` server settings (e.g. ``fsync=off`` for
            tests, nothing for a benchmark that wants the defaults).

    Use as a context manager, or :meth:`start` and :meth:`stop`.
    """

    user = "app"
    host = "127.0.0.1"

    def __init__(self, bindir: pathlib.Path, settings: dict[str, str] | None = None) -> None:
        self.bindir = bindir
        self.settings = dict(settings or {})
        self.port = 0
        self.root: pathlib.Path | None = None
        self._as_postgres = os.geteuid() == 0
        self._databases = 0

    # -- paths and commands ------------------------------------------------------------

    @property
    def data(self) -> pathlib.Path:
        assert self.root is not None, "the server was not started"
        return self.root / "data"

    @property
    def log(self) -> pathlib.Path:
        assert self.root is not None, "the server was not started"
        return self.root / "server.log"

    def _run(self, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        command = [str(self.bindir / argv[0]), *argv[1:]]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, check=False
        )
        if result.returncode != 0:
            log = self.log.read_text() if self.root and self.log.exists() else ""
            raise RuntimeError(
                f"{' '.join(argv[:2])} failed (exit {result.returncode}):\n"
                f"{result.stdout}{result.stderr}\n--- server log ---\n{log[-4000:]}"
            )
        return result

    def _options(self) -> str:
        assert self.root is not None
        settings = {
            "listen_addresses": self.host,
            "port": str(self.port),
            "unix_socket_directories": str(self.root),
            **self.settings,
        }
        return " ".join(f"-c {name}={value}" for name, value in settings.items())

    def _pg_ctl(self, action: str, *extra: str) -> None:
        """``pg_ctl start`` or ``restart`` with this server's options, waiting (60 s)."""
        self._run(
            "pg_ctl", "-D", str(self.data), "-o", self._options(), "-l", str(self.log),
            *extra, "-w", "-t", "60", action,
        )  # fmt: skip

    # -- life ----------------------------------------------------------------------------

    def start(self) -> None:
        """initdb a fresh cluster and start the server (about 1-2 s)."""
        self.root = pathlib.Path(tempfile.mkdtemp(prefix="trio_otp-pg-"))
        if self._as_postgres:
            entry = pwd.getpwnam("postgres")
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", self.user, "-E", "UTF8")
        for attempt in range(5):
            self.port = _free_port()
            try:
                self.resume()
                return
            except RuntimeError:
                # The free port was taken between our look and the server's bind.
                if attempt == 4:
                    raise

    def restart(self) -> None:
        """``pg_ctl restart`` (fast mode: sessions are cut, committed data is kept)."""
        self._pg_ctl("restart", "-m", "fast")

    def halt(self) -> None:
        """``pg_ctl stop`` (fast mode), keeping the data: :meth:`resume` starts it again
        on the same port (an outage, as long as the caller likes)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")

    def resume(self) -> None:
        """``pg_ctl start`` on the cluster :meth:`start` made (after a :meth:`halt`
        too: same data, same port)."""
        self._pg_ctl("start")

    def stop(self) -> None:
        """Stop the server (fast mode) and remove its directory."""
        if self.root is None:
            return
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None

    def __enter__(self) -> PostgresServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- connecting ------------------------------------------------------------------

    def dsn(self, dbname: str = "postgres") -> str:
        """A libpq connection string for ``dbname`` (no password: the server trusts
        127.0.0.1)."""
        return f"host={self.host} port={self.port} user={self.user} dbname={dbname}"

    def create_database(self, prefix: str = "test") -> str:
        """Create a fresh, empty database; returns its DSN."""
        import psycopg

        self._databases += 1
        name = f"{prefix}_{os.getpid()}_{self._databases}_{int(time.monotonic() * 1000)}"
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')  # our own generated name
        return self.dsn(name)

    def drop_database(self, dsn: str) -> None:
        """Drop a database made by :meth:`create_database`, cutting its sessions."""
        import psycopg

        name = dsn.rsplit("dbname=", 1)[1]
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def running_server(settings: dict[str, str] | None = None) -> Iterator[PostgresServer]:
    """A started :class:`PostgresServer`, stopped after the block; raises
    ``LookupError`` if the binaries are absent."""
    bindir = find_binaries()
    if bindir is None:
        raise LookupError(f"PostgreSQL's server binaries were not found: {INSTALL_HINT}")
    with PostgresServer(bindir, settings) as server:
        yield server
