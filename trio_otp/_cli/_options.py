"""Options shared by the subcommands: the store's URL (argument or environment)."""

from __future__ import annotations

import argparse
import os
import re
from typing import Any, Final

from . import UsageError

#: The environment variable that names the store when ``--database-url`` is not given.
DATABASE_URL_ENV: Final = "TRIO_OTP_DATABASE_URL"

DATABASE_URL_HELP: Final = (
    "the job store: sqlite:///relative/path.db, sqlite:////absolute/path.db (or a plain "
    "file path ending in .db/.sqlite/.sqlite3) for SQLiteStore; postgresql://user@host/db "
    "(or a libpq 'host=... dbname=...' string) for PostgresStore. Default: the "
    f"{DATABASE_URL_ENV} environment variable. Put a password in PGPASSWORD or "
    "~/.pgpass rather than here: a command line is visible to other users"
)

_SQLITE_SUFFIXES: Final = (".db", ".sqlite", ".sqlite3")
_PASSWORD_IN_URL: Final = re.compile(r"(://[^:/@]*:)([^@]*)(@)")
_PASSWORD_IN_DSN: Final = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)


def redact(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for messages and logs)."""
    url = _PASSWORD_IN_URL.sub(r"\1***\3", url)
    return _PASSWORD_IN_DSN.sub(r"\1***", url)


def add_database_url(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--database-url", metavar="URL", help=DATABASE_URL_HELP)


def database_url(args: argparse.Namespace) -> str:
    """The store URL from ``--database-url`` or the environment.

    Raises:
        UsageError: neither gives one.
    """
    url = args.database_url or os.environ.get(DATABASE_URL_ENV, "")
    if not url:
        raise UsageError(
            f"no job store given: pass --database-url URL or set {DATABASE_URL_ENV} "
            "(e.g. sqlite:///jobs.db or postgresql://app@db.example/app)"
        )
    return str(url)


def make_store(url: str, *, migrate: bool) -> Any:
    """The store object ``url`` names (not opened yet).

    Raises:
        UsageError: the URL is of no known kind, or the PostgreSQL extra is missing.
    """
    if url.startswith("sqlite:"):
        path = url.removeprefix("sqlite:")
        if path.startswith("///"):
            path = path[3:]  # sqlite:///rel.db → rel.db, sqlite:////abs.db → /abs.db
        elif path.startswith("//"):
            raise UsageError(
                f"bad SQLite URL {url!r}: write sqlite:///relative.db or sqlite:////absolute.db"
            )
        if not path:
            raise UsageError(f"bad SQLite URL {url!r}: it names no file")
        from trio_otp.jobs._sqlite import SQLiteStore

        return SQLiteStore(path, migrate=migrate)
    if url.lower().endswith(_SQLITE_SUFFIXES) and "=" not in url and "://" not in url:
        from trio_otp.jobs._sqlite import SQLiteStore

        return SQLiteStore(url, migrate=migrate)
    if url.startswith(("postgresql://", "postgres://")) or "=" in url:
        try:
            from trio_otp.jobs import PostgresStore
        except ImportError as exc:
            raise UsageError(
                f"{redact(url)} is a PostgreSQL store, which needs psycopg: "
                f"pip install 'trio_otp[postgres]' ({exc})"
            ) from None
        return PostgresStore(url, migrate=migrate)
    raise UsageError(
        f"unknown job store URL {redact(url)!r}: use sqlite:///path.db or postgresql://..."
    )
