"""``trio-otp migrate``: bring a job store's schema up to this trio_otp's version."""

from __future__ import annotations

import argparse
import sys
from typing import Any, Final

import trio

from ._options import add_database_url, database_url, make_store, redact

HELP: Final = "apply the job store's schema migrations (or --check them)"
DESCRIPTION: Final = """\
Apply the missing schema migrations of a job store (SQLite or PostgreSQL), in order,
in one transaction; a schema newer than this trio_otp is refused. Run it once per
deployment, before the new workers start (or let each worker migrate at start, the
default of `trio-otp worker`).

exit status:
  0  the schema is current (after migrating, or already)
  2  usage error (no or bad --database-url)
  3  the store is unreachable or unusable (the message says why)
  4  --check: the schema is older than this trio_otp (run `trio-otp migrate`), or
     newer (upgrade trio_otp)
"""

EXIT_OK: Final = 0
EXIT_STORE: Final = 3
EXIT_SCHEMA: Final = 4


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_database_url(parser)
    parser.add_argument(
        "--check",
        action="store_true",
        help="change nothing: exit 0 if the schema is current, 4 if it is not",
    )


async def open_and_check(store: Any) -> int:
    """Open ``store`` (migrating or not, as it was made); return its schema version."""
    async with store.open():
        version: int = await store.schema_version()
        return version


def store_status(url: str, *, migrate: bool, verb: str) -> int:
    """Open the store at ``url``, print what was found; return an exit status."""
    from trio_otp.jobs._store import StoreError, StoreSchemaError

    store = make_store(url, migrate=migrate)
    try:
        version = trio.run(open_and_check, store)
    except StoreSchemaError as exc:
        print(f"trio-otp: {exc}", file=sys.stderr)
        return EXIT_SCHEMA
    except StoreError as exc:
        print(f"trio-otp: {exc}", file=sys.stderr)
        return EXIT_STORE
    print(f"{redact(url)}: schema version {version}, {verb}")
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    url = database_url(args)
    if args.check:
        return store_status(url, migrate=False, verb="current")
    return store_status(url, migrate=True, verb="migrated")
